"""Predict a PCI hot reset from topology alone: scope, dev_set and verdicts.

This is the kernel's logic re-stated over a :class:`Host` snapshot, step by
step, with the errno each step would return (kernel-vfio.md §3; observed
tables in real-kernel-vm.md §5):

* **Reset kind** (``vfio_pci_ioctl_get_pci_hot_reset_info``): a *slot* reset
  if ``pci_probe_reset_slot(pdev->slot) == 0`` (a hotplug slot whose driver
  implements ``reset_slot``: pciehp), else a *bus* reset if
  ``pci_probe_reset_bus(pdev->bus) == 0`` (the bus has a bridge above it:
  ``bus->self``), else **ENODEV** (root bus, SR-IOV virtual bus).
* **Scope** (``vfio_pci_for_each_slot_or_bus`` -> ``pci_walk_bus``): every
  function on that bus and, depth first, on every subordinate bus; for a
  slot reset only the functions in that slot and below them (from Linux 7.1
  a pciehp slot is bus-wide, ``PCI_SLOT_ALL_DEVICES``: every function on its
  bus, SR-IOV VFs at other device numbers included; model/topology.py).
* **dev_set** (``vfio_pci_core_register_device``): a vfio-pci device on a
  root bus or a VF is alone; otherwise it shares a set with every vfio-pci
  device of the same reset slot, else of the same bus.
* **Hot reset** (``vfio_pci_dev_set_hot_reset``): every function in scope
  must be a member of the target's dev_set (**EINVAL**), and every member
  must be owned: its group fd passed (legacy) or it or a device of its
  group bound to the caller's iommufd (cdev) (**EINVAL**).

Things sysfs cannot show are listed in :data:`ASSUMPTIONS` and in every
prediction's JSON: ``PCI_DEV_FLAGS_NO_BUS_RESET`` quirks, ``memory_lock``
contention (EBUSY), and whether the reset itself succeeds.
"""

from __future__ import annotations

from vfioctl.model.record import dataclass, field

from vfioctl.model import sriov
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Holder, Host, IommuGroup, PciFunction, Slot
from vfioctl.model.topology import (  # noqa: F401  (re-exported)
    bus_self, on_root_bus, reset_kind_fast, secondary_bus, slot_covers_bus, slot_of,
)

GROUP = "group"      # legacy group/container access
IOMMUFD = "iommufd"  # device cdev + iommufd access
MODES = (GROUP, IOMMUFD)

ASSUMPTIONS = (
    "PCI_DEV_FLAGS_NO_BUS_RESET quirks are not visible in sysfs: a quirked bridge or "
    "device makes the kernel answer ENODEV where a bus reset is predicted",
    "a hotplug slot is assumed to be driven by pciehp (the only driver implementing "
    "reset_slot) unless its module link says otherwise",
    "VFs are alone in their dev_set (Linux 6.17+, backported to 6.6.y, commit e908f58b6beb; "
    "observed on 6.12.95); older kernels put them in their bus's set",
    "VF tokens: the legacy group path always checks them, BIND_IOMMUFD from Linux 6.17 "
    "(read from proc/sys/kernel/osrelease; backports are not visible); whether a given "
    "--vf-token is the right one only the kernel knows",
    "pciehp slots are bus-wide (a slot reset covers and lists every function on the bus, "
    "SR-IOV VFs included) from Linux 7.1 (commit 102c8b26b54e), and on an older kernel "
    "where a function at another device number of the slot's bus offers the bus reset "
    "method (a backport); otherwise per device number",
    "a cdev held open by another process is assumed bound to that process's iommufd",
    "EBUSY from memory_lock contention and the outcome of the reset itself cannot be "
    "predicted",
)

