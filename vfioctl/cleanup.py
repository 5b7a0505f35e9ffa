"""Private temporary directories that are always removed.

A tarball root is unpacked, and a snapshot is written, into a directory of
ours; :func:`private_dir` registers it for removal when the process ends
normally (``atexit``), on an exception, on SIGINT, and also on SIGTERM and
SIGHUP, whose default action would end the process without running
``atexit``: the first registration installs handlers that turn them into
``SystemExit(128 + signal)``, so ``finally`` blocks and ``atexit`` run.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import tempfile
import threading

_dirs: list[str] = []
_installed = False


def _remove_all() -> None:
    while _dirs:
        shutil.rmtree(_dirs.pop(), ignore_errors=True)


def _on_signal(signum, frame):  # pragma: no cover - exercised in subprocess tests
    _remove_all()
    raise SystemExit(128 + signum)


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_remove_all)
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)
        except (ValueError, OSError):
            pass


def private_dir(prefix: str, dir: str | None = None) -> str:
    """A new directory (mode 0700) removed at exit, signals included."""
    _install()
    d = tempfile.mkdtemp(prefix=prefix, dir=dir)
    _dirs.append(d)
    return d


def release(path: str) -> None:
    """Remove ``path`` now (and forget it)."""
    shutil.rmtree(path, ignore_errors=True)
    try:
        _dirs.remove(path)
    except ValueError:
        pass


def forget(path: str) -> None:
    """Stop tracking ``path`` (it was renamed into place and is the user's now)."""
    try:
        _dirs.remove(path)
    except ValueError:
        pass


def remove_all() -> None:
    """Remove every private directory now (the command is over)."""
    _remove_all()


def pending() -> list[str]:
    return list(_dirs)


__all__ = ["private_dir", "release", "forget", "pending"]
