"""vfioctl against a real Linux 6.12 kernel in the QEMU guest (issue: real-kernel proof).

One boot per mode (intel-iommu, noiommu), shared with the other VM tests
through harness.register().  In the guest: a pristine snapshot, the CLI end
to end (list, groups, show, reset-info with and without --kernel, check,
hot-reset in both modes, reset, and the refusal cases), then the scenario
table (tests/conformance) with the real backend.  On the host: the
predictions equal the kernel's answers, and the simulator over the snapshot
of that same guest observes exactly what the real kernel did.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

import harness

ROLES = {"mf": "A", "alone": "C", "bridged": "D", "rootbus": "F", "nohotplug": "I",
         "switched": "S"}
NONAMES = {"VFIOCTL_PCI_IDS": "none"}


def _cli(name, args, **kw):
    return {"name": name, "cli": args, "env": NONAMES, **kw}


def _iommu_plan():
    p = [{"name": "rk-snap", "record": "@RESULTS@/snap"},
         _cli("rk-list", ["list", "--json"]),
         _cli("rk-groups", ["groups", "--json"]),
         _cli("rk-show", ["show", "@bdf:A@", "--json"])]
    for x in ROLES.values():
        p.append(_cli(f"rk-info-{x}", ["reset-info", "@bdf:" + x + "@", "--json"]))
        for m in ("group", "iommufd"):
            p.append(_cli(f"rk-kinfo-{x}-{m}", ["reset-info", "@bdf:" + x + "@", "--kernel",
                                                f"--{m}", "--yes", "--json"]))
    p += [
        _cli("rk-check-ok", ["check", "@bdf:A@", "@bdf:C@", "@bdf:D@", "--json"]),
        _cli("rk-check-no", ["check", "@bdf:F@", "--json"]),
        _cli("rk-dry", ["hot-reset", "@bdf:A@", "--dry-run", "--json"]),
    ]
    for x in ("A", "D", "S", "I", "C"):
        for m in ("group", "iommufd"):
            p.append(_cli(f"rk-hr-{x}-{m}", ["hot-reset", "@bdf:" + x + "@", f"--{m}", "--yes",
                                             "--json"]))
    p += [
        _cli("rk-reset-C", ["reset", "@bdf:C@", "--yes", "--json"]),
        _cli("rk-reset-A", ["reset", "@bdf:A@", "--yes", "--json"]),
        _cli("rk-noyes", ["hot-reset", "@bdf:A@"]),
        # a function in scope not on vfio-pci
        {"name": "rk-unbind-B", "unbind": "@bdf:B@"},
        _cli("rk-unb-pre", ["hot-reset", "@bdf:A@", "--yes", "--json"]),
        _cli("rk-unb-group", ["hot-reset", "@bdf:A@", "--group", "--yes", "--no-preflight", "--json"]),
        _cli("rk-unb-iommufd", ["hot-reset", "@bdf:A@", "--iommufd", "--yes", "--no-preflight",
                                "--json"]),
        _cli("rk-unb-kinfo", ["reset-info", "@bdf:A@", "--kernel", "--iommufd", "--yes", "--json"]),
        {"name": "rk-bind-B", "bind": "@bdf:B@", "driver": "vfio-pci"},
        # a group held by another process
        {"name": "rk-hold", "hold": "@groupdev:A@", "id": "rk-h", "comm": "qemu-system-x86"},
        _cli("rk-held-list", ["list", "--vfio", "--json"]),
        _cli("rk-held-pre", ["hot-reset", "@bdf:A@", "--group", "--yes", "--json"]),
        _cli("rk-held-group", ["hot-reset", "@bdf:A@", "--group", "--yes", "--no-preflight",
                               "--json"]),
        _cli("rk-held-iommufd", ["hot-reset", "@bdf:A@", "--iommufd", "--yes", "--no-preflight",
                                 "--json"]),
        {"name": "rk-release", "release": "rk-h"},
        # root bus, wrong mode
        _cli("rk-root-pre", ["hot-reset", "@bdf:F@", "--yes", "--json"]),
        _cli("rk-root-kernel", ["hot-reset", "@bdf:F@", "--group", "--yes", "--no-preflight",
                                "--json"]),
        {"name": "rk-conformance", "timeout": 900,
         "run": ["@PYTHON@", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "tests/conformance/guest_real_kernel.py"],
         "env": {"VFIOCTL_CONFORMANCE": "iommu", "VFIOCTL_OBS_OUT": "@RESULTS@/obs.json",
                 "VFIOCTL_PCI_IDS": "none"}},
    ]
    return p


def _noiommu_plan():
    return [
        {"name": "rkn-snap", "record": "@RESULTS@/snap"},
        _cli("rkn-list", ["list", "--json"]),
        _cli("rkn-kinfo-A", ["reset-info", "@bdf:A@", "--kernel", "--group", "--yes", "--json"]),
        _cli("rkn-kinfo-D", ["reset-info", "@bdf:D@", "--kernel", "--group", "--yes", "--json"]),
        _cli("rkn-hr-A", ["hot-reset", "@bdf:A@", "--yes", "--json"]),
        _cli("rkn-hr-A-iommufd", ["hot-reset", "@bdf:A@", "--iommufd", "--yes", "--json"]),
        {"name": "rkn-conformance", "timeout": 900,
         "run": ["@PYTHON@", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "tests/conformance/guest_real_kernel.py"],
         "env": {"VFIOCTL_CONFORMANCE": "noiommu", "VFIOCTL_OBS_OUT": "@RESULTS@/obs.json",
                 "VFIOCTL_PCI_IDS": "none"}},
    ]


harness.register("iommu", "rk", _iommu_plan())
harness.register("noiommu", "rkn", _noiommu_plan())


def _steps(res, key):
    return {e["name"]: e for e in res.fragment(key)}


def _json(e):
    assert e["stdout"], f"{e['name']}: no output; rc={e['rc']} stderr={e['stderr'][-2000:]}"
    return json.loads(e["stdout"])


@pytest.fixture(scope="module")
def iommu(vm_shared):
    return vm_shared("iommu")


@pytest.fixture(scope="module")
def noiommu(vm_shared):
    return vm_shared("noiommu")


# -- inspection --------------------------------------------------------------

def test_list_matches_the_kernel_topology(iommu):
    s = _steps(iommu, "rk")
    d = _json(s["rk-list"])
    by = {f["address"]: f for f in d["functions"]}
    a, b = by[iommu.bdf("A")], by[iommu.bdf("B")]
    assert a["driver"] == b["driver"] == "vfio-pci"
    assert a["iommu_group"] == b["iommu_group"] == iommu.group("A")
    assert a["vfio"]["cdev_node"] == f"/dev/vfio/devices/{iommu.device('A')['vfio_dev']}"
    assert a["vfio"]["group_node"] == f"/dev/vfio/{iommu.group('A')}"
    assert by[iommu.bdf("F")]["hot_reset"] is None
    assert by[iommu.bdf("A")]["hot_reset"] == "slot"       # pciehp slot on rp1
    assert by[iommu.bdf("I")]["hot_reset"] == "bus"        # hotplug=off root port
    assert by[iommu.bdf("D")]["hot_reset"] == "bus"        # conventional bus, no slot
    g = {x["iommu_group"]: x for x in _json(s["rk-groups"])["groups"]}
    assert g[iommu.group("A")]["viable"] is True
    assert _json(s["rk-show"])["function"]["reset_caps"]["config_readable"] is True


def test_snapshot_of_the_guest_reads_like_the_guest(iommu, cli, tmp_path):
    """The snapshot taken in the guest, read on the host, gives the guest's document."""
    snap = os.path.join(iommu.results_dir, "snap")
    root = str(tmp_path / "snap")
    shutil.copytree(snap, root, symlinks=True)
    host_doc = cli(["--root", root, "list", "--json"]).json()
    guest_doc = _json(_steps(iommu, "rk")["rk-list"])
    for d in (host_doc, guest_doc):
        d["host"]["root"] = None
    assert host_doc == guest_doc


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("mode", ["group", "iommufd"])
def test_prediction_equals_the_kernel(iommu, role, mode):
    x = ROLES[role]
    e = _steps(iommu, "rk")[f"rk-kinfo-{x}-{mode}"]
    d = _json(e)
    k = d["kernel"]
    assert k["agrees"] is True, (k, e["stderr"][-1000:])
    if role == "rootbus":
        assert k["errno"] == "ENODEV"
    else:
        assert k["errno"] is None
        assert [x["address"] for x in k["devices"]] == [a["address"] for a in d["reset"]["affected"]]
        assert k["flags"] == (0 if mode == "group" else 3)


