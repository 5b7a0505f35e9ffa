"""SR-IOV on the real kernel (issue 13): igb PFs and their VFs under QEMU 10.

One boot per kernel (custom 6.12, and the newer 7.3) of ``SRIOV_TOPOLOGY``
(Debian 13's QEMU from tests/vm/setup-qemu.sh, single-threaded TCG) with igb
PFs in a hotplug slot (P1), behind a non-hotplug root port (P2) and on the
root bus (P3), each with two VFs:

1. variant (a): PFs on vfio-pci, VFs through ``vfio_pci.enable_sriov``:
   a snapshot, the scenario table's ``sriov-vfio`` rows (VF tokens, INFO and
   HOT_RESET on PFs and VFs, a VF's function reset), vfioctl's prediction of
   the VFs a PF's slot reset hits without the kernel naming them, and that
   prediction verified: a VF opened by another process has its command
   register cleared by vfioctl's hot reset of the PF;
2. variant (b): PFs on the igb driver, VFs made by igb and handed to vfio-pci:
   a snapshot and the ``sriov-igb`` rows.

On the host the simulator runs the same rows over each snapshot and must
observe exactly what the real kernel did.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

import harness

NONAMES = {"VFIOCTL_PCI_IDS": "none"}
CMD = "od -An -tx2 -j4 -N2 /sys/bus/pci/devices/@bdf:P1v0@/config"


def _cli(name, args, **kw):
    return {"name": name, "cli": args, "env": NONAMES, **kw}


def _conformance(name, kind):
    return {"name": name, "timeout": 900,
            "run": ["@PYTHON@", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "tests/conformance/guest_real_kernel.py"],
            "env": {"VFIOCTL_CONFORMANCE": kind, "VFIOCTL_OBS_OUT": f"@RESULTS@/obs-{kind}.json",
                    "VFIOCTL_PCI_IDS": "none"}}


#: the VF token the newer plan gives P1 (a test value: a real one is a secret)
TOKEN = "3c1e4e0a-5d43-4a8e-9d6e-2f4b1a7c9e10"

#: steps that only run on the custom 6.12 (cdev path without VF tokens, slots per
#: device number: the PF's slot reset resets its VFs without naming them)
GAP_612 = ("sv-hold-vf", "sv-cmd-before", "sv-hr-P1-noyes", "sv-hr-P1-held", "sv-cmd-dry",
           "sv-hr-P1-token-cdev", "sv-hr-P1-token-legacy", "sv-hr-P1", "sv-cmd-after",
           "sv-two-resets", "sv-release-vf")

# Which of the two resets in a hot reset of P1 hits its VF (6.12): vfioctl's own
# sequence (Session), with the VF's command register set to 0x0002 again (as its
# user had it) before each: after the PF's open (its open-time FLR), then after
# the slot reset (VFIO_DEVICE_PCI_HOT_RESET).
TWO_RESETS = ("import sys\n"
              "from vfioctl.kernel import get_backend\n"
              "from vfioctl.sysfs.reader import read_host\n"
              "from vfioctl.model.address import PciAddress\n"
              "from vfioctl.ops.hotreset import Session\n"
              "pf, vf = sys.argv[1], sys.argv[2]\n"
              "cfg = '/sys/bus/pci/devices/%s/config' % vf\n"
              "def cmd():\n"
              "    with open(cfg, 'rb') as f:\n"
              "        f.seek(4); b = f.read(2)\n"
              "    return '%04x' % int.from_bytes(b, 'little')\n"
              "def mem_on():\n"
              "    with open(cfg, 'r+b') as f:\n"
              "        f.seek(4); f.write(b'\\x02\\x00')\n"
              "h = read_host('/')\n"
              "k = get_backend('real', '/')\n"
              "s = Session(k, h, 'iommufd')\n"
              "mem_on(); print('set', cmd())\n"
              "try:\n"
              "    dfd = s.open_device(h.functions[PciAddress.parse(pf)])\n"
              "    print('after-pf-open', cmd())\n"
              "    mem_on(); print('set', cmd())\n"
              "    s.hot_reset_info(dfd, pf)\n"
              "    s.pci_hot_reset(dfd, pf, [])\n"
              "    print('after-slot-reset', cmd())\n"
              "finally:\n"
              "    s.close()\n")

# P1's token set by its "user", then held through its cdev WITH that token
SET_TOKEN = ("import sys\n"
             "from vfioctl.kernel import get_backend\n"
             "from vfioctl.sysfs.reader import read_host\n"
             "from vfioctl.model.address import PciAddress\n"
             "from tests.conformance.procedures import _set_pf_token\n"
             "h = read_host('/')\n"
             "_set_pf_token(get_backend('real', '/'), h, h.functions[PciAddress.parse(sys.argv[1])],"
             " sys.argv[2])\n"
             "print('token set on', sys.argv[1])\n")


def _newer_gap() -> list[dict]:
    """>= 7.3: the cdev path checks VF tokens (6.17) and the PF's pciehp slot is
    bus-wide, so the kernel lists P1's VFs and refuses the reset (EINVAL: each VF
    is alone in its dev_set).  Verified: nothing is reset."""
    hr = ["hot-reset", "@bdf:P1@", "--iommufd", "--yes", "--json"]
    return [
        {"name": "sv-set-token", "run": ["@PYTHON@", "-c", SET_TOKEN, "@bdf:P1@", TOKEN],
         "check": True},
        {"name": "sv-hold-vf", "hold": "@cdev:P1v0@", "id": "vf", "how": "cdev",
         "comm": "qemu-vf-guest", "env": {"VF_TOKEN": TOKEN}},
        {"name": "sv-cmd-before", "sh": CMD},
        _cli("sv-ri-P1-held", ["reset-info", "@bdf:P1@", "--json"]),
        _cli("sv-hr-P1-notoken", hr + ["--no-preflight"]),
        _cli("sv-hr-P1-token", hr + ["--vf-token", TOKEN]),
        {"name": "sv-cmd-refused", "sh": CMD},
        _cli("sv-hr-P1-token-kernel", hr + ["--vf-token", TOKEN, "--no-preflight"]),
        {"name": "sv-cmd-after", "sh": CMD},
        {"name": "sv-release-vf", "release": "vf"},
        # a VF's function reset on the legacy path: refused without the token, done with it
        _cli("sv-reset-vf-notoken", ["reset", "@bdf:P1v1@", "--legacy", "--yes", "--json"]),
        _cli("sv-reset-vf-token", ["reset", "@bdf:P1v1@", "--legacy", "--vf-token", TOKEN,
                                   "--yes", "--json"]),
    ]


def plan(newer: bool = False) -> list[dict]:
    """``newer``: a >= 7.3 kernel (see :func:`_newer_gap`)."""
    steps = [s for s in _plan() if not (newer and s.get("name") in GAP_612)]
    if newer:
        at = next(i for i, s in enumerate(steps) if s["name"] == "sv-conformance-vfio")
        steps[at:at] = _newer_gap()
    return steps


def _plan() -> list[dict]:
    return [
        {"name": "sv-variant-vfio", "run": ["@PYTHON@", "tests/vm/sriov_guest.py", "vfio"],
         "check": True},
        {"name": "sv-snap-vfio", "record": "@RESULTS@/snap-vfio"},
        _cli("sv-list", ["list", "--json"]),
        _cli("sv-ri-P1", ["reset-info", "@bdf:P1@", "--json"]),
        _cli("sv-check-P1", ["check", "@bdf:P1@", "--json"]),
        _cli("sv-ri-P2", ["reset-info", "@bdf:P2@", "--json"]),
        _cli("sv-ri-P1v0", ["reset-info", "@bdf:P1v0@", "--json"]),
        # the scope gap, live: another process uses VF P1v0 (open: command register 0x0002)
        {"name": "sv-hold-vf", "hold": "@cdev:P1v0@", "id": "vf", "how": "cdev",
         "comm": "qemu-vf-guest"},
        {"name": "sv-cmd-before", "sh": CMD},
        _cli("sv-hr-P1-noyes", ["hot-reset", "@bdf:P1@", "--iommufd"]),
        _cli("sv-hr-P1-held", ["hot-reset", "@bdf:P1@", "--iommufd", "--dry-run", "--json"]),
        {"name": "sv-cmd-dry", "sh": CMD},
        # 6.12 takes no VF token on the cdev path (EINVAL for the flag); the legacy
        # path checks it: P1's token is still the random one, so this one is wrong
        _cli("sv-hr-P1-token-cdev", ["hot-reset", "@bdf:P1@", "--iommufd", "--vf-token", TOKEN,
                                     "--yes", "--json"]),
        _cli("sv-hr-P1-token-legacy", ["hot-reset", "@bdf:P1@", "--legacy", "--vf-token", TOKEN,
                                       "--no-preflight", "--yes", "--json"]),
        _cli("sv-hr-P1", ["hot-reset", "@bdf:P1@", "--iommufd", "--yes", "--json"]),
        {"name": "sv-cmd-after", "sh": CMD},
        {"name": "sv-two-resets", "run": ["@PYTHON@", "-c", TWO_RESETS, "@bdf:P1@", "@bdf:P1v0@"]},
        {"name": "sv-release-vf", "release": "vf"},
        _conformance("sv-conformance-vfio", "sriov-vfio"),
        {"name": "sv-variant-igb", "run": ["@PYTHON@", "tests/vm/sriov_guest.py", "igb"],
         "check": True},
        {"name": "sv-snap-igb", "record": "@RESULTS@/snap-igb"},
        _conformance("sv-conformance-igb", "sriov-igb"),
        # live uevents: vfioctl watch against pyudev's kernel netlink monitor (no udevd)
        {"name": "sv-uevents", "sh": ". tests/vm/uevent_guest.sh", "timeout": 180,
         "env": {"PF": "@bdf:P2@", "VF": "@bdf:P2v0@"}},
        {"name": "sv-dmesg", "sh": "dmesg | grep -i -e vfio -e 'VF token' | tail -n 60"},
    ]


@pytest.fixture(scope="module", params=["custom-6.12", "newer"])
def sriov(vm_initramfs, request):
    newer = request.param == "newer"
    kpath = request.getfixturevalue("vm_newer_kernel" if newer else "vm_kernel")
    try:
        harness.qemu_root()
    except harness.VMError as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"no QEMU with igb: {e}", pytrace=False)
        pytest.skip(f"no QEMU with igb here: {str(e)[:1000]}")
    res = harness.boot("iommu", plan(newer), timeout=1500, topology=harness.SRIOV_TOPOLOGY,
                       qemu="trixie", bind_ids=(), kernel_path=kpath)
    res.newer = newer
    return res


def _steps(res):
    return {e["name"]: e for e in res}


def _json(e):
    assert e["stdout"], f"{e['name']}: no output; rc={e['rc']} stderr={e['stderr'][-2000:]}"
    return json.loads(e["stdout"])


def test_vfs_created_both_ways(sriov):
    s = _steps(sriov)
    for v, pf_driver in (("sv-variant-vfio", "vfio-pci"), ("sv-variant-igb", "igb")):
        assert s[v]["rc"] == 0, s[v]["stderr"][-2000:]
        st = _json(s[v])
        assert [p["driver"] for p in st["pfs"]] == [pf_driver] * 3
        for p in st["pfs"]:
            assert len(p["vfs"]) == 2 and all(x["driver"] == "vfio-pci" for x in p["vfs"])
            # each VF alone in its own IOMMU group, separate from the PF's
            assert len({p["group"], *(x["group"] for x in p["vfs"])}) == 3


def test_list_shows_pf_and_vfs(sriov):
    d = _json(_steps(sriov)["sv-list"])
    by = {f["address"]: f for f in d["functions"]}
    p1, v0 = by[sriov_bdf(sriov, "P1")], by[sriov_bdf(sriov, "P1v0")]
    assert v0["physfn"] == p1["address"] and v0["address"] in p1["virtfns"]
    # 6.12: the VF (device 0x10) is outside slot 1: bus reset; 7.3: the pciehp slot is
    # bus-wide, so the VF's pdev->slot is slot 1: slot reset
    assert p1["hot_reset"] == "slot" and v0["hot_reset"] == ("slot" if sriov.newer else "bus")
    assert by[sriov_bdf(sriov, "P3")]["hot_reset"] is None


def sriov_bdf(res, ident):
    """Guest address of a SRIOV_TOPOLOGY id (VFs exist only after the variant step)."""
    for d in res.topology_end.get("devices", []) + res.topology.get("devices", []):
        if d.get("id") == ident:
            return d["bdf"]
    raise KeyError(ident)


def test_scope_gap_predicted(sriov):
    """6.12: the kernel's INFO for P1 (slot) lists only P1; vfioctl names the VFs too.
    7.3: the slot is bus-wide, the kernel lists the VFs itself: no gap to fill."""
    s = _steps(sriov)
    plan = _json(s["sv-ri-P1"])["reset"]
    pf, vfs = sriov_bdf(sriov, "P1"), [sriov_bdf(sriov, "P1v0"), sriov_bdf(sriov, "P1v1")]
    chk = _json(s["sv-check-P1"])["resets"][0]
    if sriov.newer:
        assert [a["address"] for a in plan["affected"]] == [pf] + vfs
        assert plan["also_reset"] == [] and chk["also_reset"] == []
        # each VF alone in its dev_set: refused while the VFs exist
        assert plan["verdicts"]["iommufd"]["expected"] == {
            "step": "VFIO_DEVICE_PCI_HOT_RESET", "errno": "EINVAL"}
    else:
        assert [a["address"] for a in plan["affected"]] == [pf]
        assert [c["address"] for c in plan["also_reset"]] == vfs
        assert chk["also_reset"] == vfs
    # P2's bus reset lists its VFs itself (INFO does too), nothing is left over
    p2 = _json(s["sv-ri-P2"])["reset"]
    assert len(p2["affected"]) == 3 and p2["also_reset"] == []


def test_scope_gap_verified_on_the_real_kernel(sriov):
    """6.12: vfioctl's hot reset of P1 (the kernel: 'slot reset of P1') clears the
    command register of VF P1v0, held by another process, as predicted; so does
    each of its two resets alone (the PF's open-time FLR, the slot reset).
    7.3: the holder needs P1's VF token and so does vfioctl (--vf-token); the
    kernel then lists the VFs and refuses the hot reset (EINVAL), as vfioctl
    predicted; forced (--no-preflight), the PF's open alone (its function reset)
    clears the VF's command register although no hot reset happened."""
    if sriov.newer:
        return _newer_gap_verified(sriov)
    s = _steps(sriov)
    assert s["sv-hold-vf"]["rc"] == 0, s["sv-hold-vf"]["stdout"] + s["sv-hold-vf"]["stderr"]
    assert s["sv-cmd-before"]["stdout"].split() == ["0002"]
    # no --yes, not interactive: refused, and the question names the VF and its user
    e = s["sv-hr-P1-noyes"]
    assert e["rc"] == 6, e["stderr"]
    assert f"also hits {sriov_bdf(sriov, 'P1v0')}, {sriov_bdf(sriov, 'P1v1')}" in e["stderr"]
    dry = _json(s["sv-hr-P1-held"])
    also = dry["resets"][0]["plan"]["also_reset"]
    assert [c["address"] for c in also] == [sriov_bdf(sriov, "P1v0"), sriov_bdf(sriov, "P1v1")]
    assert also[0]["holders"] and also[0]["holders"][0]["comm"] == "qemu-vf-guest"
    assert s["sv-cmd-dry"]["stdout"].split() == ["0002"]
    # 6.12's BIND_IOMMUFD takes no token: EINVAL for the flag, said as such
    e = s["sv-hr-P1-token-cdev"]
    err = _json(e)["error"]
    assert e["rc"] == 7 and (err["op"], err["errno"]) == ("VFIO_DEVICE_BIND_IOMMUFD", "EINVAL")
    assert "takes no VF token on the cdev path" in err["message"]
    assert "run without --vf-token" in err["hint"]
    # the legacy path checks it: P1's token is the random one, so ours is wrong (EACCES)
    e = s["sv-hr-P1-token-legacy"]
    err = _json(e)["error"]
    assert e["rc"] == 7 and (err["op"], err["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    assert "--vf-token" in err["hint"]
    for x in ("sv-hr-P1-token-cdev", "sv-hr-P1-token-legacy"):
        assert TOKEN not in s[x]["stdout"] + s[x]["stderr"]
    e = s["sv-hr-P1"]
    assert e["rc"] == 0, e["stderr"][-2000:]
    d = _json(e)
    r = d["results"][0]
    assert r["result"] == "reset"
    # the kernel's own report: only the PF
    assert [x["address"] for x in r["info"]["devices"]] == [sriov_bdf(sriov, "P1")]
    assert s["sv-cmd-after"]["stdout"].split() == ["0000"]
    # each of the two resets hits the VF on its own: the PF's open (its FLR), and
    # the slot reset whose INFO names only the PF (the register set again in between)
    e = s["sv-two-resets"]
    assert e["rc"] == 0, e["stderr"][-2000:]
    assert e["stdout"].split("\n")[:4] == ["set 0002", "after-pf-open 0000", "set 0002",
                                           "after-slot-reset 0000"]


def _newer_gap_verified(sriov):
    s = _steps(sriov)
    pf, vfs = sriov_bdf(sriov, "P1"), [sriov_bdf(sriov, "P1v0"), sriov_bdf(sriov, "P1v1")]
    assert s["sv-set-token"]["rc"] == 0, s["sv-set-token"]["stderr"]
    assert s["sv-hold-vf"]["rc"] == 0, s["sv-hold-vf"]["stdout"] + s["sv-hold-vf"]["stderr"]
    assert s["sv-cmd-before"]["stdout"].split() == ["0002"]
    ri = _json(s["sv-ri-P1-held"])["reset"]
    assert [a["address"] for a in ri["affected"]] == [pf] + vfs and ri["also_reset"] == []
    assert ri["verdicts"]["iommufd"]["expected"]["step"] == "VFIO_DEVICE_BIND_IOMMUFD"
    # without the token the kernel refuses the PF's bind (its VF is in use): the hint
    # names the option that fixes it
    e = s["sv-hr-P1-notoken"]
    err = _json(e)["error"]
    assert e["rc"] == 7 and (err["op"], err["errno"]) == ("VFIO_DEVICE_BIND_IOMMUFD", "EACCES")
    assert "--vf-token" in err["hint"]
    # with it, vfioctl still refuses before opening anything: the VFs are in the
    # slot but not in the PF's dev_set (EINVAL predicted)
    e = s["sv-hr-P1-token"]
    err = _json(e)["error"]
    assert e["rc"] == 1 and (err["step"], err["errno"]) == ("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL")
    assert vfs[0] in err["message"]
    # and the kernel agrees: the token opens the PF, INFO lists the VFs as not
    # owned, HOT_RESET is EINVAL
    e = s["sv-hr-P1-token-kernel"]
    d = _json(e)
    r = d["results"][0]
    assert e["rc"] == 7 and (r["error"]["op"], r["error"]["errno"]) == (
        "VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"), e["stderr"][-2000:]
    assert r["vf_token_passed_to"] == [pf]
    assert [x["address"] for x in r["info"]["devices"]] == [pf] + vfs
    for x in ("sv-hr-P1-token", "sv-hr-P1-token-kernel", "sv-ri-P1-held"):
        assert TOKEN not in s[x]["stdout"] + s[x]["stderr"]
    # the refused bind and vfioctl's refusal opened nothing: the VF is as its user left it
    assert s["sv-cmd-refused"]["stdout"].split() == ["0002"]
    # 'reset VF': vfioctl refuses without the token (naming it), the real kernel takes it
    e = s["sv-reset-vf-notoken"]
    err = _json(e)["error"]
    assert e["rc"] == 1 and (err["step"], err["errno"]) == ("VFIO_GROUP_GET_DEVICE_FD", "EACCES")
    assert "--vf-token" in err["hint"]
    e = s["sv-reset-vf-token"]
    d = _json(e)
    assert e["rc"] == 0, e["stderr"][-2000:]
    assert d["result"] == "reset" and d["vf_token_passed_to"] == [vfs[1]]
    assert TOKEN not in e["stdout"] + e["stderr"]
    # the kernel refused the hot reset (no slot reset happened), yet the VF was reset:
    # binding the PF ran its open-time function reset (FLR), which resets its VFs too
    assert s["sv-cmd-after"]["stdout"].split() == ["0000"]


def _table_vs_sim(res, kind, snap, tmp_path):
    from tests.conformance.envs import SimEnv
    from tests.conformance.procedures import sim_vs_kernel
    from tests.conformance.table import ROWS, applies
    e = _steps(res)[f"sv-conformance-{kind.split('-')[1]}"]
    real = json.load(open(os.path.join(res.results_dir, f"obs-{kind}.json")))
    root = str(tmp_path / "snap")
    shutil.copytree(os.path.join(res.results_dir, snap), root, symlinks=True)
    release = open(os.path.join(root, "proc/sys/kernel/osrelease")).read().strip()
    rows = [r for r in ROWS if applies(r, kind, release)]
    assert sorted(real) == sorted(r.id for r in rows), e["stdout"][-3000:]
    assert e["rc"] == 0, (e["stdout"][-4000:], e["stderr"][-2000:])
    env = SimEnv(root, kind)
    assert sim_vs_kernel(env, rows, real, judged=True) == []


def test_table_sriov_vfio_real_and_sim_agree(sriov, tmp_path):
    _table_vs_sim(sriov, "sriov-vfio", "snap-vfio", tmp_path)


def test_table_sriov_igb_real_and_sim_agree(sriov, tmp_path):
    _table_vs_sim(sriov, "sriov-igb", "snap-igb", tmp_path)


def test_the_bus_shows_whether_its_slot_is_bus_wide(sriov):
    """The evidence vfioctl takes where the release cannot tell (a stable kernel
    with commit 102c8b26b54e backported), read from the real kernel's tree:
    the VFs of P1 (device 0x10 on slot 1's bus) offer the bus reset method
    only on the kernel whose slot covers them."""
    from vfioctl.model.address import PciAddress
    from vfioctl.model.topology import bus_wide_evidence
    from vfioctl.sysfs.reader import read_host
    host = read_host(os.path.join(sriov.results_dir, "snap-vfio"), holders=False)
    pf = PciAddress.parse(sriov_bdf(sriov, "P1"))
    vf = host.functions[PciAddress.parse(sriov_bdf(sriov, "P1v0"))]
    assert ("bus" in vf.reset_method) is sriov.newer, vf.reset_method
    ev = bus_wide_evidence(host, pf.domain, pf.bus)
    assert (ev is not None) is sriov.newer


def _lines(path):
    with open(path) as f:
        return [json.loads(ln) for ln in f if ln.strip()]


def test_watch_saw_the_real_uevents(sriov):
    """`vfioctl watch` (kernel netlink fallback: the guest has no udevd) printed
    exactly the uevents an independent pyudev kernel monitor saw, and they say
    what happened: VFs removed and created, a VF unbound and bound."""
    e = _steps(sriov)["sv-uevents"]
    assert e["rc"] == 0, e["stdout"] + e["stderr"]
    watch = _lines(sriov.results_dir / "watch.jsonl")
    ref = _lines(sriov.results_dir / "uevents.jsonl")
    assert "udevd is not running" in (sriov.results_dir / "watch.err").read_text()
    assert {w["command"] for w in watch} == {"watch"}
    want = {(r["seqnum"], r["action"], r["subsystem"]) for r in ref
            if r["action"] in ("add", "remove", "bind", "unbind", "change")}
    assert {(w["seqnum"], w["action"], w["subsystem"]) for w in watch} == want
    pf, vf, vf1 = (sriov_bdf(sriov, x) for x in ("P2", "P2v0", "P2v1"))
    ev = [(w["action"], w["subsystem"], w["address"]) for w in watch]
    for v in (vf, vf1):          # numvfs 0 then 2: each VF removed, then added again
        assert ("remove", "pci", v) in ev and ("add", "pci", v) in ev
        assert ev.index(("remove", "pci", v)) < ev.index(("add", "pci", v))
    binds = [w for w in watch if w["action"] == "bind" and w["address"] == vf]
    assert [b["driver"] for b in binds] == ["igbvf", "vfio-pci"]
    assert binds[-1]["iommu_group"] is not None
    assert ("unbind", "pci", vf) in ev
    # vfio-pci created the VF's group node and cdev: both announced
    assert any(w["subsystem"] == "vfio" and w["action"] == "add"
               and w["address"] == str(binds[-1]["iommu_group"]) for w in watch)
    assert any(w["subsystem"] == "vfio-dev" and w["action"] == "add" and w["function"] == vf
               for w in watch)
    assert pf not in {w["address"] for w in watch if w["action"] in ("remove", "add")}
    assert [(w["action"], w["address"]) for w in watch][-1] == ("change", pf)   # the end marker
