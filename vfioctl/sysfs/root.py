"""The filesystem root every path is built from.

``Root("/")`` is the live host; ``Root("tests/fixtures/x")`` a fixture tree
holding ``sys/``, ``dev/`` and ``proc/``.  No other module joins paths onto
``/sys``, ``/dev`` or ``/proc``: they ask the root.  Paths *inside* the root
that the kernel itself would print (``/dev/vfio/12``) are called *node paths*
and are turned into real paths with :meth:`Root.node`.

CONFINEMENT (issue 8).  A fixture or snapshot root may come from a stranger,
so on a root other than ``/`` every path is resolved *inside* the root, the
way ``openat2(RESOLVE_IN_ROOT)`` would: symlinks are followed component by
component, an absolute link target is taken relative to the root (as under
chroot), at most :data:`MAX_LINKS` links are followed (then ``ELOOP``), and a
link whose ``..`` climbs above the root is an escape: the path is refused
with ``EXDEV`` (:class:`RootEscape`, an ``OSError``) and a warning is recorded
in :attr:`Root.warnings`.  Callers never touch a root path with ``os``
directly: they use :meth:`Root.read`, :meth:`Root.listdir`,
:meth:`Root.readlink`, :meth:`Root.realpath`, :meth:`Root.isdir`,
:meth:`Root.exists`, which resolve first.  Resolved directories are cached,
so a read costs a dictionary lookup and an ``lstat`` more than a plain ``open``.

Reads never block and are bounded: files are opened ``O_NONBLOCK`` (a FIFO
cannot hang us), on a fixture root only regular files are opened at all (an
``lstat`` first, so a planted device node is never opened, then
``O_NOFOLLOW``; a tree swapped by another process *while* it is read is out
of scope), and each kind of file
has a size bound (:data:`LIMITS`); an odd or oversize file is skipped with a
warning.  On the live root ``/`` the kernel's sysfs and procfs are trusted:
paths are used as given (no resolution cost) and reads are still
non-blocking and bounded.
"""

from __future__ import annotations

import errno
import os
import stat

# Relative locations (the kernel's layout, kernel-vfio.md §4).
PCI_DEVICES = "sys/bus/pci/devices"
PCI_DRIVERS = "sys/bus/pci/drivers"
PCI_SLOTS = "sys/bus/pci/slots"
IOMMU_GROUPS = "sys/kernel/iommu_groups"
CLASS_VFIO = "sys/class/vfio"
CLASS_VFIO_DEV = "sys/class/vfio-dev"
CLASS_IOMMU = "sys/class/iommu"
NOIOMMU_PARAM = "sys/module/vfio/parameters/enable_unsafe_noiommu_mode"
DEV_VFIO = "dev/vfio"
DEV_VFIO_DEVICES = "dev/vfio/devices"
DEV_IOMMU = "dev/iommu"
PROC = "proc"


#: Symlinks followed while resolving one path (Linux's own limit is 40).
MAX_LINKS = 40

#: Size bounds per kind of file (bytes).  A fixture file larger than its bound
#: is skipped with a warning; on the live root reads are cut at the bound.
LIMITS = {
    "attribute": 4096,        # a sysfs attribute is at most PAGE_SIZE
    "config": 4096,           # PCIe extended config space
    "proc": 4096,             # proc/<pid>/comm, cmdline, osrelease...
    "udev": 64 * 1024,        # run/udev/data/+pci:<bdf>
    "pci.ids": 16 << 20,      # the real file is ~1.4 MB
    "umockdev": 64 << 20,     # a umockdev-record text file
    "snapshot": 1 << 20,      # one file copied by `vfioctl snapshot`
    "state": 16 << 20,        # the simulator's journal, bind's run/vfioctl/bindings.json
    "host": 1 << 20,          # doctor: proc/cpuinfo, interrupts, modules, modules.builtin, etc/group
    "table": 1 << 20,         # proc/mounts, proc/swaps, proc/net/route... (bind's guards)
    "alias": 32 << 20,        # lib/modules/<release>/modules.alias (the real one is ~1.4 MB)
}

_RD = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
_RD_NOFOLLOW = _RD | os.O_NOFOLLOW
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _read_opened(path: str, flags: int, limit: int, dir_fd: int | None = None) -> bytes | None:
    """One ``read`` of at most ``limit`` bytes (a regular or sysfs file: one
    read returns it all), or None when it cannot be opened or read."""
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def _ascii(b: bytes | None) -> str | None:
    """An attribute's text, stripped; U+FFFD for one that is not ASCII."""
    if b is None:
        return None
    try:
        return b.decode("ascii").strip()
    except UnicodeDecodeError:
        return "\ufffd"


