"""The scenario table: (topology role, access mode, ownership) -> kernel result.

One table, run unchanged by the simulator over fixture trees (tests/test_sim_
conformance.py) and by the real kernel inside the QEMU guest (tests/vm).
``result`` is ``"ok"`` or ``(op, errno)`` of the first failing call
(``op`` is the kernel call: ``open``, or the ioctl name); ``info`` the
expected VFIO_DEVICE_GET_PCI_HOT_RESET_INFO reply: ``(flags, [(role, what)])``
where ``what`` is ``"group"`` (group mode: the role's iommu_group) or a devid
kind (``self``, ``bound``, ``owned``, ``not-owned``).  ``kernels`` says on
which boots a row applies: ``iommu`` (intel-iommu) and/or ``noiommu``.

Sources for every expectation: kernel-vfio.md §3–§5 and the observed tables
of real-kernel-vm.md §5.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Row:
    id: str
    proc: str                     # procedure in procedures.py
    role: str
    mode: str = "group"           # group | iommufd
    setup: tuple = ()             # ("unbind", role) / ("hold-group", role) / ("hold-cdev", role)
    result: object = "ok"
    info: tuple | None = None     # (flags, ((role, what), ...)) or errno string
    kernels: tuple = ("iommu",)
    extra: dict = field(default_factory=dict)


G = "group"
I = "iommufd"
BOTH = ("iommu", "noiommu")

ROWS = [
    # -- hot reset through the full vfioctl sequence (ops.hotreset) --
    Row("mf-group", "hot_reset", "mf0", G, info=(0, (("mf0", "group"), ("mf1", "group"))),
        kernels=BOTH),
    Row("mf-iommufd", "hot_reset", "mf0", I, info=(3, (("mf0", "self"), ("mf1", "owned")))),
    Row("alone-group", "hot_reset", "alone", G, info=(0, (("alone", "group"),)), kernels=BOTH),
    Row("alone-iommufd", "hot_reset", "alone", I, info=(3, (("alone", "self"),))),
    Row("bridged-group", "hot_reset", "bridged", G,
        info=(0, (("bridged", "group"), ("bridged2", "group"))), kernels=BOTH),
    Row("bridged-iommufd", "hot_reset", "bridged", I,
        info=(3, (("bridged", "self"), ("bridged2", "owned")))),
    Row("nohotplug-group", "hot_reset", "nohotplug", G, info=(0, (("nohotplug", "group"),))),
    Row("switched-group", "hot_reset", "switched", G, info=(0, (("switched", "group"),)),
        kernels=BOTH),
    Row("switched-iommufd", "hot_reset", "switched", I, info=(3, (("switched", "self"),))),
    Row("rootbus-group", "hot_reset", "rootbus", G,
        result=("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "ENODEV"), info="ENODEV", kernels=BOTH),
    Row("rootbus-iommufd", "hot_reset", "rootbus", I,
        result=("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "ENODEV"), info="ENODEV"),
    # -- refusals --
    Row("unbound-sibling-group", "hot_reset", "mf0", G, setup=(("unbind", "mf1"),),
        result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"),
        info=(0, (("mf0", "group"), ("mf1", "group")))),
    Row("unbound-sibling-iommufd", "hot_reset", "mf0", I, setup=(("unbind", "mf1"),),
        result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"),
        info=(1, (("mf0", "self"), ("mf1", "not-owned")))),
    Row("held-group", "hot_reset", "mf0", G, setup=(("hold-group", "mf0"),),
        result=("open", "EBUSY")),
    Row("held-group-iommufd", "hot_reset", "mf0", I, setup=(("hold-group", "mf0"),),
        result=("VFIO_DEVICE_BIND_IOMMUFD", "EBUSY")),
    Row("held-cdev-iommufd", "hot_reset", "mf0", I, setup=(("hold-bound-cdev", "mf0"),),
        result=("VFIO_DEVICE_BIND_IOMMUFD", "EINVAL")),
    Row("held-sibling-cdev-iommufd", "hot_reset", "mf0", I, setup=(("hold-bound-cdev", "mf1"),),
        result=("VFIO_DEVICE_BIND_IOMMUFD", "EPERM")),
    Row("held-cdev-group", "hot_reset", "mf0", G, setup=(("hold-bound-cdev", "mf1"),),
        result=("open", "EBUSY")),
    # -- the ioctl's own argument rules (low level) --
    Row("zero-length-on-group", "reset_with", "mf0", G, result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"),
        extra={"fds": "none"}, kernels=BOTH),
    Row("fd-array-on-cdev", "reset_with", "mf0", I, result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"),
        extra={"fds": "iommufd"}),
    Row("container-as-group", "reset_with", "mf0", G,
        result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"), extra={"fds": "container"}),
    Row("closed-fd", "reset_with", "mf0", G, result=("VFIO_DEVICE_PCI_HOT_RESET", "EBADF"),
        extra={"fds": "closed"}, kernels=BOTH),
    Row("too-many-fds", "reset_with", "mf0", G, result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"),
        extra={"fds": "own*8"}),
    Row("unrelated-group-only", "reset_with", "mf0", G,
        result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"), extra={"fds": "other:alone"}),
    Row("own-plus-unrelated", "reset_with", "mf0", G, extra={"fds": "own+other:alone"}),
    Row("rootbus-nonempty-fds", "reset_with", "rootbus", G,
        result=("VFIO_DEVICE_PCI_HOT_RESET", "ENODEV"), extra={"fds": "own"}, kernels=BOTH),
    Row("rootbus-zero-fds", "reset_with", "rootbus", G,
        result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"), extra={"fds": "none"}),
    Row("noiommu-own-group-only", "reset_with", "mf0", G,
        result=("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"), extra={"fds": "own"},
        kernels=("noiommu",)),
    Row("enospc-sizing", "info_enospc", "mf0", G, extra={"count": 2}, kernels=BOTH,
        result=("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "ENOSPC")),
    Row("enospc-sizing-iommufd", "info_enospc", "mf0", I, extra={"count": 2},
        result=("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "ENOSPC")),
    Row("cdev-unbound-info", "cdev_unbound_info", "mf0", I,
        result=("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "EINVAL")),
    Row("bind-sibling-second-ctx", "two_contexts", "mf0", I,
        result=("VFIO_DEVICE_BIND_IOMMUFD", "EPERM")),
    Row("both-bound-one-ctx", "both_bound", "mf0", I,
        info=(3, (("mf0", "self"), ("mf1", "bound")))),
    Row("iommufd-on-noiommu", "hot_reset", "mf0", I, result=("open", "ENOENT"),
        kernels=("noiommu",)),
    # -- function reset (VFIO_DEVICE_RESET) --
    Row("function-reset-alone", "function_reset", "alone", G, extra={"reset_flag": True},
        kernels=BOTH),
    Row("function-reset-multifunction", "function_reset", "mf0", G,
        result=("VFIO_DEVICE_RESET", "EINVAL"), extra={"reset_flag": False}, kernels=BOTH),
    Row("function-reset-alone-iommufd", "function_reset", "alone", I, extra={"reset_flag": True}),
]
