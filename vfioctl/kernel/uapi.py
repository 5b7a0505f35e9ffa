"""The VFIO / iommufd uAPI as data: request numbers, struct layouts, errno meanings.

Everything the real backend (:mod:`vfioctl.kernel.real`) needs to talk to the
kernel is declared here as tables, not code: one :class:`Ioctl` row per ioctl
(kernel name, type ``';'``, nr, which fd it is issued on, how the argument is
passed, what comes back, the struct layout), one :class:`StructLayout` per
struct (fields in order, ``argsz``/``size`` minimum), and one
:class:`ErrnoMeaning` row per (operation, errno) pair the kernel documents or
was seen to return.  ``tests/test_uapi.py`` compiles a probe against the
kernel's own ``<linux/vfio.h>`` / ``<linux/iommufd.h>`` and checks every
request number, constant, ``sizeof`` and ``offsetof`` below against it.

Request numbers
    Every VFIO ioctl is ``_IO(VFIO_TYPE, VFIO_BASE + n)`` with ``VFIO_TYPE =
    ';'`` and ``VFIO_BASE = 100``; iommufd uses ``_IO(IOMMUFD_TYPE,
    IOMMUFD_CMD_BASE + n)`` with the same type byte and base 0x80
    (``uapi/vfio.h``, ``uapi/iommufd.h``).  ``_IO`` carries no size and no
    direction *data*, but the direction field still holds ``_IOC_NONE``, which
    is 0 on asm-generic architectures and 1 on powerpc, mips, sparc and alpha
    (``arch/*/include/uapi/asm/ioctl.h``) - so the numbers are computed here
    from the running machine's ``_IOC_*`` constants (:data:`IOC_ABI`), never
    hard-coded.  On x86_64 they come out as ``0x3B64`` ... ``0x3B81``
    (``kernel-vfio.md`` §1.2, confirmed on a 6.12 guest, ``real-kernel-vm.md``
    §5).

Struct layouts
    All fields are native-endian fixed-width integers (``__u32``, ``__s32``,
    ``__u16``, ``__u8``, ``__aligned_u64``).  Formats use ``'='`` (native
    order, no implicit padding); C alignment padding is inserted explicitly by
    :class:`StructLayout`.  The first field is ``argsz`` (VFIO) or ``size``
    (iommufd): the caller sets it to the buffer size, the kernel checks it
    against a minimum (``minsz``, ``offsetofend`` of the last mandatory field)
    and never reads past it.  Fields added by later kernels that vfioctl does
    not send are marked ``ext=True``: they are part of the layout (and checked
    against newer headers) but not of :attr:`StructLayout.struct`, so the
    ``argsz`` vfioctl sends is accepted by every kernel since the ioctl
    appeared (see :func:`pack_bind_iommufd` for the argsz 16 vs 24 question).

Errno meanings
    :data:`ERRNO_MEANINGS` / :func:`explain` translate ``(op, errno)`` into
    what it means for an administrator, citing the kernel source
    (``vfio_pci_core.c``, ``group.c``, ``container.c``, ``device_cdev.c``,
    ``vfio_main.c``, ``iommufd/device.c``) as summarised in
    ``shared/docs/kernel-vfio.md`` §3-§5, and the observed results in
    ``shared/docs/real-kernel-vm.md`` §5 (``observed=True``).  ``op`` is what
    :attr:`KernelError.op <vfioctl.kernel.base.KernelError.op>` holds: the
    ioctl's kernel name, ``"open"`` or ``"close"``.  Opens are tabulated per
    node kind (``OPEN_GROUP`` = ``"open group"``, ...); :func:`explain` picks
    the kind from the error's target path (:func:`open_op_for`).

Only the standard library is used; importing this module builds the small
tables below and reads ``platform.machine()`` once, nothing else.
"""

from __future__ import annotations

import errno as _errno
import platform
import struct
from vfioctl.model.record import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from vfioctl.kernel.base import (
    DEPENDENT_DEVICE_SIZE,
    HOT_RESET_INFO_HDR,
    VFIO_API_VERSION,
    VFIO_DEVICE_FLAGS_CAPS,
    VFIO_DEVICE_FLAGS_PCI,
    VFIO_DEVICE_FLAGS_RESET,
    VFIO_GROUP_FLAGS_CONTAINER_SET,
    VFIO_GROUP_FLAGS_VIABLE,
    VFIO_NOIOMMU_IOMMU,
    VFIO_PCI_DEVID_NOT_OWNED,
    VFIO_PCI_DEVID_OWNED,
    VFIO_PCI_HOT_RESET_FLAG_DEV_ID,
    VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED,
    VFIO_TYPE1_IOMMU,
    VFIO_TYPE1v2_IOMMU,
    DependentDevice,
    DeviceInfo,
)

__all__ = [
    "IocAbi", "IOC_ABI", "IOC_ABI_GENERIC", "IOC_ABI_NONZERO_NONE", "IOC_ABI_PARISC",
    "abi_for_machine", "Field", "StructLayout", "Ioctl", "IOCTLS", "LAYOUTS",
    "CONSTANTS", "ErrnoMeaning", "ERRNO_MEANINGS", "meaning", "explain", "open_op_for",
    "pack_group_status", "unpack_group_status", "pack_set_container",
    "pack_device_name", "pack_device_info", "unpack_device_info",
    "pack_hot_reset_info", "unpack_hot_reset_info", "hot_reset_info_count",
    "pack_hot_reset", "pack_bind_iommufd", "unpack_bind_iommufd",
    "pack_attach_iommufd_pt", "unpack_attach_iommufd_pt", "pack_detach_iommufd_pt",
    "pack_iommu_destroy", "pack_ioas_alloc", "unpack_ioas_alloc",
]

# ---------------------------------------------------------------------------
# _IOC encoding
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IocAbi:
    """One architecture family's ``_IOC`` encoding (``asm/ioctl.h``).

    ``_IOC(dir, type, nr, size) = dir << DIRSHIFT | type << TYPESHIFT |
    nr << NRSHIFT | size << SIZESHIFT`` with NR at bit 0, TYPE at bit 8, SIZE
    at bit 16 and DIR above SIZE (``include/uapi/asm-generic/ioctl.h``).
    """

    name: str
    none: int
    write: int
    read: int
    sizebits: int
    dirbits: int
    nrbits: int = 8
    typebits: int = 8

    @property
    def nrshift(self) -> int:
        return 0

    @property
    def typeshift(self) -> int:
        return self.nrshift + self.nrbits

    @property
    def sizeshift(self) -> int:
        return self.typeshift + self.typebits

    @property
    def dirshift(self) -> int:
        return self.sizeshift + self.sizebits

    def ioc(self, dir: int, type: int | str, nr: int, size: int) -> int:
        """``_IOC(dir, type, nr, size)``; ``type`` may be a one-character str."""
        t = ord(type) if isinstance(type, str) else type
        for what, val, bits in (("nr", nr, self.nrbits), ("type", t, self.typebits),
                                ("size", size, self.sizebits), ("dir", dir, self.dirbits)):
            if not 0 <= val < (1 << bits):
                raise ValueError(f"_IOC {what}={val} does not fit in {bits} bits ({self.name})")
        return ((dir << self.dirshift) | (t << self.typeshift)
                | (nr << self.nrshift) | (size << self.sizeshift))

    def io(self, type: int | str, nr: int) -> int:
        """``_IO(type, nr)`` = ``_IOC(_IOC_NONE, type, nr, 0)``."""
        return self.ioc(self.none, type, nr, 0)

    def ior(self, type: int | str, nr: int, size: int) -> int:
        return self.ioc(self.read, type, nr, size)

    def iow(self, type: int | str, nr: int, size: int) -> int:
        return self.ioc(self.write, type, nr, size)

    def iowr(self, type: int | str, nr: int, size: int) -> int:
        return self.ioc(self.read | self.write, type, nr, size)


