"""Importing umockdev-record output as a fixture root."""

from __future__ import annotations

import os
import struct

import pytest

from vfioctl.errors import UsageError
from vfioctl.model.address import PciAddress as A
from vfioctl.sysfs.reader import read_host
from vfioctl.sysfs.umockdev import import_umockdev, import_umockdev_file, strcompress
from vfioctl.testing.builder import Fn, TreeBuilder


def cfg64(vendor, device, cls, *, bridge=None, subsys=(0, 0)) -> str:
    """The 64-byte header a non-root umockdev-record captures, as H: hex."""
    b = bytearray(64)
    struct.pack_into("<HHHH", b, 0, vendor, device, 0x0007, 0x0010)
    b[8] = 0xA1
    b[9], b[10], b[11] = cls & 0xFF, (cls >> 8) & 0xFF, cls >> 16
    if bridge:
        b[0x0E] = 0x01
        b[0x18], b[0x19], b[0x1A] = 0x00, bridge[0], bridge[1]
    else:
        b[0x0E] = 0x80
        struct.pack_into("<HH", b, 0x2C, *subsys)
    return b.hex().upper()


# The GPU function as root records it: the full 4 KiB config with an FLR-capable PCIe cap.
GPU_CFG = TreeBuilder._config(Fn("0000:01:00.0", "0000:00:02.0", vendor=0x10DE, device=0x2204,
                                 cls=0x030000, subsystem=(0x1043, 0x87B3), flr=True,
                                 multifunction=True)).hex().upper()
RP = "/devices/pci0000:00/0000:00:02.0"

# Shaped like `umockdev-record /dev/vfio/devices/vfio0` + the group node, on a
# systemd with the newer udevadm fields (M:, R:, U:, J:) in the output.
RECORD = f"""\
P: {RP}/0000:01:00.0/vfio-dev/vfio0
M: vfio0
R: 0
U: vfio-dev
N: vfio/devices/vfio0
J: c511:0
E: DEVNAME=/dev/vfio/devices/vfio0
E: MAJOR=511
E: MINOR=0
E: SUBSYSTEM=vfio-dev
A: dev=511:0\\n
L: device=../../../0000:01:00.0
A: power/control=auto\\n
A: power/runtime_status=unsupported\\n

P: {RP}/0000:01:00.0
M: 0000:01:00.0
R: 0
U: pci
V: vfio-pci
E: DRIVER=vfio-pci
E: PCI_CLASS=30000
E: PCI_ID=10DE:2204
E: PCI_SUBSYS_ID=1043:87B3
E: PCI_SLOT_NAME=0000:01:00.0
E: MODALIAS=pci:v000010DEd00002204sv00001043sd000087B3bc03sc00i00
E: SUBSYSTEM=pci
E: ID_PCI_CLASS_FROM_DATABASE=Display controller
E: ID_VENDOR_FROM_DATABASE=NVIDIA Corporation
E: ID_MODEL_FROM_DATABASE=GA102 [GeForce RTX 3090]
A: ari_enabled=0\\n
A: class=0x030000\\n
H: config={GPU_CFG}
A: current_link_speed=16.0 GT/s PCIe\\n
A: device=0x2204\\n
L: driver=../../../../bus/pci/drivers/vfio-pci
A: driver_override=vfio-pci\\n
L: firmware_node=../../../LNXSYSTM:00/LNXSYBUS:00/PNP0A08:00/device:1a/device:1b
L: iommu=../../0000:00:00.2/iommu/ivhd0
L: iommu_group=../../../../kernel/iommu_groups/10
A: irq=255\\n
A: msi_irqs/72=msix\\n
A: numa_node=-1\\n
A: power/control=on\\n
A: reset_method=flr bus\\n
A: resource=0x00000000fb000000 0x00000000fbffffff 0x0000000000040200\\n0x0000000000000000 0x0000000000000000 0x0000000000000000\\n
A: revision=0xa1\\n
A: subsystem_device=0x87b3\\n
A: subsystem_vendor=0x1043\\n
A: vendor=0x10de\\n

P: {RP}
E: DRIVER=pcieport
E: PCI_CLASS=60400
E: PCI_ID=1022:1453
E: PCI_SUBSYS_ID=1022:1453
E: PCI_SLOT_NAME=0000:00:02.0
E: SUBSYSTEM=pci
E: ID_VENDOR_FROM_DATABASE=Advanced Micro Devices, Inc. [AMD]
E: ID_MODEL_FROM_DATABASE=Family 17h (Models 00h-0fh) PCIe GPP Bridge
A: class=0x060400
H: config={cfg64(0x1022, 0x1453, 0x060400, bridge=(0x01, 0x01))}
A: device=0x1453
L: driver=../../../bus/pci/drivers/pcieport
A: driver_override=(null)
L: iommu_group=../../../kernel/iommu_groups/2
A: reset_method=pm\\n
A: secondary_bus_number=1\\n
A: subordinate_bus_number=1\\n
A: vendor=0x1022

"""