# Steps of vfioctl's own sequence (vfioctl.ops.hotreset), in order.  A
# Reason's ``step`` names the kernel call that fails; the first reason is the
# result the kernel is expected to give.
STEP_ORDER = (
    "preflight",
    "open /dev/iommu",
    "open cdev",
    "open group",
    "VFIO_GROUP_GET_STATUS",
    "VFIO_GROUP_SET_CONTAINER",
    "VFIO_GROUP_GET_DEVICE_FD",
    "VFIO_DEVICE_BIND_IOMMUFD",
    "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
    "open dependent group",
    "bind dependent device",
    "VFIO_DEVICE_PCI_HOT_RESET",
)


#: Reason codes starting with this mean "vfioctl could not see": the verdict
#: is then "cannot tell" (exit 10), never "possible".
CANNOT_TELL = "cannot-tell"


@dataclass(frozen=True)
class Reason:
    """Why the kernel would refuse, at which step, with which errno."""

    code: str
    step: str
    errno: str | None
    message: str
    devices: tuple[str, ...] = ()
    #: the command (or action) that removes this reason, None when nothing can
    remedy: str | None = None

    def to_json(self) -> dict:
        return {"code": self.code, "step": self.step, "errno": self.errno,
                "message": self.message, "devices": list(self.devices),
                "remedy": self.remedy}


@dataclass
class Affected:
    """One function a hot reset of the target would hit."""

    function: PciFunction
    group: IommuGroup | None
    in_dev_set: bool
    group_holders: tuple[Holder, ...]
    device_holders: tuple[Holder, ...]

    @property
    def address(self) -> PciAddress:
        return self.function.address


@dataclass
class Collateral:
    """A function the reset hits although the kernel's INFO does not list it.

    Today: an SR-IOV VF of a PF in the reset scope, at a device number outside
    the reset slot (a PF's slot reset resets its VFs on the same bus; the
    kernel scopes the slot by device number and omits them).  Observed on
    6.12 + QEMU igb: the VF's command register drops to 0 (model/sriov.py)."""

    function: PciFunction
    pf: PciAddress
    why: str
    group_holders: tuple[Holder, ...]
    device_holders: tuple[Holder, ...]

    @property
    def address(self) -> PciAddress:
        return self.function.address

    @property
    def holders(self) -> tuple[Holder, ...]:
        return self.group_holders + self.device_holders


@dataclass
class Verdict:
    """The prediction for one access mode."""

    mode: str
    available: bool
    reasons: list[Reason] = field(default_factory=list)
    #: legacy: group nodes vfioctl must open (target's first)
    groups: list[IommuGroup] = field(default_factory=list)
    #: iommufd: devices vfioctl must bind (target first, one per other group)
    binds: list[PciFunction] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        return self.available and not self.reasons

    @property
    def cannot_tell(self) -> bool:
        """Nothing seen forbids the reset, but something it depends on could not
        be seen (issue 8: never "possible" when vfioctl could not look)."""
        return bool(self.reasons) and all(r.code.startswith(CANNOT_TELL) for r in self.reasons)

    @property
    def answer(self) -> str:
        """``possible``, ``cannot-tell`` or ``not-possible``."""
        return "possible" if self.possible else "cannot-tell" if self.cannot_tell else "not-possible"

    @property
    def expected(self) -> tuple[str, str | None]:
        """(step, errno) of the first failure, or ("VFIO_DEVICE_PCI_HOT_RESET", None)."""
        if not self.reasons:
            return ("VFIO_DEVICE_PCI_HOT_RESET", None)
        r = min(self.reasons, key=lambda r: STEP_ORDER.index(r.step))
        return (r.step, r.errno)


