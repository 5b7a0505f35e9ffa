"""``vfioctl snapshot``: record a host (or import a umockdev record) as a root.

Safety (issue 8): OUT is written under a temporary name in its own directory
and renamed into place, so a failure (a full disk) leaves nothing behind;
``--force`` replaces only a previous vfioctl snapshot (a directory holding
the ``VFIOCTL-SNAPSHOT`` marker, or a tarball holding it), never the current
directory, the root being read, an ancestor of either, or a symlink; OUT
inside the root is refused.

Tarball roots are unpacked with the standard library's ``data`` filter
semantics (no absolute or escaping names or links, no device nodes, FIFOs or
setuid bits) into a private directory that is always removed
(:mod:`vfioctl.cleanup`).  The ``proc/<pid>/fd/<n>`` links vfioctl itself
records keep their absolute targets (``/dev/vfio/12``): they are only ever
read as text, never followed (and any root is resolved inside itself).
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import tarfile

from vfioctl import cleanup
from vfioctl.errors import HostError, UsageError
from vfioctl.ops.reports import SnapshotReport

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
MARKER = "VFIOCTL-SNAPSHOT"
_FD_LINK = re.compile(r"^(\./)?proc/\d+/fd/\d+$")
#: Unpacked size bound of a tarball root (a snapshot of 4,096 functions is ~20 MB).
MAX_UNPACKED = 512 << 20


def is_tarball(path: str) -> bool:
    return path.endswith(TAR_SUFFIXES)


def _inside(path: str, base: str) -> bool:
    """``path`` is ``base`` or below it (both absolute, real)."""
    return path == base or path.startswith(base.rstrip("/") + "/")


def _is_snapshot(path: str) -> bool:
    """A previous vfioctl snapshot: a directory (not a link) with the marker,
    or a tarball holding it."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    if stat.S_ISDIR(st.st_mode):
        m = os.path.join(path, MARKER)
        try:
            if not stat.S_ISREG(os.lstat(m).st_mode) or os.lstat(m).st_size > 65536:
                return False
            with open(m, "rb") as f:
                return "format" in json.loads(f.read(65536) or b"{}")
        except (OSError, ValueError, TypeError):
            return False
    if stat.S_ISREG(st.st_mode) and is_tarball(path):
        try:
            with tarfile.open(path) as t:
                for i, mem in enumerate(t):
                    if mem.name in (MARKER, "./" + MARKER):
                        return True
                    if i > 200000:
                        break
        except (tarfile.TarError, OSError, EOFError):
            return False
    return False


def _check_out(st, out_path: str, force: bool, from_umockdev: str | None) -> str:
    if not out_path or not out_path.strip() or out_path.rstrip("/") in (".", ".."):
        raise UsageError(f"OUT {out_path!r} names the current directory or nothing",
                         "name a new directory or tarball, e.g. 'vfioctl snapshot host.tar.gz'")
    out_abs = os.path.abspath(out_path)
    if os.path.islink(out_abs):
        raise UsageError(f"{out_abs} is a symbolic link; snapshot never writes through a link",
                         "name the directory itself, or a new OUT")
    parent = os.path.dirname(out_abs)
    try:
        out_real = os.path.join(os.path.realpath(parent), os.path.basename(out_abs))
    except OSError:
        out_real = out_abs
    cwd = os.path.realpath(os.getcwd())
    if out_real == "/" or _inside(cwd, out_real):
        raise UsageError(f"{out_abs} is the current directory or one of its ancestors",
                         "name a new directory or tarball for OUT")
    if not from_umockdev:
        srcs = {os.path.realpath(st.root_path())}
        if not st.demo:
            srcs.add(os.path.realpath(os.path.abspath(st.root)))
        for src in srcs:
            if _inside(src, out_real):
                raise UsageError(f"{out_abs} is the root being read ({src}) or an ancestor of it",
                                 "name a new OUT outside the root")
            if src != "/" and _inside(out_real, src):
                raise UsageError(f"{out_abs} is inside the root being read ({src})",
                                 "name an OUT outside the root")
    if os.path.lexists(out_abs):
        empty_dir = False
        try:
            empty_dir = os.path.isdir(out_abs) and not os.listdir(out_abs)
        except OSError:
            pass
        if not empty_dir:
            if not force:
                raise UsageError(f"{out_abs} already exists", "choose another OUT or pass --force")
            if not _is_snapshot(out_abs):
                raise UsageError(f"{out_abs} exists and is not a vfioctl snapshot; "
                                 "--force replaces only a previous snapshot",
                                 "remove it yourself if you mean it, or choose another OUT")
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise HostError(f"cannot write {out_abs}: {parent} is not a writable directory",
                        "choose OUT inside an existing directory you can write")
    return out_abs


def _write_error(out_abs: str, e: OSError) -> HostError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return HostError(f"cannot write the snapshot to {out_abs}: no space left on the device "
                         "(nothing was left behind)",
                         "free some space, or choose OUT on another filesystem")
    return HostError(f"cannot write the snapshot to {out_abs}: {e.strerror or e}",
                     "check the free space and permissions of OUT's directory")