# The audio function and the group node, recorded separately (old umockdev: values
# chomped, no trailing \n) and appended, with Windows line ends from a mail client.
EXTRA = f"""\
P: {RP}/0000:01:00.1
E: DRIVER=snd_hda_intel
E: PCI_SLOT_NAME=0000:01:00.1
E: SUBSYSTEM=pci
E: ID_VENDOR_FROM_DATABASE=NVIDIA Corporation
E: ID_MODEL_FROM_DATABASE=GA102 High Definition Audio Controller
A: class=0x040300
H: config={cfg64(0x10DE, 0x1AEF, 0x040300, subsys=(0x1043, 0x87B3))}
A: device=0x1aef
L: driver=../../../../bus/pci/drivers/snd_hda_intel
L: iommu_group=../../../../kernel/iommu_groups/10
A: vendor=0x10de

P: /devices/virtual/vfio/10
N: vfio/10
E: DEVNAME=/dev/vfio/10
E: MAJOR=243
E: MINOR=10
E: SUBSYSTEM=vfio
A: dev=243:10\\n
""".replace("\n", "\r\n")


@pytest.fixture
def imported(tmp_path):
    dest = tmp_path / "tree"
    rep = import_umockdev(RECORD + "\n" + EXTRA, str(dest))
    return str(dest), rep


def test_report(imported):
    _, rep = imported
    assert rep == {"devices": 5, "skipped": []}


def test_reader_sees_the_topology(imported):
    dest, _ = imported
    h = read_host(dest, names=True)
    assert sorted(map(str, h.functions)) == ["0000:00:02.0", "0000:01:00.0", "0000:01:00.1"]
    rp, gpu, aud = (h.functions[A.parse(a)] for a in ("0000:00:02.0", "0000:01:00.0", "0000:01:00.1"))

    assert rp.parent is None and rp.root_bus == "pci0000:00"
    assert rp.is_bridge and (rp.secondary_bus, rp.subordinate_bus) == (1, 1)
    assert (rp.vendor, rp.device, rp.driver, rp.iommu_group) == (0x1022, 0x1453, "pcieport", 2)
    assert rp.sysfs_path == "devices/pci0000:00/0000:00:02.0"

    assert gpu.parent == rp.address == aud.parent
    assert (gpu.vendor, gpu.device, gpu.class_code, gpu.revision) == (0x10DE, 0x2204, 0x030000, 0x10)
    assert (gpu.subsystem_vendor, gpu.subsystem_device) == (0x1043, 0x87B3)
    assert gpu.driver == "vfio-pci" and gpu.driver_override == "vfio-pci"
    assert gpu.iommu_group == 10 and gpu.reset_method == ("flr", "bus")
    assert gpu.caps.flr is True and gpu.config_size == 4096    # full config (recorded as root)
    assert gpu.vfio_dev == "vfio0" and gpu.vfio_dev_devt == "511:0"
    assert h.cdev_node(gpu) == "/dev/vfio/devices/vfio0"

    assert (aud.vendor, aud.device, aud.driver, aud.iommu_group) == (0x10DE, 0x1AEF, "snd_hda_intel", 10)
    assert aud.caps.flr is None and aud.config_size == 64       # non-root record: unknown

    g = h.groups[10]
    assert g.members == (gpu.address, aud.address) and g.type is None   # type not recorded
    assert h.groups[2].members == (rp.address,)
    assert h.viability_blockers(g) == [aud]
    assert "10" in h.dev_vfio and "vfio0" in h.dev_vfio_devices
    assert h.iommu_present is True      # from the L: iommu=../../0000:00:00.2/iommu/ivhd0 link
    assert h.warnings == []


def test_names_from_udev_properties(imported):
    dest, _ = imported
    h = read_host(dest, names=True)
    gpu = h.functions[A.parse("0000:01:00.0")]
    assert (gpu.vendor_name, gpu.device_name) == ("NVIDIA Corporation", "GA102 [GeForce RTX 3090]")
    rp = h.functions[A.parse("0000:00:02.0")]
    assert rp.vendor_name == "Advanced Micro Devices, Inc. [AMD]"
    with open(os.path.join(dest, "run/udev/data/+pci:0000:01:00.0")) as f:
        assert "E:ID_PCI_CLASS_FROM_DATABASE=Display controller\n" in f.read()


