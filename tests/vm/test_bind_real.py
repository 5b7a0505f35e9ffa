"""vfioctl bind / unbind against the real Linux 6.12 kernel in the QEMU guest.

One boot (intel-iommu) with two extra functions on real host drivers, behind
their own hotplug root port (passed as extra QEMU arguments, so the shared
topology of the other VM tests is unchanged): ``nic`` an e1000e (function 0,
multifunction) and ``audio`` an ich9-intel-hda with an hda-duplex codec
(function 1) - one IOMMU group.  The guest's init binds every e1000e to
vfio-pci at boot; the plan first gives ``nic`` back to e1000e.

The bind scenario table (tests/conformance/bind_table.py) runs in the guest
with the real backend: a guard refusal (the NIC's interface carries an
address and its route), a dry run, a forced rollback (driver_override naming a driver
that does not exist), bind --scope turning a refused check into a passing one
and a hot reset that succeeds, the unbind of a held device (refused, then a
bounded wait that times out while the kernel blocks), and unbind back to the
original drivers.  On the host: every row matches the table, and the
simulator over the snapshot taken in the same guest before the table
observes exactly the same exit codes, results and drivers.

The snapshots before and after are the fixtures
tests/fixtures/recorded/qemu-q35-bind-{before,after} (refresh them with
VFIOCTL_RECORD_BIND=1).
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

import harness
from tests.conformance.bind_table import ROWS, guest_plan, judge

NIC, AUDIO = "0b.0/00.0", "0b.0/00.1"
EXTRA = (
    "-audiodev", "none,id=snd0",
    "-netdev", "hubport,id=n7,hubid=7",
    "-device", "pcie-root-port,id=rp7,bus=pcie.0,chassis=9,slot=9,addr=0xb,x-speed=2_5,x-width=1",
    "-device", "e1000e,id=J,bus=rp7,addr=0.0,multifunction=on,netdev=n7",
    "-device", "ich9-intel-hda,id=K,bus=rp7,addr=0.1",
    "-device", "hda-duplex,bus=K.0,audiodev=snd0",
)
REC = harness.CHECKOUT / "tests" / "fixtures" / "recorded"


def _persist_plan(dctl: str) -> list[dict]:
    """bind --persist, then driverctl itself (the Debian package's script, unpacked
    on the host) re-applies the stored overrides through the real kernel, as its
    driverctl@.service does at boot.  The guest's /etc is the host's, read-only over
    9p: a tmpfs copy is bound over it inside the guest (the guest's own mount table),
    and modprobe is bound to /bin/true (everything is built in; the host's
    /lib/modules does not match the guest kernel)."""
    nic, audio = f"@bdf:{NIC}@", f"@bdf:{AUDIO}@"
    drv = (f"for d in {nic} {audio}; do l=/sys/bus/pci/devices/$d/driver; "
           "if [ -L $l ]; then basename $(readlink $l); else echo -; fi; done")
    env = {"VFIOCTL_PCI_IDS": "none"}
    return [
        {"name": "pp-etc", "check": True, "sh": (
            "cp -a /etc /tmp/etc-rw && mount --bind /tmp/etc-rw /etc && "
            "mkdir -p /etc/driverctl.d && mount --bind /bin/true /sbin/modprobe && echo ok")},
        {"name": "pp-bind", "cli": ["bind", nic, "--scope", "--persist", "--yes", "--json"],
         "env": env},
        {"name": "pp-files", "sh": "for f in /etc/driverctl.d/*; do echo \"$f=$(cat $f)\"; done"},
        {"name": "pp-list-overrides", "sh": f"bash {dctl} list-overrides"},
        {"name": "pp-unbind", "cli": ["unbind", nic, "--yes", "--json"], "env": env},
        {"name": "pp-drivers-unbound", "sh": drv},
        {"name": "pp-load-nic", "sh": f"bash {dctl} -v load-override {nic}"},
        {"name": "pp-load-audio", "sh": f"bash {dctl} -v load-override {audio}"},
        {"name": "pp-drivers-loaded", "sh": drv},
        {"name": "pp-unpersist", "cli": ["unbind", nic, audio, "--yes", "--persist", "--json"],
         "env": env},
        {"name": "pp-drivers-end", "sh": drv + "; ls /etc/driverctl.d | wc -l"},
    ]


def _plan() -> list[dict]:
    nic = f"@bdf:{NIC}@"
    give_back = (f"d={nic}; [ -L /sys/bus/pci/devices/$d/driver ] && "
                 f"echo $d > /sys/bus/pci/devices/$d/driver/unbind; "
                 f"echo > /sys/bus/pci/devices/$d/driver_override; "
                 f"echo $d > /sys/bus/pci/drivers_probe; "
                 f"ls -l /sys/bus/pci/devices/$d/driver; ls /sys/bus/pci/devices/$d/net")
    table = guest_plan(NIC, AUDIO)
    # the kernel's own log of the blocked unbind, read while it is fresh (the
    # guest's log buffer is small)
    i = [x.get("name") for x in table].index("bt-unbind-held-forced")
    table.insert(i + 1, {"name": "bt-dmesg-blocked", "sh": "dmesg | tail -n 50"})
    return ([{"name": "bt-setup", "sh": give_back, "check": True},
             {"name": "bt-snap-before", "record": "@RESULTS@/bind-before"}]
            + table
            + [{"name": "bt-snap-after", "record": "@RESULTS@/bind-after"}]
            + (_persist_plan(_driverctl()) if _driverctl() else []))


def _driverctl() -> str | None:
    import subprocess
    p = subprocess.run(["bash", str(harness.CHECKOUT / "tests/peers/fetch-driverctl.sh")],
                       capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 else None


@pytest.fixture(scope="module")
def guest(vm_boot):
    # no_timer_check: under a loaded host, TCG can miss the early IO-APIC timer check
    # ("timer doesn't work through Interrupt-remapped IO-APIC" panic)
    return vm_boot("iommu", _plan(), timeout=1200, qemu_extra=EXTRA, append="no_timer_check")


def _dev(res, chain: str) -> dict:
    """The guest's topology record of a device by its devfn chain."""
    for d in res.topology.get("devices", []):
        if d["chain"] == chain:
            return d
    raise KeyError(f"no guest device at {chain}")


def _steps(res):
    return {e["name"]: e for e in res if e.get("name")}


def _observations(res) -> tuple[dict, dict]:
    s = _steps(res)
    roles = {"nic": _dev(res, NIC)["bdf"], "audio": _dev(res, AUDIO)["bdf"]}
    obs = {}
    for row in ROWS:
        e = s[f"bt-{row.id}"]
        try:
            doc = json.loads(e["stdout"]) if e["stdout"].strip() else None
        except ValueError:
            doc = None
        drv = tuple(None if x == "-" else x
                    for x in s[f"bt-{row.id}-drivers"]["stdout"].split())
        obs[row.id] = {"rc": e["rc"], "doc": doc, "drivers": drv, "stderr": e["stderr"]}
    return obs, roles


def test_guest_has_the_functions_on_their_host_drivers(guest):
    s = _steps(guest)
    assert s["bt-setup"]["rc"] == 0, s["bt-setup"]["stderr"]
    assert "e1000e" in s["bt-setup"]["stdout"]
    assert _dev(guest, AUDIO)["driver"] == "snd_hda_intel"
    assert _dev(guest, NIC)["iommu_group"] == _dev(guest, AUDIO)["iommu_group"]


def test_bind_table_on_the_real_kernel(guest):
    obs, roles = _observations(guest)
    bad = []
    for row in ROWS:
        o = obs[row.id]
        bad += judge(row, o["rc"], o["doc"], o["drivers"], roles)
    assert bad == [], {k: (v["rc"], v["stderr"][-500:]) for k, v in obs.items()}


def test_the_blocked_unbind_was_the_kernels(guest):
    """dmesg shows vfio's own message for an unbind waiting on a user (A.8)."""
    log = _steps(guest)["bt-dmesg-blocked"]["stdout"]
    assert "blocked until released by user" in log or "Relaying device request" in log, log


def test_simulator_over_the_guest_snapshot_observes_the_same(guest, cli, tmp_path):
    from tests.conformance.bind_table import run_sim
    obs, roles = _observations(guest)
    root = str(tmp_path / "before")
    shutil.copytree(os.path.join(guest.results_dir, "bind-before"), root, symlinks=True)
    sim = run_sim(root, roles, cli)
    diffs = []
    for row in ROWS:
        a, b = sim[row.id], obs[row.id]
        ra = (a["doc"] or {}).get("result") if a["doc"] else None
        rb = (b["doc"] or {}).get("result") if b["doc"] else None
        if (a["rc"], ra, a["drivers"]) != (b["rc"], rb, b["drivers"]):
            diffs.append(f"{row.id}: simulator {(a['rc'], ra, a['drivers'])} != kernel "
                         f"{(b['rc'], rb, b['drivers'])}")
    assert diffs == []


def test_record_fixtures(guest):
    """The snapshots become fixtures when asked (VFIOCTL_RECORD_BIND=1) or missing."""
    for name in ("before", "after"):
        src = os.path.join(guest.results_dir, f"bind-{name}")
        assert os.path.isfile(os.path.join(src, "VFIOCTL-SNAPSHOT"))
        dst = REC / f"qemu-q35-bind-{name}"
        if os.environ.get("VFIOCTL_RECORD_BIND") == "1" or not dst.exists():
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, symlinks=True)