#: asm-generic (x86, arm, arm64, riscv, s390, loongarch, ...):
#: ``include/uapi/asm-generic/ioctl.h``.
IOC_ABI_GENERIC = IocAbi("asm-generic", none=0, write=1, read=2, sizebits=14, dirbits=2)
#: powerpc, mips, sparc, alpha: ``arch/{powerpc,mips,sparc,alpha}/include/uapi/asm/ioctl.h``
#: (``_IOC_NONE 1U``, ``_IOC_READ 2U``, ``_IOC_WRITE 4U``, 13 size bits, 3 dir bits).
IOC_ABI_NONZERO_NONE = IocAbi("powerpc/mips/sparc/alpha", none=1, write=4, read=2,
                              sizebits=13, dirbits=3)
#: parisc: asm-generic widths but ``_IOC_WRITE 2U`` / ``_IOC_READ 1U``
#: (``arch/parisc/include/uapi/asm/ioctl.h``); ``_IO`` equals asm-generic.
IOC_ABI_PARISC = IocAbi("parisc", none=0, write=2, read=1, sizebits=14, dirbits=2)


def abi_for_machine(machine: str) -> IocAbi:
    """The ``_IOC`` encoding for a ``platform.machine()`` / ``uname -m`` string."""
    m = machine.lower()
    if m.startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
        return IOC_ABI_NONZERO_NONE
    if m.startswith(("parisc", "hppa")):
        return IOC_ABI_PARISC
    return IOC_ABI_GENERIC


#: The running machine's encoding (read once at import).
IOC_ABI: IocAbi = abi_for_machine(platform.machine())

# ---------------------------------------------------------------------------
# Constants (values, not request numbers)
# ---------------------------------------------------------------------------

VFIO_TYPE = ";"            # uapi/vfio.h: #define VFIO_TYPE (';')
VFIO_BASE = 100            # uapi/vfio.h: #define VFIO_BASE 100
IOMMUFD_TYPE = ";"         # uapi/iommufd.h: #define IOMMUFD_TYPE (';')
IOMMUFD_CMD_BASE = 0x80    # uapi/iommufd.h: enum { IOMMUFD_CMD_BASE = 0x80, ... }

VFIO_DEVICE_FLAGS_CDX = 1 << 8
VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0   # ~6.17 (be2e70b96c3e); older kernels: flags must be 0
VFIO_DEVICE_ATTACH_PASID = 1 << 0      # ~6.13
VFIO_DEVICE_FEATURE_SET = 1 << 17
VFIO_DEVICE_FEATURE_PCI_VF_TOKEN = 0
VFIO_DEVICE_DETACH_PASID = 1 << 0      # ~6.13

#: Every uapi constant vfioctl relies on, by kernel name; ``since`` is the
#: first release (``kernel-vfio.md`` §2; 3.15, 6.5, 6.13 and 6.17 are
#: UNVERIFIED there) - the header test requires the macro in headers at least
#: that new.  The values shared with
#: :mod:`vfioctl.kernel.base` are taken from there, so the header test checks
#: base.py too.
CONSTANTS: Mapping[str, tuple[int, str]] = MappingProxyType({
    "VFIO_API_VERSION": (VFIO_API_VERSION, "3.6"),
    "VFIO_TYPE": (ord(VFIO_TYPE), "3.6"),
    "VFIO_BASE": (VFIO_BASE, "3.6"),
    "VFIO_TYPE1_IOMMU": (VFIO_TYPE1_IOMMU, "3.6"),
    "VFIO_TYPE1v2_IOMMU": (VFIO_TYPE1v2_IOMMU, "3.15"),
    "VFIO_NOIOMMU_IOMMU": (VFIO_NOIOMMU_IOMMU, "4.5"),
    "VFIO_GROUP_FLAGS_VIABLE": (VFIO_GROUP_FLAGS_VIABLE, "3.6"),
    "VFIO_GROUP_FLAGS_CONTAINER_SET": (VFIO_GROUP_FLAGS_CONTAINER_SET, "3.6"),
    "VFIO_DEVICE_FLAGS_RESET": (VFIO_DEVICE_FLAGS_RESET, "3.6"),
    "VFIO_DEVICE_FLAGS_PCI": (VFIO_DEVICE_FLAGS_PCI, "3.6"),
    "VFIO_DEVICE_FLAGS_CAPS": (VFIO_DEVICE_FLAGS_CAPS, "5.10"),
    "VFIO_DEVICE_FLAGS_CDX": (VFIO_DEVICE_FLAGS_CDX, "6.5"),
    "VFIO_PCI_HOT_RESET_FLAG_DEV_ID": (VFIO_PCI_HOT_RESET_FLAG_DEV_ID, "6.6"),
    "VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED": (VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, "6.6"),
    "VFIO_PCI_DEVID_OWNED": (VFIO_PCI_DEVID_OWNED, "6.6"),
    # uapi/vfio.h defines it as -1; the field is a __u32, so compare as (__u32)-1.
    "VFIO_PCI_DEVID_NOT_OWNED": (VFIO_PCI_DEVID_NOT_OWNED, "6.6"),
    "VFIO_DEVICE_BIND_FLAG_TOKEN": (VFIO_DEVICE_BIND_FLAG_TOKEN, "6.17"),
    "VFIO_DEVICE_FEATURE_SET": (VFIO_DEVICE_FEATURE_SET, "5.7"),
    "VFIO_DEVICE_FEATURE_PCI_VF_TOKEN": (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, "5.7"),
    "VFIO_DEVICE_ATTACH_PASID": (VFIO_DEVICE_ATTACH_PASID, "6.13"),
    "VFIO_DEVICE_DETACH_PASID": (VFIO_DEVICE_DETACH_PASID, "6.13"),
    "IOMMUFD_TYPE": (ord(IOMMUFD_TYPE), "6.2"),
    "IOMMUFD_CMD_BASE": (IOMMUFD_CMD_BASE, "6.2"),
})

# ---------------------------------------------------------------------------
# Struct layouts
# ---------------------------------------------------------------------------

_FMT_SIZE = {"B": 1, "H": 2, "I": 4, "i": 4, "Q": 8, "q": 8}


@dataclass(frozen=True)
class Field:
    """One C struct member.

    ``fmt`` is a :mod:`struct` code (``I`` = ``__u32``, ``i`` = ``__s32``,
    ``H`` = ``__u16``, ``B`` = ``__u8``, ``Q`` = ``__aligned_u64``); alignment
    is the natural one (the size), as for these uapi types.  ``aliases`` are
    other union members at the same offset (``devid`` for ``group_id``).
    ``since`` is the kernel release that added the member when it is younger
    than the struct; ``flag`` the uapi macro that arrived with it (the header
    test keys presence on it when the release is uncertain).  ``ext`` marks a
    member vfioctl does not send (not part of :attr:`StructLayout.struct`).
    """

    name: str
    fmt: str
    since: str | None = None
    flag: str | None = None
    ext: bool = False
    aliases: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return _FMT_SIZE[self.fmt]


