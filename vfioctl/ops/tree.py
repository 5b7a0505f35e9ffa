"""The PCI hierarchy as a tree, with hot-reset scopes drawn on it.

:func:`build_tree` returns a :class:`~vfioctl.ops.reports.TreeReport`: per
root complex (``pci0000:00``), the functions on its root bus, below every
bridge the functions of its secondary bus, hotplug slots as their own level
(the functions in the slot below them) and SR-IOV VFs below their PF.
Filters (:func:`vfioctl.ops.inspect.list_functions`'s) prune the tree but
keep the path from every match to the root.

For every DEVICE the reset is *predicted by the planner*
(:func:`vfioctl.model.scope.plan_reset`, never re-derived here) and laid on
the tree as :class:`~vfioctl.ops.reports.TreeMark` objects: the bridge (bus
reset) or slot (slot reset) that would be reset, the target, and every
function the reset hits, each with whether it is in the target's dev_set and
who holds it.

Nothing here prints: :mod:`vfioctl.present.tree` renders the report
(registered in :data:`vfioctl.present.RENDERERS`).
"""

from __future__ import annotations

from vfioctl.model import scope as sc
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host, PciFunction
from vfioctl.model.topology import slot_of
from vfioctl.ops.reports import TreeMark, TreeNode, TreeReport

#: PCIe port types -> tree roles (config space, PCIe Capabilities register)
_PCIE_ROLES = {
    "root-port": "root-port", "upstream-port": "switch-upstream-port",
    "downstream-port": "switch-downstream-port", "pcie-to-pci-bridge": "pcie-to-pci-bridge",
    "pci-to-pcie-bridge": "pci-to-pcie-bridge", "endpoint": "endpoint",
    "legacy-endpoint": "legacy-endpoint", "rc-integrated-endpoint": "rc-integrated-endpoint",
    "rc-event-collector": "rc-event-collector",
}

ROOT_COMPLEX = "root-complex"
SLOT = "slot"
FUNCTION = "function"


def role_of(fn: PciFunction, host: Host | None = None) -> str:
    """What a function is in the hierarchy: from its PCIe Capabilities when the
    configuration space was read that far; else, for a PCI bridge bound to
    ``pcieport``, from its place (portdrv binds only root ports and switch
    ports, and a root port sits on a root bus, an upstream port below a root or
    downstream port, a downstream port below an upstream port); else
    ``bridge``/``function``: cannot tell (not root)."""
    if fn.is_vf:
        return "vf"
    if fn.class_code is not None and fn.class_code >> 8 == 0x0600:
        return "host-bridge"
    t = fn.caps.pcie_type
    if t is not None:
        return _PCIE_ROLES.get(t, t)
    known = fn.config_size is not None and fn.config_size > 64
    if fn.is_bridge:
        if known:
            return "pci-bridge"
        if host is not None and fn.driver == "pcieport" and fn.class_code is not None \
                and fn.class_code >> 8 == 0x0604:
            if fn.parent is None:
                return "root-port"
            up = host.functions.get(fn.parent)
            above = role_of(up, host) if up is not None else None
            if above in ("root-port", "switch-downstream-port"):
                return "switch-upstream-port"
            if above == "switch-upstream-port":
                return "switch-downstream-port"
        return "bridge"
    return "pci-device" if known else "function"


def root_complex_of(fn: PciFunction) -> str:
    """``pci0000:00``: the root bus container the function sits under."""
    parts = fn.sysfs_path.split("/")
    if len(parts) > 1 and parts[0] == "devices" and parts[1].startswith("pci"):
        return parts[1]
    return fn.root_bus or f"pci{fn.address.domain:04x}:{fn.address.bus:02x}"


def _ancestors(host: Host, fn: PciFunction):
    """The bridges above ``fn`` and, for a VF, its PF and the PF's bridges."""
    seen: set[PciAddress] = set()
    cur: PciFunction | None = fn
    while cur is not None and cur.address not in seen:
        seen.add(cur.address)
        yield cur
        pf = host.functions.get(cur.physfn) if cur.physfn is not None else None
        nxt = pf.address if pf is not None and pf.physfn is None else cur.parent
        cur = host.functions.get(nxt) if nxt is not None else None


