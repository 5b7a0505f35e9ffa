"""Human names for PCI ids, cheapest source first, never slow.

1. The udev database under the root (``run/udev/data/+pci:<bdf>``, lines
   ``E:ID_VENDOR_FROM_DATABASE=`` / ``E:ID_MODEL_FROM_DATABASE=``): what
   libudev/pyudev read on a live host, and what ``vfioctl snapshot`` carries
   along, so fixtures and bug-report snapshots keep their names.  One small
   read per device.
2. On a live host, pyudev for a single device (``show``), when importable.
3. A ``pci.ids`` file (the root's, then the host's usual locations), scanned
   once for just the vendor ids present.
4. Otherwise ids only.

``VFIOCTL_PCI_IDS=PATH|none`` overrides the pci.ids lookup (tests use it).
"""

from __future__ import annotations

import os

from vfioctl.model.host import Host
from vfioctl.sysfs.root import Root

UDEV_DATA = "run/udev/data"
PCI_IDS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids")


def _udev_names(root: Root, bdf: str) -> tuple[str | None, str | None]:
    try:
        with open(root.join(f"{UDEV_DATA}/+pci:{bdf}"), "rb") as f:
            data = f.read(8192).decode("utf-8", "replace")
    except OSError:
        return None, None
    v = d = None
    for line in data.splitlines():
        if line.startswith("E:ID_VENDOR_FROM_DATABASE="):
            v = line.split("=", 1)[1]
        elif line.startswith("E:ID_MODEL_FROM_DATABASE="):
            d = line.split("=", 1)[1]
    return v, d


def _pyudev_names(root: Root, sysfs_path: str) -> tuple[str | None, str | None]:
    if not root.live:
        return None, None
    try:
        import pyudev  # lazy: never on the list/completion path
        dev = pyudev.Devices.from_sys_path(pyudev.Context(), "/sys/" + sysfs_path)
        props = dev.properties
        return props.get("ID_VENDOR_FROM_DATABASE"), props.get("ID_MODEL_FROM_DATABASE")
    except Exception:  # libudev missing, no udev database: fall back silently
        return None, None


def find_pci_ids(root: Root) -> str | None:
    """The root's pci.ids, else the host's; ``VFIOCTL_PCI_IDS`` (a path, or
    ``none``) overrides both."""
    env = os.environ.get("VFIOCTL_PCI_IDS")
    if env:
        return None if env == "none" else env
    for rel in PCI_IDS:
        for base in ((root.path, "/") if not root.live else ("/",)):
            p = os.path.join(base, rel)
            if os.path.isfile(p):
                return p
    return None


def parse_pci_ids(path: str, vendors: set[int]) -> dict[tuple[int, int | None], str]:
    """Names for ``(vendor, None)`` and ``(vendor, device)`` of the wanted vendors."""
    out: dict[tuple[int, int | None], str] = {}
    want = {f"{v:04x}" for v in vendors}
    cur: int | None = None
    try:
        with open(path, "rb") as f:
            for raw in f:
                if not raw or raw[0] == 0x23 or raw == b"\n":  # '#'
                    continue
                if raw[0] != 0x09:  # vendor line "vvvv  Name"
                    if raw[:1] == b"C":  # device classes section: done
                        break
                    key = raw[:4].decode("ascii", "replace")
                    if key in want:
                        cur = int(key, 16)
                        out[(cur, None)] = raw[6:].decode("utf-8", "replace").strip()
                    else:
                        cur = None
                elif cur is not None and raw[1] != 0x09:  # device line "\tdddd  Name"
                    try:
                        dev = int(raw[1:5], 16)
                    except ValueError:
                        continue
                    out[(cur, dev)] = raw[7:].decode("utf-8", "replace").strip()
    except OSError:
        return {}
    return out


def fill_names(host: Host, root: Root, *, single: bool = False) -> None:
    """Set ``vendor_name``/``device_name`` on every function where known."""
    missing = []
    for fn in host.functions.values():
        v, d = _udev_names(root, str(fn.address))
        if v is None and single:
            v, d = _pyudev_names(root, fn.sysfs_path)
        fn.vendor_name, fn.device_name = v, d
        if v is None or d is None:
            missing.append(fn)
    if not missing:
        return
    path = find_pci_ids(root)
    if path is None:
        return
    table = parse_pci_ids(path, {f.vendor for f in missing if f.vendor is not None})
    for fn in missing:
        if fn.vendor is None:
            continue
        fn.vendor_name = fn.vendor_name or table.get((fn.vendor, None))
        if fn.device is not None:
            fn.device_name = fn.device_name or table.get((fn.vendor, fn.device))