@dataclass
class ResetPlan:
    """Everything predicted about a hot reset of ``target``."""

    target: PciFunction
    kind: str | None                 # "slot", "bus" or None (no hot reset)
    why: str
    slot: Slot | None
    bus: str | None                  # DDDD:BB of the reset bus
    bridge: PciAddress | None        # bus->self
    affected: list[Affected]
    dev_set: list[PciFunction]
    dev_set_key: str | None
    verdicts: dict[str, Verdict]
    notes: list[str]
    #: functions the reset also hits that the kernel's INFO omits (VFs of a PF
    #: in a slot reset); confirmation must name them
    collateral: list[Collateral] = field(default_factory=list)

    @property
    def possible(self) -> bool:
        return any(v.possible for v in self.verdicts.values())

    @property
    def cannot_tell(self) -> bool:
        """Not possible as far as vfioctl can see, but only because it could not
        see everything: no mode is possible and one is ``cannot-tell``."""
        return not self.possible and any(v.cannot_tell for v in self.verdicts.values())

    @property
    def answer(self) -> str:
        return "possible" if self.possible else "cannot-tell" if self.cannot_tell else "not-possible"

    def default_mode(self) -> str:
        """iommufd when every function to bind has a usable cdev, else group."""
        v = self.verdicts[IOMMUFD]
        if v.available and not any(r.code == "no-cdev" for r in v.reasons):
            return IOMMUFD
        return GROUP


# ---------------------------------------------------------------------------
# topology helpers live in vfioctl.model.topology (light enough for listings)

def _bus_functions(host: Host, domain: int, bus: int, bridge: PciAddress | None
                   ) -> list[PciFunction]:
    return sorted((f for f in host.children(bridge)
                   if f.address.domain == domain and f.address.bus == bus),
                  key=lambda f: (f.is_vf, f.address))


def walk_bus(host: Host, domain: int, bus: int, bridge: PciAddress | None
             ) -> list[PciFunction]:
    """``pci_walk_bus``: the bus's functions, each bridge followed by its subtree."""
    out: list[PciFunction] = []
    seen: set[PciAddress] = set()

    def rec(d: int, b: int, br: PciAddress | None) -> None:
        for f in _bus_functions(host, d, b, br):
            if f.address in seen:
                continue
            seen.add(f.address)
            out.append(f)
            if f.is_bridge:
                sec = secondary_bus(host, f)
                if sec is not None:
                    rec(d, sec, f.address)
    rec(domain, bus, bridge)
    return out


def reset_kind(host: Host, fn: PciFunction) -> tuple[str | None, str, Slot | None,
                                                       PciFunction | None]:
    """(kind, why, slot, bridge) for a hot reset of ``fn``.

    The decision is :func:`~vfioctl.model.topology.reset_kind_fast`'s (what
    listings show); this adds the explanation and the objects involved."""
    kind = reset_kind_fast(host, fn)
    slot = slot_of(host, fn)
    br = bus_self(host, fn)
    if kind == "slot":
        return ("slot", f"slot {slot.name} ({slot.address}) has a hotplug controller that "
                        f"implements reset_slot: slot reset", slot, br)
    if kind == "bus":
        return ("bus", f"secondary bus reset of bus {fn.address.bus_id} through bridge "
                       f"{br.address}" + (f" (slot {slot.name} has no reset_slot)" if slot else ""),
                slot, br)
    if on_root_bus(fn):
        return (None, f"{fn.address} is on root bus {fn.root_bus or fn.address.bus_id}: no "
                      "bridge above it can reset the bus and it has no reset slot, so the "
                      "kernel answers ENODEV", None, None)
    return (None, f"{fn.address} is on a virtual bus (SR-IOV VF beyond the PF's bus) "
                  "with no bridge above it: ENODEV", None, None)


def scope_of(host: Host, fn: PciFunction) -> tuple[str | None, str, Slot | None,
                                                     PciFunction | None, list[PciFunction]]:
    kind, why, slot, br = reset_kind(host, fn)
    if kind is None:
        return kind, why, slot, br, []
    bridge_addr = fn.parent
    funcs = walk_bus(host, fn.address.domain, fn.address.bus, bridge_addr)
    wide = (slot_covers_bus(host, fn.address.domain, fn.address.bus)
            if kind == "slot" and slot is not None and slot.reset_capable else None)
    if wide:
        # a bus-wide pciehp slot (PCI_SLOT_ALL_DEVICES): every function on the
        # bus is in it, VFs and ARI functions at other device numbers included
        why += ("; the slot covers every function on bus " + fn.address.bus_id
                + f" (bus-wide pciehp slot: {wide})")
        return kind, why, slot, br, funcs
    if kind == "slot":
        top = {f.address for f in funcs if f.address.bus == fn.address.bus
               and f.address.slot == fn.address.slot and f.parent == bridge_addr}
        keep: list[PciFunction] = []
        for f in funcs:
            a, ok = f, False
            while a is not None:
                if a.address in top:
                    ok = True
                    break
                a = host.functions.get(a.parent) if a.parent else None
                if a is not None and a.address == bridge_addr:
                    break
            if ok:
                keep.append(f)
        funcs = keep
    return kind, why, slot, br, funcs