def _build(fields: Iterable[Field]) -> tuple[str, dict[str, int], int]:
    """Native-order format with explicit C padding, member offsets, sizeof."""
    fmt, offsets, off, align = "=", {}, 0, 1
    for f in fields:
        a = f.size
        pad = (-off) % a
        if pad:
            fmt += f"{pad}x"
            off += pad
        offsets[f.name] = off
        for alias in f.aliases:
            offsets[alias] = off
        fmt += f.fmt
        off += f.size
        align = max(align, a)
    tail = (-off) % align
    if tail:
        fmt += f"{tail}x"
    return fmt, offsets, off + tail


@dataclass(frozen=True)
class StructLayout:
    """A uapi struct: members in order, the kernel's minimum, a flexible array.

    :attr:`struct` covers the members vfioctl sends (everything not ``ext``),
    :attr:`full_struct` every member known here.  ``minsz`` is the kernel's
    ``offsetofend(...)`` minimum for the size member (``argsz`` / ``size``);
    smaller gives -EINVAL.  ``flex`` names a trailing flexible array member and
    its element (another layout's ``c_name`` or a :mod:`struct` code).
    """

    c_name: str
    fields: tuple[Field, ...]
    minsz: int
    source: str
    size_field: str | None = "argsz"
    flex: tuple[str, str] | None = None
    _fmt: str = field(init=False, repr=False, compare=False)
    _full_fmt: str = field(init=False, repr=False, compare=False)
    _offsets: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _full_size: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fmt, _, _ = _build(f for f in self.fields if not f.ext)
        full_fmt, offsets, full_size = _build(self.fields)
        if self.flex:  # a flexible array member starts at sizeof(fixed part)
            offsets[self.flex[0]] = full_size
        object.__setattr__(self, "_fmt", fmt)
        object.__setattr__(self, "_full_fmt", full_fmt)
        object.__setattr__(self, "_offsets", MappingProxyType(offsets))
        object.__setattr__(self, "_full_size", full_size)

    @property
    def struct(self) -> struct.Struct:
        """What vfioctl packs (members not marked ``ext``)."""
        return struct.Struct(self._fmt)

    @property
    def full_struct(self) -> struct.Struct:
        return struct.Struct(self._full_fmt)

    @property
    def size(self) -> int:
        """Bytes vfioctl sends for the fixed part (= the ``argsz`` it sets)."""
        return struct.calcsize(self._fmt)

    @property
    def full_size(self) -> int:
        """``sizeof`` with every member known here (the newest header)."""
        return self._full_size

    @property
    def offsets(self) -> Mapping[str, int]:
        """``offsetof`` of every member (and union alias, and the flex array)."""
        return self._offsets

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if not f.ext)

    def size_with(self, present: Iterable[str]) -> int:
        """``sizeof`` of a header version that has exactly the members ``present``."""
        keep = set(present)
        return _build(f for f in self.fields if f.name in keep)[2]

    def pack(self, **values: int) -> bytearray:
        """A mutable buffer of :attr:`size` bytes; the size member defaults to it."""
        if self.size_field and self.size_field not in values:
            values[self.size_field] = self.size
        unknown = set(values) - set(self.field_names)
        if unknown:
            raise TypeError(f"{self.c_name}: unknown member(s) {sorted(unknown)}")
        return bytearray(self.struct.pack(*(values.get(n, 0) for n in self.field_names)))

    def unpack(self, buf: bytes | bytearray | memoryview) -> dict[str, int]:
        """Decode the members vfioctl sends from the start of ``buf``."""
        return dict(zip(self.field_names, self.struct.unpack_from(buf, 0)))


def _u32(*names: str) -> tuple[Field, ...]:
    return tuple(Field(n, "I") for n in names)


VFIO_GROUP_STATUS = StructLayout(
    "vfio_group_status", _u32("argsz", "flags"), minsz=8,
    source="uapi/vfio.h; group.c vfio_group_ioctl_get_status (minsz = offsetofend(flags))")

VFIO_DEVICE_INFO = StructLayout(
    "vfio_device_info",
    _u32("argsz", "flags", "num_regions", "num_irqs")
    + (Field("cap_offset", "I", since="5.10", flag="VFIO_DEVICE_FLAGS_CAPS"),
       Field("pad", "I", since="6.6")),
    minsz=16,
    source="uapi/vfio.h; vfio_pci_core.c vfio_pci_ioctl_get_info (minsz = offsetofend(num_irqs))")

VFIO_PCI_DEPENDENT_DEVICE = StructLayout(
    "vfio_pci_dependent_device",
    # union { __u32 group_id; __u32 devid; } - the devid member arrived in 6.6
    (Field("group_id", "I", aliases=("devid",)),
     Field("segment", "H"), Field("bus", "B"), Field("devfn", "B")),
    minsz=8, size_field=None,
    source="uapi/vfio.h (union group_id/devid since 6.6; devfn: PCI_SLOT/PCI_FUNC)")

VFIO_PCI_HOT_RESET_INFO = StructLayout(
    "vfio_pci_hot_reset_info", _u32("argsz", "flags", "count"), minsz=12,
    flex=("devices", "vfio_pci_dependent_device"),
    source="uapi/vfio.h; vfio_pci_core.c vfio_pci_ioctl_get_pci_hot_reset_info")

VFIO_PCI_HOT_RESET = StructLayout(
    "vfio_pci_hot_reset", _u32("argsz", "flags", "count"), minsz=12,
    flex=("group_fds", "i"),
    source="uapi/vfio.h; vfio_pci_core.c vfio_pci_ioctl_pci_hot_reset")

VFIO_DEVICE_BIND_IOMMUFD_S = StructLayout(
    "vfio_device_bind_iommufd",
    (Field("argsz", "I"), Field("flags", "I"), Field("iommufd", "i"), Field("out_devid", "I"),
     Field("token_uuid_ptr", "Q", since="6.17", flag="VFIO_DEVICE_BIND_FLAG_TOKEN", ext=True)),
    minsz=16,
    source="uapi/vfio.h; device_cdev.c vfio_df_ioctl_bind_iommufd (minsz = offsetofend(out_devid))")

VFIO_DEVICE_ATTACH_IOMMUFD_PT_S = StructLayout(
    "vfio_device_attach_iommufd_pt",
    (*_u32("argsz", "flags", "pt_id"),
     Field("pasid", "I", since="6.13", flag="VFIO_DEVICE_ATTACH_PASID", ext=True)),
    minsz=12,
    source="uapi/vfio.h; device_cdev.c vfio_df_ioctl_attach_pt (minsz = offsetofend(pt_id))")

VFIO_DEVICE_DETACH_IOMMUFD_PT_S = StructLayout(
    "vfio_device_detach_iommufd_pt",
    (*_u32("argsz", "flags"),
     Field("pasid", "I", since="6.13", flag="VFIO_DEVICE_DETACH_PASID", ext=True)),
    minsz=8,
    source="uapi/vfio.h; device_cdev.c vfio_df_ioctl_detach_pt (minsz = offsetofend(flags))")

VFIO_DEVICE_FEATURE_S = StructLayout(
    "vfio_device_feature", _u32("argsz", "flags"), minsz=8, flex=("data", "B"),
    source="uapi/vfio.h; vfio_main.c vfio_ioctl_device_feature (PCI_VF_TOKEN: a 16-byte uuid)")

IOMMU_DESTROY_S = StructLayout(
    "iommu_destroy", _u32("size", "id"), minsz=8, size_field="size",
    source="uapi/iommufd.h; iommufd/main.c iommufd_destroy")

IOMMU_IOAS_ALLOC_S = StructLayout(
    "iommu_ioas_alloc", _u32("size", "flags", "out_ioas_id"), minsz=12, size_field="size",
    source="uapi/iommufd.h; iommufd/ioas.c iommufd_ioas_alloc_ioctl")

