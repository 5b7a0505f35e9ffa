"""Files vfioctl keeps about bindings, under one root.

* ``ROOT/run/vfioctl/bindings.json`` - what ``vfioctl bind`` changed, so
  ``vfioctl unbind`` can undo exactly: per function the driver and
  ``driver_override`` it had before, and the driver it was moved to.  On the
  live host that is ``/run/vfioctl`` (gone at reboot, like the bindings);
  on a fixture it stays inside the fixture.
* driverctl's override store ``ROOT/etc/driverctl.d/pci-<BDF>``: one file per
  device whose content is the driver name and a newline - what driverctl's
  ``save_override`` writes (``echo "$drv" > "$confdir/$bus-$dev"``) and its
  udev rule / ``driverctl@.service`` ``load-override`` re-applies at boot.
"""

from __future__ import annotations

import json
import os
import time

from vfioctl.sysfs.root import Root

STATE = "run/vfioctl/bindings.json"
DRIVERCTL_DIR = "etc/driverctl.d"


def _atomic_write(path: str, data: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class BindState:
    def __init__(self, root: Root, functions: dict | None = None):
        self.root = root
        self.functions: dict[str, dict] = functions or {}

    @property
    def path(self) -> str:
        return self.root.join(STATE)

    @property
    def node_path(self) -> str:
        return "/" + STATE

    @classmethod
    def load(cls, root: Root) -> "BindState":
        try:
            with open(root.join(STATE), "rb") as f:
                doc = json.loads(f.read(1 << 20).decode("utf-8", "replace"))
            fns = doc.get("functions", {}) if isinstance(doc, dict) else {}
            if not isinstance(fns, dict):
                fns = {}
        except (OSError, ValueError):
            fns = {}
        return cls(root, {k: v for k, v in fns.items() if isinstance(v, dict)})

    def record(self, bdf: str, *, driver: str | None, driver_override: str | None,
               bound_to: str) -> None:
        old = self.functions.get(bdf)
        if old is not None and old.get("bound_to") == bound_to:
            return  # keep the first record: the driver before vfioctl touched it
        self.functions[bdf] = {"driver": driver, "driver_override": driver_override,
                               "bound_to": bound_to, "since": int(time.time())}

    def forget(self, bdf: str) -> None:
        self.functions.pop(bdf, None)

    def save(self) -> None:
        if not self.functions:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            return
        _atomic_write(self.path, json.dumps({"version": 1, "functions": self.functions},
                                            indent=1, sort_keys=True) + "\n")


def driverctl_node(bdf: str) -> str:
    return f"/{DRIVERCTL_DIR}/pci-{bdf}"


def driverctl_read(root: Root, bdf: str) -> str | None:
    try:
        with open(root.node(driverctl_node(bdf)), "rb") as f:
            return f.read(4096).decode("utf-8", "replace").strip() or None
    except OSError:
        return None


def driverctl_write(root: Root, bdf: str, driver: str) -> str:
    """Persist ``driver`` for ``bdf`` as driverctl does; returns the node path."""
    _atomic_write(root.node(driverctl_node(bdf)), driver + "\n")
    return driverctl_node(bdf)


def driverctl_remove(root: Root, bdf: str) -> bool:
    try:
        os.unlink(root.node(driverctl_node(bdf)))
        return True
    except FileNotFoundError:
        return False
