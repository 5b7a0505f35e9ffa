"""The typer application object, its global options and the shared parameter aliases.

Command modules (:mod:`.inspection`, :mod:`.acting`, :mod:`.admin`, and the new
families) import ``app`` from here and register their commands on it;
:mod:`vfioctl.cli.app` imports them all.  Nothing here imports a command module.
"""

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

def _usage_and_help_fixes() -> None:
    """Two presentation fixes to typer's help, for every command (new families too):

    * the command list shows each command's whole first sentence (wrapped),
      never a summary cut with "...";
    * usage lines name arguments plainly: ``DEVICE``, not typer's ``{DEVICE}``;
      ``DEVICE...`` of hot-reset/check is required in practice (the command
      refuses without one, naming the candidates), so it is not shown as
      ``[DEVICE...]`` (doctor, whose DEVICEs are optional, declares the
      metavar ``[DEVICE...]`` itself and keeps the brackets)."""
    import typer.core as tc
    if getattr(tc.TyperCommand, "_vfioctl_patched", False):
        return

    def short_help(self, limit: int = 45) -> str:
        if self.short_help:
            return self.short_help
        text = " ".join((self.help or "").split("\n\n")[0].split())
        first = text.split(". ")[0]
        return first if first.endswith((".", "?", "!")) or not first else first + "."

    orig = tc.TyperArgument.make_metavar

    def make_metavar(self, ctx, *, usage: bool = False) -> str:
        var = orig(self, ctx, usage=usage)
        if var.startswith("{") and var.endswith("}"):
            var = var[1:-1]
        if var == "[DEVICE...]" and self.metavar == "DEVICE...":
            var = "DEVICE..."   # (a command whose DEVICEs are optional spells its metavar "[DEVICE...]")
        return var
    tc.TyperCommand.get_short_help_str = short_help
    tc.TyperArgument.make_metavar = make_metavar
    tc.TyperCommand._vfioctl_patched = True


_usage_and_help_fixes()

app = typer.Typer(
    name="vfioctl", help=HELP, add_completion=False, no_args_is_help=True,
    pretty_exceptions_enable=False, rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# -- reusable parameter aliases ------------------------------------------------
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document (schema vfioctl/1).")]
DeviceArg = Annotated[str, typer.Argument(
    metavar="DEVICE", help="0000:81:00.0, 81:00.0, vfioX, /dev/vfio/devices/vfioX, a sysfs path, or group:N (a one-function IOMMU group).")]
DevicesArg = Annotated[Optional[List[str]], typer.Argument(
    metavar="DEVICE...", help="One or more devices (addresses, vfioX, cdev or sysfs paths), or group:N for every function of IOMMU group N.")]
IommufdOpt = Annotated[bool, typer.Option("--iommufd", help="Use the device cdev + /dev/iommu (iommufd) access mode.")]
LegacyOpt = Annotated[bool, typer.Option("--legacy", help="Use the legacy group/container access mode (/dev/vfio/N).")]
#: the old name of --legacy, kept hidden on the acting commands (list --group is the group filter)
GroupAliasOpt = Annotated[bool, typer.Option("--group", hidden=True, help="Deprecated: use --legacy.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", "-n", help="Show every step, open nothing.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (required when not interactive or with --json).")]


def _state(ctx: typer.Context) -> State:
    return ctx.find_object(State) or State()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"vfioctl {__version__}")
        raise typer.Exit()


def _install_completion(ctx: typer.Context, value: bool) -> None:
    if value:
        from vfioctl.present import completion
        typer.echo(completion.install(None, None, top=ctx.find_root().command))
        raise typer.Exit()


def _show_completion(ctx: typer.Context, value: bool) -> None:
    if value:
        import sys
        from vfioctl.present import completion
        sys.stdout.write(completion.generate(completion.detect_shell(None), top=ctx.find_root().command))
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

VfTokenOpt = Annotated[str | None, typer.Option(
    "--vf-token", metavar="UUID", envvar="VFIOCTL_VF_TOKEN", show_envvar=True,
    help="SR-IOV VF token (the UUID the PF's user set) to open a VF, or a PF whose VFs are in use: "
         "passed in the device name (legacy) or with VFIO_DEVICE_BIND_FLAG_TOKEN (iommufd, Linux >= 6.17). "
         "Never printed; prefer the environment variable (a command line is visible to other users).")]
