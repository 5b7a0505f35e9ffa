"""The typer application: every command family registered on :data:`app`.

One module per family, each a thin layer (parse, call one operation, hand
the report to the output sink -- see ``vfioctl/present/__init__.py``):

* :mod:`.inspection`  list, groups, show, reset-info
* :mod:`.acting`      hot-reset, reset, check
* :mod:`.admin`       completion, snapshot, watch
* :mod:`.tree`        tree
* :mod:`.doctor`      doctor
* :mod:`.bind`        bind, unbind
* :mod:`.export_cmd`  export (Prometheus textfile, NFD features)
* :mod:`.libvirt_cmd` libvirt-hook

:mod:`.base` holds the app object, the global options and the shared
parameter aliases; the family modules import it, never each other or this
module.  The completion/man-page generators live in :mod:`vfioctl.buildtools`.
"""

from __future__ import annotations

from vfioctl.cli.base import app
from vfioctl.cli import inspection as _inspection  # noqa: F401  (registers its commands)
from vfioctl.cli import acting as _acting  # noqa: F401
from vfioctl.cli import admin as _admin  # noqa: F401
from vfioctl.cli import tree as _tree  # noqa: F401
from vfioctl.cli import doctor as _doctor  # noqa: F401
from vfioctl.cli import bind as _bind  # noqa: F401
from vfioctl.cli import export_cmd as _export_cmd  # noqa: F401
from vfioctl.cli import libvirt_cmd as _libvirt_cmd  # noqa: F401

__all__ = ["app"]