def snapshot(st, out_path: str, *, from_umockdev: str | None, force: bool) -> SnapshotReport:
    """Write the snapshot of ``st.root_path()`` (``st``: root, demo, root_path() --
    the CLI's global options) or of a umockdev record to ``out_path``."""
    out_abs = _check_out(st, out_path, force, from_umockdev)
    parent = os.path.dirname(out_abs)
    base = os.path.basename(out_abs)
    tar = is_tarball(out_abs)
    # everything is written under temporary names in OUT's own directory
    work = cleanup.private_dir(prefix=f".{base}.vfioctl-tmp-", dir=parent)
    dest = os.path.join(work, "root")
    trash = None
    try:
        try:
            if from_umockdev:
                from vfioctl.sysfs.umockdev import import_umockdev_file
                try:
                    report = import_umockdev_file(from_umockdev, dest)
                except OSError as e:
                    if e.filename is not None and os.path.abspath(os.fspath(e.filename)) == \
                            os.path.abspath(from_umockdev):
                        raise HostError(f"cannot read {from_umockdev}: {e.strerror}",
                                        "give the path of a umockdev-record file (a regular file)"
                                        ) from None
                    raise
                report.setdefault("files", sum(len(f) for _, _, f in os.walk(dest)))
                report.setdefault("links", 0)
                report.setdefault("skipped", [])
            else:
                from vfioctl.sysfs.reader import check_root
                from vfioctl.sysfs.root import Root
                from vfioctl.sysfs.snapshot import take_snapshot
                src = st.root_path()
                root = Root(src)
                check_root(root)
                report = take_snapshot(src, dest, root=root)
            if tar:
                mode = "w:gz" if out_abs.endswith((".gz", ".tgz")) else "w"
                tmp_tar = os.path.join(work, "out" + (".tar.gz" if mode == "w:gz" else ".tar"))
                with tarfile.open(tmp_tar, mode) as t:
                    t.add(os.path.join(dest, MARKER), arcname="./" + MARKER)  # first: recognisable
                    for name in sorted(os.listdir(dest)):
                        if name != MARKER:
                            t.add(os.path.join(dest, name), arcname="./" + name)
                os.replace(tmp_tar, out_abs)   # a file (or nothing) replaced atomically
            else:
                if os.path.lexists(out_abs):
                    if os.path.isdir(out_abs) and not os.listdir(out_abs):
                        os.rmdir(out_abs)
                    else:   # a previous snapshot (checked): moved aside, then removed
                        trash = os.path.join(work, "old")
                        os.rename(out_abs, trash)
                os.rename(dest, out_abs)
        except OSError as e:
            raise _write_error(out_abs, e) from None
    finally:
        cleanup.release(work)
    report = dict(report, dest=None)
    return SnapshotReport(out=out_abs, tarball=tar,
                          source=("umockdev:" + os.path.abspath(from_umockdev)) if from_umockdev
                          else st.root_path(), files=report["files"], links=report["links"],
                          skipped=report["skipped"], extra=report)


def _filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
    """``tarfile.data_filter``, except that the ``proc/<pid>/fd/<n>`` links of
    a vfioctl snapshot keep their absolute node-path text (never followed)."""
    try:
        return _data_filter(member, path)
    except tarfile.AbsoluteLinkError:
        if member.issym() and _FD_LINK.match(member.name):
            return member.replace(mode=0o777, uid=None, gid=None, uname=None, gname=None,
                                  deep=False)
        raise


def _data_filter(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    f = getattr(tarfile, "data_filter", None)
    if f is not None:
        return f(member, path)
    # Python without extraction filters: the same rules, by hand
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        raise tarfile.AbsolutePathError(member) if hasattr(tarfile, "AbsolutePathError") \
            else tarfile.TarError(f"absolute name {name}")
    dest = os.path.realpath(path)
    target = os.path.realpath(os.path.join(dest, name))
    if not _inside(target, dest):
        raise tarfile.TarError(f"{name} is outside the destination")
    if member.ischr() or member.isblk() or member.isfifo() or not (
            member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise tarfile.TarError(f"{name} is a special file")
    if member.issym() or member.islnk():
        ln = member.linkname
        if os.path.isabs(ln):
            raise tarfile.TarError(f"{name} links to an absolute path")
        base = os.path.dirname(target) if member.issym() else dest
        if not _inside(os.path.realpath(os.path.join(base, ln)), dest):
            raise tarfile.TarError(f"{name} links outside the destination")
    member.mode = (member.mode or 0) & 0o755
    return member


def open_tarball_root(path: str) -> str:
    """Unpack a snapshot tarball into a private directory (removed at exit,
    signals included): the root.  A truncated, corrupt, hostile or oversize
    tarball is a :class:`HostError` (exit 4) and leaves nothing behind."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise HostError(f"cannot read snapshot tarball {path}: {e.strerror}",
                        "give a tarball written by 'vfioctl snapshot OUT.tar.gz'") from None
    if not stat.S_ISREG(st.st_mode):
        raise HostError(f"{path} is not a regular file",
                        "give a snapshot directory or a tarball written by 'vfioctl snapshot'")
    tmp = cleanup.private_dir(prefix="vfioctl-root-")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as fobj, tarfile.open(fileobj=fobj) as t:
            total = 0
            members = []
            for m in t:
                total += max(m.size, 0)
                if total > MAX_UNPACKED:
                    raise tarfile.TarError(f"unpacks to more than {MAX_UNPACKED >> 20} MB")
                members.append(m)
            if hasattr(tarfile, "data_filter"):
                t.extractall(tmp, members=members, filter=_filter)
            else:  # pragma: no cover - Python without extraction filters
                t.extractall(tmp, members=[_filter(m, tmp) for m in members])
    except (tarfile.TarError, OSError, EOFError, ValueError, UnicodeError, RuntimeError) as e:
        cleanup.release(tmp)
        why = str(e) or type(e).__name__
        raise HostError(f"{path} is not a readable snapshot tarball: {why}",
                        "give a tarball written by 'vfioctl snapshot OUT.tar.gz'") from None
    except BaseException:
        cleanup.release(tmp)
        raise
    return tmp
