"""The typer application: every command family registered on :data:`app`.

One module per family, each a thin layer (parse, call one operation, hand
the report to the output sink -- see ``vfioctl/present/__init__.py``):

* :mod:`.inspection`  list, groups, show, reset-info
* :mod:`.acting`      hot-reset, reset, check
* :mod:`.admin`       completion, snapshot, watch
* :mod:`.tree`        tree
* :mod:`.doctor`      doctor
* :mod:`.bind`        bind, unbind
* :mod:`.export_cmd`  export
* :mod:`.libvirt_cmd` libvirt-hook
* :mod:`.export_cmd`  export (Prometheus textfile, NFD features)
* :mod:`.libvirt_cmd` libvirt-hook

(listed in :data:`FAMILIES` below: a new family module is one line there).

:mod:`.base` holds the app object, the global options and the shared
parameter aliases; the family modules import it, never each other or this
module.  The completion/man-page generators live in :mod:`vfioctl.buildtools`.
"""

from __future__ import annotations

import importlib

from vfioctl.cli.base import app

#: The command-family modules under ``vfioctl.cli``; importing one registers
#: its commands on :data:`app`.  A new family (bind, export...)
#: is one line here, nothing else: :func:`vfioctl.cli.entry._click_command`
#: builds only the commands an invocation names from whatever is registered
#: (every command for help and for a mistyped name), and the generators in
#: :mod:`vfioctl.buildtools` read the same app.  (Importing them costs
#: a few ms; building their typer parameters is what is deferred.)
FAMILIES = ("inspection", "acting", "admin", "tree", "doctor", "bind", "export_cmd", "libvirt_cmd")

#: Arguments (commands or global options) whose code reads the whole command
#: tree from its click context -- the completion scripts list every command
#: and option: an invocation naming one is built with every command.
NEEDS_EVERY_COMMAND = frozenset({"completion", "--install-completion", "--show-completion"})

for _family in FAMILIES:
    importlib.import_module(f"vfioctl.cli.{_family}")

__all__ = ["app", "FAMILIES", "NEEDS_EVERY_COMMAND"]
