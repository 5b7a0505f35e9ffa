"""SR-IOV rules vfio-pci applies to PFs and VFs (pure).

Stated from ``vfio_pci_core.c`` (``vfio_pci_validate_vf_token``,
``vfio_pci_vf_token_user_add``, ``vfio_pci_core_register_device``) and checked
on the real kernel in tests/vm (igb PFs and VFs under QEMU 10; the observed
tables are in ``shared/docs/sriov-real-kernel.md`` §3):

* **VF token.**  A PF bound to vfio-pci that has the SR-IOV capability owns a
  VF token (a UUID; random at bind, so unknown to everyone until a PF user
  sets it with ``VFIO_DEVICE_FEATURE`` SET|PCI_VF_TOKEN, or opens the PF with
  ``"BDF vf_token=UUID"`` while no VF is in use).
  - opening a VF whose PF is on vfio-pci needs the token: none or a wrong one
    is **EACCES**;
  - opening a VF whose PF is *not* on vfio-pci with a token is **EINVAL**
    ("VF token incorrectly provided, PF not bound to vfio-pci");
  - opening the PF while one of its VFs is open needs the token (**EACCES**);
  - a token on a function that is neither a VF nor an SR-IOV PF: **EINVAL**.
  The legacy group path (``GROUP_GET_DEVICE_FD``) always checks.  The cdev
  path (``BIND_IOMMUFD``) checks only from Linux 6.17 (the bind's
  ``VFIO_DEVICE_BIND_FLAG_TOKEN``); before that a VF binds without a token.
* **dev_set.**  A VF is alone in its dev_set (``vfio_assign_device_set(vdev)``),
  so a hot reset whose scope holds a VF and anything else is refused (EINVAL),
  and a PF's bus reset is refused while its VFs are bound to vfio-pci.
* **Scope gap.**  A PF's slot or bus reset also resets its VFs whenever they
  sit on the reset bus (they always do: same bus number as the PF, devfn
  offset/stride from the SR-IOV capability), yet for a *slot* reset the
  kernel's INFO lists only the slot's own device number, so VFs at other
  device numbers are reset without being named (observed: a VF's command
  register drops from 0x0002 to 0 across the PF's slot reset).
"""

from __future__ import annotations

import errno as E
import re

#: First kernel whose VFIO_DEVICE_BIND_IOMMUFD checks the VF token.
TOKEN_ON_CDEV_SINCE = (6, 17)

NULL_UUID = "00000000-0000-0000-0000-000000000000"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_uuid(text: str) -> bool:
    """8-4-4-4-12 hex digits (``uuid_parse``'s form; any case)."""
    return bool(_UUID.match(text or ""))