#: Pointer-to-int argument of VFIO_GROUP_SET_CONTAINER
#: (``get_user(fd, (int __user *)arg)``, group.c).
SET_CONTAINER_ARG = struct.Struct("=i")

#: Every layout by C struct name.
LAYOUTS: Mapping[str, StructLayout] = MappingProxyType({
    lay.c_name: lay for lay in (
        VFIO_GROUP_STATUS, VFIO_DEVICE_INFO, VFIO_PCI_DEPENDENT_DEVICE, VFIO_PCI_HOT_RESET_INFO,
        VFIO_PCI_HOT_RESET, VFIO_DEVICE_BIND_IOMMUFD_S, VFIO_DEVICE_ATTACH_IOMMUFD_PT_S,
        VFIO_DEVICE_DETACH_IOMMUFD_PT_S, IOMMU_DESTROY_S, IOMMU_IOAS_ALLOC_S,
        VFIO_DEVICE_FEATURE_S)
})

# ---------------------------------------------------------------------------
# The ioctl table
# ---------------------------------------------------------------------------

# fd kinds an ioctl is issued on
FD_CONTAINER = "container"   # /dev/vfio/vfio
FD_GROUP = "group"           # /dev/vfio/N, /dev/vfio/noiommu-N
FD_DEVICE = "device"         # any device fd: from GET_DEVICE_FD, or a cdev after BIND
FD_CDEV = "cdev"             # /dev/vfio/devices/vfioX only
FD_IOMMUFD = "iommufd"       # /dev/iommu

# how the argument is passed (kernel-vfio.md §1.2, §1.4)
ARG_NONE = "none"            # no argument (pass int 0)
ARG_INT = "int"              # by value: `arg` itself is the integer (container.c)
ARG_INT_PTR = "int-ptr"      # pointer to an int (group.c get_user(fd, (int __user *)arg))
ARG_STRUCT = "struct"        # pointer to a struct starting with argsz/size
ARG_STRING = "string"        # pointer to a NUL-terminated string (strndup_user(arg, PAGE_SIZE))

# what the syscall returns on success
RET_ZERO = "zero"
RET_INT = "int"              # a value (API version, extension support)
RET_FD = "fd"                # a new file descriptor


@dataclass(frozen=True)
class Ioctl:
    """One row of the ioctl table.

    ``request`` is ``_IO(type, nr)`` for the running machine (:data:`IOC_ABI`);
    :meth:`request_for` gives it for another encoding.  ``error_readback``
    marks the ioctl whose buffer must be read after a failure (the ENOSPC
    ``count`` of GET_PCI_HOT_RESET_INFO), which decides how
    :mod:`vfioctl.kernel.real` passes the buffer to ``fcntl.ioctl``.
    """

    name: str
    nr: int
    fd: str
    arg: str
    returns: str
    since: str
    source: str
    layout: StructLayout | None = None
    type: str = VFIO_TYPE
    error_readback: bool = False

    @property
    def request(self) -> int:
        return IOC_ABI.io(self.type, self.nr)

    def request_for(self, abi: IocAbi) -> int:
        return abi.io(self.type, self.nr)


def _v(n: int) -> int:
    return VFIO_BASE + n


IOCTLS: Mapping[str, Ioctl] = MappingProxyType({i.name: i for i in (
    Ioctl("VFIO_GET_API_VERSION", _v(0), FD_CONTAINER, ARG_NONE, RET_INT, "3.6",
          "container.c vfio_fops_unl_ioctl: returns VFIO_API_VERSION (0)"),
    Ioctl("VFIO_CHECK_EXTENSION", _v(1), FD_CONTAINER, ARG_INT, RET_INT, "3.6",
          "container.c vfio_container_ioctl_check_extension(container, arg): 0 or >0"),
    Ioctl("VFIO_SET_IOMMU", _v(2), FD_CONTAINER, ARG_INT, RET_ZERO, "3.6",
          "container.c vfio_ioctl_set_iommu(container, arg)"),
    Ioctl("VFIO_GROUP_GET_STATUS", _v(3), FD_GROUP, ARG_STRUCT, RET_ZERO, "3.6",
          "group.c vfio_group_ioctl_get_status", VFIO_GROUP_STATUS),
    Ioctl("VFIO_GROUP_SET_CONTAINER", _v(4), FD_GROUP, ARG_INT_PTR, RET_ZERO, "3.6",
          "group.c vfio_group_ioctl_set_container: get_user(fd, (int __user *)arg)"),
    Ioctl("VFIO_GROUP_UNSET_CONTAINER", _v(5), FD_GROUP, ARG_NONE, RET_ZERO, "3.6",
          "group.c vfio_group_ioctl_unset_container"),
    Ioctl("VFIO_GROUP_GET_DEVICE_FD", _v(6), FD_GROUP, ARG_STRING, RET_FD, "3.6",
          "group.c vfio_group_ioctl_get_device_fd: strndup_user(arg, PAGE_SIZE), returns the fd"),
    Ioctl("VFIO_DEVICE_GET_INFO", _v(7), FD_DEVICE, ARG_STRUCT, RET_ZERO, "3.6",
          "vfio_pci_core.c vfio_pci_ioctl_get_info", VFIO_DEVICE_INFO),
    Ioctl("VFIO_DEVICE_RESET", _v(11), FD_DEVICE, ARG_NONE, RET_ZERO, "3.6",
          "vfio_pci_core.c vfio_pci_core_ioctl (VFIO_DEVICE_RESET): pci_try_reset_function"),
    Ioctl("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", _v(12), FD_DEVICE, ARG_STRUCT, RET_ZERO, "3.12",
          "vfio_pci_core.c vfio_pci_ioctl_get_pci_hot_reset_info",
          VFIO_PCI_HOT_RESET_INFO, error_readback=True),
    Ioctl("VFIO_DEVICE_PCI_HOT_RESET", _v(13), FD_DEVICE, ARG_STRUCT, RET_ZERO, "3.12",
          "vfio_pci_core.c vfio_pci_ioctl_pci_hot_reset / vfio_pci_dev_set_hot_reset",
          VFIO_PCI_HOT_RESET),
    Ioctl("VFIO_DEVICE_FEATURE", _v(17), FD_DEVICE, ARG_STRUCT, RET_ZERO, "5.7",
          "vfio_main.c vfio_ioctl_device_feature; vfio_pci_core.c vfio_pci_core_feature_token",
          VFIO_DEVICE_FEATURE_S),
    Ioctl("VFIO_DEVICE_BIND_IOMMUFD", _v(18), FD_CDEV, ARG_STRUCT, RET_ZERO, "6.6",
          "device_cdev.c vfio_df_ioctl_bind_iommufd", VFIO_DEVICE_BIND_IOMMUFD_S),
    Ioctl("VFIO_DEVICE_ATTACH_IOMMUFD_PT", _v(19), FD_CDEV, ARG_STRUCT, RET_ZERO, "6.6",
          "device_cdev.c vfio_df_ioctl_attach_pt", VFIO_DEVICE_ATTACH_IOMMUFD_PT_S),
    Ioctl("VFIO_DEVICE_DETACH_IOMMUFD_PT", _v(20), FD_CDEV, ARG_STRUCT, RET_ZERO, "6.6",
          "device_cdev.c vfio_df_ioctl_detach_pt", VFIO_DEVICE_DETACH_IOMMUFD_PT_S),
    Ioctl("IOMMU_DESTROY", IOMMUFD_CMD_BASE + 0, FD_IOMMUFD, ARG_STRUCT, RET_ZERO, "6.2",
          "iommufd/main.c iommufd_destroy", IOMMU_DESTROY_S, type=IOMMUFD_TYPE),
    Ioctl("IOMMU_IOAS_ALLOC", IOMMUFD_CMD_BASE + 1, FD_IOMMUFD, ARG_STRUCT, RET_ZERO, "6.2",
          "iommufd/ioas.c iommufd_ioas_alloc_ioctl", IOMMU_IOAS_ALLOC_S, type=IOMMUFD_TYPE),
)})

