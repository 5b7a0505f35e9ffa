"""Inspection operations: read a host once and return the command reports."""

from __future__ import annotations

from vfioctl.errors import NotFoundError, UsageError
from vfioctl.model import scope as sc
from vfioctl.model.host import CLASS_FILTERS, Host, PciFunction
from vfioctl.ops.reports import GroupsReport, ListReport, ResetInfoReport, ShowReport


def list_functions(host: Host, *, vfio: bool = False, group: int | None = None,
                   classes: list[str] | None = None, driver: str | None = None
                   ) -> list[PciFunction]:
    for c in classes or ():
        if c not in CLASS_FILTERS:
            raise UsageError(f"unknown class filter {c!r}",
                             "choose one of: " + ", ".join(sorted(CLASS_FILTERS)))
    if group is not None:
        _group_must_exist(host, group)
    if driver is not None and driver != "none":
        from vfioctl.sysfs.drivers import pci_drivers
        known = pci_drivers(host.root)
        bound = {f.driver for f in host.functions.values()}
        if known is not None and driver not in known and driver not in bound:
            raise NotFoundError(f"no PCI driver {driver!r} is registered on this host",
                                "'ls /sys/bus/pci/drivers' lists them; 'none' selects "
                                "unbound functions")
    out = []
    for addr in sorted(host.functions):
        f = host.functions[addr]
        if vfio and not f.vfio_bound:
            continue
        if group is not None and f.iommu_group != group:
            continue
        if classes and not any(f.matches_class(c) for c in classes):
            continue
        if driver is not None and (f.driver or "none") != driver:
            continue
        out.append(f)
    return out


def list_report(host: Host, fns: list[PciFunction]) -> ListReport:
    return ListReport(host=host, functions=fns)


def _group_must_exist(host: Host, n: int) -> None:
    """One rule for every filter or argument naming a group: a group that does
    not exist is "not found" (exit 3), never an empty answer."""
    if n not in host.groups:
        raise NotFoundError(f"no IOMMU group {n} on this host",
                            "'vfioctl groups' lists the groups present", group=str(n))


def groups_report(host: Host, numbers: list[int] | None = None) -> GroupsReport:
    for n in numbers or ():
        _group_must_exist(host, n)
    gs = [host.groups[n] for n in sorted(host.groups) if numbers is None or n in numbers]
    return GroupsReport(host=host, groups=gs)


def show_report(host: Host, fn: PciFunction) -> ShowReport:
    from vfioctl.sysfs.modalias import ModAlias
    aliases = ModAlias.load(host.root)
    ma = fn.modalias
    return ShowReport(host=host, function=fn, plan=sc.plan_reset(host, fn),
                      modules=None if aliases is None or ma is None else aliases.modules_for(ma),
                      reset_method_note=reset_method_absent(host, fn))


#: the kernel release that added /sys/bus/pci/devices/*/reset_method (kernel-vfio.md: 5.15)
RESET_METHOD_SINCE = (5, 15)


def _release_tuple(release: str | None) -> tuple[int, int] | None:
    import re
    m = re.match(r"^(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def reset_method_absent(host: Host, fn: PciFunction) -> str | None:
    """What a missing ``reset_method`` attribute means, or None when it is there.

    The kernel creates the attribute (5.15+) only for devices with at least
    one reset method (its is_visible check in drivers/pci/pci-sysfs.c); before 5.15 no
    device has it.  Decided from the attribute on other functions, else from
    the kernel release under the root."""
    if fn.reset_method is not None:
        return None
    if any(f.reset_method is not None for f in host.functions.values()):
        return ("the kernel found no reset method for this device (other functions have "
                "reset_method, so the kernel has the attribute)")
    from vfioctl.sysfs.modalias import kernel_release
    from vfioctl.sysfs.root import Root
    rel = kernel_release(Root(host.root))
    v = _release_tuple(rel)
    if v is None:
        return ("cannot tell: no function has reset_method and the kernel release is "
                "unknown: either the kernel predates 5.15 or it found no reset method")
    if v < RESET_METHOD_SINCE:
        return f"kernel {rel} predates reset_method (added in 5.15)"
    return f"the kernel found no reset method for this device (kernel {rel} has reset_method)"


def reset_info_report(host: Host, fn: PciFunction) -> ResetInfoReport:
    return ResetInfoReport(host=host, function=fn, plan=sc.plan_reset(host, fn))


DOCTOR = "'vfioctl doctor' checks the host step by step"


def vfio_hint(host: Host) -> str | None:
    """One line saying why this host cannot use VFIO, and what to do; None
    when it can (IOMMU groups exist, or vfio is loaded with noiommu groups)."""
    vfio_loaded = "vfio" in host.dev_vfio or host.noiommu_mode is not None or any(
        f.vfio_bound for f in host.functions.values())
    if not host.groups and not vfio_loaded:
        return ("no IOMMU groups and no VFIO here: turn the IOMMU on (firmware VT-d/AMD-Vi, "
                "kernel intel_iommu=on or amd_iommu=on) and load vfio-pci; " + DOCTOR)
    if not host.groups:
        return ("no IOMMU groups: the IOMMU is off or absent, so VFIO can only use unsafe "
                "noiommu mode; " + DOCTOR)
    if not vfio_loaded:
        return "VFIO is not loaded (no /dev/vfio): run 'modprobe vfio-pci'; " + DOCTOR
    return None
