"""vfioctl doctor beside libvirt's virt-host-validate inside the real-kernel
guests (intel-iommu and noiommu boots).

The guest chroots into the host's root, shared read-only over 9p
(guest_init.sh), so ``virt-host-validate`` runs there from the host's
/usr/bin with the host's libraries, exactly as the guest's python does; it
inspects the guest's kernel through the guest's /proc, /sys and /dev, which
are bind-mounted over the share.  Both run in the same boot, and the test
checks that doctor reaches the same verdict on every device-assignment line
virt-host-validate prints (tests/peer_vhv.py), and says more.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import harness

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests import peer_vhv  # noqa: E402

pytestmark = pytest.mark.vm

for _mode in harness.MODES:
    harness.register(_mode, "doctor", [
        {"name": "doctor-facts", "sh": "grep -m1 '^vendor_id' /proc/cpuinfo; "
                                       "grep -m1 -o -w -e vmx -e svm /proc/cpuinfo; "
                                       "ls /sys/firmware/acpi/tables; ls /sys/class/iommu; "
                                       "command -v virt-host-validate"},
        {"name": "vhv", "sh": "virt-host-validate qemu; echo \"virt-host-validate rc=$?\""},
        {"name": "doctor", "cli": ["doctor", "--json"]},
        {"name": "doctor-plain", "cli": ["--format", "plain", "doctor", "--verbose"]},
    ])


@pytest.fixture(scope="module", params=harness.MODES)
def res(request, vm_shared):
    return vm_shared(request.param)


def _step(res, name: str) -> dict:
    """A step of this module's fragment (other fragments share the boot)."""
    for e in res.fragment("doctor"):
        if e.get("name") == name:
            return e
    raise KeyError(name)


def _doc(res) -> dict:
    e = _step(res, "doctor")
    assert e["stdout"].strip(), e["stderr"]
    return json.loads(e["stdout"])


def test_virt_host_validate_runs_in_the_guest(res):
    e = _step(res, "vhv")
    facts = _step(res, "doctor-facts")["stdout"]
    assert "virt-host-validate rc=" in e["stdout"], e["stderr"]
    lines = peer_vhv.relevant(peer_vhv.parse(e["stdout"]))
    assert lines, f"no device-assignment line from virt-host-validate:\n{e['stdout']}\n{e['stderr']}\n{facts}"


def test_doctor_agrees_with_virt_host_validate(res):
    d = _doc(res)
    vhv = _step(res, "vhv")["stdout"]
    problems = peer_vhv.compare(vhv, d)
    assert not problems, "\n".join(problems) + "\n--- virt-host-validate:\n" + vhv
    lines = peer_vhv.relevant(peer_vhv.parse(vhv))
    assert len([f for f in d["findings"] if f["subject"] == "host"]) > len(lines)


def test_doctor_verdicts_in_the_guest(res):
    d = _doc(res)
    f = {(x["check"], x["subject"]): x for x in d["findings"]}
    assert d["exit_code"] == _step(res, "doctor")["rc"]
    if res.mode == "iommu":
        # QEMU's intel-iommu gives an ACPI DMAR table; TCG's -cpu max is AuthenticAMD with
        # svm, so the table does not match the CPU: a warning (virt-host-validate looks for
        # IVRS and says WARN), a pass on a CPU with vmx
        fw = f[("iommu-firmware", "host")]
        svm = "svm" in _step(res, "doctor-facts")["stdout"].split()
        assert fw["status"] == ("warn" if svm else "pass"), fw
        assert "DMAR" in fw["meaning"]
        assert f[("iommu-kernel", "host")]["status"] == "pass"
        # intremap=on: the guest routes MSIs through IR (the live /proc/interrupts)
        assert f[("interrupt-remapping", "host")]["status"] == "pass", f[("interrupt-remapping", "host")]
        assert f[("noiommu", "host")]["status"] == "pass"
        assert f[("vfio-cdev", "host")]["status"] == "pass"
        assert f[("group-viable", res.bdf("A"))]["status"] == "pass"
    else:
        assert f[("iommu-kernel", "host")]["status"] == "fail"
        assert "intel_iommu=on" in f[("iommu-kernel", "host")]["remedy"] or \
            d["cpu_vendor"] != "GenuineIntel"
        assert f[("noiommu", "host")]["status"] == "warn"
        assert f[("group-viable", res.bdf("A"))]["status"] == "warn"  # fake noiommu group
    # the edu on the root bus: no FLR, no PM, no bus reset -> QEMU's message
    assert f[("qemu-reset", res.bdf("F"))]["status"] == "fail"
    # live device nodes: real character devices created by devtmpfs, root-only
    assert f[("dev-vfio-permissions", "host")]["status"] == "warn"
    # running as root in the guest: nothing is cannot-tell for lack of privilege
    assert not [x for x in d["findings"] if x["status"] == "cannot-tell" and "not root" in x["meaning"]]


