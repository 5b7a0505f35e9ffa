"""Find the topology roles of the conformance table on any host.

Roles are defined by topology, not addresses, so the same table runs on the
builder's ``qemu-q35`` tree, on a tree recorded from the real guest, and on
the live guest itself.
"""

from __future__ import annotations

from vfioctl.model.host import Host, PciFunction


def _is_bridge_cls(f: PciFunction | None) -> bool:
    return f is not None and f.class_code is not None and (f.class_code >> 8) == 0x0604


def _is_pcie_port(host: Host, f: PciFunction) -> bool:
    """Root/downstream ports have a driver (pcieport); a PCIe-to-PCI bridge has none,
    or shpchp on kernels built with SHPC hotplug (Debian's)."""
    return f.driver == "pcieport"


def _edu(f: PciFunction) -> bool:
    return (f.vendor, f.device) == (0x1234, 0x11E8)


def find_sriov_roles(host: Host) -> dict[str, str]:
    """SR-IOV roles: ``pf-<pos>``, ``vf-<pos>`` and ``vf-<pos>2`` for the PF
    positions ``slot`` (hotplug slot), ``bus`` (non-hotplug port) and
    ``root`` (root bus), from the first PF with two VFs in each."""
    from vfioctl.model.topology import reset_kind_fast
    r: dict[str, str] = {}
    for f in sorted(host.functions.values(), key=lambda f: f.address):
        if f.is_vf or len(f.virtfns) < 2:
            continue
        pos = {"slot": "slot", "bus": "bus", None: "root"}[reset_kind_fast(host, f)]
        if f"pf-{pos}" in r:
            continue
        r[f"pf-{pos}"] = str(f.address)
        v0, v1 = sorted(f.virtfns)[:2]
        r[f"vf-{pos}"], r[f"vf-{pos}2"] = str(v0), str(v1)
    return r


def find_roles(host: Host) -> dict[str, str]:
    r: dict[str, str] = find_sriov_roles(host)
    fns = sorted(host.functions.values(), key=lambda f: f.address)
    edus = [f for f in fns if _edu(f)]

    def siblings(f):
        return [g for g in host.children(f.parent) if g.address.bus == f.address.bus
                and g.address != f.address]

    for f in edus:
        parent = host.functions.get(f.parent) if f.parent else None
        sib = siblings(f)
        if f.parent is None:
            r.setdefault("rootbus", str(f.address))
        elif (f.address.function == 0 and any(s.address.function == 1 and _edu(s) for s in sib)
              and parent is not None and parent.parent is None):
            r.setdefault("mf0", str(f.address))
            r.setdefault("mf1", str([s for s in sib if s.address.function == 1][0].address))
        elif (parent is not None and parent.driver in (None, "shpchp")
              and _is_bridge_cls(parent) and parent.parent is not None
              and (parent.class_code or 0) >> 8 == 0x0604 and not _is_pcie_port(host, parent)):
            if "bridged" not in r:
                r["bridged"] = str(f.address)
                others = [s for s in sib if _edu(s)]
                if others:
                    r["bridged2"] = str(others[0].address)
        elif (not sib and parent is not None and parent.parent is not None
              and _is_bridge_cls(parent)):
            r.setdefault("switched", str(f.address))
        elif not sib and parent is not None and parent.parent is None:
            if host.slot_for(f.address) is not None:
                r.setdefault("alone", str(f.address))
            else:
                r.setdefault("nohotplug", str(f.address))
    return r
