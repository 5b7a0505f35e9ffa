"""The scenario table: (topology role, access mode, ownership) -> kernel result.

One table, run unchanged by the simulator over fixture trees (tests/test_sim_
conformance.py) and by the real kernel inside the QEMU guest (tests/vm).
``result`` is ``"ok"`` or ``(op, errno)`` of the first failing call
(``op`` is the kernel call: ``open``, or the ioctl name); ``info`` the
expected VFIO_DEVICE_GET_PCI_HOT_RESET_INFO reply: ``(flags, [(role, what)])``
where ``what`` is ``"group"`` (group mode: the role's iommu_group) or a devid
kind (``self``, ``bound``, ``owned``, ``not-owned``).  ``kernels`` says on
which boots a row applies: ``iommu`` (intel-iommu) and/or ``noiommu``, or the
SR-IOV boots ``sriov-vfio`` (igb PFs on vfio-pci, VFs created through
``vfio_pci.enable_sriov``) and ``sriov-igb`` (PFs on the igb driver, VFs made
by it and handed to vfio-pci).  ``since``/``until`` bound the kernel
releases a row applies to (``"6.17"``: 6.17 and later / up to 6.16): the
same scenario's other answer on other kernels is another row.

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
    since: str | None = None      # first kernel release the row applies to ("6.17")
    until: str | None = None      # last one ("6.16")


def _ver(s: str | None) -> tuple[int, int] | None:
    import re
    m = re.match(r"^(\d+)\.(\d+)", s or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


#: boots that run another kind's rows in one access mode: Debian's stock kernel
#: (VFIO as modules, no IOMMUFD) runs the intel-iommu rows of the group path
#: (plus the rows naming it, for what it answers differently)
#: (base kind, access mode, rows whose answer differs there: replaced by own rows)
DERIVED = {"iommu-stock": ("iommu", "group", {"bridged-group"})}


def applies(row: Row, kind: str, release: str | None) -> bool:
    """Whether ``row`` runs on a boot of ``kind`` with kernel ``release``."""
    base = DERIVED.get(kind)
    if base and kind not in row.kernels:
        if base[0] not in row.kernels or row.mode != base[1] or row.id in base[2]:
            return False
        if any(action == "hold-bound-cdev" for action, _ in row.setup):
            return False          # needs a cdev, which that kernel does not have
    elif kind not in row.kernels:
        return False
    v = _ver(release)
    if v is None:
        return row.since is None and row.until is None
    if row.since and v < _ver(row.since):
        return False
    if row.until and v > _ver(row.until):
        return False
    return True


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


# -- SR-IOV (igb PFs and VFs; sriov-real-kernel.md §3, re-observed in tests/vm/test_sriov.py) --
SV = ("sriov-vfio",)
SB = ("sriov-igb",)
GD = "VFIO_GROUP_GET_DEVICE_FD"
BIND = "VFIO_DEVICE_BIND_IOMMUFD"
HR = "VFIO_DEVICE_PCI_HOT_RESET"
INFO = "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"

ROWS += [
    # VF tokens: the PF is on vfio-pci, its token is the random one until a row sets it
    Row("vf-group-no-token", "vf_open", "vf-slot", G, result=(GD, "EACCES"), kernels=SV,
        extra={"token": "none"}),
    Row("vf-group-null-token", "vf_open", "vf-slot", G, result=(GD, "EACCES"), kernels=SV,
        extra={"token": "null"}),
    Row("vf-group-wrong-token", "vf_open", "vf-slot", G, result=(GD, "EACCES"), kernels=SV,
        extra={"token": "wrong"}),
    Row("vf-group-token", "vf_open", "vf-slot", G, kernels=SV, extra={"token": "set"}),
    Row("vf-cdev-no-token", "vf_open", "vf-slot", I, kernels=SV, extra={"token": "none"},
        until="6.16"),
    Row("vf-cdev-no-token-checked", "vf_open", "vf-slot", I, result=(BIND, "EACCES"), kernels=SV,
        extra={"token": "none"}, since="6.17"),
    Row("vf-cdev-token-unknown-flag", "vf_open", "vf-slot", I, result=(BIND, "EINVAL"),
        kernels=SV, extra={"token": "set"}, until="6.16"),
    Row("vf-cdev-token", "vf_open", "vf-slot", I, kernels=SV, extra={"token": "set"},
        since="6.17"),
    Row("pf-open-vf-in-use-no-token", "pf_while_vf_open", "pf-slot", G, result=(GD, "EACCES"),
        kernels=SV, extra={"token": "none"}),
    Row("pf-open-vf-in-use-token", "pf_while_vf_open", "pf-slot", G, kernels=SV,
        extra={"token": "set"}),
    Row("vf-token-feature-on-vf", "feature_on_vf", "vf-slot", G,
        result=("VFIO_DEVICE_FEATURE", "ENOTTY"), kernels=SV),
    # INFO and HOT_RESET on a PF in each position (vfioctl's own sequence)
    # (a slot reset lists only the slot's device number: the VFs are reset unnamed)
    Row("pf-slot-group", "hot_reset", "pf-slot", G, info=(0, (("pf-slot", "group"),)),
        kernels=SV, until="7.0"),
    Row("pf-slot-iommufd", "hot_reset", "pf-slot", I, info=(3, (("pf-slot", "self"),)),
        kernels=SV, until="7.0"),
    # 7.1: pciehp slots are bus-wide (commit 102c8b26b54e; seen on 7.3.4), so the
    # slot reset lists the PF's VFs, each alone in its dev_set: refused while
    # they exist (model/topology.py)
    Row("pf-slot-group-bus-wide", "hot_reset", "pf-slot", G, result=(HR, "EINVAL"),
        info=(0, (("pf-slot", "group"), ("vf-slot", "group"), ("vf-slot2", "group"))),
        kernels=SV, since="7.1"),
    Row("pf-slot-iommufd-bus-wide", "hot_reset", "pf-slot", I, result=(HR, "EINVAL"),
        info=(1, (("pf-slot", "self"), ("vf-slot", "not-owned"), ("vf-slot2", "not-owned"))),
        kernels=SV, since="7.1"),
    Row("pf-bus-group", "hot_reset", "pf-bus", G, result=(HR, "EINVAL"),
        info=(0, (("pf-bus", "group"), ("vf-bus", "group"), ("vf-bus2", "group"))), kernels=SV),
    Row("pf-bus-iommufd", "hot_reset", "pf-bus", I, result=(HR, "EINVAL"),
        info=(1, (("pf-bus", "self"), ("vf-bus", "not-owned"), ("vf-bus2", "not-owned"))),
        kernels=SV),
    Row("pf-root-group", "hot_reset", "pf-root", G, result=(INFO, "ENODEV"), info="ENODEV",
        kernels=SV),
    Row("pf-root-iommufd", "hot_reset", "pf-root", I, result=(INFO, "ENODEV"), info="ENODEV",
        kernels=SV),
    # ... and on a VF: vfioctl has no token, the group path stops at the open
    Row("vf-slot-group", "hot_reset", "vf-slot", G, result=(GD, "EACCES"), kernels=SV),
    Row("vf-slot-iommufd", "hot_reset", "vf-slot", I, result=(HR, "EINVAL"),
        info=(1, (("pf-slot", "not-owned"), ("vf-slot", "self"), ("vf-slot2", "not-owned"))),
        kernels=SV, until="6.16"),
    Row("vf-bus-iommufd", "hot_reset", "vf-bus", I, result=(HR, "EINVAL"),
        info=(1, (("pf-bus", "not-owned"), ("vf-bus", "self"), ("vf-bus2", "not-owned"))),
        kernels=SV, until="6.16"),
    Row("vf-root-iommufd", "hot_reset", "vf-root", I, result=(INFO, "ENODEV"), info="ENODEV",
        kernels=SV, until="6.16"),
    # 6.17+: the cdev path checks the token too, and vfioctl's sequence passes none
    Row("vf-slot-iommufd-token-checked", "hot_reset", "vf-slot", I, result=(BIND, "EACCES"),
        kernels=SV, since="6.17"),
    Row("vf-root-iommufd-token-checked", "hot_reset", "vf-root", I, result=(BIND, "EACCES"),
        kernels=SV, since="6.17"),
    # with the token, through the group path (every fd of the scope): still refused
    Row("vf-slot-group-token-all-fds", "vf_hot_reset", "vf-slot", G, result=(HR, "EINVAL"),
        info=(0, (("pf-slot", "group"), ("vf-slot", "group"), ("vf-slot2", "group"))),
        kernels=SV, extra={"fds": "all"}),
    Row("vf-slot-group-token-own-fd", "vf_hot_reset", "vf-slot", G, result=(HR, "EINVAL"),
        kernels=SV, extra={"fds": "own"}),
    Row("vf-root-group-token", "vf_hot_reset", "vf-root", G, result=(INFO, "ENODEV"),
        kernels=SV, extra={"fds": "own"}),
    # function reset of a VF
    Row("vf-function-reset-token", "vf_function_reset", "vf-slot", G, kernels=SV,
        extra={"reset_flag": True}),
    Row("vf-function-reset-iommufd", "function_reset", "vf-bus", I, kernels=SV,
        extra={"reset_flag": True}, until="6.16"),
    # the PF on igb: no token, and a token is an error
    Row("vf-igb-group-no-token", "vf_open", "vf-slot", G, kernels=SB, extra={"token": "none"}),
    Row("vf-igb-group-token", "vf_open", "vf-slot", G, result=(GD, "EINVAL"), kernels=SB,
        extra={"token": "random"}),
    Row("vf-igb-cdev-no-token", "vf_open", "vf-slot", I, kernels=SB, extra={"token": "none"}),
    Row("vf-igb-slot-group", "hot_reset", "vf-slot", G, result=(HR, "EINVAL"),
        info=(0, (("pf-slot", "group"), ("vf-slot", "group"), ("vf-slot2", "group"))), kernels=SB),
    Row("vf-igb-slot-iommufd", "hot_reset", "vf-slot", I, result=(HR, "EINVAL"),
        info=(1, (("pf-slot", "not-owned"), ("vf-slot", "self"), ("vf-slot2", "not-owned"))),
        kernels=SB),
    Row("vf-igb-bus-group", "hot_reset", "vf-bus", G, result=(HR, "EINVAL"),
        info=(0, (("pf-bus", "group"), ("vf-bus", "group"), ("vf-bus2", "group"))), kernels=SB),
    Row("vf-igb-root-group", "hot_reset", "vf-root", G, result=(INFO, "ENODEV"), info="ENODEV",
        kernels=SB),
    Row("vf-igb-function-reset", "function_reset", "vf-slot", G, kernels=SB,
        extra={"reset_flag": True}),
]

# -- Debian's stock kernel: no IOMMUFD, so no /dev/iommu and no cdev --
ROWS += [
    Row("stock-iommufd-mode", "hot_reset", "mf0", I, result=("open", "ENOENT"),
        kernels=("iommu-stock",)),
    # Debian builds SHPC hotplug in: shpchp binds the PCIe-to-PCI bridge, which
    # shares the IOMMU group of the devices behind it (DMA alias), so the group
    # is not viable (GROUP_GET_STATUS flags 0) and vfioctl stops there
    Row("stock-bridged-shpchp", "hot_reset", "bridged", G, result=("vfioctl", "kernel"),
        kernels=("iommu-stock",)),
]
