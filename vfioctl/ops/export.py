"""Fleet export: the host as Prometheus metric families and NFD features.

This module only *builds data* from an inspected :class:`Host` and returns an
:class:`~vfioctl.ops.reports.ExportReport`; the text formats are rendered by
:mod:`vfioctl.present.prometheus` and :mod:`vfioctl.present.nfd`, and the
files are replaced atomically by :func:`vfioctl.present.fleet.write_files` (the
output channel of this command).  Rules followed (binding-host-fleet.md D.1, D.5):

* every family is a gauge with HELP text, named ``vfioctl_`` + base units;
* one series per function, IOMMU group or doctor check/status: labels carry
  addresses, ids, drivers and group numbers, never pids or free text;
* something vfioctl could not see has **no sample** (never a guessed 0);
* NFD features are capabilities that do not change while VMs come and go
  (holders are ignored for them), so scheduling labels do not churn.

Doctor findings (:func:`vfioctl.ops.doctor.doctor`) are counted through
:data:`FindingLike`: any object with ``check``, ``subject`` and ``status``
attributes (``vfioctl.model.doctor.Finding`` has them).
"""

from __future__ import annotations

import copy
from vfioctl.model.record import dataclass, field
from typing import Callable, Iterable, Protocol

from vfioctl.model import scope as sc
from vfioctl.model.host import Host, PciFunction
from vfioctl.model.resetcap import function_reset
from vfioctl.ops.reports import ExportReport

PREFIX = "vfioctl_"
#: NFD label namespace (a qualified-name prefix outside kubernetes.io)
NFD_NAMESPACE = "vfioctl.io"
#: doctor statuses, in rising order of severity
from vfioctl.model.doctor import STATUSES as DOCTOR_STATUSES  # noqa: E402


class FindingLike(Protocol):
    check: str
    subject: str
    status: str


@dataclass(frozen=True)
class Sample:
    labels: tuple[tuple[str, str], ...]
    value: float


@dataclass
class MetricFamily:
    name: str
    help: str
    type: str = "gauge"
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> None:
        self.samples.append(Sample(tuple(labels.items()), float(value)))


@dataclass(frozen=True)
class Feature:
    """One NFD local feature: ``name=value``; ``label=False`` adds ``# +no-label``."""

    name: str
    value: str
    label: bool = True


# ---------------------------------------------------------------------------
# documentation of every family (also used by the man page)

FAMILIES: dict[str, str] = {
    "pci_function_info": "PCI function facts as labels (value 1): address, ids, class, driver, "
                         "IOMMU group and VFIO node kind (cdev, group, noiommu, none).",
    "iommu_group_viable": "1 when every member of the IOMMU group is bound to a driver that "
                          "leaves it viable for VFIO (vfio-pci, pci-stub, pcieport, none), else 0.",
    "hot_reset_possible": "1 when a slot/bus (hot) reset of this VFIO-bound function would be "
                          "accepted by the kernel right now in this access mode, else 0; no "
                          "sample when vfioctl cannot tell (unreadable holders or config).",
    "hot_reset_capable": "1 when a hot reset of this VFIO-bound function would be accepted in "
                         "some access mode if no process held any VFIO node (a capability of "
                         "the topology and the drivers: what a VM owning the device can use), "
                         "else 0; no sample when vfioctl cannot tell.",
    "function_reset_available": "1 when VFIO would offer a function reset "
                                "(VFIO_DEVICE_FLAGS_RESET) for this function, 0 when not; no "
                                "sample when reset_method is absent (cannot tell).",
    "vfio_function_held": "1 when another process holds this VFIO-bound function's group or "
                          "cdev node open, 0 when not; no sample when /proc was not fully "
                          "readable (cannot tell).",
    "iommu_units_present": "1 when IOMMU hardware units are registered (/sys/class/iommu).",
    "noiommu_mode": "1 when vfio's enable_unsafe_noiommu_mode is on, 0 when off.",
    "pci_functions": "Number of PCI functions on the host.",
    "doctor_findings": "Number of vfioctl doctor findings per check and status.",
    "export_duration_seconds": "Time the last export took to read the host and build the data.",
    "last_export_timestamp_seconds": "Unix time of the last export run (written even when it "
                                     "failed).",
    "last_export_success": "1 when the last export read the host successfully, 0 when it failed "
                           "(then only these last_export families are written).",
}


#: label names of each family (documentation; the renderer checks the syntax)
LABELS: dict[str, tuple[str, ...]] = {
    "pci_function_info": ("address", "vendor", "device", "subsystem_vendor", "subsystem_device",
                          "class", "driver", "iommu_group", "vfio_node"),
    "iommu_group_viable": ("iommu_group",),
    "hot_reset_possible": ("address", "mode"),
    "hot_reset_capable": ("address",),
    "function_reset_available": ("address",),
    "vfio_function_held": ("address",),
    "doctor_findings": ("check", "status"),
}


