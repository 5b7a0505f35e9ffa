"""The CLI's side of acting: the confirmation callable, progress on stderr,
and the output channel checked before acting and guarded after.

* :func:`confirmer` builds the ``confirm`` callable operations take
  (:class:`vfioctl.ops.reports.ConfirmRequest` -> bool): it shows the request on
  stderr (the plan, the affected set; "simulated" with the simulator), refuses
  without ``--yes`` when not interactive or with ``--json``, checks that stdout
  works (nothing is done when the result could not be reported), then asks.
* :func:`report_acted` prints the report of an operation that has acted; when
  stdout fails it says on stderr what was done and exits 12 (EXIT_UNREPORTED).
"""

from __future__ import annotations

import errno as E
import os
import stat
import sys

from vfioctl.errors import EXIT_UNREPORTED, Refused


def interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def output_problem(stream) -> str | None:
    """Why ``stream`` cannot carry the result, or None when it looks usable:
    closed, a pipe nobody reads any more, or /dev/full."""
    if stream is None:
        return "standard output is closed"
    import io
    try:
        fd = stream.fileno()
    except (io.UnsupportedOperation, AttributeError):
        return None          # not a real file (tests, StringIO): nothing to check
    except OSError:
        return "standard output is closed"     # the entry point's stand-in for a closed fd
    except ValueError:
        return "standard output is closed"
    try:
        st = os.fstat(fd)
    except OSError:
        return "standard output is closed"
    if stat.S_ISFIFO(st.st_mode):
        import select
        p = select.poll()
        p.register(fd, select.POLLOUT)
        for _, ev in p.poll(0):
            if ev & (select.POLLERR | select.POLLHUP):
                return "standard output is a pipe whose reader has gone"
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(1, 7):
        return "standard output is /dev/full"
    return None


def check_output(out) -> None:
    """Refuse (exit 6, nothing done) when stdout cannot carry the result."""
    why = output_problem(out.stdout)
    if why:
        raise Refused(f"{why}: the result of this command could not be reported, so nothing "
                      "was done", "send stdout somewhere writable: a file, a pipe that is "
                      "read, or >/dev/null", kind="output")


def confirmer(out, *, yes: bool):
    """The ``confirm`` callable for one acting command (see the module doc)."""
    def confirm(req) -> bool:
        if not out.json_mode:
            from vfioctl.present.acting import render_confirm
            render_confirm(req, out.diag_canvas())
        check_output(out)
        if yes:
            return True
        if out.json_mode or not interactive():
            raise Refused("refusing to act without confirmation"
                          + (" (--json)" if out.json_mode else " (not interactive)"),
                          "pass --yes to confirm, or --dry-run to see what would happen")
        from vfioctl.present.acting import question
        out.stderr.write(question(req))
        out.stderr.flush()
        return sys.stdin.readline().strip().lower() in ("y", "yes")
    return confirm


def progress(out):
    """The ``progress`` callback: one line per event on stderr (not with --json/--quiet)."""
    from vfioctl.present.acting import progress_line

    def cb(p) -> None:
        if not out.json_mode:
            out.info(progress_line(p))
    return cb


def report_acted(out, report, summary: str) -> dict | None:
    """Print ``report`` after the operation acted.  If stdout fails, the action
    is not hidden: ``summary`` goes to stderr (when it still works) and the
    command exits 12."""
    import typer
    try:
        return out.report(report)
    except OSError as e:
        _silence_stdout()
        why = os.strerror(e.errno) if e.errno else str(e)
        try:
            out.stderr.write(f"vfioctl: {summary}, but the result could not be written to "
                             f"stdout ({why})\n")
            out.stderr.flush()
        except (OSError, ValueError, AttributeError):
            pass
        raise typer.Exit(EXIT_UNREPORTED)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
    except OSError:
        pass
