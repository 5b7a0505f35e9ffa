"""The real kernel's PCI driver core: writes to ``driver_override``,
``drivers/<drv>/unbind``, ``drivers/<drv>/bind`` and ``drivers_probe``
(binding-host-fleet.md A.2, A.3), mixed into
:class:`vfioctl.kernel.real.RealKernel`.

Guard: the files are written only when ``ROOT/sys`` is a mounted sysfs
(``statfs`` magic ``SYSFS_MAGIC``).  On a fixture root every write is refused
before anything is opened, so the real backend can never scribble over a
fixture tree, and tests exercise the writes only inside the QEMU guest.

Each write is one ``write(2)`` of the value (no trailing newline needed);
its errno comes back as :class:`~vfioctl.kernel.base.KernelError` with the
op name.  ``unbind`` of a device whose user never lets go blocks in the
kernel without a timeout (A.8): the write runs in a child process, waited
for ``timeout`` seconds; past it ETIMEDOUT is raised and the child is left
to finish (it cannot be cancelled: it completes when the holder closes the
device).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as E
import os
import subprocess
import sys

SYSFS_MAGIC = 0x62656572

_CHILD = r"""
import os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, sys.argv[2].encode())
    finally:
        os.close(fd)
except OSError as e:
    sys.stdout.write(str(e.errno))
    sys.exit(3)
"""


def is_sysfs(path: str) -> bool:
    """True when ``path`` is on a mounted sysfs (statfs f_type)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        buf = ctypes.create_string_buffer(256)
        if libc.statfs(os.fsencode(path), buf) != 0:
            return False
        f_type = ctypes.c_long.from_buffer(buf).value
        return (f_type & 0xFFFFFFFF) == SYSFS_MAGIC
    except (OSError, AttributeError):
        return False


class RealDriverCoreMixin:
    """Driver-core writes for :class:`~vfioctl.kernel.real.RealKernel`."""

    def _sysfs_path(self, op: str, rel: str, bdf: str) -> str:
        from vfioctl.errors import BackendUnavailable
        import stat
        sysd = os.path.join(self.root, "sys")
        try:
            # ROOT/sys itself must be the mount, not a link to one (a fixture
            # with ``sys -> /sys`` must never reach the host's sysfs)
            linked = stat.S_ISLNK(os.lstat(sysd).st_mode)
        except OSError:
            linked = True
        if linked or not is_sysfs(sysd):
            raise BackendUnavailable(
                f"the real backend writes sysfs files only on a mounted sysfs; {sysd} is not one",
                "use --backend sim on a fixture root")
        return os.path.join(sysd, rel)

    def _write(self, op: str, path: str, value: str, bdf: str) -> None:
        from vfioctl.kernel.base import KernelError
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except OSError as e:
            raise KernelError(op, e.errno or E.EIO, bdf, detail=path) from None
        try:
            os.write(fd, value.encode("utf-8", "surrogateescape"))
        except OSError as e:
            raise KernelError(op, e.errno or E.EIO, bdf, detail=path) from None
        finally:
            os.close(fd)

    def write_driver_override(self, bdf: str, value: str) -> None:
        p = self._sysfs_path("driver_override", f"bus/pci/devices/{bdf}/driver_override", bdf)
        # an empty write(2) does not reach the kernel's store(): "\n" clears
        self._write("driver_override", p, value if value else "\n", bdf)

    def bind(self, driver: str, bdf: str) -> None:
        p = self._sysfs_path("bind", f"bus/pci/drivers/{driver}/bind", bdf)
        self._write("bind", p, bdf, bdf)

    def drivers_probe(self, bdf: str) -> None:
        p = self._sysfs_path("drivers_probe", "bus/pci/drivers_probe", bdf)
        self._write("drivers_probe", p, bdf, bdf)

    def unbind(self, driver: str, bdf: str, timeout: float = 10.0) -> None:
        from vfioctl.kernel.base import KernelError
        p = self._sysfs_path("unbind", f"bus/pci/drivers/{driver}/unbind", bdf)
        child = subprocess.Popen([sys.executable, "-c", _CHILD, p, bdf],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, close_fds=True,
                                 start_new_session=True)
        try:
            out, _ = child.communicate(timeout=max(0.1, timeout))
        except subprocess.TimeoutExpired:
            if child.stdout is not None:
                child.stdout.close()
            raise KernelError("unbind", E.ETIMEDOUT, bdf, detail=(
                f"the unbind is blocked in the kernel (pid {child.pid}, D state) until the "
                "device's user closes it; it cannot be cancelled and completes then")) from None
        if child.returncode != 0:
            err = int(out) if out.strip().isdigit() else E.EIO
            raise KernelError("unbind", err, bdf, detail=p)
