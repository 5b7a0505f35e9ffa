"""bind and unbind: parse, call vfioctl.ops.bind, hand the report to the output
(rendered by vfioctl.present.bind, registered in vfioctl.present.RENDERERS)."""

from __future__ import annotations

from enum import Enum
from typing import List, Optional

import typer
from typing import Annotated

from vfioctl.cli.base import DevicesArg, DryRunOpt, JsonOpt, YesOpt, _state, app

GUARD_CODES = ("boot-vga", "nic-in-use", "storage-in-use", "pf-vfs", "no-iommu-group", "held",
               "held-unseen", "driver-missing")
GuardCode = Enum("GuardCode", {c.replace("-", "_"): c for c in GUARD_CODES}, type=str)

TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", metavar="SECONDS", min=0.1,
    help="Bound every wait: the VFIO nodes to appear, a held device's unbind (default 10).")]
PersistOpt = Annotated[bool, typer.Option(
    "--persist", help="Also write (bind) or remove (unbind) driverctl's override in "
                      "/etc/driverctl.d, which driverctl re-applies at boot.")]


def _run(ctx, command: str, devices, json_, plan_fn, exec_fn, **kw) -> None:
    from vfioctl.cli.interact import confirmer, report_acted
    from vfioctl.errors import UsageError
    from vfioctl.ops import bind as ob
    from vfioctl.ops.targets import resolve_targets
    from vfioctl.sysfs.root import Root
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    if not devices:
        raise UsageError(f"{command} needs at least one DEVICE",
                         "'vfioctl list' shows the functions")
    fns = resolve_targets(host, devices)
    root = Root(st.root_path())
    plan = plan_fn(root, host, fns)
    try:
        rep = exec_fn(st.kernel(), root, host, plan, confirm=confirmer(out, yes=kw["yes"]),
                      dry_run=kw["dry_run"], persist=kw["persist"], timeout=kw["timeout"])
    except ob.GuardRefused as e:
        # refused before anything was written: the plan with every guard and its fix
        out.report(ob.BindResult(e.plan, kw["dry_run"], result="refused", error=e))
        raise
    except ob.BindFailed as e:
        e.result.error = e
        report_acted(out, e.result, f"{command} failed: {e.message}")
        raise
    report_acted(out, rep, f"{command}: {rep.result}, moved {', '.join(rep.moved) or 'nothing'}")


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
