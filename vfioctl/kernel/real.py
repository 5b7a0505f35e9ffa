"""The real kernel backend: ``os.open`` + ``fcntl.ioctl`` on the VFIO nodes.

:class:`RealKernel` implements :class:`vfioctl.kernel.base.KernelBackend` one
method per ioctl, driven by the table in :mod:`vfioctl.kernel.uapi` (request
numbers computed for the running architecture, struct layouts, how each
argument is passed).  It holds no policy: sequencing (container setup, BIND,
the two-call ENOSPC sizing of ``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO``) lives in
:mod:`vfioctl.ops`.

How arguments reach the kernel (``kernel-vfio.md`` §1.2, §1.4; CPython
``Modules/fcntlmodule.c``):

* no argument (``VFIO_GET_API_VERSION``, ``VFIO_DEVICE_RESET``,
  ``VFIO_GROUP_UNSET_CONTAINER``) and by-value integers
  (``VFIO_CHECK_EXTENSION``, ``VFIO_SET_IOMMU``: ``container.c`` uses ``arg``
  itself) are passed as Python ``int``; the syscall result comes back as int.
* structs are passed as a **mutable** ``bytearray`` so ``fcntl.ioctl``
  returns the syscall's integer result and the kernel's writes land in the
  buffer.  ``VFIO_GROUP_SET_CONTAINER`` takes a *pointer* to an int
  (``get_user(fd, (int __user *)arg)``, ``group.c``): a 4-byte bytearray.
  ``VFIO_GROUP_GET_DEVICE_FD`` takes a NUL-terminated name in a bytearray and
  returns the new fd as the ioctl's result (with immutable ``bytes``
  ``fcntl.ioctl`` would return a buffer copy and lose the fd).
* reading a buffer **after a failed call** (the ENOSPC ``count`` of
  ``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO``, ``uapi.Ioctl.error_readback``):
  for mutable buffers of at most 1024 bytes CPython stages the data in a
  stack buffer.  The older ``fcntl_ioctl_impl`` (read in 3.11) copies it back
  before raising, as the reference says; the rewritten one in CPython's main
  branch (gh-95380 / gh-132915, merged April 2025, so presumably 3.14+)
  returns on ``ret < 0`` *without* copying back, so the count would be lost.
  Buffers larger than 1024 bytes are handed to the kernel in place on every
  CPython version (``arg = str`` / ``ptr = view.buf``), so the kernel's
  header write is visible whatever happens next.  For these ioctls the
  backend therefore passes a working buffer of at least :data:`DIRECT_MIN`
  bytes (``argsz`` still says the real size, and the kernel never touches
  bytes past ``argsz``).  Caveat of that path on old CPython: the GIL is held
  during the call - harmless for a call that only walks the PCI bus.

Errors: every failure raises :class:`~vfioctl.kernel.base.KernelError` with
the ioctl's kernel name (``"open"`` / ``"close"`` for those), the errno and
the node path / device name the fd belongs to (``"fd N"`` for an fd this
backend did not open); ``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO``'s ENOSPC carries
``count``.  :func:`vfioctl.kernel.uapi.explain` turns ``(op, errno, target)``
into words (for ``"open"`` the target says which kind of node it was).

File descriptors: every fd this backend opens (nodes, and device fds from
``VFIO_GROUP_GET_DEVICE_FD``) is tracked until :meth:`RealKernel.close`;
:meth:`RealKernel.close_all` closes all of them even if some closes fail.
Nodes are opened ``O_RDWR | O_CLOEXEC``; device fds from the group come back
close-on-exec from the kernel (``get_unused_fd_flags(O_CLOEXEC)``,
``group.c``).
"""

from __future__ import annotations

import errno as _errno
import fcntl
import os
from typing import Iterable

from vfioctl.kernel import uapi
from vfioctl.kernel.real_drivercore import RealDriverCoreMixin
from vfioctl.kernel.base import DeviceInfo, HotResetInfo, KernelError
from vfioctl.model import nodes