def test_check(iommu):
    s = _steps(iommu, "rk")
    assert s["rk-check-ok"]["rc"] == 0 and _json(s["rk-check-ok"])["possible"] is True
    assert s["rk-check-no"]["rc"] == 1


@pytest.mark.parametrize("x", ["A", "D", "S", "I", "C"])
@pytest.mark.parametrize("mode", ["group", "iommufd"])
def test_hot_reset_on_the_real_kernel(iommu, x, mode):
    e = _steps(iommu, "rk")[f"rk-hr-{x}-{mode}"]
    assert e["rc"] == 0, e["stderr"][-2000:]
    d = _json(e)
    (r,) = d["results"]
    assert d["backend"] == "real" and r["result"] == "reset" and r["mode"] == mode
    assert d["verification"] == []


def test_dry_run_and_confirmation(iommu):
    s = _steps(iommu, "rk")
    assert s["rk-dry"]["rc"] == 0 and _json(s["rk-dry"])["results"][0]["result"] == "dry-run"
    assert s["rk-noyes"]["rc"] == 6


def test_function_reset(iommu):
    s = _steps(iommu, "rk")
    assert s["rk-reset-C"]["rc"] == 0, s["rk-reset-C"]["stderr"]
    assert _json(s["rk-reset-C"])["device_info"]["reset"] is True
    # A's reset_method lists 'bus', but B shares the bus: no function reset
    assert s["rk-reset-A"]["rc"] == 7
    assert "reports no function reset" in _json(s["rk-reset-A"])["error"]["message"]


