"""The kernel boundary: the one interface through which vfioctl touches VFIO.

Everything that opens a VFIO node or issues an ioctl goes through a
:class:`KernelBackend`.  The interface is deliberately *narrow*: one method per
ioctl (named after the kernel constant), plus ``open_*``/``close`` for the
character devices.  Sequencing (legacy container setup, iommufd binding, the
two-call ENOSPC sizing of ``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO``...) lives in
:mod:`vfioctl.ops`, so the real kernel and the simulator are driven by exactly
the same code and judged by exactly the same assertions.

Errors: every failing call raises :class:`KernelError` carrying the ioctl or
open that failed, the errno, and the node/device it concerned.  The operations
layer turns those into admin-facing explanations (see
:mod:`vfioctl.ops.explain`).

File descriptors are plain ``int`` values.  A backend tracks what it opened
(:meth:`KernelBackend.open_fds`) so tests can prove that nothing leaks, and
:meth:`KernelBackend.close_all` releases everything (used on error paths).

Source for semantics: ``shared/docs/kernel-vfio.md`` §1–§5 (uapi/vfio.h,
vfio_pci_core.c, group.c, device_cdev.c).
"""

from __future__ import annotations

import errno as _errno
import os
from vfioctl.model.record import dataclass, field
from typing import Protocol, runtime_checkable

# -- constants from include/uapi/linux/vfio.h (values, not request numbers) --
VFIO_API_VERSION = 0
VFIO_TYPE1_IOMMU = 1
VFIO_TYPE1v2_IOMMU = 3
VFIO_NOIOMMU_IOMMU = 8

VFIO_GROUP_FLAGS_VIABLE = 1 << 0
VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1

VFIO_DEVICE_FLAGS_RESET = 1 << 0
VFIO_DEVICE_FLAGS_PCI = 1 << 1
VFIO_DEVICE_FLAGS_CAPS = 1 << 7

VFIO_PCI_HOT_RESET_FLAG_DEV_ID = 1 << 0
VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED = 1 << 1
VFIO_PCI_DEVID_OWNED = 0
VFIO_PCI_DEVID_NOT_OWNED = 0xFFFFFFFF  # -1 as __u32

#: Size of the fixed header of struct vfio_pci_hot_reset_info / _hot_reset.
HOT_RESET_INFO_HDR = 12
DEPENDENT_DEVICE_SIZE = 8