# ---------------------------------------------------------------------------
# Pack / unpack helpers (all return mutable bytearrays: fcntl.ioctl needs one
# to hand back the syscall's integer result, kernel-vfio.md §1.4)
# ---------------------------------------------------------------------------


def pack_group_status() -> bytearray:
    """``struct vfio_group_status {argsz = 8}``."""
    return VFIO_GROUP_STATUS.pack()


def unpack_group_status(buf: bytes | bytearray) -> int:
    """The ``flags`` (``VFIO_GROUP_FLAGS_VIABLE`` | ``_CONTAINER_SET``)."""
    return VFIO_GROUP_STATUS.unpack(buf)["flags"]


def pack_set_container(fd: int) -> bytearray:
    """The ``int`` VFIO_GROUP_SET_CONTAINER points at (a container or iommufd fd)."""
    return bytearray(SET_CONTAINER_ARG.pack(fd))


def pack_device_name(name: str) -> bytearray:
    """NUL-terminated device name for VFIO_GROUP_GET_DEVICE_FD.

    vfio-pci matches the full address (``0000:01:00.0``), optionally followed
    by ``" vf_token=<uuid>"`` (``vfio_pci_core.c`` ``vfio_pci_core_match``).
    The kernel reads at most PAGE_SIZE bytes including the NUL.
    """
    raw = name.encode()
    if b"\0" in raw:
        raise ValueError("device name contains a NUL byte")
    return bytearray(raw + b"\0")


def pack_device_info() -> bytearray:
    """``struct vfio_device_info {argsz = 24}``.

    24 is the 6.6+ ``sizeof``; the kernel only requires ``offsetofend(num_irqs)``
    = 16 and accepts any larger argsz (extra room is for a capability chain;
    when the chain does not fit it raises ``argsz`` and leaves ``cap_offset``
    0), so this is valid on every kernel.
    """
    return VFIO_DEVICE_INFO.pack()


def unpack_device_info(buf: bytes | bytearray) -> DeviceInfo:
    d = VFIO_DEVICE_INFO.unpack(buf)
    return DeviceInfo(flags=d["flags"], num_regions=d["num_regions"], num_irqs=d["num_irqs"])


def pack_hot_reset_info(capacity: int) -> bytearray:
    """``struct vfio_pci_hot_reset_info`` with room for ``capacity`` devices.

    ``argsz = 12 + 8 * capacity``; ``flags`` and ``count`` are outputs.  With
    too little room the kernel writes only the 12-byte header (``count`` =
    needed, ``flags`` = 0) and fails with ENOSPC (``vfio_pci_core.c``;
    observed, ``real-kernel-vm.md`` §5).
    """
    if capacity < 0:
        raise ValueError("capacity must be >= 0")
    argsz = HOT_RESET_INFO_HDR + DEPENDENT_DEVICE_SIZE * capacity
    buf = bytearray(argsz)
    VFIO_PCI_HOT_RESET_INFO.struct.pack_into(buf, 0, argsz, 0, 0)
    return buf


def hot_reset_info_count(buf: bytes | bytearray) -> int:
    """The ``count`` member (also valid after ENOSPC)."""
    return VFIO_PCI_HOT_RESET_INFO.unpack(buf)["count"]