def dev_set_key(host: Host, fn: PciFunction) -> str:
    """The key ``vfio_assign_device_set`` uses for a vfio-pci device."""
    if on_root_bus(fn) or fn.is_vf:
        return f"device {fn.address}"
    slot = slot_of(host, fn)
    if slot is not None and slot.reset_capable:
        return f"slot {slot.name}"
    return f"bus {fn.address.bus_id}"


def dev_set_of(host: Host, fn: PciFunction) -> tuple[str | None, list[PciFunction]]:
    """The vfio-pci devices sharing ``fn``'s dev_set (``fn`` included if bound)."""
    if not fn.vfio_bound:
        return None, []
    key = dev_set_key(host, fn)
    # a dev_set never spans buses: a slot or bus key names fn's own bus, a
    # device key fn alone
    members = [f for f in host.functions_on_bus(fn.address.domain, fn.address.bus)
               if f.vfio_bound and dev_set_key(host, f) == key]
    return key, sorted(members, key=lambda f: f.address)


# ---------------------------------------------------------------------------
# INFO prediction

@dataclass(frozen=True)
class PredictedEntry:
    address: str
    group_id: int | None          # legacy reply
    devid: str                    # cdev reply: "self", "owned" (0), "not-owned" (-1), "bound"


def predict_info_group(host: Host, plan: ResetPlan) -> tuple[str | None, list[PredictedEntry]]:
    """Legacy ``GET_PCI_HOT_RESET_INFO``: (errno or None, entries with group ids)."""
    if plan.kind is None:
        return "ENODEV", []
    if any(a.group is None for a in plan.affected):
        return "EPERM", []
    return None, [PredictedEntry(str(a.address), a.group.number if a.group else None, "")
                  for a in plan.affected]


def predict_info_iommufd(host: Host, plan: ResetPlan, bound: set[PciAddress]
                         ) -> tuple[str | None, int, list[PredictedEntry]]:
    """cdev ``GET_PCI_HOT_RESET_INFO`` when ``bound`` are bound to our iommufd.

    Returns (errno or None, flags, entries).  Per ``vfio_pci_fill_devs`` /
    ``vfio_iommufd_get_dev_id``: not in the dev_set -> NOT_OWNED; bound to our
    ctx -> its devid; its group has a device bound to our ctx -> OWNED (0);
    else NOT_OWNED.  Any NOT_OWNED clears DEV_ID_OWNED.
    """
    if plan.kind is None:
        return "ENODEV", 0, []
    in_set = {f.address for f in plan.dev_set}
    owned_groups = {host.functions[a].iommu_group for a in bound if a in host.functions}
    owned_groups.discard(None)
    entries, all_owned = [], True
    for a in plan.affected:
        if a.address not in in_set:
            d = "not-owned"
        elif a.address in bound:
            d = "self" if a.address == plan.target.address else "bound"
        elif a.function.iommu_group is not None and a.function.iommu_group in owned_groups:
            d = "owned"
        else:
            d = "not-owned"
        if d == "not-owned":
            all_owned = False
        entries.append(PredictedEntry(str(a.address), a.function.iommu_group, d))
    return None, 0x1 | (0x2 if all_owned else 0), entries


# ---------------------------------------------------------------------------
# the planner