def test_layout_like_the_builder(imported):
    dest, _ = imported
    sysd = os.path.join(dest, "sys")
    dev = "devices/pci0000:00/0000:00:02.0/0000:01:00.0"
    assert os.readlink(f"{sysd}/bus/pci/devices/0000:01:00.0") == f"../../../{dev}"
    assert os.readlink(f"{sysd}/{dev}/driver") == "../../../../bus/pci/drivers/vfio-pci"
    assert os.path.isdir(f"{sysd}/{dev}/driver")
    assert os.path.realpath(f"{sysd}/bus/pci/drivers/vfio-pci/0000:01:00.0") == \
        os.path.realpath(f"{sysd}/{dev}")
    assert os.path.realpath(f"{sysd}/kernel/iommu_groups/10/devices/0000:01:00.1") == \
        os.path.realpath(f"{sysd}/devices/pci0000:00/0000:00:02.0/0000:01:00.1")
    assert not os.path.exists(f"{sysd}/kernel/iommu_groups/10/type")
    assert os.readlink(f"{sysd}/{dev}/subsystem") == "../../../../bus/pci"
    assert os.path.realpath(f"{sysd}/class/vfio/10") == os.path.realpath(f"{sysd}/devices/virtual/vfio/10")
    assert os.path.isdir(f"{sysd}/class/vfio-dev/vfio0")
    with open(f"{sysd}/{dev}/vendor", "rb") as f:
        assert f.read() == b"0x10de\n"
    with open(f"{sysd}/{dev}/resource", "rb") as f:
        assert f.read().count(b"\n") == 2
    with open(f"{sysd}/{dev}/msi_irqs/72", "rb") as f:
        assert f.read() == b"msix\n"
    with open(f"{sysd}/{dev}/uevent") as f:
        ue = f.read()
    assert "PCI_SLOT_NAME=0000:01:00.0\n" in ue and "ID_" not in ue
    assert os.path.isfile(os.path.join(dest, "dev/vfio/10"))
    assert os.path.getsize(os.path.join(dest, "dev/vfio/devices/vfio0")) == 0


def test_cli_reads_the_import(imported, cli):
    dest, _ = imported
    r = cli(["--root", dest, "list", "--json"])
    assert r.code == 0, r.err
    addrs = [f["address"] for f in r.json()["functions"]]
    assert addrs == ["0000:00:02.0", "0000:01:00.0", "0000:01:00.1"]


def test_file_and_dest_rules(tmp_path):
    src = tmp_path / "rec.umockdev"
    src.write_bytes(RECORD.encode() + b"\nP: /devices/virtual/x/y\nE: SUBSYSTEM=x\nA: raw=\xff\xfe\n")
    rep = import_umockdev_file(src, tmp_path / "out")
    assert rep["devices"] == 4 and rep["skipped"] == []
    with pytest.raises(UsageError):
        import_umockdev_file(src, tmp_path / "out")
    rep = import_umockdev_file(src, tmp_path / "out", overwrite=True)
    assert rep["devices"] == 4
    (tmp_path / "empty").mkdir()
    assert import_umockdev("", str(tmp_path / "empty")) == {"devices": 0, "skipped": []}


# -- malformed input: skipped with a note, never a crash --------------------------------

BAD = f"""\
this is not a record

A: vendor=0x1234
E: SUBSYSTEM=pci

P: /etc
E: SUBSYSTEM=pci

P: /devices/../../../etc
E: SUBSYSTEM=pci

P: {RP}/0000:01:00.0
E: SUBSYSTEM=pci
X: something new
A: no-equals-sign
H: config=ABC
H: rom=ZZZZ
A: ../../../../../../escape=1
A: uevent=ACTION=add
L: evil=../../../../../../../../../../tmp
L: abs=/etc
L: power=../../../../bus
A: power/evil=1
L: driver=../../../../../../../../../../tmp/vfio-pci
L: iommu_group=../../../../kernel/iommu_groups/notanumber
N: ../../outside
P: /devices/second/p/line
L: 0
S: disk/by-id/foo
A: vendor=0x10de\\n
A: device=0x2204\\n
A: class=0x030000\\n
A: trailing=back\\
A: octal=\\303\\251t\\351

P: {RP}/0000:01:00.0
E: SUBSYSTEM=pci

P: {RP}/0000:01:00.1
A: vendor=0x10de
E: PCI_SLOT_NAME=0000:01:00.1

P: /devices/virtual/misc/odd
E: SUBSYSTEM=../../x

P: /devices/platform/nosub
A: x=1
"""


