"""Commands that act: hot-reset, reset; and check, their prediction for scripts."""

from __future__ import annotations

import typer
from typing import Annotated

from vfioctl.cli.base import (
    DeviceArg, DevicesArg, DryRunOpt, GroupAliasOpt, IommufdOpt, JsonOpt, LegacyOpt,
    VfTokenOpt, YesOpt, _state, app,
)


def _no_devices(host, what: str):
    from vfioctl.errors import UsageError
    from vfioctl.model import scope as sc
    cands = [str(f.address) for f in host.functions.values()
             if f.vfio_bound and sc.plan_reset(host, f).possible]
    return UsageError(f"{what} needs at least one DEVICE",
                      "hot-resettable now: " + (", ".join(sorted(cands)) or "none")
                      + " ('vfioctl list --vfio' shows all vfio devices)")


@app.command("hot-reset")
def hot_reset_cmd(
    ctx: typer.Context,
    devices: DevicesArg = None,
    iommufd: IommufdOpt = False,
    legacy: LegacyOpt = False,
    group_alias: GroupAliasOpt = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    no_preflight: Annotated[bool, typer.Option(
        "--no-preflight", help="Skip vfioctl's own refusal and let the kernel decide (for verifying the kernel's rules).")] = False,
    vf_token: VfTokenOpt = None,
    json_: JsonOpt = False,
) -> None:
    """PCI slot/bus ("hot") reset of DEVICE and every function in its reset scope.

    Shows the full affected set first (on stderr), then asks (refuses without --yes
    when not interactive or with --json).  Default mode: iommufd when every function
    to bind has a usable cdev, else legacy groups.  Several targets are reset in
    turn; if one fails the rest are left alone and the result lists what was done
    (exit status 11 when some were).  Opening the device performs its function
    reset; closing the last open device of a dev_set can trigger a bus reset."""
    from vfioctl.cli.interact import confirmer, progress, report_acted
    from vfioctl.ops import hotreset
    from vfioctl.ops.targets import resolve_targets
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    if not devices:
        raise _no_devices(host, "hot-reset")
    fns = resolve_targets(host, devices)
    rep = hotreset.hot_reset(st.kernel(), st.root_path(), host, fns,
                             mode_flags=(iommufd, legacy or group_alias), dry_run=dry_run,
                             no_preflight=no_preflight, confirm=confirmer(out, yes=yes),
                             progress=progress(out), vf_token=vf_token)
    sim = " (simulated)" if rep.simulated else ""
    report_acted(out, rep, f"hot reset{sim}: done {', '.join(rep.done) or 'nothing'}"
                 + (f"; failed {', '.join(rep.failed)}" if rep.failed else ""))
    if rep.error is not None:
        raise rep.error


@app.command("reset")
def reset_cmd(
    ctx: typer.Context,
    device: DeviceArg,
    iommufd: IommufdOpt = False,
    legacy: LegacyOpt = False,
    group_alias: GroupAliasOpt = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    vf_token: VfTokenOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Function-level reset of DEVICE through VFIO_DEVICE_RESET.

    Refused with the reason when the device reports no reset support (its
    VFIO_DEVICE_GET_INFO lacks the RESET flag)."""
    from vfioctl.cli.interact import confirmer, report_acted
    from vfioctl.ops import hotreset
    from vfioctl.ops.targets import resolve_one
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    fn = resolve_one(host, device)
    rep = hotreset.function_reset(st.kernel(), st.root_path(), host, fn,
                                  mode_flags=(iommufd, legacy or group_alias), dry_run=dry_run,
                                  confirm=confirmer(out, yes=yes), vf_token=vf_token)
    report_acted(out, rep, f"function reset of {rep.target} done"
                 + (" (simulated)" if rep.simulated else ""))
    if rep.error is not None:
        raise rep.error


@app.command("check")
def check_cmd(
    ctx: typer.Context,
    devices: DevicesArg = None,
    iommufd: IommufdOpt = False,
    legacy: LegacyOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Would a hot reset of these devices work right now, and in which mode?

    Exit 0 when every reset is possible, 1 with every reason when not, 10 when
    vfioctl cannot tell (it could not see every holder; run as root).  Reads
    sysfs only: nothing is opened."""
    from vfioctl.errors import EXIT_NO
    from vfioctl.ops import hotreset
    from vfioctl.ops.targets import resolve_targets
    st = _state(ctx)
    out = st.out(json_)
    host = st.host(targeted=True, names=False)   # read on demand; check shows no names
    if not devices:
        raise _no_devices(host, "check")
    rep = hotreset.check(host, resolve_targets(host, devices), mode_flags=(iommufd, legacy))
    out.report(rep)
    if not rep.possible:
        from vfioctl.errors import EXIT_CANNOT_TELL
        raise typer.Exit(EXIT_CANNOT_TELL if rep.answer == "cannot-tell" else EXIT_NO)