def _names(fns) -> tuple[str, ...]:
    return tuple(str(f.address) for f in fns)


def _who(holders) -> str:
    return ", ".join(str(h) for h in holders)


def _stop(holders) -> str:
    hs = list(dict.fromkeys(str(h) for h in holders))
    return "stop " + ", ".join(hs) + (" (the holder)" if len(hs) == 1 else " (the holders)")


def _bind_cmd(addrs) -> str:
    return "vfioctl bind " + " ".join(str(a) for a in addrs)


def plan_reset(host: Host, target: PciFunction) -> ResetPlan:
    """Predict everything about a hot reset of ``target`` (pure)."""
    kind, why, slot, br, funcs = scope_of(host, target)
    key, dev_set = dev_set_of(host, target)
    in_set = {f.address for f in dev_set}
    affected = [Affected(function=f, group=host.group_of(f), in_dev_set=f.address in in_set,
                         group_holders=host.group_holders(host.group_of(f)),
                         device_holders=host.device_holders(f))
                for f in funcs]
    notes: list[str] = []
    plan = ResetPlan(target=target, kind=kind, why=why, slot=slot,
                     bus=target.address.bus_id if kind else None,
                     bridge=br.address if br is not None else None,
                     affected=affected, dev_set=dev_set, dev_set_key=key,
                     verdicts={}, notes=notes)
    plan.collateral = collateral_of(host, plan)
    plan.verdicts[GROUP] = _verdict_group(host, plan)
    plan.verdicts[IOMMUFD] = _verdict_iommufd(host, plan)
    unknown = _unknowns(host, plan)
    if unknown:
        for v in plan.verdicts.values():
            if v.available:
                v.reasons.extend(unknown)
    for c in plan.collateral:
        held = f" (in use by {_who(c.holders)})" if c.holders else ""
        notes.append(f"{c.address} is also reset although the kernel does not list it: "
                     f"{c.why}{held}")

    if (target.reset_method is not None and "bus" not in target.reset_method and kind
            and not target.is_vf and any(
                f.address != target.address and f.address.bus == target.address.bus
                for f in host.children(target.parent))):
        notes.append("reset_method does not list 'bus' here although a hot reset covers the "
                     "bus: the kernel probes reset methods at enumeration, before sibling "
                     "functions exist, so it is not a reliable signal (real-kernel-vm.md §4)")
    pf_note = sriov.pf_reset_note(host, target) if target.vfio_bound else None
    if pf_note:
        notes.append(pf_note + ", even if the kernel then refuses the hot reset")
    if target.vfio_bound:
        notes.append("opening a device performs a function reset (vfio_pci_core_enable), and "
                     "closing the last open device of a dev_set can trigger a bus reset when a "
                     "member still needs one (vfio_pci_dev_set_try_reset)")
    if target.is_vf and kind:
        notes.append("a VF is alone in its dev_set: a hot reset is refused whenever other "
                     "functions (its PF, other VFs) share the reset scope")
    return plan


def _unknowns(host: Host, plan: ResetPlan) -> list[Reason]:
    """What the verdict depends on but vfioctl could not see (issue 8)."""
    out: list[Reason] = []
    if plan.kind is None:
        return out
    everyone = tuple(str(a.address) for a in plan.affected)
    if host.holders is None:
        out.append(Reason(
            CANNOT_TELL + "-holders", "preflight", None,
            "the processes' open files (proc/*/fd) could not be listed, so vfioctl cannot see "
            "whether a group or cdev in the reset scope is held open; run as root (sudo) to see "
            "every holder", everyone))
    elif host.holders_unreadable:
        out.append(Reason(
            CANNOT_TELL + "-holders", "preflight", None,
            f"the open files of {host.holders_unreadable} process(es) could not be read (not "
            "root), so vfioctl cannot see whether one of them holds a group or cdev in the "
            "reset scope open; run as root (sudo) to see every holder", everyone))
    blind = [a.function for a in plan.affected
             if a.function.header_type is None and a.function.class_code is None]
    if blind:
        out.append(Reason(
            CANNOT_TELL + "-config", "preflight", None,
            "the config space and class of " + ", ".join(_names(blind)) + " could not be read, "
            "so vfioctl cannot tell whether a bridge extends the reset scope; run as root, or "
            "check that sysfs is readable", _names(blind)))
    buses = {(a.address.domain, a.address.bus) for a in plan.affected}
    broken = host.broken_on(buses)
    if broken:
        out.append(Reason(
            CANNOT_TELL + "-broken", "preflight", None,
            "sysfs entries on the reset bus could not be read (" + ", ".join(
                str(b) for b in broken) + "), so the reset scope is not fully known; see the "
            "warnings, and check the root", tuple(str(b) for b in broken)))
    return out


