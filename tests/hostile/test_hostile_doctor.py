"""Hostile trees for ``vfioctl doctor`` (issue 11 on issue 8's harness): every
file doctor reads beyond what ``list`` reads (proc/cmdline, cpuinfo,
interrupts, modules, ACPI tables, module parameters, lib/modules, etc/group,
/dev/vfio node metadata, power_state, boot_vga) replaced by a link out of the
root, a FIFO, a huge sparse file, a directory or a device node.  Doctor must
stay inside the root (the audit hook of conftest.py), never block, never read
past a bound, and never show a byte from outside."""

from __future__ import annotations

import os
import shutil

import pytest

from vfioctl.testing import doctor_scenarios as ds

from .conftest import check, clear, plant, run, tmp_leftovers

BAIT = "b41t-from-outside"
VERDICTS = (0, 1, 10, 13)   # doctor: pass, fail, cannot-tell, warn


@pytest.fixture(scope="module")
def doctor_template(tmp_path_factory):
    # plain files for /dev/vfio/N: no mknod needed, so the case runs as any user
    return ds.build_variant("dev-vfio-permissions-cannot-tell",
                            str(tmp_path_factory.mktemp("doctor") / "root"))


@pytest.fixture
def dtree(doctor_template, tmp_path):
    dst = tmp_path / "root"
    shutil.copytree(doctor_template, dst, symlinks=True)
    return str(dst)


@pytest.fixture(scope="module")
def bait(tmp_path_factory):
    """A directory outside the root whose every file doctor could read holds BAIT."""
    d = tmp_path_factory.mktemp("outside-doctor")
    for name in ("cmdline", "cpuinfo", "interrupts", "modules", "osrelease", "DMAR", "ecap",
                 "allow_unsafe_interrupts", "group", "passwd", "power_state", "boot_vga",
                 "vfio", "iommu", "modules.builtin"):
        (d / name).write_text(f"{BAIT} intel_iommu=off pcie_acs_override=downstream\n")
    return str(d)


def _gpu(root: str) -> str:
    return os.path.relpath(ds.dev_dir(root, ds.GPU), root)


#: what doctor reads (relative to the root; GPU/ is the device's sysfs directory)
FILES = ("proc/cmdline", "proc/cpuinfo", "proc/interrupts", "proc/modules",
         "proc/sys/kernel/osrelease", "sys/firmware/acpi/tables/DMAR",
         "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
         "sys/class/iommu/dmar0/intel-iommu/ecap", "etc/group", "etc/passwd",
         "GPU/power_state", "GPU/boot_vga")
DIRS = ("sys/firmware/acpi/tables", "sys/module", "sys/module/vfio", "lib/modules", "dev/vfio",
        "sys/class/iommu", "proc/sys/kernel")
NODES = ("dev/vfio/vfio", "dev/iommu")
TARGETS = ("OUTSIDE", "/proc", "/etc/passwd", "CLIMB", "LOOP")
#: looked at, not read, on this tree: presence only (an ACPI table, a node's
#: lstat) or read only when proc/modules is missing (osrelease, lib/modules)
NOT_READ = ("proc/sys/kernel/osrelease", "sys/firmware/acpi/tables/DMAR", "lib/modules") + NODES


def _path(root: str, rel: str) -> str:
    return os.path.join(root, rel.replace("GPU/", _gpu(root) + "/", 1))


def _doctor(root: str):
    before = tmp_leftovers()
    r = run(["--root", root, "doctor", "--json", ds.GPU], timeout=15)
    return r, before


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("place", FILES + DIRS + NODES)
def test_doctor_links_never_leave_the_root(dtree, bait, place, target):
    p = _path(dtree, place)
    clear(p)
    name = os.path.basename(p)
    if target == "OUTSIDE":
        t = bait if place in DIRS else os.path.join(bait, name)
    elif target == "CLIMB":   # relative, climbing far above the root
        depth = os.path.relpath(p, dtree).count("/")
        t = "../" * (depth + 4) + os.path.join(bait, name).lstrip("/")
    elif target == "LOOP":
        t = name
    else:
        t = target
    os.symlink(t, p)
    r, before = _doctor(dtree)
    check(r, root=dtree, outside=bait, json_mode=True, codes=VERDICTS, before=before)
    assert BAIT not in r.out and BAIT not in r.err
    d = r.json()
    assert d["command"] == "doctor" and d["findings"]
    if target == "CLIMB" and place not in NOT_READ:   # said, not silently dropped
        assert any("outside the root" in w for w in d["warnings"]), d["warnings"]


@pytest.mark.parametrize("kind", ("fifo", "huge", "dir", "chr"))
@pytest.mark.parametrize("place", FILES)
def test_doctor_odd_files_never_block_nor_blow_up(dtree, place, kind):
    plant(_path(dtree, place), kind)
    r, before = _doctor(dtree)
    check(r, root=dtree, outside=None, json_mode=True, codes=VERDICTS, before=before)
    d = r.json()
    if place in NOT_READ:
        return
    if kind == "huge":
        assert any("larger than" in w for w in d["warnings"]), d["warnings"]
    elif kind in ("fifo", "chr"):
        assert any("not a regular file" in w for w in d["warnings"]), d["warnings"]


def test_doctor_link_out_is_cannot_tell_not_the_bait(dtree, bait):
    """A proc/cmdline leading out of the root to a command line with an ACS
    override: doctor cannot tell (it did not read it), it does not warn."""
    p = _path(dtree, "proc/cmdline")
    clear(p)
    os.symlink("../" * 8 + os.path.join(bait, "cmdline").lstrip("/"), p)
    r, _ = _doctor(dtree)
    f = {(x["check"], x["subject"]): x for x in r.json()["findings"]}
    assert f[("acs-override", "host")]["status"] == "cannot-tell"


@pytest.mark.parametrize("fmt", ("plain", "table"))
def test_doctor_escapes_control_characters(dtree, fmt):
    """A command line (shown as evidence) and a CPU vendor carrying terminal
    escapes: the human views escape them, --json keeps them exact."""
    with open(_path(dtree, "proc/cmdline"), "w") as f:
        f.write("intel_iommu=on \x1b]0;pwned\x07 quiet\n")
    r = run(["--root", dtree, "--format", fmt, "doctor", "--verbose", ds.GPU], timeout=15)
    check(r, root=dtree, outside=None, json_mode=False, codes=VERDICTS)
    assert "\x1b]" not in r.out and "\x07" not in r.out
    assert "\\x1b]0;pwned\\x07" in r.out
    j = run(["--root", dtree, "doctor", "--json", ds.GPU], timeout=15).json()
    ev = [e["value"] for f in j["findings"] for e in f["evidence"] if e["path"] == "/proc/cmdline"]
    assert ev and all("\x1b]0;pwned\x07" in v for v in ev)
