"""DEVICE arguments that may also name a whole IOMMU group (``group:N``).

``group:N`` (also ``group=N``) stands for every PCI function of IOMMU group N
(bridges left out: they are not VFIO devices).  Commands taking several
DEVICEs expand it; commands taking one accept it when the group holds exactly
one function.  Everything else goes to :func:`vfioctl.ops.resolve.resolve_device` (looked up at
call time).
"""

from __future__ import annotations

import re

from vfioctl.errors import NotFoundError, UsageError
from vfioctl.model.host import Host, PciFunction
from vfioctl.ops import resolve

_GROUP = re.compile(r"^group[:=](\S*)$", re.I)


def _group_members(host: Host, text: str, number: str) -> list[PciFunction]:
    if not number.isdigit():
        raise UsageError(f"{text!r}: the group number must be a non-negative integer",
                         "write group:N, e.g. group:42 ('vfioctl groups' lists them)")
    n = int(number)
    g = host.groups.get(n)
    if g is None:
        raise NotFoundError(f"no IOMMU group {n} on this host",
                            "'vfioctl groups' lists the groups present", device=text)
    fns = [host.functions[a] for a in g.members if a in host.functions]
    devs = [f for f in fns if not f.is_bridge] or fns
    if not devs:
        raise NotFoundError(f"IOMMU group {n} has no PCI function",
                            "'vfioctl groups' shows each group's members", device=text)
    return devs


def _device(host: Host, text: str) -> PciFunction:
    t = text.strip()
    if t.isdigit():
        raise UsageError(f"'{t}' is not a PCI address",
                         f"for every function of IOMMU group {t}, write group:{t}")
    return resolve.resolve_device(host, text)


def resolve_targets(host: Host, texts: list[str]) -> list[PciFunction]:
    """Every DEVICE (``group:N`` expanded), in the order given, without repeats."""
    out: dict = {}
    for t in texts:
        m = _GROUP.match(t.strip())
        fns = _group_members(host, t, m.group(1)) if m else [_device(host, t)]
        for f in fns:
            out.setdefault(f.address, f)
    return list(out.values())


def resolve_one(host: Host, text: str) -> PciFunction:
    """One DEVICE; ``group:N`` only when group N holds exactly one function."""
    m = _GROUP.match(text.strip())
    if not m:
        return _device(host, text)
    fns = _group_members(host, text, m.group(1))
    if len(fns) > 1:
        raise UsageError(
            f"{text} holds {len(fns)} functions ({', '.join(str(f.address) for f in fns)}): "
            "this command takes one",
            f"name one of them, e.g. {fns[0].address}; hot-reset and check take a whole group")
    return fns[0]
