"""vfioctl bind / unbind on the simulator: the set, guards, consequence,
rollback, undo, variant drivers, persistence, remedies."""

from __future__ import annotations

import json
import os
import time

import pytest

from vfioctl.sysfs import usage
from vfioctl.sysfs.root import Root


def _drv(root, bdf):
    return usage.driver_of(Root(root), bdf)


def _tree(root):
    out = {}
    for top, dirs, files in os.walk(root):
        if ".vfioctl-sim" in top:
            continue
        for n in dirs + files:
            p = os.path.join(top, n)
            out[os.path.relpath(p, root)] = os.readlink(p) if os.path.islink(p) else (
                open(p, "rb").read() if os.path.isfile(p) else None)
    out.pop(".vfioctl-sim.lock", None)
    return out


# -- the set and its consequence ----------------------------------------------

def test_bind_a_group_turns_a_refused_check_into_a_passing_one(tmp_path, cli):
    from vfioctl.testing.scenarios import build
    root = build("demo", str(tmp_path / "demo"))
    assert cli(["--root", root, "check", "82:00.0"]).code == 1
    r = cli(["--root", root, "bind", "82:00.0", "--yes", "--json"])
    assert r.code == 0, r.err
    d = r.json()
    assert d["command"] == "bind" and d["result"] == "done"
    fns = {f["address"]: f for f in d["plan"]["functions"]}
    assert fns["0000:82:00.0"]["action"] == "none"
    assert fns["0000:82:00.1"]["action"] == "bind"
    assert fns["0000:82:00.1"]["driver_now"] == "snd_hda_intel"
    (c,) = d["plan"]["consequences"]
    assert (c["group_viable_now"], c["group_viable_after"]) == (False, True)
    assert c["hot_reset"]["possible_now"] == [] and set(c["hot_reset"]["possible_after"]) == {
        "group", "iommufd"}
    assert [s["op"] for s in d["steps"]] == ["driver_override", "unbind", "drivers_probe",
                                              "verify driver"]
    assert {n["node"] for n in d["nodes"]} == {"/dev/vfio/44", "/dev/vfio/devices/vfio14"}
    assert all(n["present"] for n in d["nodes"])
    assert _drv(root, "0000:82:00.1") == "vfio-pci"
    # the prediction was right: check passes and the hot reset is done
    assert cli(["--root", root, "check", "82:00.0"]).code == 0
    hr = cli(["--root", root, "hot-reset", "82:00.0", "--yes", "--json"])
    assert hr.code == 0 and hr.json()["results"][0]["result"] == "reset"
    # recorded for unbind
    st = json.load(open(os.path.join(root, "run/vfioctl/bindings.json")))
    assert st["functions"]["0000:82:00.1"]["driver"] == "snd_hda_intel"
    # unbind restores the original driver (the group's other member stays on vfio-pci:
    # vfioctl did not bind it)
    u = cli(["--root", root, "unbind", "82:00.1", "--yes", "--json"])
    assert u.code == 0, u.err
    assert _drv(root, "0000:82:00.1") == "snd_hda_intel"
    assert _drv(root, "0000:82:00.0") == "vfio-pci"
    assert cli(["--root", root, "check", "82:00.0"]).code == 1
    assert not os.path.exists(os.path.join(root, "run/vfioctl/bindings.json"))


def test_scope_binds_the_other_group_of_the_reset_scope(build, cli):
    root = build("bind-host")
    r = cli(["--root", root, "bind", "02:00.0", "--yes", "--json"])
    assert r.code == 0
    assert r.json()["plan"]["consequences"][0]["hot_reset"]["possible_after"] == []
    reasons = r.json()["plan"]["consequences"][0]["hot_reset"]["reasons_after"]
    assert {x["remedy"] for x in reasons} == {"vfioctl bind 0000:02:00.1"}
    assert cli(["--root", root, "check", "02:00.0"]).code == 1
    r = cli(["--root", root, "bind", "02:00.0", "--scope", "--yes", "--json"])
    assert r.code == 0, r.err
    d = r.json()
    roles = {f["address"]: (f["role"], f["action"]) for f in d["plan"]["functions"]}
    assert roles["0000:02:00.1"] == ("scope", "bind")
    assert d["plan"]["consequences"][0]["hot_reset"]["possible_after"]
    assert cli(["--root", root, "check", "02:00.0"]).code == 0
    assert cli(["--root", root, "hot-reset", "02:00.0", "--yes"]).code == 0
    # unbind of one gives back every member vfioctl bound in its group only
    u = cli(["--root", root, "unbind", "02:00.0", "02:00.1", "--yes"])
    assert u.code == 0, u.err
    assert _drv(root, "0000:02:00.0") == _drv(root, "0000:02:00.1") == "igb"


