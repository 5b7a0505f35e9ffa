"""The bundled demo host, built on first use into a cache directory.

Symlinks do not survive wheels, so the demo tree is *generated* from
:func:`vfioctl.testing.scenarios.demo` into
``$XDG_CACHE_HOME/vfioctl/demo-<version>-<digest>`` (atomically: built in a
temporary directory, then renamed) and reused afterwards.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from vfioctl import __version__


def _digest() -> str:
    """Hash of the files the demo is built from (found without importing them:
    the completion fast path calls this)."""
    here = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for rel in ("builder.py", "scenarios.py", "doctor_scenarios.py", "../data/demo-pci.ids"):
        with open(os.path.join(here, rel), "rb") as f:
            h.update(f.read())
    return h.hexdigest()[:12]


def demo_root() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    target = os.path.join(base, "vfioctl", f"demo-{__version__}-{_digest()}")
    if os.path.isfile(os.path.join(target, "VFIOCTL-FIXTURE")):
        return target
    from vfioctl.testing.scenarios import build
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=".demo-", dir=os.path.dirname(target))
    except OSError:
        tmp = tempfile.mkdtemp(prefix="vfioctl-demo-")
        build("demo", os.path.join(tmp, "root"))
        return os.path.join(tmp, "root")
    build("demo", os.path.join(tmp, "root"))
    try:
        os.rename(os.path.join(tmp, "root"), target)
    except OSError:  # another process won the race
        if not os.path.isfile(os.path.join(target, "VFIOCTL-FIXTURE")):
            raise
    shutil.rmtree(tmp, ignore_errors=True)
    return target
