"""Inspection operations: read a host once and build the command documents."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vfioctl.errors import UsageError
from vfioctl.model.host import CLASS_FILTERS, Host, PciFunction
from vfioctl.present import jsondoc as jd

if TYPE_CHECKING:  # the planner is imported where a plan is made, not by list
    from vfioctl.model import scope as sc


def list_functions(host: Host, *, vfio: bool = False, group: int | None = None,
                   classes: list[str] | None = None, driver: str | None = None
                   ) -> list[PciFunction]:
    for c in classes or ():
        if c not in CLASS_FILTERS:
            raise UsageError(f"unknown class filter {c!r}",
                             "choose one of: " + ", ".join(sorted(CLASS_FILTERS)))
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


def list_doc(host: Host, fns: list[PciFunction]) -> dict:
    return jd.doc("list", host=jd.host_summary(host),
                  functions=jd.Stream(lambda: (jd.function(host, f, brief=True) for f in fns)),
                  warnings=list(host.warnings))


def groups_doc(host: Host, numbers: list[int] | None = None) -> dict:
    gs = [host.groups[n] for n in sorted(host.groups) if numbers is None or n in numbers]
    return jd.doc("groups", host=jd.host_summary(host), groups=[jd.group(host, g) for g in gs],
                  warnings=list(host.warnings))


def show_doc(host: Host, fn: PciFunction) -> dict:
    from vfioctl.model import scope as sc
    g = host.group_of(fn)
    p = sc.plan_reset(host, fn)
    return jd.doc("show", function=jd.function(host, fn),
                  iommu_group_info=jd.group(host, g) if g else None,
                  reset=jd.plan(host, p), warnings=list(host.warnings))


def reset_info_doc(host: Host, fn: PciFunction) -> tuple[dict, sc.ResetPlan]:
    from vfioctl.model import scope as sc
    p = sc.plan_reset(host, fn)
    return jd.doc("reset-info", target=str(fn.address), reset=jd.plan(host, p),
                  predicted_info=jd.predicted_info(host, p),
                  warnings=list(host.warnings)), p
