"""``ROOT/lib/modules/<release>/modules.alias``: which modules claim a device.

``pci:`` aliases are what udev/modprobe load for a device's ``modalias``;
``vfio_pci:`` aliases are emitted by ``file2alias`` for id-table entries with
``PCI_ID_F_VFIO_DRIVER_OVERRIDE`` - VFIO variant drivers, which bind only
through ``driver_override`` (binding-host-fleet.md A.9).  The best variant is
chosen as NVIDIA's vfio-manage and libvirt do: every field of the alias
equals the device's or is a whole-field ``*`` (glob), fewest wildcards wins.

``<release>`` is ``ROOT/proc/sys/kernel/osrelease``.
"""

from __future__ import annotations

import fnmatch

from vfioctl.sysfs.root import LIMITS, Root

MAX_ALIAS_BYTES = LIMITS["alias"]


class ModAlias:
    def __init__(self, aliases: list[tuple[str, str]]):
        #: (pattern, module) in file order
        self.aliases = aliases

    @classmethod
    def load(cls, root: Root | str) -> "ModAlias | None":
        """Read the alias file of the root's running kernel; None when absent."""
        if not isinstance(root, Root):
            root = Root(root)
        release = root.text(root.join("proc/sys/kernel/osrelease"), 256, "proc")
        if not release or "/" in release or release in (".", "..") or "\ufffd" in release:
            return None
        data = root.read(root.join(f"lib/modules/{release}/modules.alias"), MAX_ALIAS_BYTES,
                         "alias")
        if data is None:
            return None
        out = []
        for line in data.decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "alias":
                out.append((parts[1], parts[2]))
        return cls(out)

    def modules_for(self, modalias: str) -> list[str]:
        """Modules whose ``pci:`` (or other bus) alias matches ``modalias``."""
        out: list[str] = []
        for pat, mod in self.aliases:
            if fnmatch.fnmatchcase(modalias, pat) and mod not in out:
                out.append(mod)
        return out

    def vfio_variants_for(self, modalias: str) -> list[str]:
        """VFIO variant modules for a ``pci:`` modalias, most specific first."""
        if not modalias.startswith("pci:"):
            return []
        want = "vfio_pci:" + modalias[len("pci:"):]
        hits: list[tuple[int, int, str]] = []
        for i, (pat, mod) in enumerate(self.aliases):
            if pat.startswith("vfio_pci:") and fnmatch.fnmatchcase(want, pat):
                hits.append((pat.count("*"), i, mod))
        out: list[str] = []
        for _, _, mod in sorted(hits):
            if mod not in out:
                out.append(mod)
        return out
