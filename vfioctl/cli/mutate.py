"""Commands that act: hot-reset, reset; and check, their prediction for scripts."""

from __future__ import annotations

from typing import List, Optional

import typer
from typing import Annotated

from vfioctl.cli.app import (
    DeviceArg, DevicesArg, DryRunOpt, GroupModeOpt, IommufdOpt, JsonOpt, YesOpt, _state, app,
)


def _resolve_all(host, devices):
    from vfioctl.ops.resolve import resolve_device
    return [resolve_device(host, d) for d in devices]


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
    group_mode: GroupModeOpt = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    no_preflight: Annotated[bool, typer.Option(
        "--no-preflight", help="Skip vfioctl's own refusal and let the kernel decide (for verifying the kernel's rules).")] = False,
    json_: JsonOpt = False,
) -> None:
    """PCI slot/bus ("hot") reset of DEVICE and every function in its reset scope.

    Shows the full affected set first, then asks (refuses without --yes when not
    interactive or with --json).  Default mode: iommufd when every function to bind
    has a usable cdev, else legacy groups.  Opening the device performs its function
    reset; closing the last open device of a dev_set can trigger a bus reset."""
    from vfioctl.ops import hotreset
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    if not devices:
        raise _no_devices(host, "hot-reset")
    fns = _resolve_all(host, devices)
    doc = hotreset.hot_reset(st, host, fns, mode_flags=(iommufd, group_mode),
                             dry_run=dry_run, yes=yes, no_preflight=no_preflight,
                             json_mode=out.json_mode, out=out)
    if out.json_mode:
        out.emit(doc, lambda c: None)


@app.command("reset")
def reset_cmd(
    ctx: typer.Context,
    device: DeviceArg,
    iommufd: IommufdOpt = False,
    group_mode: GroupModeOpt = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Function-level reset of DEVICE through VFIO_DEVICE_RESET.

    Refused with the reason when the device reports no reset support (its
    VFIO_DEVICE_GET_INFO lacks the RESET flag)."""
    from vfioctl.ops import hotreset
    from vfioctl.ops.resolve import resolve_device
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    fn = resolve_device(host, device)
    from vfioctl.present.human import step_line
    doc = hotreset.function_reset(st, host, fn, mode_flags=(iommufd, group_mode),
                                  dry_run=dry_run, yes=yes, json_mode=out.json_mode, out=out)

    def human(c):
        if dry_run:
            c.line(f"dry run: the steps for {fn.address} ({doc['mode']}):")
            for s in doc["steps"]:
                c.bullet(step_line(s))
        else:
            c.line(f"{fn.address}: function reset done ({doc['mode']} mode)", "ok")
    out.emit(doc, human)


@app.command("check")
def check_cmd(
    ctx: typer.Context,
    devices: DevicesArg = None,
    iommufd: IommufdOpt = False,
    group_mode: GroupModeOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Would a hot reset of these devices work right now, and in which mode?

    Exit 0 when every reset is possible, 1 with every reason when not, 10 when
    vfioctl cannot tell (it could not see every holder; run as root).  Reads
    sysfs only: nothing is opened."""
    from vfioctl.errors import EXIT_NO
    from vfioctl.ops import hotreset
    st = _state(ctx)
    out = st.out(json_)
    host = st.host(targeted=True, names=False)   # check shows no names
    if not devices:
        raise _no_devices(host, "check")
    doc = hotreset.check(host, _resolve_all(host, devices), mode_flags=(iommufd, group_mode))

    def human(c):
        for e in doc["resets"]:
            if e["possible"]:
                c.line(f"{e['target']}: hot reset possible ({e['mode']} mode, {e['kind']} reset, "
                       f"affects {', '.join(e['affected'])})", "ok")
            else:
                modes = sorted({r["mode"] for r in e["reasons"]}) or [e["mode"]]
                verdict = ("CANNOT TELL whether a hot reset is possible"
                           if e.get("answer") == "cannot-tell" else "hot reset NOT possible")
                c.line(f"{e['target']}: {verdict} ({' or '.join(modes)} mode)", "bad")
                for r in e["reasons"]:
                    c.bullet(f"{r['mode']}: {r['message']} [{r['errno'] or 'refused'} at "
                             f"{r['step']}]", "bad")
    out.emit(doc, human)
    if not doc["possible"]:
        from vfioctl.errors import EXIT_CANNOT_TELL
        raise typer.Exit(EXIT_CANNOT_TELL if doc["answer"] == "cannot-tell" else EXIT_NO)
