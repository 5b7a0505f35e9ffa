"""Console entry point.

Keeps the start-up path small: shell completion of DEVICE/GROUP arguments is
answered here by :mod:`vfioctl.cli.complete` without importing typer, rich or
pyudev; everything else goes to the typer app.  User errors
(:class:`~vfioctl.errors.VfioctlError`) become one ``error:`` line, one
``hint:`` line and a documented exit code; with ``--json`` stdout also gets an
error document.

Streams and signals (issue 8, documented in vfioctl(8) EXIT STATUS):

* an unexpected exception is a bug: one ``vfioctl: internal error:`` line and
  one line asking for a bug report, exit 70 (the traceback only with
  ``VFIOCTL_DEBUG=1``); with ``--json`` an error document of kind
  ``internal`` as well;
* SIGINT (Ctrl-C, also at a prompt) exits 130;
* a reader that goes away (EPIPE/SIGPIPE: ``vfioctl list | head -1``) ends
  the command quietly with exit 141 (128 + SIGPIPE, what a shell shows for a
  program killed by SIGPIPE);
* any other failure to write the output (``>/dev/full``, a closed stdout)
  exits 74 (EX_IOERR) with one line on stderr where one can still be
  written; a closed stderr never turns a result into a crash.
"""

from __future__ import annotations

import errno
import os
import sys


EXIT_OUTPUT = 74      # EX_IOERR: the output could not be written
EXIT_PIPE = 141       # 128 + SIGPIPE: the reader went away
EXIT_INTERRUPT = 130  # 128 + SIGINT
EXIT_INTERNAL = 70    # EX_SOFTWARE (vfioctl.errors.EXIT_INTERNAL)

GLOBAL_OPTIONS = ("--root", "--demo", "--backend", "--format", "--quiet", "-q", "--version")


def _command_name(argv: list[str]) -> str:
    from vfioctl.cli.complete import COMMANDS
    for a in argv:
        if a in COMMANDS:
            return a
    return "vfioctl"


class _ClosedStream:
    """Stands in for a standard stream whose descriptor was closed at start
    (Python then sets ``sys.stdout`` to None): writing fails with EBADF."""

    closed = False
    encoding = "utf-8"

    def write(self, s):
        raise OSError(errno.EBADF, "Bad file descriptor")

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError(errno.EBADF, "Bad file descriptor")


def _say(msg: str) -> None:
    """One line on stderr if at all possible; never raises."""
    try:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()
    except Exception:
        try:
            os.write(2, (msg + "\n").encode("utf-8", "replace"))
        except Exception:
            pass


