"""``vfioctl export``: files for node_exporter's textfile collector and NFD."""

from __future__ import annotations

from typing import Optional

import typer
from typing import Annotated

from vfioctl.cli.base import JsonOpt, _state, app


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
    import time
    from vfioctl.errors import UsageError, VfioctlError
    from vfioctl.ops import export
    from vfioctl.present import fleet
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
    try:
        rep = export.export(st.host, prometheus=prometheus, nfd=nfd, started=now,
                            nfd_expiry=nfd_expiry, root=st.root_path())
    except VfioctlError:
        # keep scrapers informed: the last run failed (the host's series vanish
        # rather than go stale); the NFD file is left to expire
        fleet.write_files(export.failed(prometheus=prometheus, started=now))
        raise
    fleet.write_files(rep, stdout=out.stdout)
    if "-" not in (prometheus, nfd):
        out.report(rep)