def unpack_hot_reset_info(buf: bytes | bytearray) -> tuple[int, int, list[DependentDevice]]:
    """``(flags, count, devices)`` from a filled hot-reset-info buffer.

    ``devices`` holds ``count`` entries when they fit in ``argsz``; when they
    do not (the ENOSPC reply) it is empty, because the kernel wrote only the
    header.  Each entry's ``ident`` is a ``group_id`` unless ``flags`` has
    ``VFIO_PCI_HOT_RESET_FLAG_DEV_ID``, in which case it is a ``devid``
    (``VFIO_PCI_DEVID_OWNED`` 0, ``VFIO_PCI_DEVID_NOT_OWNED`` 0xFFFFFFFF, or a
    real devid).
    """
    hdr = VFIO_PCI_HOT_RESET_INFO.unpack(buf)
    argsz = min(hdr["argsz"], len(buf))
    room = max(0, (argsz - HOT_RESET_INFO_HDR) // DEPENDENT_DEVICE_SIZE)
    count = hdr["count"]
    devices: list[DependentDevice] = []
    if count <= room:
        dep = VFIO_PCI_DEPENDENT_DEVICE.struct
        for i in range(count):
            ident, segment, bus, devfn = dep.unpack_from(
                buf, HOT_RESET_INFO_HDR + i * DEPENDENT_DEVICE_SIZE)
            devices.append(DependentDevice(segment=segment, bus=bus, devfn=devfn, ident=ident))
    return hdr["flags"], count, devices


def pack_hot_reset(group_fds: Iterable[int]) -> bytearray:
    """``struct vfio_pci_hot_reset`` with ``group_fds[]``.

    Legacy (group-opened device): every affected group's fd.  cdev-opened
    device: an empty list, i.e. ``argsz = 12, count = 0`` - a non-empty array
    on a cdev device, or an empty one on a group device, is -EINVAL
    (``vfio_pci_core.c`` ``!!count == cdev_opened``).  ``flags`` must be 0.
    """
    fds = list(group_fds)
    n = len(fds)
    buf = bytearray(HOT_RESET_INFO_HDR + 4 * n)
    VFIO_PCI_HOT_RESET.struct.pack_into(buf, 0, len(buf), 0, n)
    if n:
        struct.pack_into(f"={n}i", buf, HOT_RESET_INFO_HDR, *fds)
    return buf


def pack_feature_vf_token(token: str) -> bytearray:
    """``struct vfio_device_feature {argsz 24, flags SET|PCI_VF_TOKEN}`` + the uuid."""
    import uuid
    raw = uuid.UUID(token).bytes
    return VFIO_DEVICE_FEATURE_S.pack(argsz=VFIO_DEVICE_FEATURE_S.size + len(raw),
                                      flags=VFIO_DEVICE_FEATURE_SET
                                      | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN) + bytearray(raw)


def pack_bind_iommufd(iommufd: int) -> bytearray:
    """``struct vfio_device_bind_iommufd {argsz = 16, flags = 0, iommufd}``.

    argsz 16 = ``offsetofend(out_devid)``, the kernel minimum, accepted by every
    kernel since 6.6.  The token-era code (be2e70b96c3e, ~6.17) adds
    ``token_uuid_ptr`` (sizeof 24) and reads it only with
    ``VFIO_DEVICE_BIND_FLAG_TOKEN``; sending 24 with ``flags = 0`` would also
    work there but buys nothing, and whether the final code copies more than
    16 bytes is UNVERIFIED (``kernel-vfio.md`` §5.3).  Nonzero ``flags`` is
    -EINVAL before the token flag existed.
    """
    return VFIO_DEVICE_BIND_IOMMUFD_S.pack(flags=0, iommufd=iommufd)


def unpack_bind_iommufd(buf: bytes | bytearray) -> int:
    """``out_devid`` (the device's id within the bound iommufd, > 0)."""
    return VFIO_DEVICE_BIND_IOMMUFD_S.unpack(buf)["out_devid"]


def pack_attach_iommufd_pt(pt_id: int) -> bytearray:
    """``struct vfio_device_attach_iommufd_pt {argsz = 12, flags = 0, pt_id}``."""
    return VFIO_DEVICE_ATTACH_IOMMUFD_PT_S.pack(pt_id=pt_id)


def unpack_attach_iommufd_pt(buf: bytes | bytearray) -> int:
    """``pt_id`` after the call: the attached HWPT (may be auto-created)."""
    return VFIO_DEVICE_ATTACH_IOMMUFD_PT_S.unpack(buf)["pt_id"]


def pack_detach_iommufd_pt() -> bytearray:
    """``struct vfio_device_detach_iommufd_pt {argsz = 8, flags = 0}``."""
    return VFIO_DEVICE_DETACH_IOMMUFD_PT_S.pack()


def pack_iommu_destroy(obj_id: int) -> bytearray:
    """``struct iommu_destroy {size = 8, id}``."""
    return IOMMU_DESTROY_S.pack(id=obj_id)


def pack_ioas_alloc() -> bytearray:
    """``struct iommu_ioas_alloc {size = 12, flags = 0}``."""
    return IOMMU_IOAS_ALLOC_S.pack()


def unpack_ioas_alloc(buf: bytes | bytearray) -> int:
    """``out_ioas_id``."""
    return IOMMU_IOAS_ALLOC_S.unpack(buf)["out_ioas_id"]


# ---------------------------------------------------------------------------
# Errno meanings
# ---------------------------------------------------------------------------

# KernelError.op of a failed open is "open"; the table keys opens by node kind.
OPEN_CONTAINER = "open container"   # /dev/vfio/vfio
OPEN_GROUP = "open group"           # /dev/vfio/N, /dev/vfio/noiommu-N
OPEN_CDEV = "open cdev"             # /dev/vfio/devices/vfioX
OPEN_IOMMUFD = "open iommufd"       # /dev/iommu
OPEN = "open"                       # any node (generic fallback)
CLOSE = "close"
#: Pseudo-op for meanings shared by every ioctl (looked up after the specific one).
ANY_IOCTL = "*ioctl*"

OPEN_OPS = (OPEN_CONTAINER, OPEN_GROUP, OPEN_CDEV, OPEN_IOMMUFD)


@dataclass(frozen=True)
class ErrnoMeaning:
    """What ``errno`` from ``op`` means, in admin terms, with its source.

    ``observed`` is True when the errno was seen on a real 6.12 kernel for the
    situation described (``real-kernel-vm.md`` §5).
    """

    op: str
    errno: int
    text: str
    source: str
    observed: bool = False

    @property
    def errname(self) -> str:
        return _errno.errorcode.get(self.errno, str(self.errno))


E = _errno
_M = ErrnoMeaning
_VM = "real-kernel-vm.md §5"

ERRNO_MEANINGS: tuple[ErrnoMeaning, ...] = (
    # -- opening nodes ------------------------------------------------------
    _M(OPEN_CONTAINER, E.ENOENT,
       "/dev/vfio/vfio does not exist: the vfio module is not loaded or the kernel has no "
       "legacy container (CONFIG_VFIO_CONTAINER=n; with CONFIG_IOMMUFD_VFIO_CONTAINER it may "
       "be provided by iommufd instead)",
       "container.c (misc device nodename \"vfio/vfio\"); iommufd/main.c"),
    _M(OPEN_CONTAINER, E.EACCES,
       "no permission to open /dev/vfio/vfio (the kernel creates it 0666; check local udev rules)",
       "container.c (S_IRUGO|S_IWUGO)"),
    _M(OPEN_GROUP, E.ENOENT,
       "no such group node: no device of this IOMMU group is bound to a vfio driver, or this is "
       "a noiommu group whose node is /dev/vfio/noiommu-N (opening /dev/vfio/N gives ENOENT)",
       "group.c (devnode \"vfio/%s\", \"noiommu-\" prefix); " + _VM, observed=True),
    _M(OPEN_GROUP, E.EBUSY,
       "the group is already open (only one open file per group: in another process such as "
       "QEMU, or earlier in this one), or (6.6+) a member device is bound through its cdev "
       "(/dev/vfio/devices/vfioX)",
       "group.c vfio_group_fops_open (\"Do we need multiple instances of the group open? Seems "
       "not.\"; cdev_device_open_cnt)"),
    _M(OPEN_GROUP, E.EPERM,
       "this is a noiommu group and the caller lacks CAP_SYS_RAWIO",
       "group.c vfio_group_fops_open (noiommu && !capable(CAP_SYS_RAWIO))"),
    _M(OPEN_GROUP, E.EACCES,
       "no permission to open the group node (default mode 0600; the admin must chown it to "
       "the user)",
       "group.c; vfio.rst"),
    _M(OPEN_GROUP, E.ENODEV,
       "the group is being torn down (its last vfio device is being unbound)",
       "group.c vfio_group_fops_open (group has no iommu_group / no drivers)"),
    _M(OPEN_CDEV, E.ENOENT,
       "no device cdev node: the device is not bound to a vfio driver, the kernel lacks "
       "CONFIG_VFIO_DEVICE_CDEV (needs IOMMUFD; no Debian kernel has it), or the device is "
       "noiommu (noiommu devices get no cdev)",
       "device_cdev.c vfio_init_device_cdev; vfio.rst; " + _VM, observed=True),
    _M(OPEN_CDEV, E.EACCES,
       "no permission to open the device cdev (default mode 0600)",
       "device_cdev.c (devnode \"vfio/devices/%s\")"),
    _M(OPEN_CDEV, E.ENODEV,
       "the device is being unregistered (unbind in progress)",
       "device_cdev.c vfio_device_fops_cdev_open (vfio_device_try_get_registration)"),
    _M(OPEN_IOMMUFD, E.ENOENT,
       "/dev/iommu does not exist: the kernel has no CONFIG_IOMMUFD (true of every Debian "
       "kernel package), so only the legacy group path is available",
       "iommufd/main.c; " + _VM, observed=True),
    _M(OPEN_IOMMUFD, E.EACCES,
       "no permission to open /dev/iommu (the kernel creates it 0660)",
       "iommufd/main.c (misc device mode 0660)"),
    _M(OPEN, E.ENOENT, "the node does not exist", "open(2)"),
    _M(OPEN, E.EACCES, "no permission to open the node", "open(2)"),
    # -- any ioctl -----------------------------------------------------------
    _M(ANY_IOCTL, E.ENOTTY,
       "the file does not implement this ioctl: it is not the kind of VFIO/iommufd file the "
       "call is for (e.g. ATTACH/DETACH on a group-obtained device fd), or the kernel predates "
       "the ioctl",
       "vfio_main.c vfio_device_fops_unl_ioctl -> vfio_pci_core_ioctl default -ENOTTY"),
    _M(ANY_IOCTL, E.EBADF, "the file descriptor is not open", "ioctl(2)"),
    _M(ANY_IOCTL, E.EFAULT,
       "the kernel could not read or write the argument buffer (a vfioctl bug)",
       "copy_from_user/copy_to_user"),
    _M(ANY_IOCTL, E.ENOMEM, "the kernel ran out of memory", "kmalloc"),
    # -- container -------------------------------------------------------------
    _M("VFIO_SET_IOMMU", E.EINVAL,
       "no group is attached to the container yet, or an IOMMU driver is already set",
       "container.c vfio_ioctl_set_iommu (list_empty(group_list) || iommu_driver)"),
    _M("VFIO_SET_IOMMU", E.ENODEV,
       "no loaded IOMMU driver supports this IOMMU type for this container (check "
       "VFIO_CHECK_EXTENSION; noiommu containers accept only VFIO_NOIOMMU_IOMMU, others never it)",
       "container.c vfio_ioctl_set_iommu (ret = -ENODEV, vfio_iommu_driver_allowed)"),
    _M("VFIO_SET_IOMMU", E.EPERM,
       "VFIO_NOIOMMU_IOMMU needs CAP_SYS_RAWIO",
       "container.c vfio_noiommu_open"),
    # -- group -----------------------------------------------------------------
    _M("VFIO_GROUP_GET_STATUS", E.ENODEV,
       "the group is being torn down (no IOMMU group behind it any more)",
       "group.c vfio_group_ioctl_get_status"),
    _M("VFIO_GROUP_GET_STATUS", E.EINVAL, "argsz below 8 (a vfioctl bug)",
       "group.c vfio_group_ioctl_get_status (minsz)"),
    _M("VFIO_GROUP_SET_CONTAINER", E.EINVAL,
       "the group already has a container (or iommufd) set, or the fd is negative",
       "group.c vfio_group_ioctl_set_container"),
    _M("VFIO_GROUP_SET_CONTAINER", E.EBADF, "the container fd is not open",
       "group.c vfio_group_ioctl_set_container (fdget)"),
    _M("VFIO_GROUP_SET_CONTAINER", E.EBADFD,
       "the fd is neither a VFIO container (/dev/vfio/vfio) nor an iommufd (/dev/iommu)",
       "group.c vfio_group_ioctl_set_container"),
    _M("VFIO_GROUP_SET_CONTAINER", E.EPERM,
       "the group's DMA is already owned: a host (DMA-API) driver is bound to a member of the "
       "group (it is not VIABLE), or it is a noiommu group without CAP_SYS_RAWIO, or noiommu and "
       "IOMMU-backed groups were mixed in one container",
       "container.c vfio_container_attach_group (iommu_group_claim_dma_owner)"),
    _M("VFIO_GROUP_UNSET_CONTAINER", E.EINVAL, "the group has no container set",
       "group.c vfio_group_ioctl_unset_container"),
    _M("VFIO_GROUP_UNSET_CONTAINER", E.EBUSY, "device fds obtained from the group are still open",
       "group.c vfio_group_ioctl_unset_container (container_users != 1)"),
    _M("VFIO_GROUP_GET_DEVICE_FD", E.EINVAL,
       "the group is not ready: no container with an IOMMU driver set (SET_CONTAINER then "
       "SET_IOMMU must come first) or the group is not viable; or the name has an unknown "
       "suffix",
       "group.c vfio_device_group_use_iommu; vfio_pci_core.c vfio_pci_core_match"),
    _M("VFIO_GROUP_GET_DEVICE_FD", E.ENODEV,
       "no device of this group has that name (vfio-pci wants the full address, "
       "e.g. 0000:01:00.0)",
       "group.c vfio_device_get_from_name"),
    _M("VFIO_GROUP_GET_DEVICE_FD", E.EPERM,
       "noiommu device and the caller lacks CAP_SYS_RAWIO",
       "group.c vfio_group_ioctl_get_device_fd"),
    _M("VFIO_GROUP_GET_DEVICE_FD", E.EACCES,
       "SR-IOV VF token missing or wrong (the PF is owned by a vfio-pci user who set a token; "
       "pass \" vf_token=<uuid>\" after the address)",
       "vfio_pci_core.c vfio_pci_validate_vf_token"),
    _M("VFIO_GROUP_GET_DEVICE_FD", E.EAGAIN,
       "opening the device runs a function reset, and the device lock was contended; retry",
       "vfio_pci_core.c vfio_pci_core_enable (pci_try_reset_function -EAGAIN)"),
    # -- cdev / iommufd ----------------------------------------------------------
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.EINVAL,
       "the device is already open through another file (another cdev fd or the group path: "
       "the cdev path allows one opener), or this fd is already bound, or the fd came from a "
       "group, or bad argsz/flags/iommufd",
       "device_cdev.c vfio_df_ioctl_bind_iommufd; vfio_main.c vfio_df_open (\"Only the group "
       "path allows the device to be opened multiple times\"); selftest repeated_bind_fails"),
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.EBUSY,
       "the device's legacy group node (/dev/vfio/N) is open, by anyone; or a non-default "
       "domain/PASID is attached to the group",
       "group.c vfio_device_block_group; iommufd/device.c iommufd_device_bind"),
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.EPERM,
       "the IOMMU group's DMA is owned by someone else: another iommufd has a device of the same "
       "group bound, or a host driver is bound to a group member; or the platform cannot isolate "
       "MSIs and iommufd.allow_unsafe_interrupts is off",
       "iommufd/device.c iommufd_device_bind (iommu_device_claim_dma_owner, MSI check); " + _VM,
       observed=True),
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.EBADF, "the iommufd is not an open fd",
       "device_cdev.c vfio_df_ioctl_bind_iommufd (iommufd_ctx_from_fd)"),
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.EBADFD, "the fd passed as iommufd is not /dev/iommu",
       "iommufd/main.c iommufd_ctx_from_fd"),
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.ENODEV, "the device has no IOMMU group",
       "iommufd/device.c iommufd_device_bind"),
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.EACCES,
       "SR-IOV VF token missing or wrong (the token can be passed only on ~6.17+ kernels)",
       "device_cdev.c (VFIO_DEVICE_BIND_FLAG_TOKEN, be2e70b96c3e); vfio_pci_core.c"),
    _M("VFIO_DEVICE_BIND_IOMMUFD", E.EAGAIN,
       "binding opens the device, which runs a function reset, and the device lock was "
       "contended; retry",
       "vfio_pci_core.c vfio_pci_core_enable"),
    _M("VFIO_DEVICE_ATTACH_IOMMUFD_PT", E.EINVAL,
       "the cdev is not bound yet, or the IOAS/HWPT cannot be used (a device of the same IOMMU "
       "group is attached to a different IOAS), or bad argsz/flags",
       "device_cdev.c vfio_df_ioctl_attach_pt; " + _VM, observed=True),
    _M("VFIO_DEVICE_ATTACH_IOMMUFD_PT", E.ENOENT,
       "no IOAS or HWPT with that id in the bound iommufd (UNVERIFIED errno: the selftest only "
       "asserts failure)",
       "iommufd/main.c iommufd_get_object; selftest attach_invalid_pt_fails"),
    _M("VFIO_DEVICE_ATTACH_IOMMUFD_PT", E.EBUSY,
       "the device or a group sibling is being reset",
       "uapi/vfio.h (newest) ATTACH comment"),
    _M("VFIO_DEVICE_DETACH_IOMMUFD_PT", E.EINVAL, "the cdev is not bound yet, or bad argsz/flags",
       "device_cdev.c vfio_df_ioctl_detach_pt"),
    _M("IOMMU_DESTROY", E.ENOENT, "no object with that id", "iommufd/main.c iommufd_destroy"),
    _M("IOMMU_DESTROY", E.EBUSY,
       "the object is still in use (UNVERIFIED errno)", "iommufd/main.c iommufd_destroy"),
    _M("IOMMU_DESTROY", E.EINVAL, "size below the minimum (a vfioctl bug)",
       "iommufd/main.c iommufd_fops_ioctl"),
    _M("IOMMU_IOAS_ALLOC", E.EINVAL, "size below the minimum or nonzero flags (a vfioctl bug)",
       "iommufd/main.c iommufd_fops_ioctl; iommufd/ioas.c"),
    _M("IOMMU_IOAS_ALLOC", E.E2BIG,
       "the struct is larger than this kernel knows and the extra bytes are not zero",
       "iommufd/main.c iommufd_fops_ioctl (copy_struct_from_user)"),
    # -- device ----------------------------------------------------------------
    _M("VFIO_DEVICE_GET_INFO", E.EINVAL,
       "the device cdev is not bound to an iommufd yet (device access is blocked until "
       "VFIO_DEVICE_BIND_IOMMUFD), or argsz below 16",
       "device_cdev.c (access_granted); vfio_pci_core.c vfio_pci_ioctl_get_info; " + _VM,
       observed=True),
    _M("VFIO_DEVICE_RESET", E.EINVAL,
       "the device has no working function reset: the reset tried when it was opened failed "
       "(no FLR/PM/bus method usable - typical for multifunction devices sharing a bus; use a "
       "hot reset), or the cdev is not bound",
       "vfio_pci_core.c (reset_works); " + _VM, observed=True),
    _M("VFIO_DEVICE_RESET", E.EAGAIN,
       "the device lock was contended (another reset or config access in progress); retry",
       "vfio_pci_core.c -> pci_try_reset_function"),
    _M("VFIO_DEVICE_RESET", E.ENOTTY,
       "no reset method is usable any more (methods may have been removed via "
       "/sys/bus/pci/devices/BDF/reset_method after open)",
       "vfio_pci_core.c -> pci_try_reset_function"),
    _M("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", E.ENOSPC,
       "the buffer has no room for every affected device; the kernel wrote the needed count "
       "(flags stay 0) - re-issue with that capacity",
       "vfio_pci_core.c vfio_pci_ioctl_get_pci_hot_reset_info; " + _VM, observed=True),
    _M("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", E.ENODEV,
       "neither a slot nor a bus reset is possible for this device (it is on a root bus, e.g. a "
       "root-complex integrated endpoint)",
       "vfio_pci_core.c (pci_probe_reset_slot / pci_probe_reset_bus); " + _VM, observed=True),
    _M("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", E.EINVAL,
       "the device cdev is not bound to an iommufd yet, or argsz below 12",
       "vfio_pci_core.c; device_cdev.c (access_granted); " + _VM, observed=True),
    _M("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", E.EPERM,
       "legacy group path: a device in the reset scope has no IOMMU group (\"Cannot reset "
       "non-isolated devices\"; e.g. a noiommu neighbour not bound to vfio-pci)",
       "vfio_pci_core.c vfio_pci_fill_devs"),
    _M("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", E.ERANGE,
       "the kernel counted no affected devices (should not happen; it also WARNs)",
       "vfio_pci_core.c (WARN_ON(!count))"),
    _M("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", E.EAGAIN,
       "the PCI topology changed while the list was being filled; retry",
       "vfio_pci_core.c vfio_pci_fill_devs"),
    _M("VFIO_DEVICE_PCI_HOT_RESET", E.EINVAL,
       "not every function in the reset scope is a vfio-pci member of the device's dev_set "
       "(one is unbound, on another driver, or on a subordinate bus), or ownership of every "
       "affected group/device was not proven (a group fd missing, or in cdev mode a device not "
       "bound to this iommufd), or the fd array mode does not match how the device was opened "
       "(group-opened needs group fds, cdev-opened needs an empty array), or a passed fd is not "
       "a VFIO group, or more fds than affected devices",
       "vfio_pci_core.c vfio_pci_ioctl_pci_hot_reset / vfio_pci_dev_set_resettable / "
       "vfio_pci_dev_set_hot_reset; " + _VM, observed=True),
    _M("VFIO_DEVICE_PCI_HOT_RESET", E.ENODEV,
       "neither a slot nor a bus reset is possible for this device (it is on a root bus)",
       "vfio_pci_core.c (pci_probe_reset_slot / pci_probe_reset_bus); " + _VM, observed=True),
    _M("VFIO_DEVICE_PCI_HOT_RESET", E.EBADF,
       "one of the group fds passed is not open",
       "vfio_pci_core.c vfio_pci_ioctl_pci_hot_reset_groups (fget); " + _VM, observed=True),
    _M("VFIO_DEVICE_PCI_HOT_RESET", E.EBUSY,
       "a device in the set is in use right now (its memory_lock is held, e.g. the owner is "
       "accessing its BARs); nothing was reset",
       "vfio_pci_core.c vfio_pci_dev_set_hot_reset (down_write_trylock(memory_lock))"),
    _M("VFIO_DEVICE_PCI_HOT_RESET", E.EAGAIN,
       "the PCI core could not lock every device on the bus/slot (contention); retry",
       "drivers/pci/pci.c pci_reset_bus (trylock; UNVERIFIED in the reference)"),
    _M("VFIO_DEVICE_PCI_HOT_RESET", E.ENOTTY,
       "the reset ran but the kernel reports failure (e.g. the link did not come back: \"Data "
       "Link Layer Link Active not set\"); check dmesg and the device state",
       "drivers/pci/pci.c pci_reset_bus -> pci_bridge_wait_for_secondary_bus; " + _VM,
       observed=True),
)

