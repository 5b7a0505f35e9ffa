"""Replace one file atomically, touching nothing but it and its temporary twin.

``replace(path, text)`` writes ``.<name>.<pid>.tmp`` in the target's own
directory (same filesystem, so ``rename(2)`` is atomic; the leading dot and
the ``.tmp`` suffix make node_exporter, which reads only ``*.prom``, and NFD,
which skips dot-files, ignore it), ``fsync``s it, renames it over ``path`` and
``fsync``s the directory.  Readers see the old file or the new one, never a
partial one.  On any error the temporary file is removed and the old file is
left as it was.  The temporary file is created with ``O_EXCL|O_NOFOLLOW`` so a
planted symlink cannot redirect the write.

Why in ``present`` (issue 9's layering): what ``vfioctl export`` writes is a
rendering of its report (the Prometheus exposition format and the NFD
features format, :mod:`.prometheus` and :mod:`.nfd`), so the files are an
output channel beside standard output.  The operation (``vfioctl.ops.export``)
only builds the data and must not import the renderers; writing the rendered
text therefore happens here, called from :func:`vfioctl.present.fleet.write_files`.  Nothing under
``--root`` is ever written: the destinations are the paths given on the
command line.
"""

from __future__ import annotations

import errno
import os

from vfioctl.errors import HostError, PermissionDenied, UsageError


def replace(path: str, text: str, *, mode: int = 0o644) -> str:
    """Atomically replace ``path`` with ``text``; returns the absolute path."""
    target = os.path.abspath(path)
    d, name = os.path.split(target)
    if not name or name in (".", ".."):
        raise UsageError(f"{path!r} names a directory, not a file",
                         "give a file path, e.g. /var/lib/prometheus/node-exporter/vfioctl.prom")
    if not os.path.isdir(d):
        raise HostError(f"directory {d} does not exist", f"create it first: mkdir -p {d}")
    if os.path.isdir(target) and not os.path.islink(target):
        raise UsageError(f"{target} is a directory", "give a file path inside it")
    tmp = os.path.join(d, f".{name}.{os.getpid()}.tmp")
    data = text.encode("utf-8")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except FileExistsError:
        os.unlink(tmp)  # left by a killed run with our pid; O_EXCL again below
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     mode)
    except PermissionError:
        raise PermissionDenied(f"cannot write in {d}",
                               "run as a user who may write there (the systemd unit runs as root)"
                               ) from None
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, target)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
            raise HostError(f"cannot write {target}: {e.strerror}",
                            "free space or make the directory writable") from None
        raise
    try:
        dfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return target
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)
    return target
