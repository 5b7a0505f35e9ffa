"""Would VFIO give this function a *function* reset?  (pure)

vfio-pci sets ``VFIO_DEVICE_FLAGS_RESET`` when ``pci_try_reset_function``
worked at open time (``vfio_pci_core_enable``: ``vdev->reset_works``).  That
succeeds with any method of ``reset_method`` except ``bus``, which
``pci_parent_bus_reset`` allows only while the function is alone on its bus
(no sibling functions, a bridge above).  The simulator's
``SimKernel._reset_works`` applies the same rule (kernel-vfio.md §3.5).

``reset_method`` absent (None) is *cannot tell*: a kernel older than 5.15 has
no such attribute, a newer one hides it when the function has no method, and
a snapshot may simply lack it.
"""

from __future__ import annotations

from vfioctl.model.host import Host, PciFunction
from vfioctl.model.topology import bus_self

#: methods that reset one function only (linux drivers/pci/pci.c pci_reset_fn_methods)
FUNCTION_RESET_METHODS = ("device_specific", "acpi", "flr", "af_flr", "pm")


def function_reset(host: Host, fn: PciFunction) -> tuple[bool | None, str]:
    """(available, why): True/False, or None when vfioctl cannot tell."""
    methods = fn.reset_method
    if methods is None:
        return None, (f"{fn.address} has no reset_method attribute: vfioctl cannot tell "
                      "whether the kernel can reset the function alone")
    own = [m for m in methods if m in FUNCTION_RESET_METHODS]
    if own:
        return True, f"reset_method lists {', '.join(own)}"
    if "bus" in methods:
        siblings = [f for f in host.children(fn.parent) if f.address.bus == fn.address.bus
                    and f.address != fn.address]
        if bus_self(host, fn) is None:
            return False, f"{fn.address}'s only method is 'bus' and it sits on a root bus"
        if siblings:
            return False, (f"{fn.address}'s only method is 'bus', which the kernel refuses "
                           "while other functions share the bus: "
                           + ", ".join(str(f.address) for f in siblings))
        return True, f"{fn.address} is alone on its bus: its 'bus' method resets it alone"
    return False, f"{fn.address}'s reset_method lists no method ({' '.join(methods) or 'empty'})"
