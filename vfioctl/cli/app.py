"""The typer application: thin commands that parse, call one operation, render."""

from __future__ import annotations

from typing import List, Optional

import typer
from typing import Annotated

from vfioctl import __version__
from vfioctl.cli.state import CURRENT, State

HELP = """Inspect VFIO devices, predict PCI reset scopes, and hot-reset them.

Reads sysfs (or a fixture/snapshot tree given with --root) to show IOMMU groups,
group viability, vfio-pci binding, legacy group vs cdev access, noiommu state,
holders, and which functions a PCI slot/bus ("hot") reset would hit.

Side effects: inspection commands only read files.  Opening a VFIO device (done by
hot-reset, reset and reset-info --kernel) performs a function reset of that device,
and closing the last open device of a dev_set can trigger a bus reset."""

app = typer.Typer(
    name="vfioctl", help=HELP, add_completion=False, no_args_is_help=True,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# -- reusable parameter aliases ------------------------------------------------
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (schema vfioctl/1).")]
DeviceArg = Annotated[str, typer.Argument(
    metavar="DEVICE", help="0000:81:00.0, 81:00.0, vfioX, /dev/vfio/devices/vfioX or a sysfs path.")]
DevicesArg = Annotated[Optional[List[str]], typer.Argument(
    metavar="DEVICE...", help="One or more devices (addresses, vfioX, cdev or sysfs paths).")]
IommufdOpt = Annotated[bool, typer.Option("--iommufd", help="Use the device cdev + /dev/iommu (iommufd) access mode.")]
GroupModeOpt = Annotated[bool, typer.Option("--group", help="Use the legacy group/container access mode.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show every step, open nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (required when not interactive or with --json).")]


def _state(ctx: typer.Context) -> State:
    return ctx.find_object(State) or State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vfioctl {__version__}")
        raise typer.Exit()


def _install_completion(value: bool) -> None:
    if value:
        from vfioctl.cli import gencomp
        typer.echo(gencomp.install(None, None))
        raise typer.Exit()


def _show_completion(value: bool) -> None:
    if value:
        import sys
        from vfioctl.cli import gencomp
        sys.stdout.write(gencomp.generate(gencomp.detect_shell(None)))
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    root: Annotated[str, typer.Option("--root", envvar="VFIOCTL_ROOT", metavar="DIR",
                                      help="Filesystem root holding sys/, dev/ and proc/ (a fixture, a snapshot directory or tarball).")] = "/",
    demo: Annotated[bool, typer.Option("--demo", help="Use the bundled demo host (a two-socket server).")] = False,
    backend: Annotated[Optional[str], typer.Option("--backend", metavar="NAME", envvar="VFIOCTL_BACKEND",
                                                   help="Kernel backend: real, sim, or a plug-in (default: real on /, sim elsewhere).")] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="auto|table|plain",
                                     help="Human output: rich table (TTY default) or plain text (pipe default).")] = "auto",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Suppress warnings on stderr.")] = False,
    json_all: Annotated[bool, typer.Option("--json", help="Machine output for any command (same as the command's own --json).")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    install_completion: Annotated[bool, typer.Option(
        "--install-completion", callback=_install_completion, is_eager=True,
        help="Install completion for the current shell ($SHELL) and exit.")] = False,
    show_completion: Annotated[bool, typer.Option(
        "--show-completion", callback=_show_completion, is_eager=True,
        help="Print the completion script for the current shell and exit.")] = False,
) -> None:
    from vfioctl.errors import UsageError
    if fmt not in ("auto", "table", "plain"):
        raise UsageError(f"--format must be auto, table or plain, not {fmt!r}",
                         "use --format table or --format plain (or --json)")
    if demo and root != "/":
        raise UsageError("--demo and --root cannot be combined",
                         "use one of them: --demo shows the bundled demo host")
    st = State(root=root, demo=demo, backend=backend, fmt=fmt, quiet=quiet, json=json_all)
    CURRENT.append(st)
    ctx.obj = st


# -- inspection ----------------------------------------------------------------