_BY_KEY: Mapping[tuple[str, int], ErrnoMeaning] = MappingProxyType(
    {(m.op, m.errno): m for m in ERRNO_MEANINGS})


def _errnum(err: int | str) -> int:
    if isinstance(err, str):
        try:
            return getattr(_errno, err)
        except AttributeError:
            raise ValueError(f"unknown errno name {err!r}") from None
    return err


def open_op_for(node: str) -> str:
    """The ``OPEN_*`` kind of a node path (``/dev/vfio/12`` -> ``"open group"``).

    ``/dev/vfio/vfio`` container, ``/dev/iommu`` iommufd,
    ``/dev/vfio/devices/*`` (and QEMU's ``/dev/char/M:m`` fallback) cdev, any
    other ``/dev/vfio/*`` a group (``N`` or ``noiommu-N``); else plain
    ``"open"``.
    """
    n = "/" + node.strip().lstrip("/")
    if n == "/dev/vfio/vfio":
        return OPEN_CONTAINER
    if n == "/dev/iommu":
        return OPEN_IOMMUFD
    if n.startswith(("/dev/vfio/devices/", "/dev/char/")):
        return OPEN_CDEV
    if n.startswith("/dev/vfio/") and n.count("/") == 3:
        return OPEN_GROUP
    return OPEN


def meaning(op: str, err: int | str, target: str = "") -> ErrnoMeaning | None:
    """The :class:`ErrnoMeaning` for ``(op, err)``.

    ``op`` is an ioctl name, ``"open"`` (with the node path as ``target``) or
    an ``OPEN_*`` name; ``err`` an errno number or name (``"EBUSY"``).  Falls
    back to the meanings shared by every ioctl (ENOTTY, EBADF, EFAULT,
    ENOMEM) for ioctls, and to the generic ``open`` row for opens.  ``None``
    when nothing is known.
    """
    n = _errnum(err)
    if op == OPEN and target:
        op = open_op_for(target)
    hit = _BY_KEY.get((op, n))
    if hit is not None:
        return hit
    if op in IOCTLS:
        return _BY_KEY.get((ANY_IOCTL, n))
    if op in OPEN_OPS:
        return _BY_KEY.get((OPEN, n))
    return None


def explain(op: str, err: int | str, target: str = "") -> str | None:
    """Admin-facing meaning of ``err`` from ``op``, or ``None``; see :func:`meaning`.

    Typical use: ``explain(e.op, e.errno, e.target)`` for a ``KernelError`` ``e``.
    """
    m = meaning(op, err, target)
    return m.text if m is not None else None
