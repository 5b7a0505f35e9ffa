"""Human view of one ``watch`` record (plain text, no rich: one flushed line per event)."""

from __future__ import annotations

import datetime as _dt


def human_line(rec: dict) -> str:
    """``12:00:01 bind    pci      0000:81:00.0  driver=vfio-pci  group=11``."""
    t = rec["time"]
    try:
        hms = _dt.datetime.fromisoformat(t).strftime("%H:%M:%S")
    except (TypeError, ValueError):
        hms = "??:??:??"
    parts = [f"{hms} {rec['action']:<7} {rec['subsystem']:<8} {rec['address'] or '?':<12}"]
    kv = []
    if rec.get("function") and rec["function"] != rec.get("address"):
        kv.append(f"function={rec['function']}")
    if rec.get("driver"):
        kv.append(f"driver={rec['driver']}")
    if rec.get("iommu_group") is not None:
        kv.append(f"group={rec['iommu_group']}")
    if rec.get("node"):
        kv.append(f"node={rec['node']}")
    if kv:
        parts.append("  ".join(kv))
    return "  ".join(parts).rstrip()



def emitter(out):
    """The ``emit`` callback for :func:`vfioctl.ops.watch.run`: a JSON line with
    ``--json``, else :func:`human_line`; each flushed at once."""
    if out.json_mode:
        return out.json_line

    def emit(rec: dict) -> None:
        out.stdout.write(human_line(rec) + "\n")
        out.stdout.flush()
    return emit