class RootEscape(OSError):
    """A path (through a symlink) that would leave the root: ``EXDEV``."""

    def __init__(self, path: str, why: str):
        super().__init__(errno.EXDEV, why, path)


class Root:
    """A filesystem root; see the module docstring."""

    __slots__ = ("path", "live", "warnings", "_prefix", "_dirs", "_warned")

    def __init__(self, path: str | os.PathLike = "/"):
        self.path = os.path.abspath(os.fspath(path))
        self.live = self.path == "/"
        self._prefix = self.path.rstrip("/") + "/"
        #: Messages about escaping links and odd or oversize files (each once).
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._dirs: dict[str, str] = {}

    # -- path building (lexical: no filesystem access) --------------------------
    def join(self, rel: str) -> str:
        """Real path of ``rel`` (relative to the root, no leading slash)."""
        return os.path.join(self.path, rel)

    def node(self, node_path: str) -> str:
        """Real path of a node path such as ``/dev/vfio/12``."""
        return os.path.join(self.path, node_path.lstrip("/"))

    def to_node(self, real: str) -> str:
        """Inverse of :meth:`node`: a real path under the root as a node path."""
        rel = os.path.relpath(real, self.path)
        return "/" + rel

    def sys(self, rel: str = "") -> str:
        return os.path.join(self.path, "sys", rel) if rel else os.path.join(self.path, "sys")

    def shown(self, real: str) -> str:
        """A real path as messages name it: ``/sys/...`` for a fixture root."""
        if not self.live and real.startswith(self._prefix):
            return "/" + real[len(self._prefix):]
        return real

    def warn(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            self.warnings.append(msg)

    # -- resolution inside the root ----------------------------------------------
    def _rel(self, path: str) -> str:
        if path.startswith(self._prefix):
            return path[len(self._prefix):]
        if path == self.path:
            return ""
        raise RootEscape(path, f"{path} is not under the root {self.path}")

    def _step(self, base: str, name: str, follow: bool, budget: list[int], origin: str):
        """Resolve one component ``name`` below the resolved ``base``."""
        if name in ("", "."):
            return base
        if name == "..":
            if not base:
                self.warn(f"{self.shown(origin)}: a link leads outside the root; skipped")
                raise RootEscape(origin, "a link leads outside the root")
            return base.rpartition("/")[0]
        cand = f"{base}/{name}" if base else name
        if not follow:
            return cand
        hit = self._dirs.get(cand)
        if hit is not None:
            return hit
        try:
            st = os.lstat(self._prefix + cand)
        except OSError:
            return cand  # missing (or unreadable): the caller's open reports it
        if not stat.S_ISLNK(st.st_mode):
            if stat.S_ISDIR(st.st_mode):
                self._dirs[cand] = cand
            return cand
        budget[0] -= 1
        if budget[0] < 0:
            raise OSError(errno.ELOOP, "too many levels of symbolic links", origin)
        target = os.readlink(self._prefix + cand)
        cur = "" if target.startswith("/") else base
        for comp in target.split("/"):
            cur = self._step(cur, comp, True, budget, origin)
        return cur

    def _resolve_rel(self, rel: str, follow_last: bool, origin: str) -> str:
        head, _, name = rel.rpartition("/")
        base = self._dir(head, origin) if head else ""
        return self._step(base, name, follow_last, [MAX_LINKS], origin)

    def _dir(self, rel: str, origin: str) -> str:
        r = self._dirs.get(rel)
        if r is None:
            r = self._resolve_rel(rel, True, origin)
            self._dirs[rel] = r
            self._dirs.setdefault(r, r)
        return r

    def resolve(self, path: str, *, follow_last: bool = True) -> str:
        """The real path ``path`` names inside the root, every symlink resolved
        (the last one too unless ``follow_last``).  Raises :class:`RootEscape`
        or ``OSError(ELOOP)``.  Identity on the live root."""
        if self.live:
            return path
        rel = self._rel(path)
        if not rel:
            return self.path
        r = self._resolve_rel(rel, follow_last, path)
        return self._prefix + r if r else self.path

    realpath = resolve

    # -- confined filesystem access ------------------------------------------------
    def read(self, path: str, limit: int = 4096, kind: str = "attribute") -> bytes | None:
        """At most ``limit`` bytes of a file, or None when it is missing,
        unreadable, not a regular file or larger than ``LIMITS[kind]`` (the
        last two with a warning).  Never blocks."""
        if self.live:
            return _read_opened(path, _RD, limit)
        prefix = self._prefix
        if not path.startswith(prefix):
            return None
        head, _, name = path[len(prefix):].rpartition("/")
        try:
            base = self._dirs.get(head)
            if base is None:
                base = self._dir(head, path) if head else ""
            real = f"{prefix}{base}/{name}" if base else prefix + name
            st = os.lstat(real)
            if stat.S_ISLNK(st.st_mode):
                real = self.resolve(path)
                st = os.lstat(real)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            self.warn(f"{self.shown(path)}: not a regular file; skipped")
            return None
        bound = LIMITS.get(kind, 4096)
        if st.st_size > bound:
            self.warn(f"{self.shown(path)}: larger than {bound} bytes for a {kind} file; skipped")
            return None
        return _read_opened(real, _RD_NOFOLLOW, limit)

    # -- one directory, opened once (the per-device fast path) -------------------
    def opendir(self, real: str) -> int | None:
        """An fd of the directory ``real`` (a path this root resolved, e.g. by
        :meth:`follow`), opened without following a link: names are then read
        relative to it with :meth:`read_at` and :meth:`readlink_at` (one path
        component each, none of them followed).  None when it cannot be opened
        (the caller falls back to the path methods).  The caller closes it."""
        try:
            return os.open(real, _DIR)
        except OSError:
            return None

    def open_link_dir(self, link: str) -> tuple[str, str, int | None]:
        """Read the link ``link``, resolve its target inside the root and open
        the directory it names: ``(target, real path, fd or None)``.

        The same answer as :meth:`readlink` + :meth:`follow` + :meth:`opendir`,
        in fewer steps for the kernel's own shape (``../../../devices/...``
        below a directory already known to hold no link): the last component
        is then opened with ``O_NOFOLLOW`` instead of being looked at first.
        Raises ``OSError`` as :meth:`readlink` and :meth:`follow` do."""
        prefix = self._prefix
        if self.live or not link.startswith(prefix):
            target = self.readlink(link)
            real = self.follow(link, target)
            return target, real, self.opendir(real)
        head, _, name = link[len(prefix):].rpartition("/")
        base = self._dirs.get(head)
        if base is None or name in ("", ".", ".."):
            target = self.readlink(link)
            real = self.follow(link, target)
            return target, real, self.opendir(real)
        target = os.readlink(f"{prefix}{base}/{name}" if base else prefix + name)
        parts = target.split("/")
        n = 0
        while n < len(parts) - 1 and parts[n] == "..":
            n += 1
        last = parts[-1]
        if n and len(parts) - n > 1 and base.count("/") + 1 >= n \
                and last not in ("", ".", ".."):
            b = base
            for _ in range(n):
                b = b.rpartition("/")[0]
            mid = "/".join(parts[n:-1])
            parent = f"{b}/{mid}" if b else mid
            if self._dirs.get(parent) == parent:
                rel = f"{parent}/{last}"
                real = prefix + rel
                try:
                    fd = os.open(real, _DIR)
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        return target, real, None   # missing: a dangling link
                else:
                    self._dirs[rel] = rel   # a directory, and not a link
                    return target, real, fd
        real = self.follow(link, target)
        return target, real, self.opendir(real)

    @staticmethod
    def opendir_at(dfd: int, name: str) -> int | None:
        """An fd of the directory ``name`` inside the directory ``dfd``, not
        following a link (None when it is missing, a link or not a directory:
        the caller takes the resolving path)."""
        if name in ("", ".", "..") or "/" in name:
            return None
        try:
            return os.open(name, _DIR, dir_fd=dfd)
        except OSError:
            return None

    def read_at(self, dfd: int, real: str, name: str, limit: int = 4096,
                kind: str = "attribute") -> bytes | None:
        """:meth:`read` of ``real/name`` through the directory fd ``dfd`` of
        ``real`` (same answers, same warnings): on a fixture root an
        ``fstatat`` without following first (a link takes the resolving
        path; a device node or FIFO is never opened), then ``openat`` with
        ``O_NOFOLLOW``."""
        if self.live:
            return _read_opened(name, _RD, limit, dfd)
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            return None
        mode = st.st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISLNK(mode):
                return self.read(f"{real}/{name}", limit, kind)
            self.warn(f"{self.shown(real)}/{name}: not a regular file; skipped")
            return None
        bound = LIMITS.get(kind, 4096)
        if st.st_size > bound:
            self.warn(f"{self.shown(real)}/{name}: larger than {bound} bytes for a {kind} "
                      "file; skipped")
            return None
        return _read_opened(name, _RD_NOFOLLOW, limit, dfd)

    def text_at(self, dfd: int, real: str, name: str) -> str | None:
        """:meth:`text` through a directory fd (see :meth:`read_at`)."""
        return _ascii(self.read_at(dfd, real, name))

    @staticmethod
    def readlink_at(dfd: int, name: str) -> str:
        """The text of the link ``name`` in the directory ``dfd`` (never
        followed; raises ``OSError``)."""
        return os.readlink(name, dir_fd=dfd)

    def follow(self, link: str, target: str) -> str:
        """The real path the link ``link`` (whose text ``target`` was just
        read) leads to inside the root, every further link resolved."""
        if self.live:
            return os.path.normpath(os.path.join(os.path.dirname(link), target))
        rel = self._rel(link)
        head = rel.rpartition("/")[0]
        cur = "" if target.startswith("/") else (self._dir(head, link) if head else "")
        budget = [MAX_LINKS - 1]
        parts = target.split("/")
        # fast path, the kernel's own shape ``../../devices/pci0000:00/...``:
        # leading ``..`` climb the (link-free) base exactly; when the rest's
        # directory is already known to be link-free only the last name is looked at
        n = 0
        while n < len(parts) - 1 and parts[n] == "..":
            n += 1
        rest = parts[n:]
        if cur and n and len(rest) > 1 and "" not in rest and "." not in rest \
                and ".." not in rest and cur.count("/") + 1 >= n:
            b = cur
            for _ in range(n):
                b = b.rpartition("/")[0]
            parent = f"{b}/{'/'.join(rest[:-1])}" if b else "/".join(rest[:-1])
            if self._dirs.get(parent) == parent:
                cur = self._step(parent, rest[-1], True, budget, link)
                return self._prefix + cur if cur else self.path
        for comp in parts:
            cur = self._step(cur, comp, True, budget, link)
        return self._prefix + cur if cur else self.path

    def text(self, path: str, limit: int = 4096, kind: str = "attribute") -> str | None:
        return _ascii(self.read(path, limit, kind))

    def listdir(self, path: str) -> list[str]:
        """``os.listdir`` of the directory ``path`` names inside the root."""
        if self.live:
            return os.listdir(path)
        prefix = self._prefix
        if path.startswith(prefix):
            head, _, name = path[len(prefix):].rpartition("/")
            base = self._dirs.get(head)
            if base is not None and name not in ("", ".", ".."):
                # the directory itself must not be a link: O_NOFOLLOW says so
                # without an lstat (ELOOP/ENOTDIR: resolve it the long way)
                try:
                    fd = os.open(f"{prefix}{base}/{name}" if base else prefix + name,
                                 os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
                except OSError as e:
                    if e.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise
                else:
                    try:
                        return os.listdir(fd)
                    finally:
                        os.close(fd)
        return os.listdir(self.resolve(path))

    def lexical(self, link: str, target: str) -> str:
        """Where the link ``link`` with text ``target`` points, computed on the
        strings only (absolute targets re-rooted, ``..`` stopped at the root):
        for matching names, never for opening."""
        if self.live:
            return os.path.normpath(os.path.join(os.path.dirname(link), target))
        if target.startswith("/"):
            rel = os.path.normpath(target).lstrip("/")
        else:
            rel = os.path.normpath(os.path.join(os.path.dirname(self._rel(link)), target))
            while rel.startswith("../") or rel == "..":
                rel = rel[3:]
        return self._prefix + rel if rel and rel != "." else self.path

    def readlink(self, path: str) -> str:
        """The text of the link ``path`` (never followed); its directory is
        resolved inside the root."""
        if self.live:
            return os.readlink(path)
        prefix = self._prefix
        if path.startswith(prefix):
            head, _, name = path[len(prefix):].rpartition("/")
            base = self._dirs.get(head)
            if base is not None and name not in ("", ".", ".."):
                return os.readlink(f"{prefix}{base}/{name}" if base else prefix + name)
        return os.readlink(self.resolve(path, follow_last=False))

    def isdir(self, path: str) -> bool:
        try:
            return stat.S_ISDIR(os.stat(path if self.live else self.resolve(path)).st_mode)
        except OSError:
            return False

    def exists(self, path: str) -> bool:
        try:
            os.stat(path if self.live else self.resolve(path))
            return True
        except OSError:
            return False

    def lstat(self, path: str) -> os.stat_result:
        """``os.lstat`` of what ``path`` names inside the root (its directory
        resolved, the last component not followed): device nodes are looked
        at, never opened.  Raises ``OSError`` (:class:`RootEscape` too)."""
        return os.lstat(path if self.live else self.resolve(path, follow_last=False))

    def lexists(self, path: str) -> bool:
        try:
            os.lstat(path if self.live else self.resolve(path, follow_last=False))
            return True
        except OSError:
            return False

    def invalidate(self) -> None:
        """Forget resolved directories: call after the tree was changed (a
        simulated bind moves links such as ``driver`` and ``iommu_group``)."""
        self._dirs.clear()

    # -- confined writes (bind's state file, driverctl's store) -------------------
    def _open_dir(self, rel: str, create: bool) -> int:
        """An fd of the directory ``rel`` (relative to the root), walked one
        component at a time with ``O_NOFOLLOW``: a link anywhere on the way is
        refused (``ELOOP``/``ENOTDIR``), missing directories are made when
        ``create``."""
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for comp in rel.split("/"):
                if comp in ("", "."):
                    continue
                if comp == "..":
                    raise RootEscape(self.join(rel), "'..' in a path written inside the root")
                flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                try:
                    nfd = os.open(comp, flags, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise
                    try:
                        os.mkdir(comp, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                    nfd = os.open(comp, flags, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR):
                        self.warn(f"{self.shown(self.join(rel))}: a directory on the way is a "
                                  "link or not a directory; not written through")
                    raise
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def write_atomic(self, rel: str, data: bytes, mode: int = 0o644) -> None:
        """Replace the file ``rel`` (relative to the root) by ``data``
        atomically: a new regular file is created (``O_EXCL|O_NOFOLLOW``) in
        the directory reached without following any link, synced, and renamed
        over the name (a link planted there is replaced, never followed).
        Raises ``OSError``."""
        head, _, name = rel.rpartition("/")
        if name in ("", ".", ".."):
            raise OSError(errno.EINVAL, "not a file name", self.join(rel))
        dfd = self._open_dir(head, create=True)
        try:
            tmp = f".{name}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_NONBLOCK | os.O_CLOEXEC, mode, dir_fd=dfd)
            try:
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            except BaseException:
                try:
                    os.unlink(tmp, dir_fd=dfd)
                except OSError:
                    pass
                raise
            try:
                os.fsync(dfd)
            except OSError:
                pass
        finally:
            os.close(dfd)

    def remove(self, rel: str) -> bool:
        """Unlink the file ``rel`` (never following a link on the way; a link
        at ``rel`` itself is removed, not followed).  False when missing."""
        head, _, name = rel.rpartition("/")
        try:
            dfd = self._open_dir(head, create=False)
        except FileNotFoundError:
            return False
        try:
            os.unlink(name, dir_fd=dfd)
            return True
        except FileNotFoundError:
            return False
        finally:
            os.close(dfd)

    def __repr__(self) -> str:
        return f"Root({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Root) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)


def read_file(path: str, kind: str, limit: int | None = None) -> bytes | None:
    """A bounded, non-blocking read of a regular file outside any root (an
    environment-given pci.ids, a umockdev record): None when missing; raises
    ``OSError`` (``EINVAL``/``EFBIG``) for an odd or oversize file."""
    bound = LIMITS[kind]
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file", path)
    if st.st_size > bound:
        raise OSError(errno.EFBIG, f"larger than {bound} bytes", path)
    fd = os.open(path, _RD)
    try:
        st2 = os.fstat(fd)
        if not stat.S_ISREG(st2.st_mode) or st2.st_size > bound:
            raise OSError(errno.EINVAL, "not a regular file of bounded size", path)
        out = []
        left = bound if limit is None else min(limit, bound)
        while left > 0:
            b = os.read(fd, min(left, 1 << 20))
            if not b:
                break
            out.append(b)
            left -= len(b)
        return b"".join(out)
    finally:
        os.close(fd)
