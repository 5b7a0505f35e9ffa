"""The sysfs reader over every scenario tree (and the broken one)."""

import os

import pytest

from vfioctl.errors import HostError
from vfioctl.model.address import PciAddress as A
from vfioctl.sysfs.config import parse_caps, parse_header
from vfioctl.sysfs.reader import read_host
from vfioctl.testing import scenarios
from vfioctl.testing.builder import TreeBuilder


def test_dual_function(build):
    h = read_host(build("dual-function"))
    f0, f1 = h.functions[A.parse("0000:81:00.0")], h.functions[A.parse("0000:81:00.1")]
    assert (f0.vendor, f0.device, f0.class_code) == (0x8086, 0x10FB, 0x020000)
    assert f0.subsystem_vendor == 0x8086 and f0.revision == 0x10
    assert f0.driver == "vfio-pci" and f0.iommu_group == 11 == f1.iommu_group
    assert f0.parent == A.parse("0000:80:01.0") and f0.root_bus is None
    assert f0.vfio_dev and f0.vfio_dev_devt and f0.vfio_bound
    assert f0.reset_method == ("flr", "pm", "bus") and f1.reset_method == ("flr", "pm")
    assert f0.caps.flr is True and f0.caps.pm_reset is True and f0.caps.pcie_type == "endpoint"
    assert f0.numa_node == 1
    g = h.groups[11]
    assert g.members == (f0.address, f1.address) and g.type == "DMA" and not g.noiommu
    assert g.node == "/dev/vfio/11"
    assert h.slot_for(f0.address).name == "1" and h.slot_for(f0.address).hotplug
    assert h.dev_iommu and "11" in h.dev_vfio and f0.vfio_dev in h.dev_vfio_devices
    rp = h.functions[A.parse("0000:80:01.0")]
    assert rp.is_bridge and rp.secondary_bus == 0x81 and rp.root_bus == "pci0000:80"
    assert rp.caps.pcie_type == "root-port" and rp.caps.hotplug_capable is True
    assert h.warnings == []


def test_noiommu(build):
    h = read_host(build("noiommu"))
    f = h.functions[A.parse("0000:01:00.0")]
    g = h.group_of(f)
    assert g.noiommu and g.name == "vfio-noiommu" and g.type == "unknown"
    assert g.node == "/dev/vfio/noiommu-0" and "noiommu-0" in h.dev_vfio
    assert f.vfio_dev and f.vfio_dev_devt is None and h.cdev_node(f) is None
    assert h.noiommu_mode is True and h.iommu_present is False
    assert h.functions[A.parse("0000:02:00.1")].iommu_group is None   # e1000e: no group


def test_no_cdev_kernel(build):
    h = read_host(build("no-cdev"))
    f = h.functions[A.parse("0000:01:00.0")]
    assert f.vfio_dev and f.vfio_dev_devt is None and h.cdev_node(f) is None
    assert not h.dev_iommu and not h.dev_vfio_devices


def test_holders(build):
    h = read_host(build("held-group"))
    hs = h.holders_of("/dev/vfio/11")
    assert [(x.pid, x.comm) for x in hs] == [(4242, "qemu-system-x86")]
    assert h.group_holders(h.groups[11]) == hs


def test_sriov_links(build):
    h = read_host(build("sriov"))
    pf = h.functions[A.parse("0000:3b:00.0")]
    assert pf.virtfns == tuple(A.parse(f"0000:3b:02.{i}") for i in range(4))
    assert pf.sriov_totalvfs == 64 and pf.sriov_numvfs == 4
    vf = h.functions[A.parse("0000:3b:02.1")]
    assert vf.physfn == pf.address and vf.is_vf and vf.vendor == 0x8086 and vf.device == 0x154C


def test_broken_entries_warn_never_crash(build):
    h = read_host(build("broken"))
    w = "\n".join(h.warnings)
    assert "dangling link" in w and "0000:00:09.0" in w
    assert "garbage: not a PCI address" in w
    assert "bogus: not a group number" in w
    assert "class is not a hex number" in w
    assert "slots/9: no address" in w
    f = h.functions[A.parse("0000:00:0a.0")]
    assert f.class_code is None and f.vendor == 0x8086 and f.iommu_group == 77
    assert 77 in h.groups            # recorded from the link, with a warning
    # a truncated config file: ids fall back to attributes, caps unknown
    e = h.functions[A.parse("0000:01:00.0")]
    assert e.vendor == 0x1234 and e.caps.flr is None
    assert A.parse("0000:00:09.0") not in h.functions


def test_root_without_sys(tmp_path):
    with pytest.raises(HostError) as ei:
        read_host(str(tmp_path))
    assert "no sys/" in ei.value.message and ei.value.code == 4
    with pytest.raises(HostError):
        read_host(str(tmp_path / "missing"))


def test_unreadable_devices_dir(tmp_path):
    os.makedirs(tmp_path / "sys")
    h = read_host(str(tmp_path))
    assert h.functions == {} and "no PCI bus" in h.warnings[0]


def test_config_64_bytes_means_unknown(tmp_path):
    b = TreeBuilder(str(tmp_path / "t"))
    b.root_port("0000:00:02.0", 0x01, group=2)
    b.fn("0000:01:00.0", "0000:00:02.0", driver="vfio-pci", group=3, flr=True, config_size=64)
    h = read_host(b.write())
    f = h.functions[A.parse("0000:01:00.0")]
    assert f.config_size == 64 and f.vendor == 0x1234      # ids from the header
    assert (f.caps.flr, f.caps.pm_reset, f.caps.af_flr) == (None, None, None)


def test_config_parsers_on_builder_output():
    from vfioctl.testing.builder import Fn
    cfg = TreeBuilder._config(Fn("0000:01:00.0", None, flr=True, pm_reset=False))
    hdr = parse_header(cfg)
    assert hdr.vendor == 0x1234 and hdr.header_type == 0
    caps = parse_caps(cfg)
    assert caps.flr is True and caps.pm_reset is False
    pci = TreeBuilder._config(Fn("0000:01:00.0", None, pcie=None, flr=True))
    assert parse_caps(pci).af_flr is True and parse_caps(pci).pcie_type is None
    assert parse_header(b"\xff" * 64) is None and parse_header(b"\x00" * 10) is None


def test_capability_loop_terminates():
    cfg = bytearray(256)
    cfg[0:2] = b"\x86\x80"
    cfg[6] = 0x10
    cfg[0x34] = 0x40
    cfg[0x40], cfg[0x41] = 0x05, 0x40   # points at itself
    assert parse_caps(bytes(cfg)).flr is False


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_every_scenario_reads(build, name):
    h = read_host(build(name))
    assert h.functions
    for f in h.functions.values():
        assert f.sysfs_path.startswith("devices/pci")