def test_persist_is_reapplied_by_driverctl_on_the_real_kernel(guest):
    if _driverctl() is None:
        pytest.fail("driverctl could not be fetched (tests/peers/fetch-driverctl.sh)")
    s = _steps(guest)
    nic, audio = _dev(guest, NIC)["bdf"], _dev(guest, AUDIO)["bdf"]
    assert s["pp-etc"]["rc"] == 0, s["pp-etc"]["stderr"]
    assert s["pp-bind"]["rc"] == 0, s["pp-bind"]["stderr"]
    assert sorted(json.loads(s["pp-bind"]["stdout"])["persisted"]) == [
        f"/etc/driverctl.d/pci-{nic}", f"/etc/driverctl.d/pci-{audio}"]
    assert s["pp-files"]["stdout"].split() == [f"/etc/driverctl.d/pci-{nic}=vfio-pci",
                                               f"/etc/driverctl.d/pci-{audio}=vfio-pci"]
    listed = s["pp-list-overrides"]["stdout"].splitlines()
    assert f"{nic} vfio-pci" in listed and f"{audio} vfio-pci" in listed, listed
    assert s["pp-drivers-unbound"]["stdout"].split() == ["e1000e", "snd_hda_intel"]
    # driverctl's load-override (its boot service) reads vfioctl's files and binds
    for n in ("pp-load-nic", "pp-load-audio"):
        assert s[n]["rc"] == 0, (s[n]["stdout"], s[n]["stderr"])
    assert s["pp-drivers-loaded"]["stdout"].split() == ["vfio-pci", "vfio-pci"]
    assert s["pp-unpersist"]["rc"] == 0, s["pp-unpersist"]["stderr"]
    assert s["pp-drivers-end"]["stdout"].split() == ["e1000e", "snd_hda_intel", "0"]