def _fam(name: str) -> MetricFamily:
    return MetricFamily(PREFIX + name, FAMILIES[name])


def _hex(v: int | None, width: int) -> str:
    return "" if v is None else f"0x{v:0{width}x}"


def vfio_node_kind(host: Host, fn: PciFunction) -> str:
    if not fn.vfio_bound:
        return "none"
    g = host.group_of(fn)
    if g is not None and g.noiommu:
        return "noiommu"
    if host.cdev_node(fn):
        return "cdev"
    return "group"


@dataclass
class ResetView:
    """One VFIO-bound function's reset picture, computed once per export."""

    plan: sc.ResetPlan
    #: hot reset possible if nothing were held; None = cannot tell (issue 8's
    #: cannot-tell verdicts: config space or sysfs entries vfioctl could not read)
    capable: bool | None


def reset_views(host: Host) -> dict:
    """address -> :class:`ResetView` for every VFIO-bound function."""
    quiet = None
    out = {}
    for addr in sorted(host.functions):
        fn = host.functions[addr]
        if not fn.vfio_bound:
            continue
        plan = sc.plan_reset(host, fn)
        held_now = bool(host.holders) and any(x.group_holders or x.device_holders
                                              for x in plan.affected)
        cplan = plan
        if held_now or host.holders is None or host.holders_unreadable:
            quiet = quiet or _without_holders(host)
            cplan = sc.plan_reset(quiet, fn)
        capable = None if cplan.answer == "cannot-tell" else cplan.possible
        out[addr] = ResetView(plan, capable)
    return out


def metric_families(host: Host, findings: Iterable[FindingLike] | None = None,
                    views: dict | None = None) -> list[MetricFamily]:
    """The host's metric families (without the last_export ones)."""
    views = reset_views(host) if views is None else views
    info = _fam("pci_function_info")
    viable = _fam("iommu_group_viable")
    hot = _fam("hot_reset_possible")
    capable = _fam("hot_reset_capable")
    freset = _fam("function_reset_available")
    held = _fam("vfio_function_held")
    holders_known = host.holders is not None and host.holders_unreadable == 0
    for addr in sorted(host.functions):
        fn = host.functions[addr]
        a = str(addr)
        info.add(1, address=a, vendor=_hex(fn.vendor, 4), device=_hex(fn.device, 4),
                 subsystem_vendor=_hex(fn.subsystem_vendor, 4),
                 subsystem_device=_hex(fn.subsystem_device, 4),
                 **{"class": _hex(fn.class_code, 6)}, driver=fn.driver or "none",
                 iommu_group="" if fn.iommu_group is None else str(fn.iommu_group),
                 vfio_node=vfio_node_kind(host, fn))
        if not fn.is_bridge:
            ok, _ = function_reset(host, fn)
            if ok is not None:
                freset.add(1 if ok else 0, address=a)
        if fn.vfio_bound:
            view = views[addr]
            for mode in sc.MODES:
                v = view.plan.verdicts[mode]
                if v.answer != "cannot-tell":
                    hot.add(1 if v.possible else 0, address=a, mode=mode)
            if view.capable is not None:
                capable.add(1 if view.capable else 0, address=a)
            if holders_known:
                g = host.group_of(fn)
                busy = bool(host.group_holders(g) + host.device_holders(fn))
                held.add(1 if busy else 0, address=a)
    for n in sorted(host.groups):
        viable.add(0 if host.viability_blockers(host.groups[n]) else 1, iommu_group=str(n))
    out = [info, viable, hot, capable, freset, held]
    units = _fam("iommu_units_present")
    if host.iommu_present is not None:
        units.add(1 if host.iommu_present else 0)
    noiommu = _fam("noiommu_mode")
    if host.noiommu_mode is not None:
        noiommu.add(1 if host.noiommu_mode else 0)
    count = _fam("pci_functions")
    count.add(len(host.functions))
    out += [units, noiommu, count]
    if findings is not None:
        out.append(doctor_family(findings))
    return [f for f in out if f.samples]


def doctor_family(findings: Iterable[FindingLike]) -> MetricFamily:
    """Counts per (check, status); every status of every check seen, 0 included,
    so ``== 0`` / ``> 0`` alerts do not depend on a series appearing."""
    counts: dict[str, dict[str, int]] = {}
    for f in findings:
        per = counts.setdefault(f.check, {s: 0 for s in DOCTOR_STATUSES})
        per[f.status] = per.get(f.status, 0) + 1
    fam = _fam("doctor_findings")
    for check in sorted(counts):
        for status, n in counts[check].items():
            fam.add(n, check=check, status=status)
    return fam


