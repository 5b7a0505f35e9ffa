"""PCI topology relations the kernel uses for resets (``pci_bus``, ``bus->self``,
``pdev->slot``), cheap enough to evaluate for every function of a listing.
The planner built on them is :mod:`vfioctl.model.scope`."""

from __future__ import annotations

from vfioctl.model.host import Host, PciFunction, Slot

def secondary_bus(host: Host, bridge: PciFunction) -> int | None:
    """Secondary bus number of a bridge: config 0x19, else from its children."""
    if bridge.secondary_bus is not None:
        return bridge.secondary_bus
    kids = host.children(bridge.address)
    real = [f.address.bus for f in kids if not f.is_vf] or [f.address.bus for f in kids]
    return min(real) if real else None


def bus_self(host: Host, fn: PciFunction) -> PciFunction | None:
    """The bridge whose secondary bus ``fn`` sits on (``pdev->bus->self``).

    None on a root bus, and for VFs on a virtual bus (a bus number other than
    the bridge's secondary bus, created by ``virtfn_add_bus`` with no self).
    """
    if fn.parent is None:
        return None
    br = host.functions.get(fn.parent)
    if br is None:
        return None
    sec = secondary_bus(host, br)
    if sec is not None and fn.address.bus != sec:
        return None
    return br


def on_root_bus(fn: PciFunction) -> bool:
    return fn.parent is None


#: First kernel release with bus-wide PCIe hotplug slots: pciehp registers its
#: slot as ``PCI_SLOT_ALL_DEVICES``, so ``pdev->slot`` is the slot for every
#: function on the port's secondary bus, whatever its device number (SR-IOV VFs
#: at 01:10.x, ARI functions), and a slot reset's INFO lists them.  Upstream
#: commit 102c8b26b54e ("PCI: Allow all bus devices to use the same slot",
#: Keith Busch), merged for 7.1; observed on 7.3.4 and not on 6.12.95
#: (tests/vm/test_sriov.py).  It was proposed for the 5.15-7.0 stable trees
#: (AUTOSEL, April 2026): a stable kernel that took it cannot be told from its
#: osrelease, but its slot buses show it (:func:`bus_wide_evidence`).
BUS_WIDE_SLOTS_SINCE = (7, 1)


def bus_wide_slots(release: str | None) -> bool:
    """Whether the kernel ``release`` has bus-wide pciehp slots (unknown: no;
    a backport is found by :func:`slot_covers_bus` instead)."""
    import re
    m = re.match(r"^(\d+)\.(\d+)", release or "")
    return bool(m) and (int(m.group(1)), int(m.group(2))) >= BUS_WIDE_SLOTS_SINCE


def bus_wide_evidence(host: Host, domain: int, bus: int) -> PciFunction | None:
    """A function on ``domain:bus`` whose reset methods show that the bus's
    pciehp slot covers it, whatever the kernel release says (a stable kernel
    carrying commit 102c8b26b54e as a backport): at a device number other
    than 0, with no slot of its own, sharing the bus, and offering the
    ``bus`` reset method.  A kernel with per-device-number slots cannot offer
    it that: its slot reset needs ``pdev->slot`` (None there), and the
    parent-bus reset needs it alone on the bus (``pci_reset_bus_function``);
    observed on 7.3.4 (its VFs list ``flr bus``) against 6.12.95 (``flr``).
    A function whose reset methods were not read gives no evidence.  Asked
    for every VF of a listing: answered once per bus and host (a read host's
    reset methods and slots do not change)."""
    cache = host.__dict__.setdefault("_bus_wide_evidence", {})
    key = (domain, bus)
    if key not in cache:
        fns = host.functions_on_bus(domain, bus)
        cache[key] = None if len(fns) < 2 else next(
            (f for f in fns if f.address.slot != 0 and f.reset_method
             and "bus" in f.reset_method and host.slot_for(f.address) is None), None)
    return cache[key]


def slot_covers_bus(host: Host, domain: int, bus: int) -> str | None:
    """Why the pciehp slot of ``domain:bus`` covers every function on the bus
    (``PCI_SLOT_ALL_DEVICES``), or None when it covers only device number 0:
    the kernel release (>= 7.1), else the bus's own evidence
    (:func:`bus_wide_evidence`)."""
    if bus_wide_slots(host.kernel_release):
        return f"Linux {host.kernel_release} >= 7.1"
    f = bus_wide_evidence(host, domain, bus)
    if f is not None:
        return (f"{f.address} offers the bus reset method, which only a bus-wide slot "
                "gives it: this kernel has commit 102c8b26b54e")
    return None


def slot_of(host: Host, fn: PciFunction) -> Slot | None:
    """``pdev->slot``: the slot registered for the function's bus and device number,
    or, where pciehp slots are bus-wide (:func:`slot_covers_bus`), the pciehp
    slot of its bus."""
    s = host.slot_for(fn.address)
    if s is None and fn.address.slot != 0:
        a = fn.address
        s0 = host.slot_for(type(a)(a.domain, a.bus, 0, 0))
        if s0 is not None and s0.reset_capable and slot_covers_bus(host, a.domain, a.bus):
            return s0
    return s



_ASK = object()


def reset_kind_fast(host: Host, fn: PciFunction, slot=_ASK) -> str | None:
    """Just the kind ("slot", "bus" or None) of :func:`reset_kind`, for listings
    (``slot``: ``host.slot_for(fn.address)`` when the caller has it)."""
    if slot is _ASK:
        slot = slot_of(host, fn)
    if slot is not None and slot.reset_capable:
        return "slot"
    if fn.parent is None or bus_self(host, fn) is None:
        return None
    return "bus"
