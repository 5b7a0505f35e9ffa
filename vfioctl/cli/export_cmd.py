"""``vfioctl export``: files for node_exporter's textfile collector and NFD."""

from __future__ import annotations

from typing import Optional

import typer
from typing import Annotated

from vfioctl.cli.app import JsonOpt, _state, app


def _doctor_findings(st, host):
    """Doctor findings (objects with check, subject, status) for the export, or
    None on a build without ``vfioctl doctor`` (vfioctl.ops.doctor, issue 11):
    ``doctor(host, root) -> DoctorReport`` with ``.findings``."""
    try:
        from vfioctl.ops.doctor import doctor
    except ImportError:
        return None
    return doctor(host, st.root_path()).findings


@app.command("export")
def export_cmd(
    ctx: typer.Context,
    prometheus: Annotated[Optional[str], typer.Option(
        "--prometheus", metavar="PATH",
        help="Write metrics for node_exporter's textfile collector to PATH (a .prom file in its "
             "--collector.textfile.directory), atomically; - prints them.")] = None,
    nfd: Annotated[Optional[str], typer.Option(
        "--nfd", metavar="PATH",
        help="Write a Node Feature Discovery local features file to PATH (in features.d), "
             "atomically; - prints it.")] = None,
    nfd_expiry: Annotated[int, typer.Option(
        "--nfd-expiry", metavar="SECONDS", min=60,
        help="NFD features expire this long after the export (default 3600: 12 runs of the "
             "5-minute timer).")] = 3600,
    json_: JsonOpt = False,
) -> None:
    """Export the host's VFIO state for Prometheus (node_exporter) and Kubernetes NFD.

    Reads like 'list' and 'groups' (nothing is opened) and replaces each file
    atomically.  Metrics carry no timestamps; vfioctl_last_export_success and
    vfioctl_last_export_timestamp_seconds say whether the last run could read
    the host.  Run as root for reset capabilities from config space (the
    systemd timer does)."""
    import os
    import sys
    import time
    from vfioctl.errors import UsageError, VfioctlError
    from vfioctl.ops import atomicfile, export
    from vfioctl.present import jsondoc as jd
    from vfioctl.present import nfd as nfd_fmt
    from vfioctl.present import prometheus as prom
    st = _state(ctx)
    out = st.out(json_)
    if not prometheus and not nfd:
        raise UsageError("export needs --prometheus PATH or --nfd PATH (or both)",
                         "e.g. vfioctl export --prometheus "
                         "/var/lib/prometheus/node-exporter/vfioctl.prom")
    if out.json_mode and "-" in (prometheus, nfd):
        raise UsageError("--json and PATH - both want standard output", "give file paths")
    if prometheus and prometheus != "-" and not prometheus.endswith(".prom"):
        out.warn(f"{prometheus}: node_exporter's textfile collector reads only files "
                 "ending in .prom")
    if nfd and nfd != "-" and os.path.basename(nfd).startswith("."):
        raise UsageError(f"{nfd}: NFD ignores files whose name starts with a dot",
                         "name it e.g. /etc/kubernetes/node-feature-discovery/features.d/vfioctl")
    now = time.time()
    t0 = time.perf_counter()
    try:
        host = st.host()
        data = export.build(host, findings=_doctor_findings(st, host),
                            prometheus=bool(prometheus), nfd=bool(nfd))
    except VfioctlError:
        # keep scrapers informed: the last run failed (the host's series vanish
        # rather than go stale); the NFD file is left to expire
        if prometheus and prometheus != "-":
            atomicfile.replace(prometheus, prom.render(
                export.run_families(timestamp=now, success=False, duration=None)))
        raise
    duration = time.perf_counter() - t0
    doc = jd.doc("export", success=True, duration_seconds=round(duration, 6),
                 prometheus=None, nfd=None, warnings=list(host.warnings))
    if prometheus:
        fams = data.families + export.run_families(timestamp=now, success=True,
                                                   duration=duration)
        text = prom.render(fams)
        if prometheus == "-":
            sys.stdout.write(text)
            path = "-"
        else:
            path = atomicfile.replace(prometheus, text)
        doc["prometheus"] = {"path": path, "families": len(fams),
                             "series": sum(len(f.samples) for f in fams)}
    if nfd:
        expires = now + nfd_expiry
        text = nfd_fmt.render(data.features, expires=expires)
        if nfd == "-":
            sys.stdout.write(text)
            path = "-"
        else:
            path = atomicfile.replace(nfd, text)
        doc["nfd"] = {"path": path, "features": len(data.features),
                      "expiry_time": nfd_fmt.rfc3339(expires)}
    if "-" in (prometheus, nfd):
        return

    def human(c):
        if doc["prometheus"]:
            p = doc["prometheus"]
            c.line(f"wrote {p['path']}: {p['series']} series in {p['families']} metric families")
        if doc["nfd"]:
            n = doc["nfd"]
            c.line(f"wrote {n['path']}: {n['features']} features (expire {n['expiry_time']})")
    out.emit(doc, human)