def test_refusal_unbound_function_in_scope(iommu):
    s = _steps(iommu, "rk")
    assert s["rk-unb-pre"]["rc"] == 1
    for name in ("rk-unb-group", "rk-unb-iommufd"):
        e = _json(s[name])["error"]
        assert s[name]["rc"] == 7 and (e["op"], e["errno"]) == ("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL")
    k = _json(s["rk-unb-kinfo"])["kernel"]
    assert k["agrees"] is True and k["flags"] == 1
    assert [d["devid_text"] for d in k["devices"]][1] == "NOT_OWNED (-1)"
    assert s["rk-bind-B"]["rc"] == 0


def test_refusal_group_held_by_another_process(iommu):
    s = _steps(iommu, "rk")
    pid = s["rk-hold"]["pid"]
    held = _json(s["rk-held-list"])
    assert {(h["pid"], h["comm"]) for f in held["functions"] for h in f["holders"]} >= {
        (pid, "qemu-system-x86")}
    assert s["rk-held-pre"]["rc"] == 1
    assert f"qemu-system-x86 (pid {pid})" in _json(s["rk-held-pre"])["error"]["message"]
    e = _json(s["rk-held-group"])["error"]
    assert (e["op"], e["errno"]) == ("open", "EBUSY")
    assert f"group {iommu.group('A')} is open in another process: qemu-system-x86 (pid {pid})" \
        in e["message"]
    e = _json(s["rk-held-iommufd"])["error"]
    assert (e["op"], e["errno"]) == ("VFIO_DEVICE_BIND_IOMMUFD", "EBUSY")


def test_refusal_root_bus(iommu):
    s = _steps(iommu, "rk")
    assert s["rk-root-pre"]["rc"] == 1
    e = _json(s["rk-root-kernel"])["error"]
    assert (e["op"], e["errno"]) == ("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "ENODEV")


# -- the scenario table: real kernel == table == simulator --------------------

def _table_vs_sim(res, key, kind, tmp_path):
    from tests.conformance.envs import SimEnv
    from tests.conformance.procedures import sim_vs_kernel
    from tests.conformance.table import ROWS
    e = _steps(res, key)[f"{key}-conformance"]
    assert e["rc"] == 0, (e["stdout"][-4000:], e["stderr"][-2000:])
    real = json.load(open(os.path.join(res.results_dir, "obs.json")))
    rows = [r for r in ROWS if kind in r.kernels]
    assert sorted(real) == sorted(r.id for r in rows)
    root = str(tmp_path / "snap")
    shutil.copytree(os.path.join(res.results_dir, "snap"), root, symlinks=True)
    env = SimEnv(root, kind)
    assert sim_vs_kernel(env, rows, real) == []


def test_table_on_the_real_kernel_and_the_simulator_agree_iommu(iommu, tmp_path):
    _table_vs_sim(iommu, "rk", "iommu", tmp_path)


def test_table_on_the_real_kernel_and_the_simulator_agree_noiommu(noiommu, tmp_path):
    _table_vs_sim(noiommu, "rkn", "noiommu", tmp_path)


# -- noiommu ------------------------------------------------------------------

def test_noiommu_naming_and_reset(noiommu):
    s = _steps(noiommu, "rkn")
    d = _json(s["rkn-list"])
    by = {f["address"]: f for f in d["functions"]}
    a = by[noiommu.bdf("A")]
    assert a["vfio"]["noiommu"] is True
    assert a["vfio"]["group_node"] == f"/dev/vfio/noiommu-{noiommu.group('A')}"
    assert a["vfio"]["cdev_node"] is None and a["vfio"]["vfio_dev"]
    assert d["host"]["iommu"]["enable_unsafe_noiommu_mode"] is True
    assert by[noiommu.bdf("B")]["iommu_group"] != a["iommu_group"]
    for n in ("rkn-kinfo-A", "rkn-kinfo-D"):
        k = _json(s[n])["kernel"]
        assert k["agrees"] is True and len({x["group_id"] for x in k["devices"]}) == 2
    e = s["rkn-hr-A"]
    assert e["rc"] == 0, e["stderr"][-2000:]
    r = _json(e)["results"][0]
    assert r["mode"] == "group"
    opened = [st["target"] for st in r["steps"] if st["op"] == "open"]
    assert f"/dev/vfio/noiommu-{noiommu.group('A')}" in opened
    assert f"/dev/vfio/noiommu-{noiommu.group('B')}" in opened   # both group fds needed
    assert s["rkn-hr-A-iommufd"]["rc"] == 1