__all__ = ["RealKernel", "DIRECT_MIN", "CONTAINER_NODE", "IOMMUFD_NODE"]

#: Node paths (within the root) of the container and iommufd character devices
#: (``container.c`` nodename "vfio/vfio"; ``iommufd/main.c`` "iommu").
CONTAINER_NODE = nodes.CONTAINER
IOMMUFD_NODE = nodes.IOMMUFD

#: Smallest buffer CPython's ``fcntl.ioctl`` passes to the kernel in place
#: (``IOCTL_BUFSZ`` is 1024: larger mutable buffers are not staged).
DIRECT_MIN = 1025

_OPEN_FLAGS = os.O_RDWR | os.O_CLOEXEC


def _root_path(root: object) -> str:
    path = getattr(root, "path", root)  # accept vfioctl.sysfs.root.Root too
    return os.path.abspath(os.fspath(path))  # type: ignore[arg-type]


class RealKernel(RealDriverCoreMixin):
    """:class:`~vfioctl.kernel.base.KernelBackend` over the running kernel.

    ``root`` is the filesystem root node paths are joined onto (``/`` for the
    host; a directory for tests - the kernel only answers for real nodes, so
    under a fixture root every ioctl fails with the errno of whatever file is
    there).  Usable as a context manager: leaving it closes every fd.
    """

    name = "real"

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = _root_path(root)
        # fd -> node path / device name, in the order opened (close_all reverses it)
        self._targets: dict[int, str] = {}
        #: Errors swallowed by the last :meth:`close_all` (it never raises).
        self.close_errors: list[KernelError] = []

    # -- context manager -----------------------------------------------------
    def __enter__(self) -> "RealKernel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()

    def __repr__(self) -> str:
        return f"RealKernel(root={self.root!r}, open_fds={self.open_fds()})"

    # -- paths and bookkeeping -------------------------------------------------
    def path_of(self, node: str) -> str:
        """Real path of a node path (``/dev/vfio/12``) under :attr:`root`."""
        if not node.startswith("/"):
            raise ValueError(f"node path must be absolute within the root: {node!r}")
        return os.path.join(self.root, node.lstrip("/"))

    def target_of(self, fd: int) -> str:
        """The node path or device name ``fd`` was opened for (``"fd N"`` if not ours)."""
        return self._targets.get(fd) or f"fd {fd}"

    def _track(self, fd: int, target: str) -> int:
        self._targets.pop(fd, None)  # a reused number moves to the end
        self._targets[fd] = target
        return fd

    def _open(self, node: str) -> int:
        """``os.open`` a node; failures are ``KernelError("open", errno, node)``.

        ``detail`` holds the real path when the root is not ``/``.
        :func:`uapi.open_op_for` tells which kind of node ``node`` is.
        """
        path = self.path_of(node)
        flags = _OPEN_FLAGS
        if self.root != "/":
            # a fixture root may come from anyone (issue 8): the node is resolved
            # inside the root, and only a regular file is ever opened there -
            # never a planted device node or FIFO, never through a link out
            import stat as _stat
            from vfioctl.sysfs.root import Root
            try:
                path = Root(self.root).resolve(path)
                st = os.lstat(path)
            except OSError as e:
                raise KernelError(uapi.OPEN, e.errno or _errno.EIO, node, detail=path) from e
            if not (_stat.S_ISREG(st.st_mode) or _stat.S_ISDIR(st.st_mode)):  # dir: EISDIR
                raise KernelError(uapi.OPEN, _errno.EPERM, node,
                                  detail=f"{path}: not a regular file; the real backend opens "
                                         "device nodes only on the live root /")
            flags |= os.O_NOFOLLOW | os.O_NONBLOCK
        try:
            fd = os.open(path, flags)
        except OSError as e:
            detail = path if self.root != "/" else ""
            raise KernelError(uapi.OPEN, e.errno or _errno.EIO, node, detail=detail) from e
        return self._track(fd, node)

    # -- nodes -------------------------------------------------------------------
    def open_container(self) -> int:
        """Open ``/dev/vfio/vfio`` (mode 0666; ``container.c``)."""
        return self._open(CONTAINER_NODE)

    def open_group(self, node: str) -> int:
        """Open a group node: ``/dev/vfio/N`` or ``/dev/vfio/noiommu-N`` (``group.c``).

        EBUSY if the group is open anywhere else or a member is cdev-bound;
        EPERM for noiommu without CAP_SYS_RAWIO (see ``uapi.ERRNO_MEANINGS``).
        """
        return self._open(node)

    def open_cdev(self, node: str) -> int:
        """Open a device cdev ``/dev/vfio/devices/vfioX`` (``device_cdev.c``).

        Never fails because of other users: exclusivity is enforced at
        ``VFIO_DEVICE_BIND_IOMMUFD``.  Until BIND every device ioctl is EINVAL.
        """
        return self._open(node)

    def open_iommufd(self) -> int:
        """Open ``/dev/iommu`` (mode 0660; absent without CONFIG_IOMMUFD)."""
        return self._open(IOMMUFD_NODE)

    def close(self, fd: int) -> None:
        """Close ``fd`` and forget it; raises ``KernelError("close", ...)`` on failure.

        An fd this backend did not open (or already closed) is not touched:
        ``KernelError("close", EBADF, "fd N")`` - it may belong to someone
        else.  A tracked fd is forgotten even when ``close(2)`` fails (Linux
        releases the descriptor in any case).  Closing the last device fd can
        trigger the close-time resets of ``vfio_pci_core_disable``
        (``kernel-vfio.md`` §3.5).
        """
        if fd not in self._targets:
            raise KernelError(uapi.CLOSE, _errno.EBADF, f"fd {fd}",
                              detail="not opened by this backend")
        target = self._targets.pop(fd)
        try:
            os.close(fd)
        except OSError as e:
            raise KernelError(uapi.CLOSE, e.errno or _errno.EIO, target) from e

    def close_all(self) -> None:
        """Close every tracked fd in reverse order of opening; never raises.

        So device fds go before the group/cdev fds they came from, and those
        before the container/iommufd (the kernel holds its own references
        either way).  Failures are collected in :attr:`close_errors`.
        """
        self.close_errors = []
        for fd in reversed(list(self._targets)):
            try:
                self.close(fd)
            except KernelError as e:
                self.close_errors.append(e)
        self._targets.clear()

    def open_fds(self) -> list[int]:
        """Every fd opened here and not yet closed, sorted."""
        return sorted(self._targets)

    # -- issuing ioctls ----------------------------------------------------------
    def _ioctl(self, name: str, fd: int, arg: int | bytearray = 0) -> int:
        """Issue the table's ioctl ``name`` on ``fd``; ``arg`` is an int or a bytearray."""
        spec = uapi.IOCTLS[name]
        return self._issue(name, spec.request, fd, arg, readback=spec.error_readback)

    def _issue(self, op: str, request: int, fd: int, arg: int | bytearray, *,
               readback: bool = False) -> int:
        """``fcntl.ioctl(fd, request, arg)``, failures as ``KernelError(op, ...)``.

        With ``readback`` (a bytearray argument whose contents matter after a
        failure) the call goes through a working buffer of at least
        :data:`DIRECT_MIN` bytes, which every CPython passes to the kernel in
        place, and the first ``len(arg)`` bytes are copied back whatever the
        outcome (see the module docstring).
        """
        work = arg
        if readback and isinstance(arg, bytearray) and len(arg) < DIRECT_MIN:
            work = arg + bytes(DIRECT_MIN - len(arg))
        try:
            return fcntl.ioctl(fd, request, work)
        except OSError as e:
            raise KernelError(op, e.errno or _errno.EIO, self.target_of(fd)) from e
        finally:
            if work is not arg:
                arg[:] = work[: len(arg)]  # type: ignore[index]

    # -- container -----------------------------------------------------------------
    def VFIO_GET_API_VERSION(self, container: int) -> int:
        """``VFIO_API_VERSION`` (0) from the container."""
        return self._ioctl("VFIO_GET_API_VERSION", container)

    def VFIO_CHECK_EXTENSION(self, container: int, ext: int) -> int:
        """> 0 if ``ext`` (an IOMMU type such as ``VFIO_TYPE1v2_IOMMU``) is supported.

        With no group attached every registered IOMMU driver is asked;
        ``VFIO_NOIOMMU_IOMMU`` answers 1 only with
        ``enable_unsafe_noiommu_mode`` on (``container.c``; ``real-kernel-vm.md`` §4).
        """
        return self._ioctl("VFIO_CHECK_EXTENSION", container, int(ext))

    def VFIO_SET_IOMMU(self, container: int, iommu_type: int) -> None:
        """Select the IOMMU driver; needs a group attached first (else EINVAL)."""
        self._ioctl("VFIO_SET_IOMMU", container, int(iommu_type))

    # -- group -----------------------------------------------------------------------
    def VFIO_GROUP_GET_STATUS(self, group: int) -> int:
        """``VFIO_GROUP_FLAGS_*`` of the group (VIABLE: no host driver owns its DMA)."""
        buf = uapi.pack_group_status()
        self._ioctl("VFIO_GROUP_GET_STATUS", group, buf)
        return uapi.unpack_group_status(buf)

    def VFIO_GROUP_SET_CONTAINER(self, group: int, container: int) -> None:
        """Attach the group to a container (or, 6.2+, an iommufd) fd."""
        self._ioctl("VFIO_GROUP_SET_CONTAINER", group, uapi.pack_set_container(container))

    def VFIO_GROUP_UNSET_CONTAINER(self, group: int) -> None:
        """Detach the group from its container (extra; not in the protocol)."""
        self._ioctl("VFIO_GROUP_UNSET_CONTAINER", group)

    def VFIO_GROUP_GET_DEVICE_FD(self, group: int, name: str) -> int:
        """Open device ``name`` (``0000:01:00.0``) through the group; returns its fd.

        Opening performs the open-time function reset (``vfio_pci_core_enable``).
        The fd is tracked like the nodes (target = ``name``).
        """
        from vfioctl.model.sriov import redact   # a VF token is never kept or shown
        fd = self._ioctl("VFIO_GROUP_GET_DEVICE_FD", group, uapi.pack_device_name(name))
        return self._track(fd, redact(name))

    # -- cdev / iommufd ---------------------------------------------------------------
    def VFIO_DEVICE_BIND_IOMMUFD(self, device: int, iommufd: int, token: str | None = None) -> int:
        """Bind a cdev fd to an iommufd (argsz 16, flags 0); returns ``out_devid``.

        This opens the device (open-time reset).  Unbind happens on close.
        ``token``: an SR-IOV VF token (6.17+: argsz 24, VFIO_DEVICE_BIND_FLAG_TOKEN,
        ``token_uuid_ptr`` pointing at the 16-byte uuid; older kernels: EINVAL).
        """
        if token is None:
            buf = uapi.pack_bind_iommufd(iommufd)
            self._ioctl("VFIO_DEVICE_BIND_IOMMUFD", device, buf)
            return uapi.unpack_bind_iommufd(buf)
        import ctypes
        import uuid
        raw = ctypes.create_string_buffer(uuid.UUID(token).bytes, 16)
        lay = uapi.VFIO_DEVICE_BIND_IOMMUFD_S
        buf = bytearray(lay.full_struct.pack(lay.full_size, uapi.VFIO_DEVICE_BIND_FLAG_TOKEN,
                                             iommufd, 0, ctypes.addressof(raw)))
        self._ioctl("VFIO_DEVICE_BIND_IOMMUFD", device, buf)
        return lay.full_struct.unpack_from(buf)[3]

    def VFIO_DEVICE_FEATURE_PCI_VF_TOKEN(self, device: int, token: str) -> None:
        """Set an SR-IOV PF's VF token (``VFIO_DEVICE_FEATURE`` SET|PCI_VF_TOKEN).

        ENOTTY on anything but a vfio-pci PF with the SR-IOV capability."""
        self._ioctl("VFIO_DEVICE_FEATURE", device, uapi.pack_feature_vf_token(token))

    def VFIO_DEVICE_ATTACH_IOMMUFD_PT(self, device: int, pt_id: int) -> int:
        """Attach a bound cdev to an IOAS/HWPT; returns the attached HWPT id (extra).

        Not needed for reset or inspection (``kernel-vfio.md`` §5.3).
        """
        buf = uapi.pack_attach_iommufd_pt(pt_id)
        self._ioctl("VFIO_DEVICE_ATTACH_IOMMUFD_PT", device, buf)
        return uapi.unpack_attach_iommufd_pt(buf)

    def VFIO_DEVICE_DETACH_IOMMUFD_PT(self, device: int) -> None:
        """Detach a bound cdev from its IOAS/HWPT (extra)."""
        self._ioctl("VFIO_DEVICE_DETACH_IOMMUFD_PT", device, uapi.pack_detach_iommufd_pt())

    def IOMMU_IOAS_ALLOC(self, iommufd: int) -> int:
        """Allocate an IOAS in the iommufd; returns its id (extra)."""
        buf = uapi.pack_ioas_alloc()
        self._ioctl("IOMMU_IOAS_ALLOC", iommufd, buf)
        return uapi.unpack_ioas_alloc(buf)

    def IOMMU_DESTROY(self, iommufd: int, obj_id: int) -> None:
        """Destroy an iommufd object (IOAS, HWPT) by id (extra)."""
        self._ioctl("IOMMU_DESTROY", iommufd, uapi.pack_iommu_destroy(obj_id))

    # -- device ------------------------------------------------------------------------
    def VFIO_DEVICE_GET_INFO(self, device: int) -> DeviceInfo:
        """``struct vfio_device_info`` (argsz 24); FLAGS_RESET iff the open-time reset worked."""
        buf = uapi.pack_device_info()
        self._ioctl("VFIO_DEVICE_GET_INFO", device, buf)
        return uapi.unpack_device_info(buf)

    def VFIO_DEVICE_RESET(self, device: int) -> None:
        """Function reset (EINVAL when ``reset_works`` is false)."""
        self._ioctl("VFIO_DEVICE_RESET", device)

    def VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(self, device: int, capacity: int) -> HotResetInfo:
        """The devices a slot/bus reset of ``device`` would affect.

        Issued with room for ``capacity`` entries (``argsz = 12 + 8 *
        capacity``).  When that is too small the kernel writes ``count`` into
        the header (``flags`` stays 0) and fails with ENOSPC; this raises
        ``KernelError(ENOSPC, count=<needed>)`` - read back through an in-place
        buffer, see the module docstring - and the caller re-issues with that
        capacity.  ``capacity = 0`` is the usual first call (QEMU's pattern).
        """
        buf = uapi.pack_hot_reset_info(capacity)
        try:
            self._ioctl("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", device, buf)
        except KernelError as e:
            if e.errno != _errno.ENOSPC:
                raise
            raise KernelError(e.op, e.errno, e.target,
                              count=uapi.hot_reset_info_count(buf)) from e
        flags, _count, devices = uapi.unpack_hot_reset_info(buf)
        return HotResetInfo(flags=flags, devices=tuple(devices))

    def VFIO_DEVICE_PCI_HOT_RESET(self, device: int, group_fds: Iterable[int]) -> None:
        """Slot/bus reset.  Legacy: every affected group's fd; cdev: ``[]``."""
        self._ioctl("VFIO_DEVICE_PCI_HOT_RESET", device, uapi.pack_hot_reset(list(group_fds)))
