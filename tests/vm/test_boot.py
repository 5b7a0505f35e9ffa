"""Smoke tests of the real-kernel VM stage: one shared boot per mode.

Only ``sh`` steps and stdlib python run in the guest (no dependency on the
vfioctl CLI).  Expectations: /work/shared/docs/real-kernel-vm.md §4.
"""

from __future__ import annotations

import json
import os

import pytest

import harness

pytestmark = pytest.mark.vm

EDUS = ("A", "B", "C", "D", "E", "F", "I", "S", "T")

LS = "ls /dev/vfio /dev/vfio/devices /sys/class/vfio-dev; cat /sys/kernel/iommu_groups/*/type"
API = ("import fcntl, os; fd = os.open('/dev/vfio/vfio', os.O_RDWR); "
       "print(fcntl.ioctl(fd, 0x3b64)); print(fcntl.ioctl(fd, 0x3b65, 3), fcntl.ioctl(fd, 0x3b65, 8))")
OPEN_GROUP = ("import os, sys\ntry:\n    os.open(sys.argv[1], os.O_RDWR)\n    print('opened')\n"
              "except OSError as e:\n    print('errno', e.errno)\n")

for _mode in harness.MODES:
    harness.register(_mode, "smoke", [
        {"name": "ls", "sh": LS},
        {"name": "names", "sh": "cat /sys/kernel/iommu_groups/*/name 2>/dev/null; cat /proc/sys/kernel/tainted; "
                                "cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode; ls -l /dev/iommu"},
        {"name": "api", "run": ["@PYTHON@", "-c", API]},
        {"name": "hold", "hold": "@groupdev:C@", "id": "h1", "comm": "qemu-holder"},
        {"name": "open-held", "run": ["@PYTHON@", "-c", OPEN_GROUP, "@groupdev:C@"]},
        {"name": "record-held", "record": "@RESULTS@/snap-held"},
        {"name": "release", "release": "h1"},
        {"name": "open-released", "run": ["@PYTHON@", "-c", OPEN_GROUP, "@groupdev:C@"]},
        {"name": "unbind-B", "unbind": "@bdf:B@"},
        {"name": "B-driver-after-unbind", "sh": "ls -l /sys/bus/pci/devices/@bdf:B@/ | grep -c ' driver ' || true"},
        {"name": "bind-B", "bind": "@bdf:B@", "driver": "vfio-pci"},
    ])


@pytest.fixture(scope="module", params=harness.MODES)
def res(request, vm_shared):
    return vm_shared(request.param)


def _ok(res, name):
    e = res.step(name)
    assert e["rc"] == 0, f"{name}: rc={e['rc']}\nstdout:\n{e['stdout']}\nstderr:\n{e['stderr']}"
    return e


def test_all_steps_ran(res):
    smoke = res.fragment("smoke")
    assert len(smoke) == 11
    failed = [e for e in smoke if not e["ok"] and not (e["name"] == "ls" and res.mode == "noiommu")]
    assert not failed, res.summary() + "\n" + "\n".join(e["stderr"] for e in failed)


def test_topology_resolved_and_bound(res):
    for ident in EDUS + ("G", "H"):
        d = res.device(ident)
        assert d["driver"] == "vfio-pci", (ident, d)
        assert d["vfio_dev"] and d["vfio_dev"].startswith("vfio")
        assert d["iommu_group"] is not None
    for ident in ("rp1", "rp2", "rp3", "rp4", "rp5", "rp6", "up", "dp1", "dp2"):
        assert res.device(ident)["driver"] == "pcieport", ident
    # the init's shell dump agrees with the runner's view
    tsv = {r["bdf"]: r for r in res.pci_tsv}
    for ident in EDUS:
        assert tsv[res.bdf(ident)]["driver"] == "vfio-pci"