class KernelError(OSError):
    """A VFIO open or ioctl failed.

    ``op`` is the kernel name of what failed (``"open"``,
    ``"VFIO_DEVICE_PCI_HOT_RESET"``...), ``target`` the node path or device
    address it concerned.  ``count`` is filled for ENOSPC from
    ``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO`` (the kernel writes it even on
    failure).
    """

    def __init__(self, op: str, err: int, target: str = "", *, count: int | None = None,
                 detail: str = ""):
        super().__init__(err, os.strerror(err))
        self.op = op
        self.target = target
        self.count = count
        self.detail = detail

    @property
    def errname(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        t = f" on {self.target}" if self.target else ""
        return f"{self.op}{t}: {self.errname} ({self.strerror})"


@dataclass(frozen=True)
class DependentDevice:
    """One ``struct vfio_pci_dependent_device`` entry.

    ``ident`` is ``group_id`` when the reply's flags lack DEV_ID, else
    ``devid`` (``VFIO_PCI_DEVID_OWNED`` = 0, ``VFIO_PCI_DEVID_NOT_OWNED`` =
    0xFFFFFFFF, or a real devid > 0).
    """

    segment: int
    bus: int
    devfn: int
    ident: int

    @property
    def address(self) -> str:
        return f"{self.segment:04x}:{self.bus:02x}:{self.devfn >> 3:02x}.{self.devfn & 7:x}"


@dataclass(frozen=True)
class HotResetInfo:
    """Decoded reply of ``VFIO_DEVICE_GET_PCI_HOT_RESET_INFO``."""

    flags: int
    devices: tuple[DependentDevice, ...]

    @property
    def dev_id(self) -> bool:
        return bool(self.flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID)

    @property
    def dev_id_owned(self) -> bool:
        return bool(self.flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED)


@dataclass(frozen=True)
class DeviceInfo:
    """Decoded ``struct vfio_device_info``."""

    flags: int
    num_regions: int
    num_irqs: int

    @property
    def reset(self) -> bool:
        return bool(self.flags & VFIO_DEVICE_FLAGS_RESET)


@runtime_checkable
class KernelBackend(Protocol):
    """One ioctl per method; see the module docstring.

    ``root`` is the filesystem root the backend works under (``/`` for the
    real kernel).  Paths passed to ``open_*`` are absolute *within* that root
    (``/dev/vfio/12``), exactly as the kernel would see them.
    """

    name: str

    # -- nodes --
    def open_container(self) -> int: ...          # /dev/vfio/vfio
    def open_group(self, node: str) -> int: ...   # /dev/vfio/N or /dev/vfio/noiommu-N
    def open_cdev(self, node: str) -> int: ...    # /dev/vfio/devices/vfioX
    def open_iommufd(self) -> int: ...            # /dev/iommu
    def close(self, fd: int) -> None: ...
    def close_all(self) -> None: ...
    def open_fds(self) -> list[int]: ...

    # -- container --
    def VFIO_GET_API_VERSION(self, container: int) -> int: ...
    def VFIO_CHECK_EXTENSION(self, container: int, ext: int) -> int: ...
    def VFIO_SET_IOMMU(self, container: int, iommu_type: int) -> None: ...

    # -- group --
    def VFIO_GROUP_GET_STATUS(self, group: int) -> int: ...
    def VFIO_GROUP_SET_CONTAINER(self, group: int, container: int) -> None: ...
    def VFIO_GROUP_GET_DEVICE_FD(self, group: int, name: str) -> int: ...

    # -- cdev / iommufd --
    def VFIO_DEVICE_BIND_IOMMUFD(self, device: int, iommufd: int,
                                 token: str | None = None) -> int: ...  # -> devid; token: 6.17+ VF token

    # -- SR-IOV --
    def VFIO_DEVICE_FEATURE_PCI_VF_TOKEN(self, device: int, token: str) -> None: ...  # PF only

    # -- device --
    def VFIO_DEVICE_GET_INFO(self, device: int) -> DeviceInfo: ...
    def VFIO_DEVICE_RESET(self, device: int) -> None: ...
    def VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(self, device: int, capacity: int) -> HotResetInfo:
        """Issue the ioctl with room for ``capacity`` entries.

        On ENOSPC raise ``KernelError(errno=ENOSPC, count=<needed>)``; the
        caller re-issues with a larger capacity (QEMU's two-call pattern).
        """
        ...

    def VFIO_DEVICE_PCI_HOT_RESET(self, device: int, group_fds: list[int]) -> None:
        """Legacy: every affected group's fd.  iommufd/cdev: an empty list."""
        ...


#: Ops of the driver-core sysfs writes, as :class:`KernelError` names them.
DRIVER_CORE_OPS = ("driver_override", "unbind", "bind", "drivers_probe")


@runtime_checkable
class DriverCore(Protocol):
    """The PCI driver core's sysfs files (binding-host-fleet.md A.2, A.3).

    ``bdf`` is a full PCI address (``0000:82:00.1``), ``driver`` the name of a
    directory under ``/sys/bus/pci/drivers``.  Each write raises
    :class:`KernelError` with ``op`` one of :data:`DRIVER_CORE_OPS` and the
    errno the kernel's ``write(2)`` returns.  Nothing here reads back the
    result: ``drivers_probe`` succeeds even when no driver bound, so the
    caller re-reads the ``driver`` link (through :mod:`vfioctl.sysfs`).

    ``unbind`` of a VFIO device blocks in the kernel until its last user
    closes it (A.8).  ``timeout`` bounds the wait: past it the call raises
    ``KernelError("unbind", ETIMEDOUT)`` and the kernel keeps waiting (the
    real backend leaves the write to a child process, which cannot be
    cancelled; the unbind completes when the holder lets go).
    """

    def write_driver_override(self, bdf: str, value: str) -> None: ...
    def unbind(self, driver: str, bdf: str, timeout: float = 10.0) -> None: ...
    def bind(self, driver: str, bdf: str) -> None: ...
    def drivers_probe(self, bdf: str) -> None: ...


@dataclass
class BackendInfo:
    """What ``--backend`` can choose from (built-ins plus entry points)."""

    name: str
    target: str
    description: str = ""
    extra: dict = field(default_factory=dict)
