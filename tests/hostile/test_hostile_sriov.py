"""Hostile inputs for the simulator's SR-IOV readers (issue 13 over issue 8's
harness): the VF-token state (``.vfioctl-sim/vf-token/<PF>``) and the root's
``proc/sys/kernel/osrelease`` (which decides whether BIND_IOMMUFD checks the
token) are read inside the root, bounded, never through a link or a FIFO.
A token the simulator cannot read is the random one nobody knows (EACCES); a
release it cannot read is unknown, so the newer (6.17+) rule applies."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import time

import pytest

from vfioctl.testing import scenarios

from .conftest import _armed, check, plant, run

PF, VF1 = "0000:01:00.0", "0000:01:10.2"      # sriov-slot: VF1 is not held by anyone
TOKEN = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


@pytest.fixture
def bait(tmp_path):
    """Outside the root: an old release and the very token the tests pass, so that
    following a planted link would change the answer (not only touch a file)."""
    d = tmp_path / "outside"
    d.mkdir()
    (d / "osrelease").write_text("6.12.95\n")
    (d / "token").write_text(TOKEN + "\n")
    return str(d)


@pytest.fixture
def sriov_root(tmp_path):
    root = scenarios.build("sriov-slot", str(tmp_path / "root"))
    shutil.rmtree(os.path.join(root, "proc", "4343"))     # no VF in use: the PF opens
    return root


def _replace(root: str, rel: str, kind: str) -> None:
    plant(os.path.join(root, rel), kind)


def _odd(root: str, rel: str, kind: str, outside: str) -> None:
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    if kind == "link-out":
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink(os.path.join(outside, os.path.basename(rel) if "osrelease" in rel
                                else "token"), p)
    elif kind == "link-abs":
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink("/proc/sys/kernel/osrelease", p)
    else:
        _replace(root, rel, kind)


@pytest.mark.parametrize("kind", ("link-out", "link-abs", "fifo", "huge", "dir"))
def test_vf_token_state_is_confined(sriov_root, bait, kind):
    """The PF's token file is odd: the VF open is refused (EACCES: no token the
    simulator can trust), nothing outside the root is read, nothing blocks."""
    outside = bait
    _odd(sriov_root, f".vfioctl-sim/vf-token/{PF}", kind, outside)
    listing = sorted(os.listdir(outside))
    r = run(["--root", sriov_root, "hot-reset", VF1, "--legacy", "--no-preflight", "--yes",
             "--json"])
    check(r, root=sriov_root, outside=outside, json_mode=True, codes=(7,))
    err = r.json()["error"]
    assert (err["op"], err["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    assert sorted(os.listdir(outside)) == listing


@pytest.mark.parametrize("kind", ("link-out", "link-abs", "fifo", "huge", "dir"))
def test_osrelease_is_read_inside_the_root(sriov_root, bait, kind):
    """An odd osrelease is an unknown kernel: BIND_IOMMUFD checks the token (6.17+
    rule) and refuses the VF (EACCES); neither the 6.12 release the link points at
    nor the host's own osrelease is read, and a FIFO does not block."""
    outside = bait
    t0 = time.monotonic()
    _odd(sriov_root, "proc/sys/kernel/osrelease", kind, outside)
    r = run(["--root", sriov_root, "hot-reset", VF1, "--iommufd", "--no-preflight", "--yes",
             "--json"])
    check(r, root=sriov_root, outside=outside, json_mode=True, codes=(7,))
    err = r.json()["error"]
    assert (err["op"], err["errno"]) == ("VFIO_DEVICE_BIND_IOMMUFD", "EACCES")
    assert time.monotonic() - t0 < 10, "the read blocked"


def test_osrelease_decides_the_cdev_rule(sriov_root):
    """The control: a readable 6.12 release inside the root lets the VF bind
    without a token (the cases above fail for the reason they claim)."""
    os.makedirs(os.path.join(sriov_root, "proc/sys/kernel"), exist_ok=True)
    with open(os.path.join(sriov_root, "proc/sys/kernel/osrelease"), "w") as f:
        f.write("6.12.95\n")
    r = run(["--root", sriov_root, "hot-reset", VF1, "--iommufd", "--no-preflight", "--yes",
             "--json"])
    assert "VFIO_DEVICE_BIND_IOMMUFD" not in r.json().get("error", {}).get("op", ""), r.out


@pytest.mark.parametrize("kind", ("link-out", "fifo"))
def test_a_token_is_read_only_from_inside(sriov_root, bait, kind):
    """In-process, with the token a VF user passes: a token file that is a link to
    the right token outside the root is not followed (EACCES, not an open VF), a
    FIFO is not waited on."""
    from vfioctl.kernel.base import KernelError, VFIO_TYPE1v2_IOMMU
    from vfioctl.kernel.sim import SimKernel
    from vfioctl.model.address import PciAddress
    from vfioctl.sysfs.reader import read_host
    _odd(sriov_root, f".vfioctl-sim/vf-token/{PF}", kind, bait)
    host = read_host(sriov_root)
    vf = host.functions[PciAddress.parse(VF1)]
    k = SimKernel(sriov_root)
    t0 = time.monotonic()

    def blocked(*_):
        raise AssertionError("the read blocked")
    old = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(10)
    try:
        c = k.open_container()
        g = k.open_group(host.group_of(vf).node)
        k.VFIO_GROUP_SET_CONTAINER(g, c)
        k.VFIO_SET_IOMMU(c, VFIO_TYPE1v2_IOMMU)
        with pytest.raises(KernelError) as e:
            k.VFIO_GROUP_GET_DEVICE_FD(g, f"{VF1} vf_token={TOKEN}")
        assert e.value.errno == errno.EACCES
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        k.close_all()
    assert time.monotonic() - t0 < 10, "the read blocked"


@pytest.mark.parametrize("kind", ("link-out", "file"))
def test_setting_a_token_never_writes_outside(sriov_root, outside, kind):
    """VFIO_DEVICE_FEATURE SET|PCI_VF_TOKEN with the token directory planted as
    a link out of the root (or as a file): a HostError, nothing written outside."""
    from vfioctl.errors import HostError
    from vfioctl.kernel.base import VFIO_TYPE1v2_IOMMU
    from vfioctl.kernel.sim import SimKernel
    from vfioctl.model.address import PciAddress
    from vfioctl.sysfs.reader import read_host
    d = os.path.join(sriov_root, ".vfioctl-sim", "vf-token")
    os.makedirs(os.path.dirname(d), exist_ok=True)
    if kind == "link-out":
        os.symlink(outside, d)
    else:
        open(d, "w").close()
    host = read_host(sriov_root)
    pf = host.functions[PciAddress.parse(PF)]
    listing = sorted(os.listdir(outside))
    k = SimKernel(sriov_root)
    _armed.append([])
    try:
        c = k.open_container()
        g = k.open_group(host.group_of(pf).node)
        k.VFIO_GROUP_SET_CONTAINER(g, c)
        k.VFIO_SET_IOMMU(c, VFIO_TYPE1v2_IOMMU)
        dfd = k.VFIO_GROUP_GET_DEVICE_FD(g, PF)
        with pytest.raises(HostError):
            k.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN(dfd, TOKEN)
    finally:
        touched = _armed.pop()
        k.close_all()
    bad = [(ev, p) for ev, p in touched
           if p == outside or p.startswith(outside.rstrip("/") + "/")]
    assert not bad, bad
    assert sorted(os.listdir(outside)) == listing