@app.command("list")
def list_cmd(
    ctx: typer.Context,
    vfio: Annotated[bool, typer.Option("--vfio", help="Only functions bound to vfio-pci (or a vfio-pci variant driver).")] = False,
    group: Annotated[Optional[int], typer.Option("--group", "-g", metavar="N", help="Only members of IOMMU group N.")] = None,
    klass: Annotated[Optional[List[str]], typer.Option("--class", "-c", metavar="CLASS",
                                                       help="Only this class: gpu, network, storage, nvme, audio, usb, bridge, accelerator, crypto... (repeatable).")] = None,
    driver: Annotated[Optional[str], typer.Option("--driver", "-d", metavar="NAME", help="Only functions bound to this driver ('none' for unbound).")] = None,
    json_: JsonOpt = False,
) -> None:
    """List PCI functions with their driver, IOMMU group, VFIO nodes and holders."""
    from vfioctl.ops import inspect
    from vfioctl.present import human
    st = _state(ctx)
    out = st.out(json_)
    host = st.host(brief=True)
    fns = inspect.list_functions(host, vfio=vfio, group=group, classes=klass, driver=driver)
    d = inspect.list_doc(host, fns)
    out.emit(d, lambda c: human.render_list(d, c))


@app.command("groups")
def groups_cmd(
    ctx: typer.Context,
    numbers: Annotated[Optional[List[int]], typer.Argument(metavar="[GROUP...]", help="Only these group numbers.")] = None,
    json_: JsonOpt = False,
) -> None:
    """List IOMMU groups: members, type, node, viability (blocking members named), holders."""
    from vfioctl.errors import NotFoundError
    from vfioctl.ops import inspect
    from vfioctl.present import human
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    for n in numbers or ():
        if n not in host.groups:
            raise NotFoundError(f"no IOMMU group {n} on this host",
                                "'vfioctl groups' lists the groups present")
    d = inspect.groups_doc(host, numbers or None)
    out.emit(d, lambda c: human.render_groups(d, c))


@app.command("show")
def show_cmd(ctx: typer.Context, device: DeviceArg, json_: JsonOpt = False) -> None:
    """Everything about one function: ids, driver, group, VFIO access, reset capabilities and scope."""
    from vfioctl.ops import inspect
    from vfioctl.ops.resolve import resolve_device
    from vfioctl.present import human
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    fn = resolve_device(host, device)
    d = inspect.show_doc(host, fn)
    out.emit(d, lambda c: human.render_show(d, c))


@app.command("reset-info")
def reset_info_cmd(
    ctx: typer.Context,
    device: DeviceArg,
    kernel: Annotated[bool, typer.Option("--kernel", help="Also ask the kernel (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO through the backend) and compare. Opens the device: a function reset.")] = False,
    iommufd: Annotated[bool, typer.Option("--iommufd", help="With --kernel: ask through the cdev + iommufd.")] = False,
    group_mode: Annotated[bool, typer.Option("--group", help="With --kernel: ask through the legacy group.")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="With --kernel: show the steps, open nothing.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="With --kernel: do not ask before opening the device.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Predict which functions a hot reset hits and whether the kernel allows it.

    Exit status 0 when a hot reset is possible in some mode, 1 when not, 10 when
    vfioctl cannot tell (it could not see every holder or the config space).  With
    --kernel the device is opened (performing its open-time function reset) and
    the kernel's own answer is shown beside the prediction."""
    from vfioctl.errors import EXIT_NO
    from vfioctl.ops import inspect
    from vfioctl.ops.resolve import resolve_device
    from vfioctl.present import human
    st = _state(ctx)
    out = st.out(json_)
    host = st.host()
    fn = resolve_device(host, device)
    d, plan = inspect.reset_info_doc(host, fn)
    if kernel:
        from vfioctl.ops import hotreset
        mode = hotreset.choose_mode(plan, iommufd=iommufd, group=group_mode)
        d["kernel"] = hotreset.kernel_info(st, host, plan, mode, dry_run=dry_run, yes=yes,
                                           json_mode=out.json_mode, out=out)
    out.emit(d, lambda c: human.render_reset_info(d, c))
    if not plan.possible:
        from vfioctl.errors import EXIT_CANNOT_TELL
        raise typer.Exit(EXIT_CANNOT_TELL if plan.cannot_tell else EXIT_NO)


def _register_mutations() -> None:
    from vfioctl.cli import mutate  # noqa: F401  (registers hot-reset, reset, check)
    from vfioctl.cli import admin  # noqa: F401  (registers completion, snapshot, watch)
    from vfioctl.cli import export_cmd  # noqa: F401  (registers export)
    from vfioctl.cli import libvirt_cmd  # noqa: F401  (registers libvirt-hook)


_register_mutations()
