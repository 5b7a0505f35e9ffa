"""Inspection commands: list, groups, show, reset-info (they only read files,
except reset-info --kernel, which opens the device)."""

from __future__ import annotations

from typing import List, Optional

import typer
from typing import Annotated

from vfioctl.cli.base import (
    DeviceArg, GroupAliasOpt, IommufdOpt, JsonOpt, LegacyOpt, VfTokenOpt, _state, app,
)


@app.command("list")
def list_cmd(
    ctx: typer.Context,
    vfio: Annotated[bool, typer.Option("--vfio", help="Only functions bound to vfio-pci (or a vfio-pci variant driver).")] = False,
    group: Annotated[Optional[int], typer.Option("--group", "-g", metavar="N", help="Only members of IOMMU group N.")] = None,
    klass: Annotated[Optional[List[str]], typer.Option("--class", "-c", metavar="CLASS",
                                                       help="Only this class: gpu, network, storage, nvme, audio, usb, bridge, accelerator, crypto... (repeatable).")] = None,
    driver: Annotated[Optional[str], typer.Option("--driver", "-d", metavar="NAME", help="Only functions bound to this driver ('none' for unbound).")] = None,
    hide: Annotated[Optional[List[str]], typer.Option("--hide", metavar="COLUMN",
                                                      help="Leave this column out of the table: ids, class, name, driver, group, vfio, hot-reset, held-by or numa (repeatable; --json is not affected).")] = None,
    json_: JsonOpt = False,
) -> None:
    """List PCI functions with their class, driver, IOMMU group, VFIO nodes and holders.

    A filter naming a group or driver that does not exist on the host is an
    error (exit status 3), as for 'groups N'; a filter that matches nothing
    prints an empty table.  On a narrow terminal NAME is shortened first, then
    NUMA, CLASS, IDS, HELD BY and HOT RESET are left out, in that order; when
    the rest still does not fit, one block of COLUMN value lines per function
    is shown (see COLUMNS)."""
    from vfioctl.ops import inspect
    if hide:   # the table renderer only when a column is left out (not on the --json path)
        from vfioctl.errors import UsageError
        from vfioctl.present.human import LIST_COLUMNS, render_list
        for h in hide:
            if h not in LIST_COLUMNS:
                raise UsageError(f"--hide: no column {h!r}",
                                 "choose from: " + ", ".join(LIST_COLUMNS))
    st = _state(ctx)
    out = st.out(json_)
    host = st.host(brief=True)
    fns = inspect.list_functions(host, vfio=vfio, group=group, classes=klass, driver=driver)
    rep = inspect.list_report(host, fns)
    if hide:
        from vfioctl.present.jsondoc import list_doc
        d = list_doc(rep)
        out.emit(d, lambda c: render_list(d, c, hide=tuple(hide)))
    else:
        out.report(rep)


@app.command("groups")
def groups_cmd(
    ctx: typer.Context,
    numbers: Annotated[Optional[List[int]], typer.Argument(metavar="[GROUP...]", help="Only these group numbers.")] = None,
    json_: JsonOpt = False,
) -> None:
    """List IOMMU groups: members, type, node, viability (blocking members named), holders."""
    from vfioctl.ops import inspect
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    out.report(inspect.groups_report(host, numbers or None))


@app.command("show")
def show_cmd(ctx: typer.Context, device: DeviceArg, json_: JsonOpt = False) -> None:
    """Everything about one function: ids, driver, group, VFIO access, reset capabilities and scope."""
    from vfioctl.ops import inspect
    from vfioctl.ops.targets import resolve_one
    st = _state(ctx)
    out = st.out(json_)
    host = st.host(targeted=True)   # read on demand: this device's neighbourhood
    out.report(inspect.show_report(host, resolve_one(host, device)))


@app.command("reset-info")
def reset_info_cmd(
    ctx: typer.Context,
    device: DeviceArg,
    kernel: Annotated[bool, typer.Option("--kernel", help="Also ask the kernel (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO through the backend) and compare. Opens the device: a function reset.")] = False,
    iommufd: IommufdOpt = False,
    legacy: LegacyOpt = False,
    group_alias: GroupAliasOpt = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="With --kernel: show the steps, open nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --kernel: do not ask before opening the device.")] = False,
    vf_token: VfTokenOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Predict which functions a hot reset hits and whether the kernel allows it.

    Exit status 0 when a hot reset is possible in some mode, 1 when not, 10 when
    vfioctl cannot tell (it could not see every holder or the config space).  With
    --kernel the device is opened (performing its open-time function reset) and
    the kernel's own answer is shown beside the prediction."""
    from vfioctl.cli.interact import confirmer
    from vfioctl.errors import EXIT_NO
    from vfioctl.ops import inspect
    from vfioctl.ops.targets import resolve_one
    st = _state(ctx)
    out = st.out(json_)
    if vf_token is not None and not kernel:
        from vfioctl.errors import UsageError
        raise UsageError("--vf-token is only used with --kernel (which opens the device)",
                         "add --kernel, or leave --vf-token out")
    # read on demand, without names (reset-info shows none); with --kernel the
    # host goes to the kernel backend too: read whole, as before issue 14
    host = st.host(targeted=not kernel, names=kernel)
    rep = inspect.reset_info_report(host, resolve_one(host, device))
    if kernel:
        from vfioctl.ops import hotreset
        mode = hotreset.choose_mode(rep.plan, iommufd=iommufd, group=legacy or group_alias)
        rep.kernel = hotreset.kernel_info(st.kernel(), host, rep.plan, mode, dry_run=dry_run,
                                          confirm=confirmer(out, yes=yes), vf_token=vf_token)
    out.report(rep)
    if not rep.plan.possible:
        from vfioctl.errors import EXIT_CANNOT_TELL
        raise typer.Exit(EXIT_CANNOT_TELL if rep.plan.cannot_tell else EXIT_NO)
