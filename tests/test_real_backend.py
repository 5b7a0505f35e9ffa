"""RealKernel on a machine without VFIO: error paths and fd bookkeeping.

Nothing here fakes a VFIO kernel.  Node paths are resolved under a temporary
root whose ``dev/`` holds either nothing (ENOENT), or ordinary files that the
real kernel answers for: regular files (under a fixture root the backend
opens nothing else: a link to the host's ``/dev`` or a FIFO is refused, issue 8).  Every ioctl on those fails with the kernel's own errno (ENOTTY), which
is exactly what must surface as ``KernelError(op=<ioctl name>, target=<node>)``
with the bookkeeping intact and no fd leaked.  The positive paths run against
a real 6.12 kernel in the QEMU guest (real-kernel-vm.md), not here.
"""

from __future__ import annotations

import errno
import fcntl
import os
import struct
import termios

import pytest

from vfioctl.kernel import uapi
from vfioctl.kernel.base import KernelBackend, KernelError
from vfioctl.kernel.real import DIRECT_MIN, RealKernel

NOT_VFIO = {errno.ENOTTY, errno.EINVAL}


def proc_fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


@pytest.fixture
def fd_guard():
    """Fail the test if it leaves any fd open (listing /proc/self/fd itself opens one)."""
    before = proc_fds()
    yield
    assert proc_fds() == before


@pytest.fixture
def fake_root(tmp_path):
    """dev/vfio/vfio, dev/vfio/12, dev/vfio/devices/vfio0 and dev/iommu regular files
    (under a fixture root the real backend opens nothing else - issue 8: a link to
    the host's /dev or a FIFO is refused; see tests/hostile)."""
    (tmp_path / "dev" / "vfio" / "devices").mkdir(parents=True)
    (tmp_path / "dev" / "vfio" / "vfio").write_bytes(b"")
    (tmp_path / "dev" / "vfio" / "12").write_bytes(b"")
    (tmp_path / "dev" / "vfio" / "devices" / "vfio0").write_bytes(b"")
    (tmp_path / "dev" / "iommu").write_bytes(b"")
    return tmp_path


def test_protocol_and_name(tmp_path):
    k = RealKernel(str(tmp_path))
    assert isinstance(k, KernelBackend)
    assert k.name == "real" and RealKernel.name == "real"
    assert k.open_fds() == []
    assert RealKernel().root == "/"


def test_root_accepts_pathlike_and_root_objects(tmp_path):
    class RootLike:
        path = str(tmp_path)

    assert RealKernel(tmp_path).root == str(tmp_path)
    assert RealKernel(RootLike()).root == str(tmp_path)  # vfioctl.sysfs.root.Root has .path
    assert RealKernel(tmp_path).path_of("/dev/vfio/12") == str(tmp_path / "dev/vfio/12")
    with pytest.raises(ValueError):
        RealKernel(tmp_path).path_of("dev/vfio/12")


@pytest.mark.parametrize("method,args,kind,node", [
    ("open_container", (), uapi.OPEN_CONTAINER, "/dev/vfio/vfio"),
    ("open_group", ("/dev/vfio/12",), uapi.OPEN_GROUP, "/dev/vfio/12"),
    ("open_group", ("/dev/vfio/noiommu-3",), uapi.OPEN_GROUP, "/dev/vfio/noiommu-3"),
    ("open_cdev", ("/dev/vfio/devices/vfio0",), uapi.OPEN_CDEV, "/dev/vfio/devices/vfio0"),
    ("open_iommufd", (), uapi.OPEN_IOMMUFD, "/dev/iommu"),
])
def test_open_missing_node_raises_enoent(tmp_path, fd_guard, method, args, kind, node):
    k = RealKernel(str(tmp_path))
    with pytest.raises(KernelError) as ei:
        getattr(k, method)(*args)
    e = ei.value
    assert e.errno == errno.ENOENT and e.errname == "ENOENT"
    assert e.op == "open" and e.target == node  # base.py: op "open", target the node path
    assert e.detail == str(tmp_path / node.lstrip("/"))  # the real path, for a non-/ root
    assert isinstance(e, OSError)
    assert uapi.open_op_for(e.target) == kind
    assert uapi.explain(e.op, e.errno, e.target) == uapi.explain(kind, e.errno)
    assert k.open_fds() == []


