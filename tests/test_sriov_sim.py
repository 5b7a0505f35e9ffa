"""SR-IOV rules in the model and the simulator (issue 13), on builder trees.

The same rules are judged on the real kernel by tests/vm/test_sriov.py and
over the trees recorded there by tests/test_conformance_sim.py.
"""

import errno as E
import os
import shutil

import pytest

from vfioctl.kernel.base import KernelError, VFIO_TYPE1v2_IOMMU
from vfioctl.kernel.sim import SimKernel
from vfioctl.model import scope as sc
from vfioctl.model import sriov
from vfioctl.model.address import PciAddress
from vfioctl.sysfs.reader import read_host

T = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
PF, VF0, VF1 = "0000:01:00.0", "0000:01:10.0", "0000:01:10.2"


def _idle(root):
    """Drop the scenario's holder (the QEMU holding VF0's group)."""
    shutil.rmtree(os.path.join(root, "proc", "4343"), ignore_errors=True)
    return root


def _dev(k, host, bdf, token=None):
    fn = host.functions[PciAddress.parse(bdf)]
    c = k.open_container()
    g = k.open_group(host.group_of(fn).node)
    k.VFIO_GROUP_SET_CONTAINER(g, c)
    k.VFIO_SET_IOMMU(c, VFIO_TYPE1v2_IOMMU)
    return k.VFIO_GROUP_GET_DEVICE_FD(g, bdf + (f" vf_token={token}" if token else ""))


def _errno(fn, *a, **kw):
    try:
        fn(*a, **kw)
    except KernelError as e:
        if fn is _dev:      # a failed open leaves nothing behind (the kernel's fds die with it)
            a[0].close_all()
        return e.errno
    return 0


def _set_release(root, rel):
    with open(os.path.join(root, "proc/sys/kernel/osrelease"), "w") as f:
        f.write(rel + "\n")


def test_parse_device_name():
    assert sriov.parse_device_name(PF) == (PF, None, True)
    assert sriov.parse_device_name(f"{PF} vf_token={T.upper()}") == (PF, T, True)
    assert sriov.parse_device_name(f"{PF} vf_token=nope")[2] is False
    assert sriov.parse_device_name(f"{PF} foo=bar")[2] is False


def test_vf_token_on_the_group_path(build):
    root = _idle(build("sriov-slot"))
    host = read_host(root)
    k = SimKernel(root)
    assert _errno(_dev, k, host, VF0) == E.EACCES                      # PF on vfio-pci: token needed
    assert _errno(_dev, k, host, VF0, sriov.NULL_UUID) == E.EACCES     # the random one is not null
    pfd = _dev(k, host, PF)
    assert _errno(k.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, pfd, T) == 0
    k.close_all()
    assert _errno(_dev, k, host, VF0, T) == 0                          # the token outlives the PF fd
    # a VF is in use: the PF needs the token too, and a VF cannot set one
    k2 = SimKernel(root)
    assert _errno(_dev, k2, host, PF) == E.EACCES
    k2.close_all()
    assert _errno(_dev, k2, host, PF, T) == 0
    k2.close_all()
    vfd = [fd for fd in k.open_fds() if "01:10.0" in str(k._fds[fd].__dict__.get("address", ""))]
    assert _errno(k.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, vfd[0], T) == E.ENOTTY
    k.close_all()


def test_vf_token_on_the_cdev_path_depends_on_the_kernel(build):
    root = _idle(build("sriov-slot"))
    host = read_host(root)
    vf = host.functions[PciAddress.parse(VF1)]

    def bind(token=None):
        k = SimKernel(root)
        try:
            return _errno(lambda: k.VFIO_DEVICE_BIND_IOMMUFD(k.open_cdev(host.cdev_node(vf)),
                                                             k.open_iommufd(), token=token))
        finally:
            k.close_all()
    k = SimKernel(root)
    k.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN(_dev(k, host, PF), T)
    k.close_all()
    _set_release(root, "6.12.95")
    assert (bind(), bind(T)) == (0, E.EINVAL)          # no check; the flag is unknown
    _set_release(root, "7.3.4+deb13-amd64")
    assert (bind(), bind(T)) == (E.EACCES, 0)          # 6.17+: checked like the group path


def test_token_when_the_pf_is_not_on_vfio(build):
    root = build("sriov")                               # PF on i40e
    host = read_host(root)
    k = SimKernel(root)
    assert _errno(_dev, k, host, "0000:3b:02.1") == 0
    k.close_all()
    assert _errno(_dev, k, host, "0000:3b:02.1", T) == E.EINVAL
    k.close_all()


