"""``vfioctl doctor``: a thin command over :mod:`vfioctl.ops.doctor`.

Parse, call the operation, hand its :class:`~vfioctl.model.doctor.DoctorReport`
to the output sink (renderers registered in ``vfioctl.present.RENDERERS``),
exit with the report's status."""

from __future__ import annotations

from typing import List, Optional

import typer
from typing import Annotated

from vfioctl.cli.base import JsonOpt, _state, app


@app.command("doctor")
def doctor_cmd(
    ctx: typer.Context,
    devices: Annotated[Optional[List[str]], typer.Argument(
        metavar="[DEVICE...]", help="Only these functions, or group:N for every function of IOMMU "
                                    "group N (default: every function bound to vfio-pci or "
                                    "overridden to it, and known reset-quirk devices).")] = None,
    no_host: Annotated[bool, typer.Option("--no-host", help="Skip the host checks; only the device checks.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show the evidence and remedy of every finding.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Will device assignment and reset work on this host, and if not, what to do.

    Host checks (IOMMU in firmware and kernel, interrupt remapping, ACS override,
    default domain, VFIO modules and nodes, noiommu, node ownership) and device
    checks (group viability, reset mechanisms and QEMU's verdict, liveness, power
    state, boot VGA, reset quirks, bus-reset collateral, holders).  Each finding has
    a status (pass, warn, fail, cannot-tell), its evidence and a remedy.  Reads only.
    Exit status from the worst finding: 0 pass, 10 cannot-tell, 13 warn, 1 fail."""
    from vfioctl.ops.doctor import doctor
    from vfioctl.ops.targets import resolve_targets
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    fns = resolve_targets(host, devices) if devices else None
    report = doctor(host, st.root_path(), fns, host_checks=not no_host)
    if verbose:   # the registered human renderer, with its --verbose switch on
        from vfioctl.present.doctor import doctor_doc, render_doctor
        d = doctor_doc(report)
        out.emit(d, lambda c: render_doctor(d, c, verbose=True))
    else:
        out.report(report)
    if report.exit_code:
        raise typer.Exit(report.exit_code)