def _silence_stdout() -> None:
    """After a write failure: point fd 1 at /dev/null so the interpreter's
    final flush cannot fail again (no 'Exception ignored' noise, no exit 120)."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass
    try:
        sys.stdout = open(os.devnull, "w")
    except OSError:
        sys.stdout = _ClosedStream()


def _output_failed(e: OSError) -> int:
    _silence_stdout()
    if e.errno == errno.EPIPE:
        return EXIT_PIPE
    _say(f"vfioctl: error: cannot write the output: {e.strerror or e}")
    return EXIT_OUTPUT


def _click_command(app, args: list[str]):
    """The click command for this invocation, built from the one typer app
    with only the commands named in ``args`` (typer builds every parameter
    of every command otherwise: a third of the start-up of ``list``).

    Works from ``app.registered_commands`` whatever module registered them
    (see ``FAMILIES`` in :mod:`vfioctl.cli.app`).  Help, anything without a
    command name, and a token click would not find among the ones built (a
    typo, even beside a real command name: ``lst show``) get every command,
    so click's usage text and "Did you mean" suggestions see them all; so do
    invocations naming one of ``NEEDS_EVERY_COMMAND`` (``completion`` and
    ``--show-completion`` write their scripts from the group they run in)."""
    import typer
    from vfioctl.cli.app import NEEDS_EVERY_COMMAND
    keep = app.registered_commands
    names = {c.name for c in keep} & set(args)
    if names and "--help" not in args and "-h" not in args \
            and NEEDS_EVERY_COMMAND.isdisjoint(args):
        try:
            app.registered_commands = [c for c in keep if c.name in names]
            cmd = typer.main.get_command(app)
        finally:
            app.registered_commands = keep
        if _invoked_name(cmd, args) in cmd.commands:
            return cmd
    return typer.main.get_command(app)


def _invoked_name(group, args: list[str]) -> str | None:
    """The token click dispatches on: the first argument that is neither one
    of the group's own options nor an option's value."""
    takes_value = set()
    for p in group.params:
        if getattr(p, "param_type_name", "") == "option" and not p.is_flag and not p.count:
            takes_value.update(p.opts)
    it = iter(args)
    for a in it:
        if a == "--":
            return next(it, None)
        if a.startswith("-") and a != "-":
            if a in takes_value:   # "--root DIR"; "--root=DIR" is one token
                next(it, None)
            continue
        return a
    return None


def main(argv: list[str] | None = None) -> int:
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, _ClosedStream())
    try:
        rv = _gc_main(argv)
        try:
            sys.stdout.flush()
        except OSError as e:
            return _output_failed(e)
        return rv
    except BrokenPipeError as e:
        return _output_failed(e)
    except OSError as e:
        if _is_stdout_error(e):
            return _output_failed(e)
        return _internal(e, argv)
    except KeyboardInterrupt:
        _say("vfioctl: interrupted")
        return EXIT_INTERRUPT


def run() -> None:
    """The console script: :func:`main`, then the process ends without the
    interpreter's teardown (``python -m vfioctl`` raises SystemExit instead,
    for programs that run it in-process with runpy).

    Freeing every module and object at exit costs a short command about a
    fifth of its run (17 ms of ~90 for ``show`` on these machines) and does
    nothing a finished command needs: registered ``atexit`` functions still
    run (a tarball root's removal among them), the standard streams are
    flushed (:func:`main` already checked stdout), and every file vfioctl
    writes is closed by then.  In-process callers use :func:`main`, which
    returns."""
    code = main()
    try:
        import atexit
        atexit._run_exitfuncs()
    except BaseException:   # noqa: BLE001 - a failing exit function: still leave
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:   # noqa: BLE001 - main() already reported output errors
            pass
    os._exit(code)


def _is_stdout_error(e: OSError) -> bool:
    """A write error of the standard streams (not of a file vfioctl opened)."""
    if e.errno not in (errno.EPIPE, errno.ENOSPC, errno.EBADF, errno.EIO, errno.EDQUOT,
                       errno.EFBIG):
        return False
    return getattr(e, "filename", None) is None


def _internal(e: BaseException, argv) -> int:
    """An exception vfioctl did not expect: a bug.  Exit 70."""
    if os.environ.get("VFIOCTL_DEBUG"):
        import traceback
        try:
            traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
        except Exception:
            pass
    what = f"{type(e).__name__}: {e}".splitlines()[0] if str(e) else type(e).__name__
    _say(f"vfioctl: internal error: {what[:200]}")
    _say("vfioctl: hint: this is a bug in vfioctl; please report it with the output of the "
         "same command run with VFIOCTL_DEBUG=1")
    args = list(sys.argv[1:] if argv is None else argv)
    if "--json" in args:
        try:
            import json
            from vfioctl.present.jsondoc import error as err_doc
            from vfioctl.errors import VfioctlError
            err = VfioctlError(f"internal error: {what[:200]}", "this is a bug; please report it",
                               code=EXIT_INTERNAL, kind="internal")
            sys.stdout.write(json.dumps(err_doc(_command_name(args), err),
                                        separators=(",", ":")) + "\n")
            sys.stdout.flush()
        except Exception:
            pass
    return EXIT_INTERNAL


def _quietly(fn, *args) -> None:
    """Report an error: a broken stream must not replace its exit code."""
    try:
        fn(*args)
    except (OSError, ValueError):
        _silence_stdout()


def _gc_main(argv: list[str] | None = None) -> int:
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

    cmd = _click_command(app, args)
    CURRENT.clear()
    json_mode = "--json" in args
    try:
        rv = cmd.main(args=args, prog_name="vfioctl", standalone_mode=False)
        return rv if isinstance(rv, int) else 0
    except VfioctlError as e:
        st = CURRENT[-1] if CURRENT else None
        out = st.output if st is not None and st.output is not None else Output(json_mode=json_mode)
        _quietly(out.error, _command_name(args), e)
        return e.code
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort as e:
        if isinstance(e.__context__, KeyboardInterrupt) or isinstance(e.__cause__, KeyboardInterrupt):
            _say("vfioctl: interrupted")
            return EXIT_INTERRUPT
        _say("vfioctl: aborted")
        return 6
    except cex.NoArgsIsHelpError as e:
        sys.stdout.write(e.ctx.get_help() + "\n")   # a write error: handled by main()
        return 0
    except cex.ClickException as e:  # usage errors from option parsing
        msg = e.format_message()
        hint = "run 'vfioctl --help' or 'vfioctl COMMAND --help'"
        opt = getattr(e, "option_name", None)
        if opt in GLOBAL_OPTIONS:
            hint = f"{opt} is a global option: put it before the command (vfioctl {opt} ... COMMAND)"
        err = UsageError(msg, hint)
        _quietly(Output(json_mode=json_mode).error, _command_name(args), err)
        return EXIT_USAGE
    except SystemExit as e:
        # click turns EPIPE into sys.exit(1) (after wrapping the streams)
        ctx = e.__context__
        if isinstance(ctx, OSError) and ctx.errno == errno.EPIPE:
            return _output_failed(ctx)
        raise
    except BrokenPipeError:
        raise
    except KeyboardInterrupt:
        raise
    except OSError as e:
        if _is_stdout_error(e):
            raise
        return _internal(e, args)
    except Exception as e:  # a bug: exit 70, one line, traceback with VFIOCTL_DEBUG=1
        return _internal(e, args)
    finally:
        CURRENT.clear()
        if "vfioctl.cleanup" in sys.modules:   # a tarball root unpacked for this command
            sys.modules["vfioctl.cleanup"].remove_all()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
