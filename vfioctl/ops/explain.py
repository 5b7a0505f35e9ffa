"""Turn a :class:`KernelError` into an admin-facing :class:`KernelRefused`."""

from __future__ import annotations

import errno as E

from vfioctl.errors import BackendUnavailable, KernelRefused, PermissionDenied
from vfioctl.kernel.base import KernelError
from vfioctl.model.host import Host
from vfioctl.model import nodes


def _generic(op: str, err: int, target: str = "") -> str | None:
    try:
        from vfioctl.kernel.uapi import explain
    except ImportError:  # pragma: no cover - uapi is part of the package
        return None
    try:
        return explain(op, err, target)
    except Exception:
        return None


def _holders_text(host: Host | None, node: str) -> str:
    if host is None:
        return ""
    hs = host.holders_of(node)
    return ": " + ", ".join(str(h) for h in hs) if hs else ""


def explain(e: KernelError, host: Host | None = None) -> str:
    """One line saying why the kernel refused, in admin terms."""
    op, err, target = e.op, e.errno, e.target
    if op == "open" and err == E.EBUSY and target.startswith(nodes.DEV_VFIO):
        num = target.rsplit("/", 1)[1]
        return (f"group {num} is open in another process" + _holders_text(host, target)
                if host and host.holders_of(target) else
                f"{target} is busy: the group is open in another process, or one of its "
                "devices is open through its cdev")
    if op == "open" and err == E.ENOENT:
        return f"{target} does not exist"
    if op == "open" and err in (E.EACCES, E.EPERM):
        return (f"no permission to open {target}" + (" (noiommu groups need CAP_SYS_RAWIO)"
                                                     if "noiommu" in target else ""))
    if op == "VFIO_DEVICE_BIND_IOMMUFD" and err == E.EBUSY:
        return f"{target}'s IOMMU group node is open (legacy group use elsewhere)"
    if op == "VFIO_DEVICE_BIND_IOMMUFD" and err == E.EINVAL:
        return f"{target} is already open through another file (a cdev is single-open)"
    if op == "VFIO_DEVICE_BIND_IOMMUFD" and err == E.EPERM:
        return (f"{target}'s IOMMU group is DMA-owned by someone else (a host driver or "
                "another iommufd), or MSI cannot be isolated")
    g = _generic(op, err, target)
    if g:
        return g
    return f"{op} failed: {E.errorcode.get(err, err)} ({e.strerror})"


def refusal(e: KernelError, host: Host | None = None) -> Exception:
    """The user-facing exception for a kernel error."""
    msg = explain(e, host)
    name = E.errorcode.get(e.errno, str(e.errno))
    details = dict(errno=name, op=e.op, target=e.target or None)
    if e.detail:
        details["detail"] = e.detail
    if e.op == "open" and (e.errno == E.EACCES
                           or (e.errno == E.EPERM and "noiommu" not in e.target)):
        return PermissionDenied(f"{msg} ({name})", "run as root or as the owner of the VFIO "
                                "nodes (see 'ls -l /dev/vfio')", **details)
    if e.op == "open" and e.errno == E.ENOENT and e.target in (nodes.CONTAINER, nodes.IOMMUFD):
        return BackendUnavailable(f"{msg} ({name})",
                                  "load vfio-pci (and iommufd for --iommufd), or use --group",
                                  **details)
    return KernelRefused(f"the kernel refused {e.op}"
                         + (f" on {e.target}" if e.target else "") + f": {msg} ({name})",
                         _hint(e), **details)


def _hint(e: KernelError) -> str:
    if e.errno == E.EACCES and e.op in ("VFIO_GROUP_GET_DEVICE_FD", "VFIO_DEVICE_BIND_IOMMUFD"):
        return ("pass the PF's SR-IOV VF token: --vf-token UUID (or VFIOCTL_VF_TOKEN); if one "
                "was passed, it is not the PF's current token")
    if e.errno == E.EBUSY:
        return "stop the process holding it (e.g. shut the VM down), then retry"
    if e.errno == E.ENODEV and e.op in ("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
                                         "VFIO_DEVICE_PCI_HOT_RESET"):
        return "this device cannot be hot reset (no slot or bus reset); try 'vfioctl reset'"
    if e.errno == E.EINVAL and e.op == "VFIO_DEVICE_PCI_HOT_RESET":
        return ("bind every function in the reset scope to vfio-pci and own all of them; "
                "'vfioctl reset-info DEVICE' lists them")
    if e.errno == E.ENOTTY and e.op == "VFIO_DEVICE_PCI_HOT_RESET":
        return "the reset may have happened but the link did not come back in time; check dmesg"
    return "'vfioctl reset-info DEVICE' explains what the kernel requires"