def test_the_slot_reset_scope_gap_is_predicted(build):
    host = read_host(build("sriov-slot"))
    p = sc.plan_reset(host, host.functions[PciAddress.parse(PF)])
    assert p.kind == "slot" and [str(a.address) for a in p.affected] == [PF]
    assert [str(c.address) for c in p.collateral] == [VF0, VF1]
    assert [h.comm for h in p.collateral[0].holders] == ["qemu-system-x86"]
    assert not p.collateral[1].holders
    # group mode: the PF cannot be opened while its VF is in use (EACCES, no token)
    assert p.verdicts[sc.GROUP].expected == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    # a VF's own reset plan lists PF and VFs itself (bus scope): nothing left over
    v = sc.plan_reset(host, host.functions[PciAddress.parse(VF0)])
    assert v.kind == "bus" and len(v.affected) == 3 and v.collateral == []
    host = read_host(build("sriov"))                    # PF behind a plain root port: bus scope
    p = sc.plan_reset(host, host.functions[PciAddress.parse("0000:3b:00.0")])
    assert p.kind == "bus" and len(p.affected) == 5 and p.collateral == []


def test_hot_reset_names_the_vfs(cli, build):
    root = build("sriov-slot")
    r = cli(["--root", root, "hot-reset", PF, "--iommufd"])
    # the plan and the question go to stderr (stdout is for the result)
    assert r.code == 6 and "ALSO RESET, not listed by the kernel: 0000:01:10.0" in r.err
    assert f"the reset also hits {VF0}, {VF1}, which the kernel does not list" in r.err
    assert r.out == ""
    r = cli(["--root", root, "hot-reset", PF, "--iommufd", "--json"])
    assert r.code == 6 and VF0 in r.json()["error"]["message"]
    d = cli(["--root", root, "check", PF, "--json"]).json()
    assert d["resets"][0]["also_reset"] == [VF0, VF1]
    r = cli(["--root", root, "check", PF, "--iommufd"])
    assert r.code == 0 and f"also resets {VF0}, {VF1}, which the kernel does not list" in r.out
    d = cli(["--root", root, "hot-reset", PF, "--iommufd", "--yes", "--json"]).json()
    assert d["results"][0]["result"] == "reset"
    assert [c["address"] for c in d["resets"][0]["plan"]["also_reset"]] == [VF0, VF1]


def test_scope_gap_on_the_tree_recorded_from_the_real_guest(cli, recorded):
    """The igb PF in slot 1 of the SR-IOV guest, its VF held by qemu-vf-guest."""
    root = recorded("qemu-q35-sriov-vfio")
    d = cli(["--root", root, "reset-info", PF, "--json"]).json()["reset"]
    assert d["kind"] == "slot" and [a["address"] for a in d["affected"]] == [PF]
    assert [c["address"] for c in d["also_reset"]] == [VF0, VF1]
    assert [h["comm"] for h in d["also_reset"][0]["holders"]] == ["qemu-vf-guest"]
    # iommufd is possible on 6.12 (no cdev token check); the group path needs the token
    assert d["verdicts"]["iommufd"]["possible"] is True
    assert d["verdicts"]["group"]["expected"] == {"step": "VFIO_GROUP_GET_DEVICE_FD",
                                                  "errno": "EACCES"}


def test_a_reset_the_kernel_ran_but_reported_failed_is_verified(cli, build, monkeypatch):
    """ENOTTY from VFIO_DEVICE_PCI_HOT_RESET: the reset ran, the link did not come
    back in time (tests/vm/test_failreset.py on the real kernel): exit 7, and the
    state of the functions is said, not guessed."""
    root = build("sriov-slot")
    monkeypatch.setenv("VFIOCTL_SIM_FAULTS", "VFIO_DEVICE_PCI_HOT_RESET=ENOTTY")
    r = cli(["--root", root, "--backend", "sim", "hot-reset", PF, "--iommufd", "--yes", "--json"])
    assert r.code == 7, r.err
    d = r.json()
    err = d["error"]
    assert (err["op"], err["errno"], err["kind"]) == ("VFIO_DEVICE_PCI_HOT_RESET", "ENOTTY", "kernel")
    assert err["verification"] == [] and d["verification"] == []
    assert d["status"] == "failed" and d["results"][0]["error"]["verification"] == []
