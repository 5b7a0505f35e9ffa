"""Which kernel modules could drive a PCI function: ``modules.alias``.

``lspci -k`` prints "Kernel modules:" by matching a device's ``modalias``
(``pci:v000010DEd00002204sv00001458sd00004043bc03sc00i00``) against the
``alias PATTERN MODULE`` lines of ``lib/modules/<release>/modules.alias``,
where PATTERN is an fnmatch(3) glob (``*``, ``?``, ``[...]``, no flags), as
kmod matches it (libkmod ``kmod_module_new_from_lookup`` over the alias index).

The release is ``proc/sys/kernel/osrelease`` under the root, or ``uname -r``
on the live root when that file cannot be read.  Both are read through the
root's confined API (:class:`~vfioctl.sysfs.root.Root`: links resolved
inside the root, only a regular file opened, never blocking, bounded by
:data:`MAX_BYTES`).

API::

    aliases = ModAlias.load(root)          # None when there is no modules.alias
    aliases.modules_for(modalias)          # ['nouveau', 'nvidiafb'] (file order, no repeats)
    aliases.vfio_variants_for(modalias)    # ['mlx5_vfio_pci'] from 'alias vfio_pci:...' lines

``vfio_pci:`` aliases are what vfio-pci variant drivers declare
(``PCI_DRIVER_OVERRIDE_DEVICE_VFIO``); they match the device's modalias with
``pci:`` replaced by ``vfio_pci:`` (kernel ``file2alias.c``).  Variants come
most specific first, as NVIDIA's vfio-manage and libvirt choose one: every
field of the alias equals the device's or is a whole-field ``*``, and the
alias with the fewest wildcards wins (file order breaks ties), so
``bind --driver auto`` takes the first (binding-host-fleet.md A.9).
"""

from __future__ import annotations

import fnmatch
import os
import re
from vfioctl.model.record import dataclass, field

from vfioctl.sysfs.root import LIMITS, Root

OSRELEASE = "proc/sys/kernel/osrelease"
MODULES_DIR = "lib/modules"
#: modules.alias of a distribution kernel is ~1-2 MB; refuse anything absurd
MAX_BYTES = LIMITS["alias"]

_PREFIXES = ("pci:", "vfio_pci:")
_KEY = 13          # len("pci:v0000XXXX"): the vendor part, literal in most patterns


def kernel_release(root: Root) -> str | None:
    """The running kernel's release under ``root`` (``uname -r`` on the live root)."""
    data = root.read(root.join(OSRELEASE), 256, "proc")   # procfs: size 0, read to EOF
    if data:
        rel = data.decode("ascii", "replace").strip()
        if rel and "/" not in rel and rel not in (".", ".."):
            return rel
    if root.live:
        return os.uname().release
    return None


def _literal_prefix(pattern: str) -> str:
    m = re.search(r"[*?\[]", pattern)
    return pattern if m is None else pattern[:m.start()]


@dataclass
class ModAlias:
    """The ``pci:`` and ``vfio_pci:`` aliases of one kernel, in file order."""

    release: str | None = None
    path: str | None = None
    # (index, compiled pattern, module, wildcards) grouped by the pattern's first
    # _KEY literal chars
    _by_key: dict[str, list[tuple[int, "re.Pattern[str]", str, int]]] = field(default_factory=dict)
    _generic: list[tuple[int, "re.Pattern[str]", str, int]] = field(default_factory=list)
    count: int = 0

    @classmethod
    def load(cls, root: Root | str, release: str | None = None) -> "ModAlias | None":
        """Read ``lib/modules/<release>/modules.alias`` under ``root``; None when absent."""
        r = root if isinstance(root, Root) else Root(root)
        rel = release or kernel_release(r)
        if not rel:
            return None
        path = r.join(f"{MODULES_DIR}/{rel}/modules.alias")
        data = r.read(path, MAX_BYTES, "alias")
        if data is None:
            return None
        return cls.parse(data.decode("utf-8", "replace"), release=rel, path=path)

    @classmethod
    def parse(cls, text: str, *, release: str | None = None, path: str | None = None) -> "ModAlias":
        self = cls(release=release, path=path)
        for i, line in enumerate(text.splitlines()):
            if not line.startswith("alias "):
                continue
            parts = line.split()
            if len(parts) != 3 or not parts[1].startswith(_PREFIXES):
                continue
            pat, mod = parts[1], parts[2]
            try:
                rx = re.compile(fnmatch.translate(pat))
            except re.error:
                continue
            entry = (i, rx, mod, pat.count("*"))
            lit = _literal_prefix(pat)
            key = _key(lit)
            if key is not None:
                self._by_key.setdefault(key, []).append(entry)
            else:
                self._generic.append(entry)
            self.count += 1
        return self

    def _match(self, alias: str, *, specific_first: bool = False) -> list[str]:
        cands = self._generic + self._by_key.get(_key(alias) or "", [])
        cands.sort(key=(lambda e: (e[3], e[0])) if specific_first else (lambda e: e[0]))
        out: list[str] = []
        for _, rx, mod, _w in cands:
            if mod not in out and rx.match(alias):
                out.append(mod)
        return out

    def modules_for(self, modalias: str) -> list[str]:
        """Modules whose ``pci:`` aliases match ``modalias`` (file order, deduplicated)."""
        if not modalias or not modalias.startswith("pci:"):
            return []
        return self._match(modalias)

    def vfio_variants_for(self, modalias: str) -> list[str]:
        """vfio-pci variant drivers declaring ``vfio_pci:`` aliases that match
        ``modalias``, most specific first (fewest ``*``; file order on a tie)."""
        if not modalias or not modalias.startswith("pci:"):
            return []
        return self._match("vfio_" + modalias, specific_first=True)


def _key(s: str) -> str | None:
    """The vendor part of a pattern or alias (``pci:v000010DE``), or None when
    the pattern's literal prefix is shorter (a wildcard vendor)."""
    if s.startswith("vfio_pci:"):
        k = 5 + _KEY
    elif s.startswith("pci:"):
        k = _KEY
    else:
        return None
    return s[:k] if len(s) >= k else None