def collateral_of(host: Host, plan: ResetPlan) -> list[Collateral]:
    """VFs of the PFs in scope that the scope (hence INFO) leaves out."""
    if plan.kind is None:
        return []
    listed = {a.address for a in plan.affected}
    out: list[Collateral] = []
    for a in plan.affected:
        pf = a.function
        for v in pf.virtfns:
            vf = host.functions.get(v)
            if vf is None or v in listed:
                continue
            listed.add(v)
            why = (f"a VF of {pf.address}, on the reset bus {v.bus_id} but outside "
                   f"{'slot ' + plan.slot.name if plan.kind == 'slot' and plan.slot else 'the scope'}"
                   f" (device {v.slot:02x}), so the kernel's INFO omits it; the {plan.kind} reset "
                   "resets it all the same")
            out.append(Collateral(vf, pf.address, why, host.group_holders(host.group_of(vf)),
                                  host.device_holders(vf)))
    return out


def _scope_blockers(host: Host, plan: ResetPlan, mode: str) -> list[Reason]:
    """Reasons shared by both modes, from INFO and from the hot reset's set check."""
    out: list[Reason] = []
    if plan.kind is None:
        out.append(Reason("no-hot-reset", "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "ENODEV",
                          plan.why, (str(plan.target.address),),
                          remedy=f"no command changes the topology; a function reset "
                                 f"('vfioctl reset {plan.target.address}') may do"))
        return out
    if mode == GROUP:
        nogroup = [a.function for a in plan.affected if a.group is None]
        if nogroup:
            out.append(Reason(
                "affected-without-group", "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "EPERM",
                "functions in the reset scope have no IOMMU group (the kernel refuses to "
                "reset non-isolated devices): " + ", ".join(_names(nogroup)), _names(nogroup),
                remedy="enable the IOMMU (intel_iommu=on or amd_iommu=on on the kernel "
                       "command line)"))
    outside = [a.function for a in plan.affected if not a.in_dev_set]
    if outside:
        parts = []
        for f in outside:
            if f.vfio_bound:
                parts.append(f"{f.address} (vfio-pci, but in another dev_set: "
                             f"{dev_set_key(host, f)})")
            else:
                parts.append(f"{f.address} ({'driver ' + f.driver if f.driver else 'no driver'})")
        unbound = [f for f in outside if not f.vfio_bound and not f.is_bridge]
        out.append(Reason(
            "not-in-dev-set", "VFIO_DEVICE_PCI_HOT_RESET", "EINVAL",
            "every function in the reset scope must be bound to vfio-pci in the same dev_set; "
            "not: " + "; ".join(parts), _names(outside),
            remedy=(_bind_cmd(_names(unbound)) if unbound and len(unbound) == len(outside)
                    else None)))
    return out


