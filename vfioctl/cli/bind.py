"""bind and unbind: thin commands over vfioctl.ops.bind, rendered by vfioctl.present.bind."""

from __future__ import annotations

from typing import List, Optional

import typer
from typing import Annotated

from vfioctl.cli.app import DevicesArg, DryRunOpt, JsonOpt, YesOpt, _state, app

from enum import Enum

GUARD_CODES = ("boot-vga", "nic-in-use", "storage-in-use", "pf-vfs", "no-iommu-group", "held",
               "driver-missing")
GuardCode = Enum("GuardCode", {c.replace("-", "_"): c for c in GUARD_CODES}, type=str)

TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", metavar="SECONDS", min=0.1,
    help="Bound every wait: the VFIO nodes to appear, a held device's unbind (default 10).")]
PersistOpt = Annotated[bool, typer.Option(
    "--persist", help="Also write (bind) or remove (unbind) driverctl's override in "
                      "/etc/driverctl.d, which driverctl re-applies at boot.")]


def _confirm(json_mode: bool, yes: bool, out, shown: list):
    def ask(plan) -> None:
        import sys
        from vfioctl.errors import Refused
        from vfioctl.ops.hotreset import interactive
        from vfioctl.present import bind as pb
        if not json_mode:
            # the full affected set before anything is written
            d = pb.document(plan.command, plan=plan)
            pb.render_plan(d["plan"], out.canvas(), plan.command)
            shown.append(True)
        if yes:
            return
        if json_mode or not interactive():
            raise Refused("refusing to act without confirmation"
                          + (" (--json)" if json_mode else " (not interactive)"),
                          "pass --yes to confirm, or --dry-run to see what would happen")
        n = len(plan.to_move)
        sys.stderr.write(f"{plan.command} {n} function(s): "
                         + ", ".join(m.address for m in plan.to_move) + "? [y/N] ")
        sys.stderr.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise Refused("not confirmed; nothing was done", "answer 'y' to proceed")
    return ask


def _run(ctx, command: str, devices, json_, plan_fn, exec_fn, **kw) -> None:
    from vfioctl.errors import UsageError
    from vfioctl.kernel import get_backend
    from vfioctl.ops import bind as ob
    from vfioctl.ops.resolve import resolve_device
    from vfioctl.present import bind as pb
    from vfioctl.sysfs.root import Root
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    if not devices:
        raise UsageError(f"{command} needs at least one DEVICE",
                         "'vfioctl list' shows the functions")
    fns = [resolve_device(host, d) for d in devices]
    root = Root(st.root_path())
    plan = plan_fn(root, host, fns)
    kernel = get_backend(st.backend, st.root_path())
    shown: list = []
    try:
        res = exec_fn(kernel, root, host, plan,
                      confirm=_confirm(out.json_mode, kw["yes"], out, shown),
                      dry_run=kw["dry_run"], persist=kw["persist"], timeout=kw["timeout"])
    except ob.GuardRefused as e:
        d = pb.document(command, plan=e.plan, refusal=e.to_json(), error=e)
        out.emit(d, lambda c: pb.render(d, c))
        raise
    except ob.BindFailed as e:
        d = pb.document(command, result=e.result, error=e)
        out.emit(d, lambda c: pb.render(d, c, plan=not shown))
        raise
    except Exception:
        if not out.json_mode and not shown:
            d = pb.document(command, plan=plan)
            out.emit(d, lambda c: pb.render_plan(d["plan"], c, command))
        raise
    d = pb.document(command, result=res)
    out.emit(d, lambda c: pb.render(d, c, plan=not shown))


@app.command("bind")
def bind_cmd(
    ctx: typer.Context,
    devices: DevicesArg = None,
    scope: Annotated[bool, typer.Option("--scope", help="Also bind every function of the devices' hot-reset scope (and their groups), so a hot reset becomes possible.")] = False,
    driver: Annotated[str, typer.Option("--driver", metavar="NAME", help="Target driver: vfio-pci (default), a vfio-pci variant, or 'auto' (the most specific vfio_pci: alias in modules.alias).")] = "vfio-pci",
    force: Annotated[bool, typer.Option("--force", help="Override every guard (console GPU, NIC in use, mounted storage, PF with VFs, no IOMMU group, held open).")] = False,
    allow: Annotated[Optional[List[GuardCode]], typer.Option("--allow", metavar="GUARD", help="Override one guard (repeatable): " + ", ".join(GUARD_CODES) + ".")] = None,
    noiommu: Annotated[bool, typer.Option("--noiommu", help="Allow devices without an IOMMU group when vfio's unsafe noiommu mode is on.")] = False,
    persist: PersistOpt = False,
    timeout: TimeoutOpt = 10.0,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Move DEVICE and the rest of its IOMMU group to vfio-pci, all or nothing.

    Shows, per function, the driver now and after, holders and guards, and the
    consequence: is the group viable after, is a hot reset possible after and in
    which mode.  Uses driver_override, unbind and drivers_probe (never new_id),
    waits for /dev/vfio/N and the cdev, and rolls every function back to its
    original driver if any step fails.  The original drivers are recorded for
    'vfioctl unbind'."""
    from vfioctl.ops import bind as ob
    _run(ctx, "bind", devices, json_,
         lambda root, host, fns: ob.plan_bind(root, host, fns, driver=driver, scope=scope,
                                              noiommu=noiommu, force=force,
                                              allow=tuple(a.value for a in allow or ())),
         ob.execute_bind, dry_run=dry_run, yes=yes, persist=persist, timeout=timeout)


@app.command("unbind")
def unbind_cmd(
    ctx: typer.Context,
    devices: DevicesArg = None,
    force: Annotated[bool, typer.Option("--force", help="Unbind a device held by a process: wait (bounded by --timeout) for the kernel, which blocks until the holder lets go.")] = False,
    persist: PersistOpt = False,
    timeout: TimeoutOpt = 10.0,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Give functions back to the driver each had before 'vfioctl bind'.

    Without a record, driver_override is cleared and the device re-probed (the
    kernel's default driver).  Members of the same IOMMU group that vfioctl bound
    go back too.  A device held open is refused, naming the holder."""
    from vfioctl.ops import bind as ob
    _run(ctx, "unbind", devices, json_,
         lambda root, host, fns: ob.plan_unbind(root, host, fns, force=force),
         ob.execute_unbind, dry_run=dry_run, yes=yes, persist=persist, timeout=timeout)
