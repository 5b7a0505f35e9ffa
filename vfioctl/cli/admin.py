"""Admin-session commands: completion, snapshot, watch."""

from __future__ import annotations

from typing import Optional

import typer
from typing import Annotated

from vfioctl.cli.base import _state, app


@app.command("completion")
def completion_cmd(
    ctx: typer.Context,
    shell: Annotated[Optional[str], typer.Argument(metavar="[SHELL]", help="bash, zsh or fish (default: from $SHELL).")] = None,
    install: Annotated[bool, typer.Option("--install", help="Write the script where the shell looks for it, instead of printing it.")] = False,
) -> None:
    """Print (or --install) the shell completion script for bash, zsh or fish.

    Device arguments complete from the live host (or --root) without loading
    the full CLI: every function for show/reset-info, vfio-bound ones for
    hot-reset/reset/check, group numbers for groups and list --group."""
    import sys
    from vfioctl.present import completion
    from vfioctl.errors import UsageError
    if _state(ctx).json:
        raise UsageError("completion prints a shell script: --json does not apply to it",
                         "drop --json: vfioctl completion bash|zsh|fish")
    top = ctx.find_root().command
    if install:
        typer.echo(completion.install(shell, None, top=top))
    else:
        sys.stdout.write(completion.generate(completion.detect_shell(shell), top=top))


@app.command("snapshot")
def snapshot_cmd(
    ctx: typer.Context,
    out_path: Annotated[str, typer.Argument(metavar="OUT", help="Directory to create, or a .tar/.tar.gz/.tgz file.")],
    from_umockdev: Annotated[Optional[str], typer.Option("--from-umockdev", metavar="FILE", help="Import a umockdev-record file instead of reading the host.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON document (schema vfioctl/1).")] = False,
) -> None:
    """Write the part of sysfs, /dev and /proc that vfioctl reads, usable as --root.

    For bug reports and new fixtures: no symlink loops, config space as far as
    readable (run as root for capabilities), device nodes as plain files, udev
    names alongside.  OUT ending in .tar, .tar.gz or .tgz gives a tarball, which
    --root also accepts."""
    from vfioctl.ops import snapshot
    st = _state(ctx)
    out = st.out(json_)
    out.report(snapshot.snapshot(st, out_path, from_umockdev=from_umockdev, force=force))


@app.command("watch")
def watch_cmd(
    ctx: typer.Context,
    count: Annotated[Optional[int], typer.Option("--count", min=1, metavar="N", help="Stop after N events.")] = None,
    json_: Annotated[bool, typer.Option("--json", help="One JSON object per line (JSON lines, schema vfioctl/1).")] = False,
) -> None:
    """Live udev events for PCI functions, VFIO groups and vfio-dev cdevs.

    One line per add/remove/bind/unbind with the function, driver and IOMMU
    group, until Ctrl-C (exit 0) or --count events.  Needs the live host."""
    import gc
    from vfioctl.ops.watch import watch
    from vfioctl.present.watch import emitter
    gc.enable()  # runs until Ctrl-C: keep the cyclic collector (entry.main turned it off)
    st = _state(ctx)
    out = st.out(json_)
    try:
        watch(st.root_path(), emit=emitter(out), warn=out.warn, count=count)
    except KeyboardInterrupt:
        raise typer.Exit(0)