def _verdict_group(host: Host, plan: ResetPlan) -> Verdict:
    t = plan.target
    v = Verdict(GROUP, available=True)
    g = host.group_of(t)
    if not t.vfio_bound:
        v.reasons.append(Reason("target-not-vfio", "VFIO_GROUP_GET_DEVICE_FD", "ENODEV",
                                f"{t.address} is not bound to vfio-pci (driver: "
                                f"{t.driver or 'none'})", (str(t.address),),
                                remedy=_bind_cmd([t.address])))
    if g is None:
        v.available = False
        v.reasons.append(Reason("no-iommu-group", "preflight", None,
                                f"{t.address} has no IOMMU group: no legacy group node",
                                (str(t.address),),
                                remedy="enable the IOMMU, or vfio's noiommu mode and "
                                       f"'vfioctl bind --noiommu {t.address}'"))
        v.reasons.extend(_scope_blockers(host, plan, GROUP))
        return v
    if g.node.rsplit("/", 1)[1] not in host.dev_vfio:
        # the open of the node is the first call: the kernel's first refusal
        v.available = False
        v.reasons.insert(0, Reason("no-group-node", "open group", "ENOENT",
                                   f"{g.node} does not exist" + (
                                       "" if t.vfio_bound else
                                       " (no function of the group is bound to vfio-pci)"),
                                   (str(t.address),),
                                   remedy=("check devtmpfs/udev ('udevadm settle'); the kernel "
                                           "creates the node when a member binds to vfio-pci")
                                   if t.vfio_bound else f"'vfioctl bind {t.address}'"))
    # groups to open: the target's, then every other group of the dev_set
    # members in scope (what INFO will list once the reset is possible)
    groups: list[IommuGroup] = [g]
    for a in plan.affected:
        if a.group is not None and a.group not in groups and a.in_dev_set:
            groups.append(a.group)
    v.groups = groups
    for i, grp in enumerate(groups):
        step = "open group" if i == 0 else "open dependent group"
        held = host.group_holders(grp)
        if held:
            v.reasons.append(Reason("group-busy", step, "EBUSY",
                                    f"group {grp.number} is open in another process: "
                                    f"{_who(held)}", _names_of(host, grp), remedy=_stop(held)))
        cdev_held = [(f, h) for f in _members(host, grp) for h in host.device_holders(f)]
        if cdev_held:
            v.reasons.append(Reason("group-cdev-busy", step, "EBUSY",
                                    f"group {grp.number} has a device opened through its cdev "
                                    f"by {_who(h for _, h in cdev_held)}",
                                    tuple(str(f.address) for f, _ in cdev_held),
                                    remedy=_stop(h for _, h in cdev_held)))
    tok = sriov.vf_token_reason(host, t) if t.vfio_bound else None
    if tok:
        v.reasons.append(Reason("vf-token", "VFIO_GROUP_GET_DEVICE_FD", "EACCES", tok,
                                (str(t.address),), remedy=sriov.TOKEN_REMEDY))
    blockers = host.viability_blockers(g)
    if blockers:
        v.reasons.append(Reason("group-not-viable", "VFIO_GROUP_GET_STATUS", None,
                                f"group {g.number} is not viable: " + ", ".join(
                                    f"{f.address} is bound to {f.driver}" for f in blockers),
                                _names(blockers), remedy=_bind_cmd(_names(blockers))))
    v.reasons.extend(_scope_blockers(host, plan, GROUP))
    return v


def _members(host: Host, g: IommuGroup) -> list[PciFunction]:
    return [host.functions[a] for a in g.members if a in host.functions]


def _names_of(host: Host, g: IommuGroup) -> tuple[str, ...]:
    return tuple(str(a) for a in g.members)


