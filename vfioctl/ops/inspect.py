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
    return ShowReport(host=host, function=fn, plan=sc.plan_reset(host, fn))


def reset_info_report(host: Host, fn: PciFunction) -> ResetInfoReport:
    return ResetInfoReport(host=host, function=fn, plan=sc.plan_reset(host, fn))