def test_dry_run_writes_nothing(build, cli):
    root = build("bind-host")
    before = _tree(root)
    r = cli(["--root", root, "bind", "02:00.0", "--scope", "--dry-run", "--json"])
    assert r.code == 0
    d = r.json()
    assert d["result"] == "dry-run" and all(s["result"] == "dry-run" for s in d["steps"])
    assert [s["target"] for s in d["steps"] if s["op"] == "drivers_probe"] == [
        "0000:02:00.0", "0000:02:00.1"]
    assert _tree(root) == before
    t = cli(["--root", root, "bind", "02:00.0", "--dry-run"])
    assert "dry run: the steps:" in t.out and "igb -> vfio-pci" in t.out


def test_not_confirmed_is_refused_and_changes_nothing(build, cli):
    root = build("bind-host")
    before = _tree(root)
    r = cli(["--root", root, "bind", "02:00.0"])
    assert r.code == 6 and "without confirmation" in r.err
    r = cli(["--root", root, "bind", "02:00.0", "--json"])
    assert r.code == 6
    assert _tree(root) == before


# -- guards -------------------------------------------------------------------

GUARD_CASES = [
    ("01:00.0", "boot-vga", "another GPU"),
    ("03:00.0", "nic-in-use", "ip link set enp3s0 down"),
    ("04:00.0", "storage-in-use", "unmount"),
    ("05:00.0", "pf-vfs", "sriov_numvfs"),
    ("00:1f.3", "held", "stop pipewire (pid 1777)"),
]


@pytest.mark.parametrize("dev,code,remedy", GUARD_CASES, ids=[c[1] for c in GUARD_CASES])
def test_guard_refuses_with_reason_and_remedy(build, cli, dev, code, remedy):
    root = build("bind-host")
    before = _tree(root)
    r = cli(["--root", root, "bind", dev, "--yes", "--json"])
    assert r.code == 6, r.err
    d = r.json()
    assert d["result"] == "refused" and d["refusal"]["kind"] == "guard"
    g = [g for g in d["plan"]["guards"] if g["code"] == code]
    assert g and remedy in g[0]["remedy"] and not g[0]["forced"]
    assert _tree(root) == before
    t = cli(["--root", root, "bind", dev, "--yes"])
    assert t.code == 6 and remedy in t.out + t.err


def test_guard_details(build, cli):
    root = build("bind-host")
    d = cli(["--root", root, "bind", "04:00.0", "--yes", "--json"]).json()
    msg = d["plan"]["guards"][0]["message"]
    assert "/dev/nvme0n1p1 is mounted on / (ext4)" in msg
    assert "/dev/nvme0n1p2 is in use as swap" in msg
    assert "held by dm-0" in msg
    d = cli(["--root", root, "bind", "03:00.0", "--yes", "--json"]).json()
    assert "route 192.168.2.0/24" in d["plan"]["guards"][0]["message"]


def test_allow_overrides_one_guard(build, cli):
    root = build("bind-host")
    r = cli(["--root", root, "bind", "03:00.0", "--yes", "--allow", "boot-vga"])
    assert r.code == 6
    r = cli(["--root", root, "bind", "03:00.0", "--yes", "--allow", "nic-in-use", "--json"])
    assert r.code == 0, r.err
    assert r.json()["plan"]["guards"][0]["forced"] is True
    assert _drv(root, "0000:03:00.0") == "vfio-pci"
    assert cli(["--root", root, "bind", "03:00.0", "--allow", "bogus"]).code == 2


def test_no_iommu_group_guard_and_noiommu_opt_in(build, cli):
    root = build("noiommu")
    r = cli(["--root", root, "bind", "02:00.1", "--yes", "--json"])
    assert r.code == 6
    assert r.json()["plan"]["guards"][0]["code"] == "no-iommu-group"
    assert "--noiommu" in r.json()["plan"]["guards"][0]["remedy"]
    r = cli(["--root", root, "bind", "02:00.1", "--yes", "--noiommu", "--json"])
    assert r.code == 0, r.err
    assert _drv(root, "0000:02:00.1") == "vfio-pci"
    assert any(n["node"].startswith("/dev/vfio/noiommu-") and n["present"]
               for n in r.json()["nodes"])


# -- all or nothing -------------------------------------------------------------

def test_forced_pf_bind_fails_and_rolls_back(build, cli):
    root = build("bind-host")
    r = cli(["--root", root, "bind", "05:00.0", "--yes", "--force", "--json"])
    assert r.code == 7
    d = r.json()
    assert d["result"] == "rolled-back"
    assert d["failure"]["op"] == "verify"
    assert [s["op"] for s in d["rollback"]] == ["driver_override", "bind", "verify driver"]
    assert _drv(root, "0000:05:00.0") == "ixgbe"
    assert usage.override_of(Root(root), "0000:05:00.0") is None
    assert not os.path.exists(os.path.join(root, "run/vfioctl/bindings.json"))