def test_open_directory_is_an_error_too(tmp_path, fd_guard):
    (tmp_path / "dev" / "vfio" / "7").mkdir(parents=True)
    k = RealKernel(str(tmp_path))
    with pytest.raises(KernelError) as ei:
        k.open_group("/dev/vfio/7")
    assert ei.value.errno == errno.EISDIR and ei.value.target == "/dev/vfio/7"
    assert k.open_fds() == []


def test_opens_track_fds_with_cloexec(fake_root, fd_guard):
    k = RealKernel(str(fake_root))
    c = k.open_container()
    g = k.open_group("/dev/vfio/12")
    d = k.open_cdev("/dev/vfio/devices/vfio0")
    i = k.open_iommufd()
    assert k.open_fds() == sorted([c, g, d, i])
    assert [k.target_of(fd) for fd in (c, g, d, i)] == [
        "/dev/vfio/vfio", "/dev/vfio/12", "/dev/vfio/devices/vfio0", "/dev/iommu"]
    for fd in (c, g, d, i):
        assert fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR
    k.close(g)
    assert k.open_fds() == sorted([c, d, i]) and k.target_of(g) == f"fd {g}"
    k.close_all()
    assert k.open_fds() == []


# every protocol ioctl (and the extras), with arguments, on a non-VFIO fd
IOCTL_CALLS = [
    ("VFIO_GET_API_VERSION", "container", ()),
    ("VFIO_CHECK_EXTENSION", "container", (uapi.VFIO_TYPE1v2_IOMMU,)),
    ("VFIO_SET_IOMMU", "container", (uapi.VFIO_TYPE1v2_IOMMU,)),
    ("VFIO_GROUP_GET_STATUS", "group", ()),
    ("VFIO_GROUP_SET_CONTAINER", "group", ("container",)),
    ("VFIO_GROUP_UNSET_CONTAINER", "group", ()),
    ("VFIO_GROUP_GET_DEVICE_FD", "group", ("0000:01:00.0",)),
    ("VFIO_DEVICE_BIND_IOMMUFD", "cdev", ("iommufd",)),
    ("VFIO_DEVICE_ATTACH_IOMMUFD_PT", "cdev", (2,)),
    ("VFIO_DEVICE_DETACH_IOMMUFD_PT", "cdev", ()),
    ("VFIO_DEVICE_GET_INFO", "cdev", ()),
    ("VFIO_DEVICE_RESET", "cdev", ()),
    ("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "cdev", (0,)),
    ("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "cdev", (2,)),
    ("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "cdev", (200,)),  # > 1024 bytes: in-place path
    ("VFIO_DEVICE_PCI_HOT_RESET", "cdev", ([],)),
    ("VFIO_DEVICE_PCI_HOT_RESET", "cdev", (["group"],)),
    ("IOMMU_IOAS_ALLOC", "iommufd", ()),
    ("IOMMU_DESTROY", "iommufd", (2,)),
]


@pytest.mark.parametrize("name,on,args", IOCTL_CALLS,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(IOCTL_CALLS)])
def test_ioctl_on_non_vfio_fd(fake_root, fd_guard, name, on, args):
    k = RealKernel(str(fake_root))
    fds = {"container": k.open_container(), "group": k.open_group("/dev/vfio/12"),
           "cdev": k.open_cdev("/dev/vfio/devices/vfio0"), "iommufd": k.open_iommufd()}
    opened = k.open_fds()

    def resolve(a):
        if isinstance(a, list):
            return [fds[x] for x in a]
        return fds.get(a, a) if isinstance(a, str) and a in fds else a

    with pytest.raises(KernelError) as ei:
        getattr(k, name)(fds[on], *[resolve(a) for a in args])
    e = ei.value
    assert e.op == name
    assert e.errno in NOT_VFIO, e.errname
    assert e.target == k.target_of(fds[on]) and e.target.startswith("/dev/")
    assert e.count is None  # only an ENOSPC from GET_PCI_HOT_RESET_INFO carries a count
    assert uapi.explain(e.op, e.errno)
    assert k.open_fds() == opened  # a failed GET_DEVICE_FD adds nothing, nothing is dropped
    k.close_all()
    assert k.open_fds() == []


def test_ioctl_on_closed_fd_is_ebadf(fake_root, fd_guard):
    k = RealKernel(str(fake_root))
    g = k.open_group("/dev/vfio/12")
    k.close(g)
    with pytest.raises(KernelError) as ei:
        k.VFIO_GROUP_GET_STATUS(g)
    assert ei.value.errno == errno.EBADF and ei.value.op == "VFIO_GROUP_GET_STATUS"
    assert uapi.explain(ei.value.op, ei.value.errno)


def test_hot_reset_info_rejects_negative_capacity(fake_root, fd_guard):
    with RealKernel(str(fake_root)) as k:
        d = k.open_cdev("/dev/vfio/devices/vfio0")
        with pytest.raises(ValueError):
            k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(d, -1)


def test_close_unknown_or_closed_fd(fake_root, fd_guard):
    k = RealKernel(str(fake_root))
    g = k.open_group("/dev/vfio/12")
    k.close(g)
    with pytest.raises(KernelError) as ei:
        k.close(g)
    assert ei.value.op == "close" and ei.value.errno == errno.EBADF
    assert ei.value.target == f"fd {g}"  # no longer ours
    assert k.open_fds() == []


def test_close_never_touches_foreign_fds(tmp_path, fd_guard):
    r, w = os.pipe()
    try:
        k = RealKernel(str(tmp_path))
        with pytest.raises(KernelError) as ei:
            k.close(r)
        assert (ei.value.op, ei.value.errno, ei.value.target) == ("close", errno.EBADF, f"fd {r}")
        os.fstat(r)  # still open
    finally:
        os.close(r)
        os.close(w)


def test_close_all_survives_a_failing_close(fake_root, fd_guard):
    k = RealKernel(str(fake_root))
    c = k.open_container()
    g = k.open_group("/dev/vfio/12")
    i = k.open_iommufd()
    os.close(g)  # behind the backend's back: its close() will fail with EBADF
    k.close_all()  # must not raise, must close the others
    assert k.open_fds() == []
    assert [(e.op, e.errno, e.target) for e in k.close_errors] == [
        ("close", errno.EBADF, "/dev/vfio/12")]
    for fd in (c, i):
        with pytest.raises(OSError):
            os.fstat(fd)


def test_close_all_after_failures_leaves_nothing_open(fake_root):
    before = proc_fds()
    k = RealKernel(str(fake_root))
    c = k.open_container()
    g = k.open_group("/dev/vfio/12")
    d = k.open_cdev("/dev/vfio/devices/vfio0")
    i = k.open_iommufd()
    failures = 0
    for call in (lambda: k.VFIO_GET_API_VERSION(c),
                 lambda: k.VFIO_GROUP_SET_CONTAINER(g, c),
                 lambda: k.VFIO_GROUP_GET_DEVICE_FD(g, "0000:01:00.0"),
                 lambda: k.VFIO_DEVICE_BIND_IOMMUFD(d, i),
                 lambda: k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(d, 0),
                 lambda: k.VFIO_DEVICE_PCI_HOT_RESET(d, [g]),
                 lambda: k.open_group("/dev/vfio/99"),
                 lambda: k.open_cdev("/dev/vfio/devices/vfio9")):
        with pytest.raises(KernelError):
            call()
        failures += 1
    assert failures == 8
    assert len(proc_fds() - before) == 4
    k.close_all()
    assert proc_fds() == before
    assert k.open_fds() == [] and k.close_errors == []
    k.close_all()  # idempotent


def test_context_manager_closes(fake_root, fd_guard):
    with RealKernel(str(fake_root)) as k:
        k.open_container()
        k.open_group("/dev/vfio/12")
        with pytest.raises(KernelError):
            k.VFIO_GROUP_GET_STATUS(k.open_fds()[-1])
    assert k.open_fds() == []


def test_issue_copies_back_through_the_in_place_buffer(fd_guard):
    """The read-back path (used for GET_PCI_HOT_RESET_INFO) hands the caller's buffer
    the kernel's writes: FIONREAD on a pipe with 5 bytes queued writes 5."""
    k = RealKernel()
    r, w = os.pipe()
    try:
        os.write(w, b"hello")
        for readback in (False, True):
            buf = bytearray(struct.pack("=i", -1))
            assert k._issue("FIONREAD", termios.FIONREAD, r, buf, readback=readback) == 0
            assert len(buf) == 4 and struct.unpack("=i", buf) == (5,)
        big = bytearray(DIRECT_MIN + 8)
        k._issue("FIONREAD", termios.FIONREAD, r, big, readback=True)
        assert struct.unpack_from("=i", big) == (5,) and len(big) == DIRECT_MIN + 8
        # on failure the buffer is still copied back (unchanged here) and the op is kept
        buf = bytearray(b"\x01\x02\x03\x04")
        with pytest.raises(KernelError) as ei:
            k._issue("TCGETS", termios.TCGETS, r, buf, readback=True)
        assert ei.value.op == "TCGETS" and ei.value.errno == errno.ENOTTY
        assert bytes(buf) == b"\x01\x02\x03\x04"
    finally:
        os.close(r)
        os.close(w)
    assert k.open_fds() == []  # fds it did not open are not tracked


def test_request_numbers_come_from_the_table():
    for spec in uapi.IOCTLS.values():
        assert spec.request == uapi.IOC_ABI.io(";", spec.nr)


# -- ENOSPC count read-back under both CPython fcntl.ioctl behaviours --------------------
#
# This emulates CPython's buffer staging (Modules/fcntlmodule.c), not VFIO: a mutable
# buffer of <= 1024 bytes is copied to a stack buffer and back; CPython <= 3.13 copies
# back before raising, the rewritten code in CPython main does not (returns on ret < 0
# first); larger buffers are passed in place.  The "kernel" part only does what
# vfio_pci_ioctl_get_pci_hot_reset_info does on ENOSPC: write the 12-byte header with
# flags 0 and the needed count.

def _cpython_fcntl(copy_back_on_error: bool, needed: int, seen: list):
    req = uapi.IOCTLS["VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"].request

    def ioctl(fd, request, arg=0, mutate_flag=True):
        assert request == req and isinstance(arg, bytearray)
        seen.append(len(arg))
        staged = len(arg) <= 1024
        mem = bytearray(arg) if staged else arg
        argsz = struct.unpack_from("=I", mem)[0]
        struct.pack_into("=III", mem, 0, argsz, 0, needed)  # header only, flags 0
        if staged and copy_back_on_error:
            arg[:] = mem
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return ioctl


@pytest.mark.parametrize("copy_back_on_error", [True, False], ids=["cpython<=3.13", "cpython-main"])
@pytest.mark.parametrize("capacity", [0, 1, 127, 128, 300])
def test_enospc_count_survives_cpython_staging(monkeypatch, copy_back_on_error, capacity):
    seen: list[int] = []
    monkeypatch.setattr("vfioctl.kernel.real.fcntl.ioctl",
                        _cpython_fcntl(copy_back_on_error, capacity + 5, seen))
    k = RealKernel()
    with pytest.raises(KernelError) as ei:
        k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(99, capacity)
    e = ei.value
    assert (e.op, e.errno, e.count) == ("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", errno.ENOSPC,
                                        capacity + 5)
    assert e.target == "fd 99"
    assert seen == [max(DIRECT_MIN, 12 + 8 * capacity)]  # always handed over in place


def test_enospc_count_is_lost_without_the_in_place_buffer(monkeypatch):
    """Why the backend pads: a plain 12-byte bytearray loses the count on CPython main."""
    monkeypatch.setattr("vfioctl.kernel.real.fcntl.ioctl", _cpython_fcntl(False, 2, []))
    buf = uapi.pack_hot_reset_info(0)
    with pytest.raises(OSError):
        fcntl.ioctl(3, uapi.IOCTLS["VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"].request, buf)
    assert uapi.hot_reset_info_count(buf) == 0


def test_close_all_closes_in_reverse_order_of_opening(fake_root, fd_guard, monkeypatch):
    k = RealKernel(str(fake_root))
    c = k.open_container()
    g = k.open_group("/dev/vfio/12")
    k.close(c)
    i = k.open_iommufd()  # likely reuses c's number: still counts as the newest
    d = k.open_cdev("/dev/vfio/devices/vfio0")
    order: list[int] = []
    real_close = os.close

    def spy(fd):
        order.append(fd)
        real_close(fd)

    monkeypatch.setattr("vfioctl.kernel.real.os.close", spy)
    k.close_all()
    assert order == [d, i, g]
