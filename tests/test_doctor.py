"""vfioctl doctor: every finding triggered and passed on a built tree, the
recorded real-kernel trees, golden outputs, exit codes, and agreement with
libvirt's virt-host-validate on this machine."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import RECORDED, golden, normalize, pretty
from tests import peer_vhv
from vfioctl.model.address import PciAddress
from vfioctl.model.doctor import STATUSES
from vfioctl.ops.doctor import doctor
from vfioctl.sysfs.reader import read_host
from vfioctl.testing import doctor_scenarios as ds

AS_ROOT = os.geteuid() == 0


def _needs_mknod(name: str):
    if name not in ds.PLAIN_NODES and not AS_ROOT:
        pytest.skip("the healthy doctor host has real /dev/vfio character nodes: mknod needs root")


def _run(root: str, subject: str):
    host = read_host(root)
    fns = None if subject == "host" else [host.functions[PciAddress.parse(subject)]]
    return doctor(host, root, fns)


@pytest.mark.parametrize("name", sorted(ds.VARIANTS))
def test_variant_triggers_its_status(tmp_path, name):
    _needs_mknod(name)
    check, subject, status, _, _ = ds.VARIANTS[name]
    root = ds.build_variant(name, str(tmp_path / "r"))
    r = _run(root, subject)
    f = r.find(check, subject)
    assert f is not None, [(x.check, x.subject) for x in r.findings]
    assert f.status == status, (f.meaning, f.evidence)
    assert f.meaning and f.evidence, f
    if status in ("warn", "fail"):
        assert f.remedy, f"{check} {status} without a remedy"


def test_every_check_has_a_passing_and_a_triggering_fixture(tmp_path):
    """Every check id doctor can emit (seen over all variants) has a variant
    where it passes and one where it does not."""
    seen = set()
    for name in ds.VARIANTS:
        if name in ds.PLAIN_NODES or AS_ROOT:
            root = ds.build_variant(name, str(tmp_path / name))
            host = read_host(root)
            r = doctor(host, root, list(host.functions.values()))
            seen |= {f.check for f in r.findings}
    by_check: dict[str, set[str]] = {}
    for check, _, status, _, _ in ds.VARIANTS.values():
        by_check.setdefault(check, set()).add(status)
    missing = {c for c in seen if "pass" not in by_check.get(c, ()) or
               not by_check.get(c, set()) - {"pass"}}
    assert not missing, f"checks without a pass and a non-pass fixture: {sorted(missing)}"
    assert set(by_check) <= seen


def test_healthy_host_passes_everything(tmp_path):
    if not AS_ROOT:
        pytest.skip("needs mknod (root)")
    root = ds.healthy(str(tmp_path / "h"))
    r = doctor(read_host(root), root)
    assert r.devices == [ds.GPU]
    assert {f.status for f in r.findings} == {"pass"}, [
        (f.check, f.status, f.meaning) for f in r.findings if f.status != "pass"]


def test_no_iommu_gets_the_exact_parameter(tmp_path):
    for name, needle in (("iommu-kernel-fail", "intel_iommu=on"),
                         ("iommu-kernel-off-fail", "remove intel_iommu=off")):
        _needs_mknod(name)
        root = ds.build_variant(name, str(tmp_path / name))
        f = _run(root, "host").find("iommu-kernel")
        assert f.status == "fail" and needle in f.remedy, f.remedy
    root = ds.build_variant("iommu-firmware-amd-fail", str(tmp_path / "amd"))
    f = _run(root, "host").find("iommu-firmware")
    assert "IVRS" in f.meaning and "AMD-Vi" in f.remedy


def test_group_remedy_names_the_bind_command(tmp_path):
    _needs_mknod("group-viable-fail")
    root = ds.build_variant("group-viable-fail", str(tmp_path / "g"))
    f = _run(root, ds.GPU).find("group-viable", ds.GPU)
    assert f.remedy == f"vfioctl bind {ds.AUDIO}"
    assert "snd_hda_intel" in f.meaning


def test_qemu_message_is_quoted(tmp_path):
    _needs_mknod("qemu-reset-fail")
    root = ds.build_variant("qemu-reset-fail", str(tmp_path / "q"))
    f = _run(root, "0000:00:05.0").find("qemu-reset", "0000:00:05.0")
    assert "Cannot reset device 0000:00:05.0, no available reset mechanism" in f.meaning


def test_dead_device_skips_reset_checks(tmp_path):
    _needs_mknod("config-alive-fail")
    root = ds.build_variant("config-alive-fail", str(tmp_path / "d"))
    r = _run(root, ds.GPU)
    assert r.find("config-alive", ds.GPU).status == "fail"
    assert r.find("qemu-reset", ds.GPU) is None  # nothing to say about a device that is gone


def test_holders_unreadable_is_cannot_tell(tmp_path):
    """Not root: /proc/<pid>/fd of other users is unreadable (the reader counts
    them); doctor must not claim that nobody holds the device."""
    _needs_mknod("holders-pass")
    root = ds.build_variant("holders-pass", str(tmp_path / "h"))
    host = read_host(root)
    host.holders_unreadable = 3  # what the reader records when listdir(fd) is EACCES
    f = doctor(host, root, [host.functions[PciAddress.parse(ds.GPU)]]).find("holders", ds.GPU)
    assert f.status == "cannot-tell" and "not root" in f.meaning


@pytest.mark.parametrize("name", ["qemu-q35-intel-iommu", "qemu-q35-noiommu"])
def test_recorded_trees(cli, recorded, name):
    root = recorded(name)
    r = cli(["--root", root, "doctor", "--json"])
    d = r.json()
    assert d["command"] == "doctor" and r.code == d["exit_code"]
    golden(f"doctor-recorded-{name}.json", pretty(normalize(r.out, root)))
    r2 = cli(["--root", root, "--format", "plain", "doctor"])
    golden(f"doctor-recorded-{name}.plain.txt", normalize(r2.out, root))
    f = {(x["check"], x["subject"]): x for x in d["findings"]}
    if name.endswith("intel-iommu"):
        assert f[("iommu-kernel", "host")]["status"] == "pass"
        assert f[("noiommu", "host")]["status"] == "pass"
        assert f[("vfio-cdev", "host")]["status"] == "pass"
        # the edu on the root bus has no reset at all: QEMU's message (real-kernel-vm.md)
        assert f[("qemu-reset", "0000:00:05.0")]["status"] == "fail"
    else:
        assert f[("noiommu", "host")]["status"] == "warn"
        assert "TAINT_USER set" in json.dumps(f[("noiommu", "host")]["evidence"])
        assert f[("iommu-kernel", "host")]["status"] == "fail"
    # a snapshot keeps no ownership of /dev/vfio nodes: never a pass
    assert f[("dev-vfio-permissions", "host")]["status"] == "cannot-tell"


def test_demo_golden_and_each_status(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from vfioctl.testing.demo import demo_root
    tmp_path = demo_root()  # normalised as <ROOT> (its name carries a digest)
    r = cli(["--demo", "--format", "plain", "doctor"])
    golden("doctor-demo.plain.txt", normalize(r.out, str(tmp_path)))
    r = cli(["--demo", "--format", "table", "doctor"])
    golden("doctor-demo.table.txt", normalize(r.out, str(tmp_path)))
    r = cli(["--demo", "--format", "plain", "doctor", "--verbose", "82:00.0"])
    golden("doctor-demo-82.verbose.txt", normalize(r.out, str(tmp_path)))
    r = cli(["--demo", "doctor", "--json"])
    d = r.json()
    golden("doctor-demo.json", pretty(normalize(r.out, str(tmp_path))))
    assert {f["status"] for f in d["findings"]} == set(STATUSES)
    assert r.code == 1 and d["worst"] == "fail"


def test_exit_codes(cli, tmp_path):
    if AS_ROOT:
        root = ds.healthy(str(tmp_path / "ok"))
        assert cli(["--root", root, "doctor"]).code == 0
        root = ds.build_variant("holders-warn", str(tmp_path / "w"))
        assert cli(["--root", root, "doctor"]).code == 13
        root = ds.build_variant("interrupt-remapping-cannot-tell", str(tmp_path / "c"))
        assert cli(["--root", root, "doctor"]).code == 10
        root = ds.build_variant("config-alive-fail", str(tmp_path / "f"))
        assert cli(["--root", root, "doctor"]).code == 1
        r = cli(["--root", root, "doctor", "--no-host", ds.GPU, "--json"])
        assert r.code == 1 and {f["subject"] for f in r.json()["findings"]} == {ds.GPU}
    root = ds.build_variant("dev-vfio-permissions-cannot-tell", str(tmp_path / "p"))
    r = cli(["--root", root, "doctor", "0000:09:00.0", "--json"])
    assert r.code == 3 and r.json()["error"]["kind"] == "not-found"
    r = cli(["--root", root, "doctor", "zz", "--json"])
    assert r.code == 2


def test_doctor_reads_only(tmp_path):
    """doctor writes nothing under the root (inspection only)."""
    _needs_mknod("holders-warn")
    root = ds.build_variant("holders-warn", str(tmp_path / "r"))
    before = {}
    for dp, dn, fn in os.walk(root):
        for n in fn:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            before[p] = (st.st_mtime_ns, st.st_size)
    from tests.conftest import run
    run(["--root", root, "doctor", "--json"])
    after = {}
    for dp, dn, fn in os.walk(root):
        for n in fn:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            after[p] = (st.st_mtime_ns, st.st_size)
    assert before == after


# ---------------------------------------------------------------- the peer
def test_virt_host_validate_agrees_on_this_machine(cli):
    """The CI machine (no IOMMU): virt-host-validate and doctor on / (read-only)."""
    if peer_vhv.find_binary() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("virt-host-validate is missing: scripts/test installs libvirt-clients")
        pytest.skip("virt-host-validate is not installed (Debian libvirt-clients)")
    rc, text = peer_vhv.run_local()
    r = cli(["doctor", "--json"])
    d = r.json()
    assert d["command"] == "doctor", r.err
    problems = peer_vhv.compare(text, d)
    assert not problems, "\n".join(problems)
    lines = peer_vhv.relevant(peer_vhv.parse(text))
    host_findings = [f for f in d["findings"] if f["subject"] == "host"]
    assert len(host_findings) > len(lines)  # and says more
    kernel = next(f for f in d["findings"] if f["check"] == "iommu-kernel")
    if kernel["status"] == "fail" and d["cpu_vendor"] == "GenuineIntel":
        assert "intel_iommu=on" in kernel["remedy"]


def test_hostile_tree_stays_inside_the_root(tmp_path):
    """Links leading out of the root, a FIFO and a device node where doctor
    reads files: nothing outside is read, nothing blocks, nothing is opened."""
    root = ds.build_variant("dev-vfio-permissions-cannot-tell", str(tmp_path / "r"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "cmdline").write_text("pcie_acs_override=downstream\n")
    os.unlink(os.path.join(root, "proc/cmdline"))
    os.symlink(str(outside / "cmdline"), os.path.join(root, "proc/cmdline"))
    os.unlink(os.path.join(root, "proc/interrupts"))
    os.mkfifo(os.path.join(root, "proc/interrupts"))
    if AS_ROOT:
        os.unlink(os.path.join(root, "proc/modules"))
        os.mknod(os.path.join(root, "proc/modules"), 0o600 | 0o020000, os.makedev(1, 3))
    r = _run(root, "host")
    assert r.find("acs-override").status == "cannot-tell"   # the link out was not followed
    assert r.find("interrupt-remapping").status == "cannot-tell"


def test_snapshot_keeps_what_doctor_reads(cli, tmp_path):
    """vfioctl snapshot records doctor's inputs (power_state, boot_vga,
    cpuinfo, modules, interrupts, ACPI table presence), so doctor on a
    snapshot reaches the live tree's verdicts; only the /dev/vfio ownership,
    which a snapshot cannot keep, becomes cannot-tell."""
    if not AS_ROOT:
        pytest.skip("needs mknod (root)")
    root = ds.build_variant("boot-vga-warn", str(tmp_path / "live"))
    snap = str(tmp_path / "snap")
    assert cli(["--root", root, "snapshot", snap]).code == 0
    a = {(f["check"], f["subject"]): f["status"] for f in cli(["--root", root, "doctor", "--json"]).json()["findings"]}
    b = {(f["check"], f["subject"]): f["status"] for f in cli(["--root", snap, "doctor", "--json"]).json()["findings"]}
    diff = {k: (a.get(k), b.get(k)) for k in set(a) | set(b) if a.get(k) != b.get(k)}
    assert diff == {("dev-vfio-permissions", "host"): ("pass", "cannot-tell")}, diff


def test_readme_example_is_current(cli, tmp_path, monkeypatch):
    """The README's doctor example is what the tool prints (in a pipe without
    COLUMNS: whole lines)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("COLUMNS")
    readme = (RECORDED.parents[2] / "README.md").read_text()
    block = readme.split("$ vfioctl --demo doctor --no-host 82:00.0\n", 1)[1].split("$ echo $?", 1)[0]
    r = cli(["--demo", "--format", "plain", "doctor", "--no-host", "82:00.0"])
    assert r.code == 1 and r.out == block
