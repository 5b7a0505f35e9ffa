"""Console entry point.

Keeps the start-up path small: shell completion of DEVICE/GROUP arguments is
answered here by :mod:`vfioctl.cli.complete` without importing typer, rich or
pyudev; everything else goes to the typer app.  User errors
(:class:`~vfioctl.errors.VfioctlError`) become one ``error:`` line, one
``hint:`` line and a documented exit code; with ``--json`` stdout also gets an
error document.  Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys


GLOBAL_OPTIONS = ("--root", "--demo", "--backend", "--format", "--quiet", "-q", "--version")


def _command_name(argv: list[str]) -> str:
    from vfioctl.cli.complete import COMMANDS
    for a in argv:
        if a in COMMANDS:
            return a
    return "vfioctl"


def main(argv: list[str] | None = None) -> int:
    # A short-lived command allocates ~25 objects per PCI function and frees
    # them all at exit: the cyclic collector's passes are pure overhead (about
    # 10% of `list` on 4,096 functions).  Restored on return for in-process
    # callers; `watch`, which runs for long, turns it back on.
    import gc
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if was_enabled:
            gc.enable()


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["__complete"]:
        from vfioctl.cli.complete import main as complete_main
        return complete_main(args[1:])

    from vfioctl.errors import EXIT_USAGE, UsageError, VfioctlError
    from vfioctl.cli.state import CURRENT
    from vfioctl.present.output import Output
    import typer
    from typer._click import exceptions as cex
    from vfioctl.cli.app import app

    cmd = typer.main.get_command(app)
    CURRENT.clear()
    json_mode = "--json" in args
    try:
        rv = cmd.main(args=args, prog_name="vfioctl", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except VfioctlError as e:
        st = CURRENT[-1] if CURRENT else None
        out = st.output if st is not None and st.output is not None else Output(json_mode=json_mode)
        out.error(_command_name(args), e)
        return e.code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        sys.stderr.write("vfioctl: aborted\n")
        return 6
    except cex.NoArgsIsHelpError as e:
        sys.stdout.write(e.ctx.get_help() + "\n")
        return 0
    except cex.ClickException as e:  # usage errors from option parsing
        msg = e.format_message()
        hint = "run 'vfioctl --help' or 'vfioctl COMMAND --help'"
        opt = getattr(e, "option_name", None)
        if opt in GLOBAL_OPTIONS:
            hint = f"{opt} is a global option: put it before the command (vfioctl {opt} ... COMMAND)"
        err = UsageError(msg, hint)
        Output(json_mode=json_mode).error(_command_name(args), err)
        return EXIT_USAGE
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        sys.stderr.write("vfioctl: interrupted\n")
        return 130
    finally:
        CURRENT.clear()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
