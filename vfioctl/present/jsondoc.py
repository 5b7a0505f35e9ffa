"""Model -> JSON documents (schema ``vfioctl/1``, documented in vfioctl-json(5)).

Every document is an object with ``"schema": "vfioctl/1"`` and ``"command"``;
names follow the kernel's vocabulary (iommu_group, dev_set, devid, driver,
reset_method).  Unknown values are ``null``, never guessed.  Fields are only
ever added within one schema version; a rename or removal bumps it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vfioctl import JSON_SCHEMA
from vfioctl.model.host import Holder, Host, IommuGroup, PciFunction
from vfioctl.model import topology

if TYPE_CHECKING:  # the planner is only imported where a plan is rendered
    from vfioctl.model import scope as sc


class Stream:
    """A JSON array whose items are made as the document is written.

    ``list`` of 40,960 functions would otherwise hold 40,960 dictionaries
    (and then their whole text) at once; :meth:`Output.emit` writes a stream
    item by item, byte for byte what ``json.dumps`` of the list would give.
    Iterable any number of times (``items`` is called for each pass)."""

    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items())


def materialize(document: dict) -> dict:
    """The document with every :class:`Stream` turned into a list."""
    if not any(isinstance(v, Stream) for v in document.values()):
        return document
    return {k: list(v) if isinstance(v, Stream) else v for k, v in document.items()}


def doc(command: str, **body) -> dict:
    d = {"schema": JSON_SCHEMA, "command": command}
    d.update(body)
    return d


def _hex(v: int | None, width: int) -> str | None:
    return None if v is None else f"0x{v:0{width}x}"


def holder(h: Holder) -> dict:
    return {"pid": h.pid, "comm": h.comm, "node": h.node}


def host_summary(host: Host) -> dict:
    from vfioctl.ops.inspect import vfio_hint
    return {
        "root": host.root,
        "iommu": {"units_present": host.iommu_present, "dev_iommu": host.dev_iommu,
                  "enable_unsafe_noiommu_mode": host.noiommu_mode},
        "dev_vfio": sorted(host.dev_vfio),
        "holders_scanned": host.holders is not None,
        "holders_unreadable_processes": host.holders_unreadable,
        "vfio_hint": vfio_hint(host),
    }


def function(host: Host, fn: PciFunction, *, brief: bool = False) -> dict:
    g = host.group_of(fn)
    slot = topology.slot_of(host, fn)
    cdev = host.cdev_node(fn)
    bound = fn.vfio_bound
    d = {
        "address": str(fn.address),
        "vendor": _hex(fn.vendor, 4), "device": _hex(fn.device, 4),
        "subsystem_vendor": _hex(fn.subsystem_vendor, 4),
        "subsystem_device": _hex(fn.subsystem_device, 4),
        "class": _hex(fn.class_code, 6), "class_name": fn.class_name,
        "revision": _hex(fn.revision, 2),
        "vendor_name": fn.vendor_name, "device_name": fn.device_name,
        "driver": fn.driver, "driver_override": fn.driver_override,
        "iommu_group": fn.iommu_group,
        "parent": str(fn.parent) if fn.parent else None,
        "root_bus": fn.root_bus,
        "bus": fn.address.bus_id,
        "slot": slot.name if slot else None,
        "physfn": str(fn.physfn) if fn.physfn else None,
        "virtfns": [str(v) for v in fn.virtfns],
        "hot_reset": topology.reset_kind_fast(host, fn, slot),
        "numa_node": fn.numa_node,
        "boot_vga": fn.boot_vga,
        "vfio": {
            "bound": bound,
            "group_node": g.node if (g and bound) else None,
            "noiommu": bool(g and g.noiommu),
            "vfio_dev": fn.vfio_dev,
            "cdev_node": cdev,
        },
        "holders": [holder(h) for h in host.group_holders(g) + host.device_holders(fn)]
        if bound else [],
    }
    if not brief:
        d["vfio"]["cdev_devt"] = fn.vfio_dev_devt
        d.update({
            "reset_method": list(fn.reset_method) if fn.reset_method is not None else None,
            "sysfs_path": "/sys/" + fn.sysfs_path,
            "header_type": fn.header_type,
            "secondary_bus": fn.secondary_bus, "subordinate_bus": fn.subordinate_bus,
            "sriov_totalvfs": fn.sriov_totalvfs, "sriov_numvfs": fn.sriov_numvfs,
            "reset_caps": {
                "config_size": fn.config_size,
                "config_readable": None if fn.config_size is None else fn.config_size > 64,
                "flr": fn.caps.flr, "af_flr": fn.caps.af_flr, "pm_reset": fn.caps.pm_reset,
                "pcie_type": fn.caps.pcie_type, "hotplug_capable": fn.caps.hotplug_capable,
            },
        })
    return d


def group(host: Host, g: IommuGroup) -> dict:
    blockers = host.viability_blockers(g)
    node_name = g.node.rsplit("/", 1)[1]
    return {
        "iommu_group": g.number, "type": g.type, "name": g.name, "noiommu": g.noiommu,
        "node": g.node, "node_present": node_name in host.dev_vfio,
        "members": [str(a) for a in g.members],
        "other_members": list(g.other_members),
        "drivers": {str(a): host.functions[a].driver for a in g.members if a in host.functions},
        "viable": not blockers,
        "viability_blockers": [{"address": str(f.address), "driver": f.driver} for f in blockers],
        "vfio_bound": all(host.functions[a].vfio_bound or host.functions[a].driver is None
                          or host.functions[a].driver == "pcieport"
                          for a in g.members if a in host.functions),
        "holders": [holder(h) for h in host.group_holders(g)],
    }


def verdict(v: sc.Verdict) -> dict:
    from vfioctl.model import scope as sc
    step, err = v.expected
    return {
        "mode": v.mode, "available": v.available, "possible": v.possible, "answer": v.answer,
        "expected": {"step": step, "errno": err},
        "reasons": [r.to_json() for r in v.reasons],
        "groups_to_open": [g.node for g in v.groups] if v.mode == sc.GROUP else None,
        "devices_to_bind": [str(f.address) for f in v.binds] if v.mode == sc.IOMMUFD else None,
    }


def plan(host: Host, p: sc.ResetPlan) -> dict:
    from vfioctl.model import scope as sc
    return {
        "target": str(p.target.address),
        "kind": p.kind, "why": p.why,
        "slot": p.slot.name if p.slot else None,
        "bus": p.bus, "bridge": str(p.bridge) if p.bridge else None,
        "dev_set": {"key": p.dev_set_key, "members": [str(f.address) for f in p.dev_set]},
        "affected": [{
            "address": str(a.address),
            "iommu_group": a.group.number if a.group else None,
            "driver": a.function.driver,
            "vfio_bound": a.function.vfio_bound,
            "in_dev_set": a.in_dev_set,
            "is_bridge": a.function.is_bridge,
            "holders": [holder(h) for h in a.group_holders + a.device_holders],
        } for a in p.affected],
        # reset too, although the kernel's INFO does not list them (VFs of a PF in a slot reset)
        "also_reset": [{
            "address": str(c.address), "pf": str(c.pf), "why": c.why,
            "iommu_group": c.function.iommu_group, "driver": c.function.driver,
            "holders": [holder(h) for h in c.holders],
        } for c in p.collateral],
        "possible": p.possible,
        "answer": p.answer,
        "default_mode": p.default_mode(),
        "verdicts": {m: verdict(v) for m, v in p.verdicts.items()},
        "notes": list(p.notes),
        "assumptions": list(sc.ASSUMPTIONS),
    }


def predicted_info(host: Host, p: sc.ResetPlan) -> dict:
    """What VFIO_DEVICE_GET_PCI_HOT_RESET_INFO should answer, per mode.

    ``group``: after opening the target through its group.  ``iommufd``:
    after binding only the target (what ``reset-info --kernel`` does).
    """
    from vfioctl.model import scope as sc
    gerr, gent = sc.predict_info_group(host, p)
    ierr, iflags, ient = sc.predict_info_iommufd(host, p, {p.target.address})
    return {
        "group": {"errno": gerr, "flags": 0 if gerr is None else None,
                  "devices": [{"address": e.address, "group_id": e.group_id} for e in gent]},
        "iommufd": {"errno": ierr, "flags": iflags if ierr is None else None,
                    "devices": [{"address": e.address, "devid": e.devid} for e in ient]},
    }


def error(command: str, err) -> dict:
    return doc(command, error=err.to_json())


# ---------------------------------------------------------------------------
# report -> document: the JSON renderer of each report type (vfioctl.ops.reports)

def list_doc(r) -> dict:
    return doc("list", host=host_summary(r.host),
               functions=Stream(lambda: (function(r.host, f, brief=True) for f in r.functions)),
               warnings=list(r.host.warnings))


def groups_doc(r) -> dict:
    return doc("groups", host=host_summary(r.host), groups=[group(r.host, g) for g in r.groups],
               warnings=list(r.host.warnings))


def show_doc(r) -> dict:
    g = r.host.group_of(r.function)
    fd = function(r.host, r.function)
    fd["modules"] = r.modules
    fd["reset_method_note"] = r.reset_method_note
    return doc("show", host=host_summary(r.host), function=fd,
               iommu_group_info=group(r.host, g) if g else None,
               reset=plan(r.host, r.plan), warnings=list(r.host.warnings))


def step(s) -> dict:
    d = {"op": s.op, "target": s.target}
    if s.note:
        d["note"] = s.note
    if s.result is not None:
        d["result"] = s.result
    return d


def hot_reset_info(info) -> dict:
    from vfioctl.ops.hotreset import describe_devid
    devs = []
    for d in info.devices:
        if info.dev_id:
            devs.append({"address": d.address, "devid": d.ident,
                         "devid_text": describe_devid(d.ident)})
        else:
            devs.append({"address": d.address, "group_id": d.ident})
    return {"flags": info.flags, "dev_id": info.dev_id, "dev_id_owned": info.dev_id_owned,
            "devices": devs}


def kernel_info(k) -> dict:
    d = {"mode": k.mode, "backend": k.backend, "simulated": k.simulated, "dry_run": k.dry_run,
         "steps": [step(s) for s in k.steps], "errno": k.errno, "flags": None, "devices": [],
         "agrees": k.agrees, "disagreements": list(k.disagreements)}
    if k.step is not None:
        d["step"] = k.step
    if k.explanation is not None:
        d["explanation"] = k.explanation
    if k.hint is not None:
        d["hint"] = k.hint
    if k.info is not None:
        d.update(hot_reset_info(k.info))
    return d


def reset_info_doc(r) -> dict:
    d = doc("reset-info", target=str(r.function.address), reset=plan(r.host, r.plan),
            predicted_info=predicted_info(r.host, r.plan), warnings=list(r.host.warnings))
    if r.kernel is not None:
        d["kernel"] = kernel_info(r.kernel)
    return d


def check_doc(r) -> dict:
    entries = []
    for e in r.entries:
        p = e.plan
        entries.append({"target": str(p.target.address), "possible": e.possible,
                        "answer": e.answer, "mode": e.mode,
                        "possible_modes": e.possible_modes, "kind": p.kind,
                        "affected": [str(a.address) for a in p.affected],
                        "also_reset": [str(c.address) for c in p.collateral],
                        "covers": list(e.covers),
                        "reasons": [dict(reason.to_json(), mode=m) for m, reason in e.reasons]})
    return doc("check", possible=r.possible, answer=r.answer, resets=entries)


def target_result(t) -> dict:
    d = {"target": t.target, "mode": t.mode, "kind": t.kind, "affected": list(t.affected),
         "result": t.result, "steps": [step(s) for s in t.steps],
         "info": hot_reset_info(t.info) if t.info is not None else None}
    if t.error is not None:
        d["error"] = t.error.to_json()
    if t.vf_token_passed_to is not None:
        d["vf_token_passed_to"] = list(t.vf_token_passed_to)
    return d


def hot_reset_doc(r) -> dict:
    from vfioctl.ops.hotreset import SIDE_EFFECTS
    d = doc("hot-reset", dry_run=r.dry_run, backend=r.backend, simulated=r.simulated,
            side_effects=SIDE_EFFECTS,
            resets=[{"plan": plan(r.host, p), "mode": m} for p, m in r.plans],
            status=r.status, done=r.done, failed=r.failed,
            not_attempted=[t.target for t in r.results if t.result == "not-attempted"],
            results=[target_result(t) for t in r.results], verification=list(r.verification))
    if r.error is not None:
        d["error"] = r.error.to_json()
    return d


def function_reset_doc(r) -> dict:
    from vfioctl.ops.hotreset import SIDE_EFFECTS
    d = doc("reset", target=r.target, mode=r.mode, dry_run=r.dry_run,
            reset_method=r.reset_method, note=r.note, side_effects=SIDE_EFFECTS,
            steps=[step(s) for s in r.steps], result=r.result, backend=r.backend,
            simulated=r.simulated)
    if r.device_info is not None:
        d["device_info"] = r.device_info
    if not r.dry_run:
        d["verification"] = list(r.verification)
    if r.vf_token_passed_to is not None:
        d["vf_token_passed_to"] = list(r.vf_token_passed_to)
    if r.error is not None:
        d["error"] = r.error.to_json()
    return d


def snapshot_doc(r) -> dict:
    return doc("snapshot", out=r.out, tarball=r.tarball, source=r.source, report=r.extra)