def _verdict_iommufd(host: Host, plan: ResetPlan) -> Verdict:
    t = plan.target
    v = Verdict(IOMMUFD, available=True)
    g = host.group_of(t)
    if not host.dev_iommu:
        v.available = False
        v.reasons.append(Reason("no-iommufd", "open /dev/iommu", "ENOENT",
                                "/dev/iommu does not exist: the kernel has no IOMMUFD", (),
                                remedy="use the legacy group mode (--group), or a kernel with "
                                       "CONFIG_IOMMUFD"))
    if not t.vfio_bound:
        v.available = False
        v.reasons.append(Reason("target-not-vfio", "open cdev", "ENOENT",
                                f"{t.address} is not bound to vfio-pci (driver: "
                                f"{t.driver or 'none'}): no vfio cdev", (str(t.address),),
                                remedy=_bind_cmd([t.address])))
    elif g is not None and g.noiommu:
        v.available = False
        v.reasons.append(Reason("noiommu-no-cdev", "open cdev", "ENOENT",
                                f"{t.address} is a noiommu device: the kernel creates no cdev "
                                "for noiommu devices; use the legacy group mode",
                                (str(t.address),), remedy="use --legacy"))
    elif host.cdev_node(t) is None:
        v.available = False
        v.reasons.append(Reason("no-cdev", "open cdev", "ENOENT",
                                f"{t.address} has no usable vfio cdev (vfio-dev/{t.vfio_dev} has "
                                "no dev attribute: kernel built without VFIO_DEVICE_CDEV)",
                                (str(t.address),), remedy="use --legacy"))
    elif host.cdev_node(t).rsplit("/", 1)[1] not in host.dev_vfio_devices:
        v.available = False
        v.reasons.append(Reason("no-cdev-node", "open cdev", "ENOENT",
                                f"{host.cdev_node(t)} does not exist", (str(t.address),),
                                remedy="check devtmpfs/udev ('udevadm settle'), or use --legacy"))
    if not v.available:
        v.reasons.extend(r for r in _scope_blockers(host, plan, IOMMUFD)
                         if r.code == "no-hot-reset")
        return v
    # bind the target, then one device of every other group of the dev_set in scope
    binds = [t]
    groups_done = {t.iommu_group}
    for a in plan.affected:
        f = a.function
        if a.in_dev_set and f.iommu_group not in groups_done:
            groups_done.add(f.iommu_group)
            binds.append(f)
    v.binds = binds
    for i, f in enumerate(binds):
        step = "VFIO_DEVICE_BIND_IOMMUFD" if i == 0 else "bind dependent device"
        fg = host.group_of(f)
        held = host.group_holders(fg)
        if held:
            v.reasons.append(Reason("group-busy", step, "EBUSY",
                                    f"group {fg.number} is open in another process "
                                    f"({_who(held)}): vfio_device_block_group refuses the bind",
                                    (str(f.address),), remedy=_stop(held)))
        dh = host.device_holders(f)
        if dh:
            v.reasons.append(Reason("device-busy", step, "EINVAL",
                                    f"{f.address}'s cdev is already open in another process "
                                    f"({_who(dh)}): a cdev device can be opened only once",
                                    (str(f.address),), remedy=_stop(dh)))
        if fg is not None:
            others = [(m, h) for m in _members(host, fg) if m.address != f.address
                      for h in host.device_holders(m)]
            if others:
                v.reasons.append(Reason("group-owned-elsewhere", step, "EPERM",
                                        f"group {fg.number}'s DMA is owned by another iommufd "
                                        f"({_who(h for _, h in others)})",
                                        tuple(str(m.address) for m, _ in others),
                                        remedy=_stop(h for _, h in others)))
            blockers = host.viability_blockers(fg)
            if blockers:
                v.reasons.append(Reason("group-not-viable", step, "EPERM",
                                        f"group {fg.number} is not viable: " + ", ".join(
                                            f"{b.address} is bound to {b.driver}"
                                            for b in blockers),
                                        _names(blockers), remedy=_bind_cmd(_names(blockers))))
        tok = sriov.vf_token_reason_cdev(host, f) if f.vfio_bound else None
        if tok:
            v.reasons.append(Reason("vf-token", step, "EACCES", tok, (str(f.address),),
                                    remedy=sriov.TOKEN_REMEDY))
        if f is not t and host.cdev_node(f) is None:
            v.reasons.append(Reason("no-cdev", step, "ENOENT",
                                    f"{f.address} has no usable vfio cdev", (str(f.address),),
                                    remedy="use --legacy"))
    v.reasons.extend(_scope_blockers(host, plan, IOMMUFD))
    return v
