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


def slot_of(host: Host, fn: PciFunction) -> Slot | None:
    """``pdev->slot``: the slot registered for the function's bus and device number."""
    return host.slot_for(fn.address)



_ASK = object()


def reset_kind_fast(host: Host, fn: PciFunction, slot=_ASK) -> str | None:
    """Just the kind ("slot", "bus" or None) of :func:`reset_kind`, for listings
    (``slot``: ``host.slot_for(fn.address)`` when the caller has it)."""
    if slot is _ASK:
        slot = host.slot_for(fn.address)
    if slot is not None and slot.reset_capable:
        return "slot"
    if fn.parent is None or bus_self(host, fn) is None:
        return None
    return "bus"
