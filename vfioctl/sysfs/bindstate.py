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
import time

from vfioctl.sysfs.root import Root

STATE = "run/vfioctl/bindings.json"
DRIVERCTL_DIR = "etc/driverctl.d"


class BindState:
    """Read through :meth:`Root.read` (bounded, never a FIFO, links confined);
    written with :meth:`Root.write_atomic` (a regular file created inside the
    root, renamed into place, no link followed on the way)."""

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
        raw = root.read(root.join(STATE), 1 << 20, kind="state")
        try:
            doc = json.loads(raw.decode("utf-8", "replace")) if raw else {}
        except ValueError:
            doc = {}
        fns = doc.get("functions", {}) if isinstance(doc, dict) else {}
        if not isinstance(fns, dict):
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
            self.root.remove(STATE)
            return
        self.root.write_atomic(STATE, (json.dumps({"version": 1, "functions": self.functions},
                                                  indent=1, sort_keys=True) + "\n").encode())


def driverctl_node(bdf: str) -> str:
    return f"/{DRIVERCTL_DIR}/pci-{bdf}"


def driverctl_read(root: Root, bdf: str) -> str | None:
    s = root.text(root.node(driverctl_node(bdf)), 4096)
    return s or None


def driverctl_write(root: Root, bdf: str, driver: str) -> str:
    """Persist ``driver`` for ``bdf`` as driverctl does; returns the node path."""
    root.write_atomic(driverctl_node(bdf).lstrip("/"), (driver + "\n").encode())
    return driverctl_node(bdf)


def driverctl_remove(root: Root, bdf: str) -> bool:
    return root.remove(driverctl_node(bdf).lstrip("/"))