def test_both_virt_host_validate_lines_on_an_amd_iommu_guest(vm_boot):
    """A third guest where virt-host-validate prints *both* IOMMU lines: QEMU's
    amd-iommu gives an ACPI IVRS table that matches TCG's svm CPU (line 1
    PASS), but the test kernel has no CONFIG_AMD_IOMMU, so no IOMMU group
    exists (line 2 WARN: "IOMMU appears to be disabled in kernel").  noiommu is
    switched off (the last vfio.enable_unsafe_noiommu_mode wins) so no fake
    group hides that."""
    res = vm_boot("noiommu", [
        {"name": "vhv", "sh": "virt-host-validate qemu; echo \"virt-host-validate rc=$?\""},
        {"name": "doctor", "cli": ["doctor", "--json"]},
    ], append="vfio.enable_unsafe_noiommu_mode=0", qemu_extra=("-device", "amd-iommu"))
    vhv = res.step("vhv")["stdout"]
    lines = {ln["what"]: ln["status"] for ln in peer_vhv.relevant(peer_vhv.parse(vhv))}
    assert lines == {"Checking for device assignment IOMMU support": "PASS",
                     "Checking if IOMMU is enabled by kernel": "WARN"}, vhv
    d = json.loads(res.step("doctor")["stdout"])
    problems = peer_vhv.compare(vhv, d)
    assert not problems, "\n".join(problems) + "\n--- virt-host-validate:\n" + vhv
    f = {(x["check"], x["subject"]): x for x in d["findings"]}
    assert "IVRS" in f[("iommu-firmware", "host")]["meaning"]
    assert "CONFIG_AMD_IOMMU" in f[("iommu-kernel", "host")]["remedy"]
    assert f[("noiommu", "host")]["status"] == "pass"


def test_noiommu_groups_fool_virt_host_validate_not_doctor(vm_boot):
    """The same amd-iommu guest with noiommu on: vfio-pci devices get fake
    vfio-noiommu groups, /sys/kernel/iommu_groups has entries, and
    virt-host-validate (which only counts them) says the IOMMU is enabled by
    the kernel.  It is not: doctor fails that check and says why.  This is the
    one line where the verdicts differ, on purpose."""
    res = vm_boot("noiommu", [
        {"name": "vhv", "sh": "virt-host-validate qemu; echo \"virt-host-validate rc=$?\""},
        {"name": "doctor", "cli": ["doctor", "--json"]},
    ], qemu_extra=("-device", "amd-iommu"))
    vhv = res.step("vhv")["stdout"]
    lines = {ln["what"]: ln["status"] for ln in peer_vhv.relevant(peer_vhv.parse(vhv))}
    assert lines == {"Checking for device assignment IOMMU support": "PASS",
                     "Checking if IOMMU is enabled by kernel": "PASS"}, vhv
    d = json.loads(res.step("doctor")["stdout"])
    problems = peer_vhv.compare(vhv, d)
    assert len(problems) == 1 and problems[0].startswith("Checking if IOMMU is enabled by kernel"), problems
    k = next(x for x in d["findings"] if x["check"] == "iommu-kernel")
    assert k["status"] == "fail" and "fake vfio-noiommu groups" in k["meaning"], k
