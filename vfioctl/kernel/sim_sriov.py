"""VF tokens for the simulator (:mod:`vfioctl.kernel.sim`).

The rules are :mod:`vfioctl.model.sriov`'s; this module keeps the kernel-wide
state they need the way the kernel does:

* each PF's token lives in ``<root>/.vfioctl-sim/vf-token/<PF address>`` (it
  outlives the fd that set it, and every simulator instance over the root
  sees it); no file means the random token vfio-pci generated at bind, which
  nobody knows;
* a PF's VF users are its VFs open right now: through this simulator, or
  held (cdev or group node) by another process of the fixture's ``proc/``.

Which path checks the token depends on the kernel: the group path always,
``BIND_IOMMUFD`` from Linux 6.17 (read from the root's
``proc/sys/kernel/osrelease``; unknown means the newer rule).
"""

from __future__ import annotations

import errno as E
import os

from vfioctl.model import sriov


class VfTokens:
    def __init__(self, sim):
        self.sim = sim

    # -- state -------------------------------------------------------------------
    # state files go through the simulator's own helpers: inside the root, never
    # through a link, regular files only (sim.py "state files")
    def get(self, pf) -> str | None:
        try:
            path = self.sim._state_path(f".vfioctl-sim/vf-token/{pf}")
            fd = self.sim._open_state(path, os.O_RDONLY)
        except Exception:  # noqa: BLE001 - absent or odd: the random token nobody knows
            return None
        try:
            return os.read(fd, 64).decode(errors="replace").strip() or None
        finally:
            os.close(fd)

    def set(self, pf, token: str) -> None:
        self.sim._state_dir(".vfioctl-sim")
        d = self.sim._state_dir(".vfioctl-sim/vf-token")
        fd = self.sim._open_state(os.path.join(d, str(pf)), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, (token + "\n").encode())
        finally:
            os.close(fd)

    def release(self) -> str | None:
        """The root's kernel release (bounded read, confined to the root)."""
        try:
            t = self.sim.root.text(self.sim.root.join("proc/sys/kernel/osrelease"), 64)
        except Exception:  # noqa: BLE001 - unreadable: unknown, the newer rule applies
            return None
        return t.strip() if t else None

    def users(self, host, pf_fn) -> int:
        """VFs of ``pf_fn`` open now (vf_token->users)."""
        n = 0
        for v in pf_fn.virtfns:
            vf = host.functions.get(v)
            if vf is None:
                continue
            mine = self.sim._holds_device(v)
            theirs = any(self.sim._others(host, node) for node in self.sim._nodes_of(host, vf))
            n += bool(mine or theirs)
        return n

    # -- the checks ----------------------------------------------------------------
    def check_open(self, host, fn, token: str | None, op: str, target: str) -> None:
        """``vfio_pci_validate_vf_token`` for an open of ``fn`` (raises KernelError)."""
        pf = host.functions.get(fn.physfn) if fn.is_vf else fn
        users = self.users(host, pf) if pf is not None and sriov.has_vf_token(pf) else 0
        pf_token = self.get(pf.address) if pf is not None else None
        err, msg = sriov.validate_vf_token(host, fn, token, pf_token, users)
        if err is not None:
            self.sim._fail(op, target, err, detail=msg)
        if sriov.sets_token(fn, token, users):
            self.set(fn.address, token)

    def check_bind(self, host, fn, token: str | None, op: str, target: str) -> None:
        """BIND_IOMMUFD: 6.17+ checks like the group path; older kernels know no
        token (a bind with flags set is EINVAL) and check nothing."""
        if sriov.token_checked_on_cdev(self.release()):
            self.check_open(host, fn, token, op, target)
        elif token is not None:
            self.sim._fail(op, target, E.EINVAL, detail="this kernel's BIND_IOMMUFD takes no "
                           "flags (the VF token arrived in 6.17)")

    def set_feature(self, host, fn, token: str, op: str, target: str) -> None:
        """VFIO_DEVICE_FEATURE SET|PCI_VF_TOKEN (``vfio_pci_core_feature_token``)."""
        if not sriov.has_vf_token(fn):
            self.sim._fail(op, target, E.ENOTTY, detail="not an SR-IOV PF on vfio-pci")
        if not sriov._UUID.match(token or ""):
            self.sim._fail(op, target, E.EINVAL, detail="not a UUID")
        self.set(fn.address, token.lower())