def parse_release(release: str | None) -> tuple[int, int] | None:
    """``"6.12.95"`` -> (6, 12); None when unknown."""
    m = re.match(r"^(\d+)\.(\d+)", release or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def token_checked_on_cdev(release: str | None) -> bool:
    """Whether BIND_IOMMUFD checks the VF token on this kernel (unknown: yes)."""
    v = parse_release(release)
    return v is None or v >= TOKEN_ON_CDEV_SINCE


def parse_device_name(name: str) -> tuple[str, str | None, bool]:
    """``GROUP_GET_DEVICE_FD``'s name: (address, token or None, well-formed).

    ``vfio_pci_core_match``: the device name, then optionally one
    ``vf_token=UUID`` argument; anything else is -EINVAL."""
    parts = name.split()
    if not parts:
        return "", None, False
    addr, rest = parts[0], parts[1:]
    if not rest:
        return addr, None, True
    if len(rest) == 1 and rest[0].startswith("vf_token="):
        tok = rest[0][len("vf_token="):]
        return addr, tok.lower(), bool(_UUID.match(tok))
    return addr, None, False


def redact(name: str) -> str:
    """A ``GROUP_GET_DEVICE_FD`` name fit for logs: a VF token is a secret shared
    by the PF's and the VFs' users, so only its presence is shown."""
    parts = name.split()
    return parts[0] + " vf_token=<hidden>" if len(parts) > 1 else name


def has_vf_token(fn) -> bool:
    """A vfio-pci PF with the SR-IOV capability (``vdev->vf_token`` allocated)."""
    return fn.vfio_bound and not fn.is_vf and fn.sriov_totalvfs is not None


def validate_vf_token(host, fn, token: str | None, pf_token: str | None,
                      vf_users: int) -> tuple[int | None, str]:
    """(errno or None, message) of ``vfio_pci_validate_vf_token``.

    ``pf_token``: the PF's current token (None: the random one nobody knows);
    ``vf_users``: VFs of the PF (or of ``fn`` when it is a PF) open now.
    A successful PF open with a token while no VF is in use *sets* the token:
    the caller applies that (see :func:`sets_token`)."""
    if fn.is_vf:
        pf = host.functions.get(fn.physfn)
        if pf is None or not pf.vfio_bound:
            if token is None:
                return None, "PF is not on vfio-pci: no VF token"
            return E.EINVAL, "VF token incorrectly provided, PF not bound to vfio-pci"
        if token is None:
            return E.EACCES, f"VF token required to access device (its PF {pf.address} is on vfio-pci)"
        if pf_token is None or token != pf_token:
            return E.EACCES, "Incorrect VF token provided for device"
        return None, "VF token matches"
    if has_vf_token(fn):
        if vf_users:
            if token is None:
                return E.EACCES, f"VF token required to access device ({vf_users} VF(s) in use)"
            if pf_token is None or token != pf_token:
                return E.EACCES, "Incorrect VF token provided for device"
        return None, "ok"
    if token is not None:
        return E.EINVAL, "VF token incorrectly provided, not a PF or VF"
    return None, "ok"


def sets_token(fn, token: str | None, vf_users: int) -> bool:
    """Opening ``fn`` with ``token`` sets its PF token (no VF in use)."""
    return token is not None and has_vf_token(fn) and not vf_users


#: what fixes a missing VF token (a refusal names the command that fixes it)
TOKEN_REMEDY = ("pass the PF's VF token (the UUID its user set, e.g. QEMU's vf-token=): "
                "--vf-token UUID")


def takes_token(host, fn) -> bool:
    """Whether the kernel checks or uses a VF token when ``fn`` is opened: a VF
    whose PF is on vfio-pci, or a vfio-pci SR-IOV PF (for which a token given
    while no VF is in use *becomes* its token).  Anything else answers a token
    with EINVAL, so vfioctl passes none there."""
    if fn.is_vf:
        pf = host.functions.get(fn.physfn)
        return pf is not None and pf.vfio_bound
    return has_vf_token(fn)


def vf_token_reason(host, fn) -> str | None:
    """Why opening ``fn`` without a token would be refused (EACCES), or None."""
    if fn.is_vf:
        pf = host.functions.get(fn.physfn)
        if pf is not None and pf.vfio_bound:
            return (f"{fn.address} is a VF whose PF {pf.address} is bound to vfio-pci: opening it "
                    "needs the PF's VF token")
        return None
    if has_vf_token(fn):
        open_vfs = [v for v in fn.virtfns if v in host.functions
                    and (host.device_holders(host.functions[v])
                         or host.group_holders(host.group_of(host.functions[v])))]
        if open_vfs:
            return (f"{fn.address}'s VFs are in use ({', '.join(str(v) for v in open_vfs)}): "
                    "opening the PF needs their VF token")
    return None


def vfs_of(host, fn) -> list:
    """The VFs of ``fn`` that exist now (none unless ``fn`` is a PF with VFs)."""
    if fn.is_vf:
        return []
    return [host.functions[v] for v in fn.virtfns if v in host.functions]


def pf_reset_note(host, fn) -> str | None:
    """A PF's function reset also resets its VFs (observed with QEMU's igb on 6.12 and
    7.3: opening the PF, whose open-time FLR runs before any hot reset, drops a VF's
    command register to 0 even when the kernel then refuses the hot reset)."""
    vfs = vfs_of(host, fn)
    if not vfs:
        return None
    return (f"{fn.address} is an SR-IOV PF: its function reset (run when it is opened, and by "
            f"'vfioctl reset') also resets its VFs {', '.join(str(v.address) for v in vfs)}")


def vf_token_reason_cdev(host, fn) -> str | None:
    """:func:`vf_token_reason` for ``VFIO_DEVICE_BIND_IOMMUFD``: only kernels
    from 6.17 check the token there (the host's ``kernel_release``)."""
    if not token_checked_on_cdev(host.kernel_release):
        return None
    why = vf_token_reason(host, fn)
    return why and why + f" (Linux {host.kernel_release or '>= 6.17'} checks it on the cdev path too)"
