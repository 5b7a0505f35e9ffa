"""``hot-reset --vf-token`` on the simulator (issue 13): the remedy the VF-token
refusal names, on every path and kernel generation.

The scenario (``sriov-slot``): an SR-IOV PF on vfio-pci in a hotplug slot, its
VF 01:10.0 held by QEMU (pid 4343), so opening the PF needs the PF's VF token:

* legacy group path: always checked (``"BDF vf_token=UUID"``);
* iommufd, Linux 6.12 semantics: BIND_IOMMUFD checks nothing and takes no
  token (EINVAL for the flag);
* iommufd, Linux >= 6.17: BIND_IOMMUFD checks it (VFIO_DEVICE_BIND_FLAG_TOKEN);
* Linux >= 7.1 (commit 102c8b26b54e; 7.3.4 in the VM): the pciehp slot is
  bus-wide, so the PF's slot reset lists its
  VFs and is refused (EINVAL: each VF is alone in its dev_set).

The real kernels judge the same in tests/vm/test_sriov.py.
"""

import json
import os

import pytest

from vfioctl.kernel.sim import SimKernel
from vfioctl.model.address import PciAddress

T = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
WRONG = "11111111-2222-4333-8444-555555555555"
PF, VF0, VF1 = "0000:01:00.0", "0000:01:10.0", "0000:01:10.2"


def _root(build, release: str, token: str | None = T) -> str:
    root = build("sriov-slot")
    with open(os.path.join(root, "proc/sys/kernel/osrelease"), "w") as f:
        f.write(release + "\n")
    if token:
        # the PF's user set it before QEMU opened the VF (kernel state of the simulator)
        SimKernel(root).vf_tokens.set(PciAddress.parse(PF), token)
    return root


def _journal(root: str) -> str:
    p = os.path.join(root, ".vfioctl-sim", "journal.jsonl")
    return open(p).read() if os.path.exists(p) else ""


def _no_secret(root: str, *texts: str) -> None:
    for t in (*texts, _journal(root)):
        assert T not in t.lower() and WRONG not in t.lower()


def _hr(cli, root, *args):
    return cli(["--root", root, "hot-reset", PF, "--yes", "--json", *args])


# -- legacy group path ---------------------------------------------------------