def build_tree(host: Host, targets: list[PciFunction] | None = None, *,
               vfio: bool = False, group: int | None = None,
               classes: list[str] | None = None, driver: str | None = None,
               all_roots: bool = False) -> TreeReport:
    """The tree of ``host``, pruned by the filters, with the reset of every
    target drawn on it.  With targets, only the root complexes holding them
    are kept unless ``all_roots``."""
    from vfioctl.ops.inspect import list_functions
    targets = list(targets or ())
    filtered = vfio or group is not None or bool(classes) or driver is not None
    matched = {f.address for f in list_functions(host, vfio=vfio, group=group,
                                                  classes=classes, driver=driver)}
    plans = [sc.plan_reset(host, t) for t in targets]

    # marks, from the planner's answer
    fmarks: dict[PciAddress, list[TreeMark]] = {}
    smarks: dict[tuple[str, str], list[TreeMark]] = {}
    shown: set[PciAddress] = set(matched)
    for i, p in enumerate(plans):
        for a in p.affected:
            fmarks.setdefault(a.address, []).append(TreeMark(
                i, target=a.address == p.target.address, hit=True, in_dev_set=a.in_dev_set,
                held_by=a.group_holders + a.device_holders))
            shown.add(a.address)
        for c in p.collateral:   # hit, though the kernel's INFO omits them (SR-IOV VFs)
            fmarks.setdefault(c.address, []).append(TreeMark(
                i, hit=True, also_reset=True, held_by=c.group_holders + c.device_holders))
            shown.add(c.address)
        if not any(m.target for m in fmarks.get(p.target.address, ()) if m.scope == i):
            fmarks.setdefault(p.target.address, []).append(TreeMark(i, target=True))
        shown.add(p.target.address)
        if p.kind == "slot" and p.slot is not None:
            smarks.setdefault((p.slot.name, p.slot.address), []).append(
                TreeMark(i, reset_point="slot"))
        elif p.kind == "bus" and p.bridge is not None:
            fmarks.setdefault(p.bridge, []).append(TreeMark(i, reset_point="bus"))
            shown.add(p.bridge)

    keep: set[PciAddress] = set()
    for a in shown:
        f = host.functions.get(a)
        if f is not None:
            keep.update(x.address for x in _ancestors(host, f))

    placed: set[PciAddress] = set()   # each function once, whatever the links say

    def _under_pf(f: PciFunction) -> bool:
        """A VF drawn below its PF (which must exist and not be a VF itself)."""
        pf = host.functions.get(f.physfn) if f.physfn is not None else None
        return pf is not None and pf.physfn is None

    def fnode(f: PciFunction) -> TreeNode:
        placed.add(f.address)
        n = TreeNode(FUNCTION, str(f.address), role=role_of(f, host), function=f,
                 matched=f.address in matched, marks=fmarks.get(f.address, []))
        n.children = _kids(f.address, f)
        return n

    def _kids(parent: PciAddress | None, pf: PciFunction | None,
              fns: list[PciFunction] | None = None) -> list[TreeNode]:
        if fns is None:
            fns = [f for f in host.children(parent) if not _under_pf(f)]
        if pf is not None and pf.virtfns:
            fns = fns + [host.functions[v] for v in pf.virtfns
                         if v in host.functions and _under_pf(host.functions[v])
                         and host.functions[v].physfn == pf.address]
        out: list[TreeNode] = []
        slots: dict[tuple[str, str], TreeNode] = {}
        for f in fns:
            if f.address not in keep or f.address in placed:
                continue
            # the model's pdev->slot (bus-wide pciehp slots on newer kernels),
            # as the planner has it; a VF drawn below its PF is in the PF's place
            s = None if pf is not None and f.physfn == pf.address else slot_of(host, f)
            if s is None:
                out.append(fnode(f))
                continue
            key = (s.name, s.address)
            sn = slots.get(key)
            if sn is None:
                sn = slots[key] = TreeNode(SLOT, s.name, slot=s, matched=False,
                                       marks=smarks.get(key, []))
                out.append(sn)
            sn.children.append(fnode(f))
        return out

    # root complexes: every function whose parent is absent (root bus, or a
    # bridge that could not be read) hangs below its container
    tops: dict[str, list[PciFunction]] = {}
    for a in sorted(host.functions):
        f = host.functions[a]
        if _under_pf(f):
            continue
        if f.parent is None or f.parent not in host.functions:
            tops.setdefault(root_complex_of(f), []).append(f)
    want = {root_complex_of(t) for t in targets}
    roots, hidden = [], []
    for name in sorted(tops):
        if targets and not all_roots and name not in want:
            hidden.append(name)
            continue
        kids = _kids(None, None, tops[name])
        if not kids:        # pruned away by the filters
            continue
        roots.append(TreeNode(ROOT_COMPLEX, name, matched=False, children=kids))
    return TreeReport(host=host, roots=roots, plans=plans, hidden_roots=hidden,
                      filtered=filtered)