def test_malformed_lines_are_skipped_with_notes(tmp_path):
    dest = tmp_path / "tree"
    rep = import_umockdev(BAD, str(dest))
    notes = "\n".join(rep["skipped"])
    for line in (1, 3, 6, 9):
        assert f"line {line}:" in notes and "paragraph skipped" in notes
    assert "not a umockdev record line: 'X: something new'" in notes
    assert "not a umockdev record line: 'A: no-equals-sign'" in notes
    assert "H: config: not an even-length hex" in notes and "H: rom:" in notes
    assert "'../../../../../../escape' refused" in notes and "'uevent' refused" in notes
    assert "link evil -> '../../../../../../../../../../tmp' not created: leads out of sys/" in notes
    assert "link abs -> '/etc' not created: not a relative sysfs link" in notes
    assert "attribute 'power/evil' would be written into the link 'power'; refused" in notes
    assert "driver link" in notes and "rewritten" in notes
    assert "not a group number" in notes
    assert "device node '../../outside' refused" in notes
    assert "second P: line" in notes
    assert "recorded twice" in notes
    assert "odd SUBSYSTEM" in notes and "no E: SUBSYSTEM= line" in notes
    assert all(n.startswith("line ") for n in rep["skipped"])
    lines = [int(n.split()[1].rstrip(":")) for n in rep["skipped"]]
    assert lines == sorted(lines)
    assert "no E: SUBSYSTEM= line" not in "".join(n for n in rep["skipped"] if "misc/odd" in n)
    # 0000:01:00.0, .1 (PCI by PCI_SLOT_NAME), misc/odd, platform/nosub
    assert rep["devices"] == 4

    # nothing escaped the tree; nothing written through a link
    assert sorted(os.listdir(tmp_path)) == ["tree"]
    assert not os.path.exists(dest / "sys/bus/evil")
    assert not os.path.lexists(dest / "sys/devices/pci0000:00/0000:00:02.0/0000:01:00.0/evil")
    for dirpath, dirnames, filenames in os.walk(dest):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            if os.path.islink(p):
                real = os.path.realpath(p)
                assert real.startswith(os.path.realpath(dest) + os.sep), (p, os.readlink(p))

    dev = dest / "sys/devices/pci0000:00/0000:00:02.0/0000:01:00.0"
    assert (dev / "trailing").read_bytes() == b"back\\"
    assert (dev / "octal").read_bytes() == "\u00e9t".encode() + b"\xe9"
    assert os.readlink(dev / "driver") == "../../../../bus/pci/drivers/vfio-pci"  # canonical

    h = read_host(str(dest))
    f = h.functions[A.parse("0000:01:00.0")]
    assert (f.vendor, f.device, f.driver, f.iommu_group) == (0x10DE, 0x2204, "vfio-pci", None)
    assert A.parse("0000:01:00.1") in h.functions


def test_binary_garbage_does_not_crash(tmp_path):
    blob = bytes(range(256)) * 4 + b"\nP: /devices/\x00x\n\n" + RECORD.encode()
    rep = import_umockdev(blob.decode("utf-8", "surrogateescape"), str(tmp_path / "t"))
    assert rep["devices"] == 3 and rep["skipped"]


@pytest.mark.parametrize("escaped, raw", [
    ("0x8086\\n", b"0x8086\n"),
    ("a\\\\b", b"a\\b"),
    ('say \\"hi\\"', b'say "hi"'),
    ("\\t\\r\\b\\f\\v", b"\t\r\b\f\v"),
    ("\\303\\251", "\u00e9".encode()),
    ("\\0", b"\0"),
    ("\\1234", b"S4"),
    ("end\\", b"end\\"),
    ("", b""),
])
def test_strcompress(escaped, raw):
    assert strcompress(escaped) == raw


def test_driver_and_group_links_of_the_wrong_depth_are_rewritten(tmp_path):
    # hand-edited records often get the number of ../ wrong; the name is what counts
    rec = f"""\
P: {RP}/0000:01:00.0
E: SUBSYSTEM=pci
A: vendor=0x10de
L: driver=../../bus/pci/drivers/vfio-pci
L: iommu_group=../../../../../../kernel/iommu_groups/7
"""
    dest = tmp_path / "t"
    rep = import_umockdev(rec, str(dest))
    assert len(rep["skipped"]) == 2 and all("rewritten" in n for n in rep["skipped"])
    dev = dest / "sys/devices/pci0000:00/0000:00:02.0/0000:01:00.0"
    assert os.readlink(dev / "driver") == "../../../../bus/pci/drivers/vfio-pci"
    assert os.readlink(dev / "iommu_group") == "../../../../kernel/iommu_groups/7"
    f = read_host(str(dest)).functions[A.parse("0000:01:00.0")]
    assert (f.driver, f.iommu_group, f.parent) == ("vfio-pci", 7, A.parse("0000:00:02.0"))