def test_failure_half_way_puts_every_moved_function_back(build, cli, monkeypatch):
    root = build("bind-host")
    monkeypatch.setenv("VFIOCTL_SIM_FAULTS", "drivers_probe@0000:02:00.1=EIO")
    r = cli(["--root", root, "bind", "02:00.0", "--scope", "--yes", "--json"])
    assert r.code == 7
    d = r.json()
    assert d["result"] == "rolled-back"
    assert (d["failure"]["op"], d["failure"]["errno"], d["failure"]["target"]) == (
        "drivers_probe", "EIO", "0000:02:00.1")
    # 02:00.0 had been moved: it went back too
    assert [s["target"] for s in d["rollback"] if s["op"] == "bind"] == [
        "0000:02:00.1", "0000:02:00.0"]
    assert _drv(root, "0000:02:00.0") == _drv(root, "0000:02:00.1") == "igb"
    assert not os.path.exists(os.path.join(root, "dev/vfio/21"))
    text = cli(["--root", root, "bind", "02:00.0", "--scope", "--yes"])
    assert "rolled back" in text.out and "EIO" in text.err


def test_missing_driver_guard_then_forced_failure_rolls_back(build, cli):
    root = build("bind-host")
    r = cli(["--root", root, "bind", "02:00.0", "--driver", "foo_vfio_pci", "--yes", "--json"])
    assert r.code == 6 and r.json()["plan"]["guards"][0]["code"] == "driver-missing"
    r = cli(["--root", root, "bind", "02:00.0", "--driver", "foo_vfio_pci", "--yes", "--force",
             "--json"])
    assert r.code == 7 and r.json()["result"] == "rolled-back"
    assert _drv(root, "0000:02:00.0") == "igb"
    assert cli(["--root", root, "bind", "02:00.0", "--driver", "e1000e", "--yes"]).code == 2


# -- variant drivers ------------------------------------------------------------

def test_driver_auto_picks_the_most_specific_vfio_variant(build, cli):
    root = build("bind-host")
    r = cli(["--root", root, "bind", "06:00.0", "--driver", "auto", "--yes", "--json"])
    assert r.code == 0, r.err
    d = r.json()
    assert d["plan"]["driver"] == "mlx5_vfio_pci"
    assert "mlx5_vfio_pci" in d["plan"]["driver_choice"]
    assert _drv(root, "0000:06:00.0") == "mlx5_vfio_pci"
    f = [f for f in cli(["--root", root, "list", "--vfio", "--json"]).json()["functions"]
         if f["address"] == "0000:06:00.0"][0]
    assert f["vfio"]["bound"] and f["vfio"]["group_node"] == "/dev/vfio/61"
    s = cli(["--root", root, "show", "06:00.0", "--json"]).json()
    assert s["iommu_group_info"]["viable"] is True
    # no alias for the device: vfio-pci
    r = cli(["--root", root, "bind", "02:00.0", "--driver", "auto", "--dry-run", "--json"])
    assert r.json()["plan"]["driver"] == "vfio-pci"


def test_modalias_best_match(build):
    from vfioctl.sysfs.modalias import ModAlias
    from vfioctl.sysfs.usage import read_modalias
    root = build("bind-host")
    ma = ModAlias.load(root)     # generic_vfio_pci (more wildcards) comes first in the file
    m = read_modalias(Root(root), "0000:06:00.0")
    assert m == "pci:v000015B3d0000101Esv000015B3sd00000016bc02sc00i00"
    assert ma.vfio_variants_for(m) == ["mlx5_vfio_pci", "generic_vfio_pci"]
    assert ma.modules_for(m) == ["mlx5_core"]
    assert ma.vfio_variants_for("pci:v00008086d00001521sv*sd*bc02sc00i00") == []


# -- unbind -----------------------------------------------------------------------

def test_unbind_of_a_held_device_is_refused_naming_the_holder(build, cli):
    root = build("bind-host")
    r = cli(["--root", root, "unbind", "07:00.0", "--yes", "--json"])
    assert r.code == 6
    d = r.json()
    assert "qemu-system-x86 (pid 4242)" in d["refusal"]["message"]
    assert _drv(root, "0000:07:00.0") == "vfio-pci"
    t = time.monotonic()
    r = cli(["--root", root, "unbind", "07:00.0", "--yes", "--force", "--timeout", "0.3",
             "--json"])
    assert time.monotonic() - t < 5
    assert r.code == 7
    d = r.json()
    assert d["failure"]["errno"] == "ETIMEDOUT" and d["result"] == "incomplete"
    assert "completes the unbind when" in r.err