def run_families(*, timestamp: float, success: bool, duration: float | None
                 ) -> list[MetricFamily]:
    out = []
    if duration is not None:
        d = _fam("export_duration_seconds")
        d.add(round(duration, 6))
        out.append(d)
    ts = _fam("last_export_timestamp_seconds")
    ts.add(round(timestamp, 3))
    ok = _fam("last_export_success")
    ok.add(1 if success else 0)
    return out + [ts, ok]


# ---------------------------------------------------------------------------
# NFD

def _without_holders(host: Host) -> Host:
    """The host as if no process held anything: capabilities, not current use."""
    h = copy.copy(host)
    h.holders = {}
    h.holders_unreadable = 0
    return h


def nfd_features(host: Host, views: dict | None = None) -> list[Feature]:
    """Stable capabilities only (counts change when devices are (un)bound, not when
    VMs start or stop)."""
    views = reset_views(host) if views is None else views
    ns = NFD_NAMESPACE + "/"
    vfio = [f for f in host.functions.values() if f.vfio_bound and not f.is_bridge]
    gpus = [f for f in vfio if f.base_class == 0x03]
    hot_ok = {f.address for f in vfio if views[f.address].capable}  # cannot tell: not counted
    fr_ok = {f.address for f in vfio if function_reset(host, f)[0]}
    feats = []
    if host.iommu_present is not None:
        feats.append(Feature(ns + "iommu", "true" if host.iommu_present else "false"))
    feats.append(Feature(ns + "iommufd", "true" if host.dev_iommu else "false"))
    if host.noiommu_mode is not None:
        feats.append(Feature(ns + "noiommu", "true" if host.noiommu_mode else "false"))
    feats += [
        Feature(ns + "vfio-devices", str(len(vfio))),
        Feature(ns + "hot-reset-capable-devices", str(len(hot_ok))),
        Feature(ns + "function-reset-capable-devices", str(len(fr_ok))),
        Feature(ns + "vfio-gpus", str(len(gpus))),
        Feature(ns + "hot-reset-capable-gpus", str(sum(f.address in hot_ok for f in gpus))),
        Feature(ns + "function-reset-capable-gpus",
                str(sum(f.address in fr_ok for f in gpus))),
        Feature(ns + "resettable-gpus",
                str(sum(f.address in hot_ok or f.address in fr_ok for f in gpus))),
        Feature(ns + "schema-version", "1", label=False),
    ]
    return feats


def destination(path: str | None) -> str | None:
    """A destination as the report keeps it: absolute, ``-`` or None."""
    import os
    if not path or path == "-":
        return path or None
    return os.path.abspath(path)


def export(load_host: Callable[[], Host], *, prometheus: str | None, nfd: str | None,
           started: float, nfd_expiry: int = 3600, root: str | None = None
           ) -> ExportReport:
    """Read the host (``load_host()``) and build what ``vfioctl export`` writes:
    the host's metric families with the run's own, and its NFD features.
    ``started`` is the Unix time the run began.  With ``root`` (the filesystem
    root the host was read from) the Prometheus families include the
    ``vfioctl doctor`` findings (:func:`vfioctl.ops.doctor.doctor`, its host
    checks and the checks of its default devices), and doctor's warnings join
    the report's.  Errors reading the host propagate (typed); the caller then
    writes :func:`failed`."""
    import time
    t0 = time.perf_counter()
    host = load_host()
    warnings = list(host.warnings)
    findings = None
    if prometheus and root is not None:
        from vfioctl.ops.doctor import doctor
        drep = doctor(host, root)
        findings = drep.findings
        warnings += [w for w in getattr(drep, "warnings", ()) if w not in warnings]
    views = reset_views(host)
    fams = metric_families(host, findings, views) if prometheus else []
    feats = nfd_features(host, views) if nfd else []
    duration = time.perf_counter() - t0
    if prometheus:
        fams += run_families(timestamp=started, success=True, duration=duration)
    return ExportReport(success=True, timestamp=started, duration=duration, families=fams,
                        features=feats, prometheus=destination(prometheus),
                        nfd=destination(nfd), nfd_expires=started + nfd_expiry,
                        warnings=warnings)


def failed(*, prometheus: str | None, started: float) -> ExportReport:
    """The run could not read the host: only the last_export families (success 0),
    so scrapers see the failure and the host's series vanish rather than go
    stale; the NFD file is not rewritten (its expiry retires it)."""
    dest = destination(prometheus)
    return ExportReport(success=False, timestamp=started, duration=None,
                        families=run_families(timestamp=started, success=False, duration=None)
                        if dest and dest != "-" else [],
                        features=[], prometheus=dest if dest != "-" else None, nfd=None,
                        nfd_expires=started)