def test_legacy_without_token_is_refused_and_names_the_option(cli, build):
    root = _root(build, "6.12.95")
    r = _hr(cli, root, "--legacy")
    assert r.code == 1, r.err
    err = r.json()["error"]
    assert (err["step"], err["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    assert any("--vf-token" in x for x in err["remedies"]) and "--vf-token" in err["hint"]
    # the kernel says the same, with the same remedy
    r = _hr(cli, root, "--legacy", "--no-preflight")
    err = r.json()["error"]
    assert r.code == 7 and (err["op"], err["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    assert "--vf-token" in err["hint"]


def test_legacy_with_the_token_resets_and_never_shows_it(cli, build):
    root = _root(build, "6.12.95")
    r = _hr(cli, root, "--legacy", "--vf-token", T.upper())
    assert r.code == 0, r.err
    res = r.json()["results"][0]
    assert res["result"] == "reset" and res["vf_token_passed_to"] == [PF]
    gd = [s for s in res["steps"] if s["op"] == "VFIO_GROUP_GET_DEVICE_FD"]
    assert [s["target"] for s in gd] == [PF] and "VF token" in gd[0]["note"]
    assert '"VFIO_GROUP_GET_DEVICE_FD", "target": "0000:01:00.0 vf_token=<hidden>"' in _journal(root)
    _no_secret(root, r.out, r.err)


def test_legacy_with_a_wrong_token_the_kernel_refuses(cli, build):
    root = _root(build, "6.12.95")
    r = _hr(cli, root, "--legacy", "--vf-token", WRONG)
    err = r.json()["error"]
    assert r.code == 7 and (err["op"], err["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    assert err["target"] == PF and "not the PF's current token" in err["hint"]
    _no_secret(root, r.out, r.err)


def test_a_token_is_passed_only_where_the_kernel_takes_one(build):
    """A function that is neither a VF of a vfio-pci PF nor a vfio-pci SR-IOV PF
    answers a token with EINVAL ("VF token incorrectly provided"): vfioctl keeps
    the token for the ones that take it."""
    from vfioctl.model import sriov
    from vfioctl.sysfs.reader import read_host
    h = read_host(build("sriov-slot"))
    f = {a: h.functions[PciAddress.parse(a)] for a in (PF, VF0, "0000:00:02.0")}
    assert [sriov.takes_token(h, x) for x in f.values()] == [True, True, False]
    h = read_host(build("sriov"))                      # the PF is on i40e
    vf = h.functions[PciAddress.parse("0000:3b:02.1")]
    assert vf.vfio_bound and not sriov.takes_token(h, vf)


# -- iommufd, 6.12 semantics ---------------------------------------------------

def test_iommufd_on_6_12_takes_no_token_and_says_so(cli, build):
    root = _root(build, "6.12.95")
    r = _hr(cli, root, "--iommufd", "--vf-token", T)
    err = r.json()["error"]
    assert r.code == 7 and (err["op"], err["errno"]) == ("VFIO_DEVICE_BIND_IOMMUFD", "EINVAL")
    assert "takes no VF token on the cdev path" in err["message"]
    assert "does not check one there either" in err["message"]
    assert err["hint"].startswith("run without --vf-token")
    _no_secret(root, r.out, r.err)
    # and it needs none: 6.12 does not check the token on the cdev path
    r = _hr(cli, root, "--iommufd")
    assert r.code == 0, r.err
    assert "vf_token_passed_to" not in r.json()["results"][0]


# -- iommufd, >= 6.17 semantics (slots still per device number) ----------------

def test_iommufd_on_6_18_needs_the_token(cli, build):
    root = _root(build, "6.18.2")
    r = _hr(cli, root, "--iommufd")
    err = r.json()["error"]
    assert r.code == 1 and (err["step"], err["errno"]) == ("VFIO_DEVICE_BIND_IOMMUFD", "EACCES")
    assert "--vf-token" in err["hint"]
    r = _hr(cli, root, "--iommufd", "--no-preflight")
    err = r.json()["error"]
    assert r.code == 7 and (err["op"], err["errno"]) == ("VFIO_DEVICE_BIND_IOMMUFD", "EACCES")
    assert "--vf-token" in err["hint"]
    r = _hr(cli, root, "--iommufd", "--vf-token", T)
    assert r.code == 0, r.err
    res = r.json()["results"][0]
    assert res["result"] == "reset" and res["vf_token_passed_to"] == [PF]
    bind = [s for s in res["steps"] if s["op"] == "VFIO_DEVICE_BIND_IOMMUFD"]
    assert "VFIO_DEVICE_BIND_FLAG_TOKEN" in bind[0]["note"]
    _no_secret(root, r.out, r.err)
    r = _hr(cli, root, "--iommufd", "--vf-token", WRONG)
    assert r.code == 7 and r.json()["error"]["errno"] == "EACCES"


# -- >= 7.1: bus-wide slots ------------------------------------------------------

@pytest.mark.parametrize("release", ["7.1.0", "7.3.4+deb13-amd64"])
def test_from_7_1_the_kernel_lists_the_vfs_and_refuses(cli, build, release):
    root = _root(build, release)
    d = cli(["--root", root, "reset-info", PF, "--json"]).json()["reset"]
    assert [a["address"] for a in d["affected"]] == [PF, VF0, VF1] and d["also_reset"] == []
    r = _hr(cli, root, "--iommufd", "--vf-token", T)
    err = r.json()["error"]
    assert r.code == 1 and (err["step"], err["errno"]) == ("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL")
    r = _hr(cli, root, "--iommufd", "--vf-token", T, "--no-preflight")
    res = r.json()["results"][0]
    assert r.code == 7 and res["error"]["errno"] == "EINVAL"
    assert [x["address"] for x in res["info"]["devices"]] == [PF, VF0, VF1]
    assert res["vf_token_passed_to"] == [PF]
    _no_secret(root, r.out, r.err)


@pytest.mark.parametrize("release", ["6.12.95", "7.0.9"])
def test_before_7_1_the_slot_reset_lists_only_the_pf(cli, build, release):
    """Before commit 102c8b26b54e the slot holds device number 0 only: INFO
    names the PF, and its VFs at 01:10.x are hit unnamed (also_reset)."""
    root = _root(build, release)
    d = cli(["--root", root, "reset-info", PF, "--json"]).json()["reset"]
    assert [a["address"] for a in d["affected"]] == [PF]
    assert sorted(a["address"] if isinstance(a, dict) else a for a in d["also_reset"]) == [VF0, VF1]


# -- bad input -------------------------------------------------------------------

def test_a_bad_token_is_a_usage_error_that_does_not_echo_it(cli, build, monkeypatch):
    root = _root(build, "6.12.95")
    for args in (["--vf-token", "hunter2-not-a-uuid"], []):
        if not args:
            monkeypatch.setenv("VFIOCTL_VF_TOKEN", "hunter2-not-a-uuid")
        r = cli(["--root", root, "hot-reset", PF, "--yes", *args])
        assert r.code == 2 and r.out == ""
        lines = [ln for ln in r.err.splitlines() if ln.strip()]
        assert len(lines) == 2, r.err
        assert "--vf-token is not a UUID" in lines[0] and "Traceback" not in r.err
        assert "hunter2" not in r.err
    monkeypatch.setenv("VFIOCTL_VF_TOKEN", T)
    r = cli(["--root", root, "hot-reset", PF, "--legacy", "--yes", "--json"])
    assert r.code == 0, r.err
    assert json.loads(r.out)["results"][0]["vf_token_passed_to"] == [PF]


# -- a PF's function reset hits its VFs ----------------------------------------------

def test_a_pf_reset_names_the_vfs_it_also_resets(cli, build):
    """Opening a PF runs its function reset, which resets its VFs too (the VM
    test on 7.3 saw it: the kernel refused the hot reset, the VF was reset by
    the PF's open): 'reset' names them, and refuses without --yes."""
    root = _root(build, "6.12.95", token=None)
    r = cli(["--root", root, "reset", PF])
    assert r.code == 6, r.err
    assert f"also resets its VFs {VF0}, {VF1}" in r.err
    assert f"the reset also hits {VF0}, {VF1}" in r.err
    d = cli(["--root", root, "reset-info", PF, "--json"]).json()["reset"]
    assert any(f"also resets its VFs {VF0}, {VF1}, even if the kernel" in n for n in d["notes"])
    r = cli(["--root", root, "reset", VF0])       # a VF has no VFs: nothing more to say
    assert "also resets its VFs" not in r.err


# -- the tree recorded from the 7.3 guest ------------------------------------------

VM_TOKEN = "3c1e4e0a-5d43-4a8e-9d6e-2f4b1a7c9e10"   # tests/vm/test_sriov.py TOKEN


def test_the_tree_recorded_on_7_3(cli, recorded):
    """qemu-q35-sriov-newer (Linux 7.3.4, QEMU 10 igb): P1 in hotplug slot 1, VF
    P1v0 held through its cdev WITH P1's token by qemu-vf-guest.  Fails unless
    the newer rules are modelled: the cdev VF-token check (6.17), each VF alone
    in its dev_set, and the bus-wide pciehp slot (7.3)."""
    root = recorded("qemu-q35-sriov-newer")
    assert open(os.path.join(root, "proc/sys/kernel/osrelease")).read().strip() == "7.3.4"
    SimKernel(root).vf_tokens.set(PciAddress.parse(PF), VM_TOKEN)   # what the guest set
    d = cli(["--root", root, "reset-info", PF, "--json"]).json()["reset"]
    assert d["kind"] == "slot" and [a["address"] for a in d["affected"]] == [PF, VF0, VF1]
    assert d["also_reset"] == []
    assert [h["comm"] for a in d["affected"] if a["address"] == VF0
            for h in a["holders"]] == ["qemu-vf-guest"]
    assert d["verdicts"]["iommufd"]["expected"] == {"step": "VFIO_DEVICE_BIND_IOMMUFD",
                                                    "errno": "EACCES"}
    lst = {f["address"]: f for f in cli(["--root", root, "list", "--json"]).json()["functions"]}
    assert lst[VF0]["hot_reset"] == "slot" and lst[VF0]["slot"] == lst[PF]["slot"]
    # no token: the (simulated) kernel refuses to open the PF while its VF is in use
    r = _hr(cli, root, "--iommufd", "--no-preflight")
    assert r.code == 7 and r.json()["error"]["errno"] == "EACCES", r.err
    # the token opens it, but the VFs are not in the PF's dev_set: refused
    r = _hr(cli, root, "--iommufd", "--vf-token", VM_TOKEN)
    assert r.code == 1 and r.json()["error"]["errno"] == "EINVAL", r.err
    r = _hr(cli, root, "--iommufd", "--vf-token", VM_TOKEN, "--no-preflight")
    res = r.json()["results"][0]
    assert r.code == 7 and (res["error"]["op"], res["error"]["errno"]) == (
        "VFIO_DEVICE_PCI_HOT_RESET", "EINVAL")
    assert res["info"]["flags"] == 1       # VFIO_PCI_HOT_RESET_FLAG_DEV_ID, not DEV_ID_OWNED
    assert [(x["address"], x["devid"]) for x in res["info"]["devices"]][1:] == [
        (VF0, 0xFFFFFFFF), (VF1, 0xFFFFFFFF)]      # VFIO_PCI_DEVID_NOT_OWNED
    assert VM_TOKEN not in r.out + r.err


@pytest.mark.parametrize("fixture, wide", [("qemu-q35-sriov-newer", True),
                                           ("qemu-q35-sriov-vfio", False)])
def test_a_backport_is_told_by_the_bus_not_the_release(cli, recorded, fixture, wide):
    """A stable kernel older than 7.1 may carry commit 102c8b26b54e: the trees
    recorded on 7.3.4 (the VFs in slot 1 offer "flr bus") and on 6.12.95
    ("flr"), both relabelled 6.18.9, are told apart by their VFs' reset
    methods, in the plan and in the listing (which otherwise skips
    reset_method)."""
    root = recorded(fixture)
    with open(os.path.join(root, "proc/sys/kernel/osrelease"), "w") as f:
        f.write("6.18.9\n")
    d = cli(["--root", root, "reset-info", PF, "--json"]).json()["reset"]
    assert d["kind"] == "slot"
    assert [a["address"] for a in d["affected"]] == ([PF, VF0, VF1] if wide else [PF])
    assert ("0000:01:10.0 offers the bus reset method" in d["why"]) is wide
    lst = {f["address"]: f for f in cli(["--root", root, "list", "--json"]).json()["functions"]}
    assert (lst[VF0]["slot"] == lst[PF]["slot"]) is wide
    assert lst[VF0]["hot_reset"] == ("slot" if wide else "bus")


def test_a_vf_function_reset_takes_the_token(cli, build):
    """'reset VF' on the legacy path: the VF's open needs its PF's token; the
    refusal names --vf-token, which 'reset' takes too."""
    root = _root(build, "6.12.95")
    r = cli(["--root", root, "reset", VF1, "--legacy", "--yes", "--json"])
    err = r.json()["error"]
    assert r.code == 1 and (err["step"], err["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    assert "--vf-token" in err["hint"]
    r = cli(["--root", root, "reset", VF1, "--legacy", "--yes", "--json", "--vf-token", T])
    assert r.code == 0, r.err
    d = r.json()
    assert d["result"] == "reset" and d["vf_token_passed_to"] == [VF1]
    _no_secret(root, r.out, r.err)


# -- reset-info --kernel opens the device too ------------------------------------

def test_reset_info_kernel_takes_the_token(cli, build):
    """reset-info --kernel opens the PF to ask INFO: without the token the
    kernel refuses the open (EACCES, the hint naming --vf-token); with it the
    kernel answers, and the token appears nowhere."""
    root = _root(build, "6.12.95")
    base = ["--root", root, "reset-info", PF, "--kernel", "--legacy", "--yes", "--json"]
    k = cli(base).json()["kernel"]
    assert (k["step"], k["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES"), k
    assert "--vf-token" in k["hint"]
    assert "fix: pass the PF's SR-IOV VF token: --vf-token" in cli(base[:-1]).out
    r = cli([*base, "--vf-token", T])
    k = r.json()["kernel"]
    assert k["errno"] is None and k["flags"] is not None, k
    assert [d["address"] for d in k["devices"]] == [PF]
    gd = [s for s in k["steps"] if s["op"] == "VFIO_GROUP_GET_DEVICE_FD"]
    assert [s["target"] for s in gd] == [PF] and "VF token" in gd[0]["note"]
    _no_secret(root, r.out, r.err)
    # a bad UUID: usage error, value not echoed; without --kernel: nothing to open
    r = cli([*base, "--vf-token", "not-a-uuid-secret"])
    assert r.code == 2 and "not-a-uuid-secret" not in r.out + r.err
    r = cli(["--root", root, "reset-info", PF, "--vf-token", T])
    assert r.code == 2 and "--kernel" in r.err and T not in r.out + r.err