def test_device_nodes(res):
    out = res.step("ls")["stdout"]  # rc 2 in noiommu mode: /dev/vfio/devices is missing
    names = _ok(res, "names")["stdout"]
    edu_groups = {res.group(i) for i in EDUS + ("G", "H")}
    if res.mode == "iommu":
        for g in edu_groups:
            assert f"/dev/vfio/{g}" not in out  # ls prints names, not paths
        listing = out.split()
        for g in edu_groups:
            assert str(g) in listing
        assert "/dev/vfio/devices:" in out
        n = len(EDUS) + 2
        assert all(f"vfio{i}" in listing for i in range(n))
        types = [ln for ln in out.splitlines() if ln in ("DMA", "DMA-FQ", "identity", "unknown", "blocked")]
        assert types and set(types) <= {"DMA", "DMA-FQ"}, types
        assert "vfio-noiommu" not in names
        # the multifunction pair and the PCI-bridge pair share a group
        assert res.group("A") == res.group("B")
        assert res.group("D") == res.group("E") == res.group("pb")
        assert "/dev/iommu" in names
    else:
        listing = out.split()
        assert "/dev/vfio/devices:" not in out, "6.12 has no noiommu cdev"
        err = res.step("ls")["stderr"]
        assert "/dev/vfio/devices" in err and "No such file" in err, err
        for i in EDUS + ("G", "H"):
            assert f"noiommu-{res.group(i)}" in listing
            assert res.device(i)["group_name"] == "vfio-noiommu"
            assert res.device(i)["group_type"] == "unknown"
        # one group per device
        assert len({res.group(i) for i in EDUS}) == len(EDUS)
        lines = names.split()
        assert "vfio-noiommu" in lines
        assert "Y" in lines
        assert int(lines[lines.index("Y") - 1]) & 64, "noiommu taints the kernel"


def test_vfio_api_version(res):
    out = _ok(res, "api")["stdout"].split()
    assert out[0] == "0"                       # VFIO_GET_API_VERSION
    if res.mode == "iommu":
        assert out[1:] == ["1", "0"]          # type1v2 yes, noiommu no
    else:
        assert out[2] == "1"                   # VFIO_NOIOMMU_IOMMU


def test_holder_and_snapshot(res):
    assert "READY" in _ok(res, "hold")["stdout"]
    assert _ok(res, "open-held")["stdout"].strip() == "errno 16"      # EBUSY while held
    assert _ok(res, "open-released")["stdout"].strip() == "opened"
    rec = _ok(res, "record-held")
    snap = res.results_dir / "snap-held"
    assert rec["report"]["files"] > 100
    pid = res.step("hold")["pid"]
    fds = os.listdir(snap / f"proc/{pid}/fd")
    targets = {os.readlink(snap / f"proc/{pid}/fd/{fd}") for fd in fds}
    gpath = f"/dev/vfio/{'noiommu-' if res.mode == 'noiommu' else ''}{res.group('C')}"
    assert gpath in targets
    assert (snap / f"proc/{pid}/comm").read_text().strip() == "qemu-holder"
    # links are relative and resolve inside the snapshot
    c = res.bdf("C")
    link = snap / "sys/bus/pci/devices" / c
    assert not os.readlink(link).startswith("/")
    real = link.resolve()
    assert str(real).startswith(str(snap.resolve()))
    assert (real / "vendor").read_text().strip() == "0x1234"
    assert len((real / "config").read_bytes()) == 256         # root: all of it (edu is conventional PCI)
    g = (snap / "sys/bus/pci/devices" / res.bdf("G")).resolve()
    assert len((g / "config").read_bytes()) == 4096           # PCIe: extended config space
    assert (real / "driver").resolve().name == "vfio-pci"
    assert (snap / "dev/vfio/vfio").is_file() and (snap / "dev/vfio/vfio").stat().st_size == 0
    marker = json.loads((snap / "VFIOCTL-SNAPSHOT").read_text())
    assert marker["format"] == 1 and marker["osrelease"].startswith("6.12")
    assert sum(f.stat().st_size for f in snap.rglob("*") if f.is_file() and not f.is_symlink()) < 1_000_000


def test_unbind_and_rebind(res):
    _ok(res, "unbind-B")
    assert _ok(res, "B-driver-after-unbind")["stdout"].strip() == "0"
    _ok(res, "bind-B")
    assert res.topology_end and next(d for d in res.topology_end["devices"] if d["id"] == "B")["driver"] == "vfio-pci"


def test_nobind_and_acpi_hotplug(vm_boot):
    """A separate boot: B left unbound at boot, QEMU's default ACPI hotplug (no pciehp -> no slots)."""
    res = vm_boot("iommu", [
        {"name": "slots", "sh": "ls /sys/bus/pci/slots | wc -l"},
        {"name": "bind-B", "bind": "@bdf:B@", "driver": "vfio-pci"},
    ], nobind=("B",), hotplug="acpi")
    b = res.device("B")
    assert b["driver"] is None and b["vfio_dev"] is None
    assert res.device("A")["driver"] == "vfio-pci"
    assert _ok(res, "slots")["stdout"].strip() == "0"
    assert _ok(res, "bind-B")["stdout"].strip().endswith("driver vfio-pci")
    assert next(d for d in res.topology_end["devices"] if d["id"] == "B")["driver"] == "vfio-pci"