def test_unbind_without_record_lets_the_kernel_choose(build, cli):
    root = build("bind-host")
    # 03:00.0 moved behind vfioctl's back (no record): unbind clears the override and
    # re-probes, and e1000e (whose id table matches) takes it
    from vfioctl.kernel.sim import SimKernel
    k = SimKernel(root)
    k.write_driver_override("0000:03:00.0", "vfio-pci")
    k.unbind("e1000e", "0000:03:00.0")
    k.drivers_probe("0000:03:00.0")
    r = cli(["--root", root, "unbind", "03:00.0", "--yes", "--json"])
    assert r.code == 0, r.err
    f = r.json()["plan"]["functions"][0]
    assert f["driver_after"] == "e1000e"       # filled in from the read-back
    assert _drv(root, "0000:03:00.0") == "e1000e"
    assert cli(["--root", root, "unbind", "03:00.0", "--yes", "--json"]).json()[
        "result"] == "nothing-to-do"


# -- persistence ----------------------------------------------------------------

def test_persist_writes_and_removes_driverctl_overrides(build, cli):
    root = build("bind-host")
    r = cli(["--root", root, "bind", "02:00.0", "--scope", "--yes", "--persist", "--json"])
    assert r.code == 0, r.err
    assert r.json()["persisted"] == ["/etc/driverctl.d/pci-0000:02:00.0",
                                     "/etc/driverctl.d/pci-0000:02:00.1"]
    for a in ("0000:02:00.0", "0000:02:00.1"):
        with open(os.path.join(root, f"etc/driverctl.d/pci-{a}")) as f:
            assert f.read() == "vfio-pci\n"         # driverctl's save_override format
    r = cli(["--root", root, "unbind", "02:00.0", "02:00.1", "--yes", "--persist", "--json"])
    assert r.code == 0, r.err
    assert sorted(r.json()["persisted"]) == ["/etc/driverctl.d/pci-0000:02:00.0",
                                             "/etc/driverctl.d/pci-0000:02:00.1"]
    assert os.listdir(os.path.join(root, "etc/driverctl.d")) == []


# -- remedies everywhere ------------------------------------------------------------

def test_reset_info_check_and_hot_reset_carry_the_fixing_command(cli):
    d = cli(["--demo", "reset-info", "82:00.0", "--json"]).json()
    rem = {r["remedy"] for v in d["reset"]["verdicts"].values() for r in v["reasons"]}
    assert rem == {"vfioctl bind 0000:82:00.1"}
    t = cli(["--demo", "reset-info", "82:00.0"])
    assert "fix: vfioctl bind 0000:82:00.1" in t.out
    c = cli(["--demo", "check", "03:00.0", "--json"]).json()
    assert {r["remedy"] for r in c["resets"][0]["reasons"]} == {
        "stop qemu-system-x86 (pid 31337) (the holder)"}
    assert "fix: stop qemu-system-x86 (pid 31337)" in cli(["--demo", "check", "03:00.0"]).out
    h = cli(["--demo", "hot-reset", "82:00.0", "--yes", "--json"])
    assert h.code == 1
    assert h.json()["error"]["remedies"] == ["vfioctl bind 0000:82:00.1"]
    assert "fix: vfioctl bind 0000:82:00.1" in h.err


def test_holders_that_cannot_be_seen_are_a_guard_not_a_pass(build, cli, monkeypatch):
    """Not root: another user's /proc/<pid>/fd is unreadable.  Whether that
    process holds the function's device nodes cannot be told, so the bind is
    refused with the held-unseen guard (never waved through as unheld)."""
    from vfioctl.sysfs.root import Root
    root = build("bind-host")
    real_listdir = Root.listdir

    def listdir(self, path):
        if path.endswith("/fd") and "/proc/" in path:
            raise PermissionError(13, "Permission denied", path)
        return real_listdir(self, path)
    monkeypatch.setattr(Root, "listdir", listdir)
    before = _tree(root)
    d = cli(["--root", root, "bind", "00:1f.3", "--yes", "--json"]).json()
    assert d["result"] == "refused"
    codes = [g["code"] for g in d["plan"]["guards"]]
    assert "held-unseen" in codes and "held" not in codes, codes
    g = [g for g in d["plan"]["guards"] if g["code"] == "held-unseen"][0]
    assert "cannot be told" in g["message"] and "run as root" in g["remedy"]
    assert _tree(root) == before
    r = cli(["--root", root, "bind", "00:1f.3", "--yes", "--allow", "held-unseen",
             "--dry-run", "--json"])
    assert r.code == 0, r.err
    # a function with no device node of its own: nothing to hold, no guard
    d = cli(["--root", root, "bind", "02:00.0", "--dry-run", "--json"]).json()
    assert "held-unseen" not in [g["code"] for g in d["plan"]["guards"]]
