"""Named fixture hosts: the scenario trees the test-suite runs over, and the demo.

Each scenario is a function ``build(path) -> root`` writing a tree with
:class:`~vfioctl.testing.builder.TreeBuilder`.  Topologies follow what real
kernels show (real-kernel-vm.md §4): multifunction endpoints share an IOMMU
group, root ports get their own group (ACS), devices behind a conventional
PCI bridge share the bridge's group (DMA alias), SR-IOV VFs get their own
groups, noiommu devices get one fake group each and non-VFIO devices none.
"""

from __future__ import annotations

import os
from typing import Callable

from vfioctl.testing.builder import TreeBuilder

SCENARIOS: dict[str, Callable[[str], str]] = {}


def scenario(name: str):
    def deco(f):
        SCENARIOS[name] = f
        f.scenario_name = name
        return f
    return deco


def build(name: str, path: str) -> str:
    return SCENARIOS[name](path)


def _host_bridge(b: TreeBuilder, dom_bus: str = "0000:00", group: int = 0) -> None:
    b.fn(f"{dom_bus}:00.0", None, vendor=0x8086, device=0x29C0, cls=0x060000, group=group,
         pcie=None)


@scenario("dual-function")
def dual_function(path: str) -> str:
    """a. 0000:81:00.0/.1 dual-port NIC behind a hotplug root port, both on vfio-pci."""
    b = TreeBuilder(path, meta={"scenario": "dual-function"})
    _host_bridge(b, "0000:80", 9)
    b.root_port("0000:80:01.0", 0x81, group=10, slot="1")
    for fnum in (0, 1):
        b.fn(f"0000:81:00.{fnum}", "0000:80:01.0", vendor=0x8086, device=0x10FB, cls=0x020000,
             subsystem=(0x8086, 0x000C), driver="vfio-pci", group=11, flr=True, pm_reset=True,
             multifunction=True, reset_method="flr pm bus" if fnum == 0 else "flr pm",
             numa_node=1)
    return b.write()


@scenario("gpu-audio-host-driver")
def gpu_audio(path: str) -> str:
    """b. GPU on vfio-pci, its audio function on snd_hda_intel: group not viable."""
    b = TreeBuilder(path, meta={"scenario": "gpu-audio-host-driver"})
    _host_bridge(b)
    b.root_port("0000:00:01.0", 0x01, group=2)  # no hotplug slot: bus reset
    b.fn("0000:01:00.0", "0000:00:01.0", vendor=0x10DE, device=0x2204, cls=0x030000,
         subsystem=(0x10DE, 0x1454), driver="vfio-pci", group=14, multifunction=True,
         reset_method="bus")
    b.fn("0000:01:00.1", "0000:00:01.0", vendor=0x10DE, device=0x1AEF, cls=0x040300,
         subsystem=(0x10DE, 0x1454), driver="snd_hda_intel", group=14)
    return b.write()


@scenario("root-bus")
def root_bus(path: str) -> str:
    """c. A device on the root bus: no slot or bus reset (ENODEV)."""
    b = TreeBuilder(path, meta={"scenario": "root-bus"})
    _host_bridge(b)
    b.fn("0000:00:05.0", None, driver="vfio-pci", group=5, pcie=None)
    return b.write()


@scenario("pcie-switch")
def pcie_switch(path: str) -> str:
    """d. A PCIe switch below a root port; a bus reset at the switch's upstream
    bus covers every subordinate bus."""
    b = TreeBuilder(path, meta={"scenario": "pcie-switch"})
    _host_bridge(b)
    b.root_port("0000:00:1c.0", 0x02, 0x05, group=3)
    b.fn("0000:02:00.0", "0000:00:1c.0", vendor=0x10B5, device=0x8747, cls=0x060400,
         driver="pcieport", group=4, pcie="upstream-port", bridge=(0x03, 0x05),
         multifunction=True)
    # a management function of the switch, on vfio-pci, on the upstream bus
    b.fn("0000:02:00.1", "0000:00:1c.0", vendor=0x10B5, device=0x87D0, cls=0x088000,
         driver="vfio-pci", group=5)
    b.fn("0000:03:00.0", "0000:02:00.0", vendor=0x10B5, device=0x8747, cls=0x060400,
         driver="pcieport", group=6, pcie="downstream-port", bridge=(0x04, 0x04),
         slot_hotplug=True)
    b.slots.append(("4", "0000:04:00", True))
    b.fn("0000:03:01.0", "0000:02:00.0", vendor=0x10B5, device=0x8747, cls=0x060400,
         driver="pcieport", group=7, pcie="downstream-port", bridge=(0x05, 0x05))
    b.fn("0000:04:00.0", "0000:03:00.0", vendor=0x144D, device=0xA80A, cls=0x010802,
         driver="vfio-pci", group=8, flr=True, reset_method="flr bus")
    b.fn("0000:05:00.0", "0000:03:01.0", vendor=0x15B3, device=0x101D, cls=0x020000,
         driver="vfio-pci", group=9, flr=True, reset_method="flr bus")
    return b.write()


@scenario("pci-bridge")
def pci_bridge(path: str) -> str:
    """e. Two conventional PCI devices behind a PCIe-to-PCI bridge, sharing the
    bridge's IOMMU group (DMA alias), both on vfio-pci."""
    b = TreeBuilder(path, meta={"scenario": "pci-bridge"})
    _host_bridge(b)
    b.root_port("0000:00:1c.0", 0x06, 0x07, group=3, slot="3")
    b.fn("0000:06:00.0", "0000:00:1c.0", vendor=0x1B36, device=0x000E, cls=0x060400,
         group=12, pcie="pcie-to-pci-bridge", bridge=(0x07, 0x07), reset_method="pm bus")
    b.fn("0000:07:01.0", "0000:06:00.0", driver="vfio-pci", group=12, pcie=None,
         reset_method="bus")
    b.fn("0000:07:02.0", "0000:06:00.0", driver="vfio-pci", group=12, pcie=None)
    return b.write()


@scenario("sriov")
def sriov(path: str) -> str:
    """f. An SR-IOV PF on its host driver with four VFs on vfio-pci, each VF in
    its own group; VFs sit on the PF's bus."""
    b = TreeBuilder(path, meta={"scenario": "sriov"})
    _host_bridge(b)
    b.root_port("0000:00:03.0", 0x3B, group=3)
    b.fn("0000:3b:00.0", "0000:00:03.0", vendor=0x8086, device=0x1572, cls=0x020000,
         driver="i40e", group=40, flr=True, reset_method="flr bus", sriov_totalvfs=64,
         multifunction=False)
    for i in range(4):
        b.fn(f"0000:3b:02.{i}", "0000:00:03.0", vendor=0x8086, device=0x154C, cls=0x020000,
             driver="vfio-pci", group=41 + i, flr=True, reset_method="flr",
             physfn="0000:3b:00.0")
    return b.write()


@scenario("noiommu")
def noiommu(path: str) -> str:
    """g. No IOMMU, vfio.enable_unsafe_noiommu_mode=Y: every vfio-pci device has
    its own fake ``vfio-noiommu`` group, node ``/dev/vfio/noiommu-N``, no cdev;
    devices on other drivers have no group at all."""
    b = TreeBuilder(path, noiommu=True, noiommu_param=True, iommu_units=(),
                    meta={"scenario": "noiommu"})
    _host_bridge(b, group=None)
    b.root_port("0000:00:02.0", 0x01, group=None, slot="1")
    b.fn("0000:01:00.0", "0000:00:02.0", driver="vfio-pci", group=0, multifunction=True,
         reset_method="bus")
    b.fn("0000:01:00.1", "0000:00:02.0", driver="vfio-pci", group=1)
    b.root_port("0000:00:03.0", 0x02, group=None, slot="2")
    b.fn("0000:02:00.0", "0000:00:03.0", vendor=0x8086, device=0x10D3, cls=0x020000,
         driver="vfio-pci", group=2, multifunction=True, reset_method="pm bus")
    b.fn("0000:02:00.1", "0000:00:03.0", vendor=0x8086, device=0x10D3, cls=0x020000,
         driver="e1000e", group=None, reset_method="pm")
    return b.write()


@scenario("no-cdev")
def no_cdev(path: str) -> str:
    """h. A kernel without VFIO_DEVICE_CDEV/IOMMUFD: vfio-dev/vfioX has no
    ``dev``, no /dev/vfio/devices, no /dev/iommu."""
    b = TreeBuilder(path, cdev_support=False, iommufd=False, meta={"scenario": "no-cdev"})
    _host_bridge(b)
    b.root_port("0000:00:02.0", 0x01, group=2, slot="1")
    for fnum in (0, 1):
        b.fn(f"0000:01:00.{fnum}", "0000:00:02.0", driver="vfio-pci", group=10,
             multifunction=True, reset_method="bus" if fnum == 0 else None)
    return b.write()


@scenario("held-group")
def held_group(path: str) -> str:
    """i. Like dual-function, with group 11 held open by QEMU (pid 4242)."""
    b = TreeBuilder(path, meta={"scenario": "held-group"})
    _host_bridge(b, "0000:80", 9)
    b.root_port("0000:80:01.0", 0x81, group=10, slot="1")
    for fnum in (0, 1):
        b.fn(f"0000:81:00.{fnum}", "0000:80:01.0", vendor=0x8086, device=0x10FB,
             cls=0x020000, driver="vfio-pci", group=11, flr=True, multifunction=True,
             reset_method="flr bus" if fnum == 0 else "flr")
    b.hold("/dev/vfio/11", 4242, "qemu-system-x86")
    b.hold("/dev/vfio/vfio", 4242, "qemu-system-x86")
    return b.write()


@scenario("broken")
def broken(path: str) -> str:
    """j. Broken entries that must be skipped with a warning, never a crash."""
    b = TreeBuilder(path, meta={"scenario": "broken"})
    _host_bridge(b)
    b.root_port("0000:00:02.0", 0x01, group=2, slot="1")
    b.fn("0000:01:00.0", "0000:00:02.0", driver="vfio-pci", group=10)

    def breakage(root: str) -> None:
        sysd = os.path.join(root, "sys")
        devs = os.path.join(sysd, "bus/pci/devices")
        # dangling link
        os.symlink("../../../devices/pci0000:00/0000:00:09.0", os.path.join(devs, "0000:00:09.0"))
        # not an address
        os.symlink("../../../devices/pci0000:00", os.path.join(devs, "garbage"))
        # a device with garbage attributes and no config
        d = os.path.join(sysd, "devices/pci0000:00/0000:00:0a.0")
        os.makedirs(d)
        with open(os.path.join(d, "class"), "w") as f:
            f.write("not-a-number\n")
        with open(os.path.join(d, "vendor"), "w") as f:
            f.write("0x8086\n")
        os.symlink("../../../kernel/iommu_groups/77", os.path.join(d, "iommu_group"))
        os.symlink("../../../devices/pci0000:00/0000:00:0a.0", os.path.join(devs, "0000:00:0a.0"))
        # a group directory that is not a number, a slot without address
        os.makedirs(os.path.join(sysd, "kernel/iommu_groups/bogus"))
        os.makedirs(os.path.join(sysd, "bus/pci/slots/9"))
        # a truncated config file
        with open(os.path.join(sysd, "devices/pci0000:00/0000:00:02.0/0000:01:00.0/config"),
                  "wb") as f:
            f.write(b"\x34\x12")
        # a proc entry without comm, an fd link to something else
        os.makedirs(os.path.join(root, "proc/77/fd"))
        os.symlink("/dev/null", os.path.join(root, "proc/77/fd/0"))
        os.symlink("/dev/vfio/10", os.path.join(root, "proc/77/fd/3"))

    b.extra.append(breakage)
    return b.write()


@scenario("demo")
def demo(path: str) -> str:
    """The bundled demo host: a two-socket server.

    Socket 0 (pci0000:00): a hotplug root port with the 0000:81-style
    dual-port NIC's twin, a GPU + audio pair on vfio-pci behind a PCIe switch
    (held by QEMU), an NVMe drive for SPDK, a root-complex integrated
    accelerator on the root bus, an SR-IOV NIC with VFs.
    Socket 1 (pci0000:80): the dual-function device 0000:81:00.0/.1, a second
    GPU whose audio function is still on snd_hda_intel, a legacy PCI card
    behind a PCIe-to-PCI bridge, and a device without IOMMU coverage used
    through vfio's unsafe noiommu mode.  The console is an ASPEED BMC's VGA
    (boot_vga) behind its PCI bridge; lib/modules holds a modules.alias excerpt.
    """
    b = TreeBuilder(path, noiommu_param=True, modules_alias=DEMO_MODULES_ALIAS, meta={
        "scenario": "demo", "osrelease": "6.12.48-vfioctl-demo",
        "cmdline": "BOOT_IMAGE=/vmlinuz intel_iommu=on iommu=pt vfio.enable_unsafe_noiommu_mode=1"})
    # socket 0
    _host_bridge(b, "0000:00", 0)
    b.fn("0000:00:01.0", None, vendor=0x8086, device=0x0B25, cls=0x088000, driver="vfio-pci",
         group=1, pcie="rc-integrated-endpoint", flr=True, reset_method="flr",
         subsystem=(0x8086, 0x0000))  # Intel DSA, RCiEP on the root bus
    b.root_port("0000:00:02.0", 0x01, 0x04, group=2, slot="2")
    b.fn("0000:01:00.0", "0000:00:02.0", vendor=0x1000, device=0xC010, cls=0x060400,
         driver="pcieport", group=3, pcie="upstream-port", bridge=(0x02, 0x04))
    b.fn("0000:02:00.0", "0000:01:00.0", vendor=0x1000, device=0xC010, cls=0x060400,
         driver="pcieport", group=4, pcie="downstream-port", bridge=(0x03, 0x03),
         slot_hotplug=True)
    b.slots.append(("10", "0000:03:00", True))
    b.fn("0000:02:01.0", "0000:01:00.0", vendor=0x1000, device=0xC010, cls=0x060400,
         driver="pcieport", group=5, pcie="downstream-port", bridge=(0x04, 0x04))
    b.fn("0000:03:00.0", "0000:02:00.0", vendor=0x10DE, device=0x2230, cls=0x030000,
         subsystem=(0x10DE, 0x1459), driver="vfio-pci", group=20, multifunction=True,
         flr=True, reset_method="flr bus", numa_node=0, boot_vga=False)
    b.fn("0000:03:00.1", "0000:02:00.0", vendor=0x10DE, device=0x1AEF, cls=0x040300,
         subsystem=(0x10DE, 0x1459), driver="vfio-pci", group=20, flr=True,
         reset_method="flr", numa_node=0)
    b.hold("/dev/vfio/20", 31337, "qemu-system-x86")
    b.hold("/dev/vfio/vfio", 31337, "qemu-system-x86")
    b.fn("0000:04:00.0", "0000:02:01.0", vendor=0x144D, device=0xA80A, cls=0x010802,
         subsystem=(0x144D, 0xA801), driver="vfio-pci", group=21, flr=True,
         reset_method="flr bus", numa_node=0)
    b.root_port("0000:00:03.0", 0x05, group=6)
    b.fn("0000:05:00.0", "0000:00:03.0", vendor=0x15B3, device=0x101D, cls=0x020000,
         subsystem=(0x15B3, 0x0016), driver="mlx5_core", group=22, flr=True,
         multifunction=True, reset_method="flr bus", sriov_totalvfs=8, numa_node=0)
    b.fn("0000:05:00.1", "0000:00:03.0", vendor=0x15B3, device=0x101D, cls=0x020000,
         subsystem=(0x15B3, 0x0016), driver="mlx5_core", group=23, flr=True,
         reset_method="flr", numa_node=0)
    for i in range(4):
        b.fn(f"0000:05:00.{i + 2}", "0000:00:03.0", vendor=0x15B3, device=0x101E,
             cls=0x020000, subsystem=(0x15B3, 0x0016), driver="vfio-pci", group=24 + i,
             flr=True, reset_method="flr", physfn="0000:05:00.0", numa_node=0)
    # the BMC's VGA: the firmware console (boot_vga), behind the BMC's PCI bridge
    b.root_port("0000:00:1c.0", 0x06, 0x07, group=7)
    b.fn("0000:06:00.0", "0000:00:1c.0", vendor=0x1A03, device=0x1150, cls=0x060400,
         group=31, pcie="pcie-to-pci-bridge", bridge=(0x07, 0x07))
    b.fn("0000:07:00.0", "0000:06:00.0", vendor=0x1A03, device=0x2000, cls=0x030000,
         subsystem=(0x15D9, 0x1B95), driver="ast", group=31, pcie=None, boot_vga=True,
         numa_node=0)
    b.fn("0000:00:1f.0", None, vendor=0x8086, device=0xA1C8, cls=0x060100, driver=None,
         group=30, multifunction=True, pcie=None)
    b.fn("0000:00:1f.4", None, vendor=0x8086, device=0xA1A3, cls=0x0C0500, driver="i801_smbus",
         group=30, pcie=None)
    # socket 1
    _host_bridge(b, "0000:80", 40)
    b.root_port("0000:80:01.0", 0x81, group=41, slot="81")
    for fnum in (0, 1):
        b.fn(f"0000:81:00.{fnum}", "0000:80:01.0", vendor=0x8086, device=0x10FB,
             cls=0x020000, subsystem=(0x8086, 0x000C), driver="vfio-pci", group=42,
             flr=True, pm_reset=True, multifunction=True,
             reset_method="flr pm bus" if fnum == 0 else "flr pm", numa_node=1)
    b.root_port("0000:80:02.0", 0x82, group=43)
    b.fn("0000:82:00.0", "0000:80:02.0", vendor=0x10DE, device=0x2204, cls=0x030000,
         subsystem=(0x1043, 0x87B3), driver="vfio-pci", group=44, multifunction=True,
         reset_method="bus", numa_node=1, boot_vga=False)
    b.fn("0000:82:00.1", "0000:80:02.0", vendor=0x10DE, device=0x1AEF, cls=0x040300,
         subsystem=(0x1043, 0x87B3), driver="snd_hda_intel", group=44, numa_node=1)
    b.root_port("0000:80:03.0", 0x83, 0x84, group=45)
    b.fn("0000:83:00.0", "0000:80:03.0", vendor=0x1B21, device=0x1080, cls=0x060400,
         group=46, pcie="pcie-to-pci-bridge", bridge=(0x84, 0x84), reset_method="bus")
    b.fn("0000:84:01.0", "0000:83:00.0", vendor=0x13F6, device=0x0111, cls=0x040100,
         driver="vfio-pci", group=46, pcie=None, reset_method="bus", numa_node=1)
    b.fn("0000:84:02.0", "0000:83:00.0", vendor=0x1415, device=0x9501, cls=0x070002,
         driver="vfio-pci", group=46, pcie=None, numa_node=1)
    # a device without IOMMU coverage, used through vfio's unsafe noiommu mode
    b.root_port("0000:80:04.0", 0x85, group=47)
    b.fn("0000:85:00.0", "0000:80:04.0", vendor=0x1D0F, device=0xEC20, cls=0x020000,
         driver="vfio-pci", group=90, noiommu=True, flr=True, reset_method="flr",
         numa_node=1)
    from vfioctl.testing.doctor_scenarios import demo_host_files  # what doctor reads
    b.extra += demo_host_files()
    root = b.write()
    # names for the demo, whatever the host has installed
    ids = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "demo-pci.ids")
    os.makedirs(os.path.join(root, "usr/share/misc"), exist_ok=True)
    with open(ids, "rb") as src, open(os.path.join(root, "usr/share/misc/pci.ids"), "wb") as dst:
        dst.write(src.read())
    return root


#: An excerpt of a distribution kernel's modules.alias for the demo's devices.
DEMO_MODULES_ALIAS = """\
# Aliases extracted from modules themselves.
alias pci:v00008086d000010FBsv*sd*bc*sc*i* ixgbe
alias pci:v000010DEd*sv*sd*bc03sc*i* nouveau
alias pci:v000010DEd*sv*sd*bc04sc03i* snd_hda_intel
alias pci:v*d*sv*sd*bc04sc03i00* snd_hda_intel
alias pci:v00001A03d00002000sv*sd*bc*sc*i* ast
alias pci:v0000144Dd0000A80Asv*sd*bc*sc*i* nvme
alias pci:v*d*sv*sd*bc01sc08i02* nvme
alias pci:v000015B3d0000101Dsv*sd*bc*sc*i* mlx5_core
alias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core
alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci
alias pci:v00001D0Fd0000EC20sv*sd*bc*sc*i* ena
alias pci:v000013F6d00000111sv*sd*bc*sc*i* snd_cmipci
alias pci:v00008086d00000B25sv*sd*bc*sc*i* idxd
alias pci:v00008086d0000A1A3sv*sd*bc0Csc05i* i2c_i801
"""


@scenario("qemu-q35")
def qemu_q35(path: str) -> str:
    """The topology of the real-kernel guest (tests/vm), shaped like QEMU 7.2's
    q35 with intel-iommu (real-kernel-vm.md §2, §4): edu pair A/B behind rp1,
    C alone behind rp2, D/E behind a pcie-pci-bridge, F on the root bus, an
    e1000e pair G/H, I behind a hotplug=off root port, and a PCIe switch with
    an edu below a downstream port."""
    b = TreeBuilder(path, meta={"scenario": "qemu-q35", "osrelease": "6.12.0-fixture"})
    edu = dict(vendor=0x1234, device=0x11E8, cls=0x00FF00, pcie=None,
               subsystem=(0x1AF4, 0x1100))
    _host_bridge(b)
    b.root_port("0000:00:02.0", 0x01, group=2, slot="1", device=0x000C, vendor=0x1B36)
    b.fn("0000:01:00.0", "0000:00:02.0", driver="vfio-pci", group=10, multifunction=True,
         reset_method="bus", **edu)
    b.fn("0000:01:00.1", "0000:00:02.0", driver="vfio-pci", group=10, **edu)
    b.root_port("0000:00:03.0", 0x02, group=3, slot="2", device=0x000C, vendor=0x1B36)
    b.fn("0000:02:00.0", "0000:00:03.0", driver="vfio-pci", group=11, reset_method="bus", **edu)
    b.root_port("0000:00:04.0", 0x03, 0x04, group=4, slot="3", device=0x000C, vendor=0x1B36)
    b.fn("0000:03:00.0", "0000:00:04.0", vendor=0x1B36, device=0x000E, cls=0x060400,
         group=12, pcie="pcie-to-pci-bridge", bridge=(0x04, 0x04), reset_method="pm bus")
    b.fn("0000:04:01.0", "0000:03:00.0", driver="vfio-pci", group=12, reset_method="bus", **edu)
    b.fn("0000:04:02.0", "0000:03:00.0", driver="vfio-pci", group=12, **edu)
    b.fn("0000:00:05.0", None, driver="vfio-pci", group=5, **edu)
    b.root_port("0000:00:06.0", 0x05, group=6, slot="4", device=0x000C, vendor=0x1B36)
    for fnum, rm in ((0, "pm bus"), (1, "pm")):
        b.fn(f"0000:05:00.{fnum}", "0000:00:06.0", vendor=0x8086, device=0x10D3, cls=0x020000,
             driver="vfio-pci", group=13, multifunction=fnum == 0, reset_method=rm,
             pm_reset=True)
    b.root_port("0000:00:08.0", 0x06, group=8, device=0x000C, vendor=0x1B36)
    b.fn("0000:06:00.0", "0000:00:08.0", driver="vfio-pci", group=14, reset_method="bus", **edu)
    b.root_port("0000:00:09.0", 0x07, 0x09, group=15, slot="5", device=0x000C, vendor=0x1B36)
    b.fn("0000:07:00.0", "0000:00:09.0", vendor=0x104C, device=0x8232, cls=0x060400,
         driver="pcieport", group=16, pcie="upstream-port", bridge=(0x08, 0x09))
    b.fn("0000:08:00.0", "0000:07:00.0", vendor=0x104C, device=0x8233, cls=0x060400,
         driver="pcieport", group=17, pcie="downstream-port", bridge=(0x09, 0x09),
         slot_hotplug=True)
    b.slots.append(("6", "0000:09:00", True))
    b.fn("0000:09:00.0", "0000:08:00.0", driver="vfio-pci", group=18, reset_method="bus", **edu)
    return b.write()


@scenario("qemu-q35-noiommu")
def qemu_q35_noiommu(path: str) -> str:
    """The guest topology booted without an IOMMU and with
    vfio.enable_unsafe_noiommu_mode=1: every vfio-pci function gets its own
    fake group (numbered in bind order), nothing else has a group, no cdevs."""
    b = TreeBuilder(path, noiommu=True, noiommu_param=True, iommu_units=(),
                    meta={"scenario": "qemu-q35-noiommu", "osrelease": "6.12.0-fixture"})
    edu = dict(vendor=0x1234, device=0x11E8, cls=0x00FF00, pcie=None,
               subsystem=(0x1AF4, 0x1100))
    rp = dict(device=0x000C, vendor=0x1B36, group=None)
    _host_bridge(b, group=None)
    n = iter(range(100))
    b.root_port("0000:00:02.0", 0x01, slot="1", **rp)
    b.fn("0000:01:00.0", "0000:00:02.0", driver="vfio-pci", group=next(n), multifunction=True,
         reset_method="bus", **edu)
    b.fn("0000:01:00.1", "0000:00:02.0", driver="vfio-pci", group=next(n), **edu)
    b.root_port("0000:00:03.0", 0x02, slot="2", **rp)
    b.fn("0000:02:00.0", "0000:00:03.0", driver="vfio-pci", group=next(n), reset_method="bus",
         **edu)
    b.root_port("0000:00:04.0", 0x03, 0x04, slot="3", **rp)
    b.fn("0000:03:00.0", "0000:00:04.0", vendor=0x1B36, device=0x000E, cls=0x060400,
         pcie="pcie-to-pci-bridge", bridge=(0x04, 0x04), reset_method="pm bus")
    b.fn("0000:04:01.0", "0000:03:00.0", driver="vfio-pci", group=next(n), reset_method="bus",
         **edu)
    b.fn("0000:04:02.0", "0000:03:00.0", driver="vfio-pci", group=next(n), **edu)
    b.fn("0000:00:05.0", None, driver="vfio-pci", group=next(n), **edu)
    b.root_port("0000:00:08.0", 0x06, **rp)
    b.fn("0000:06:00.0", "0000:00:08.0", driver="vfio-pci", group=next(n), reset_method="bus",
         **edu)
    b.root_port("0000:00:09.0", 0x07, 0x09, slot="5", **rp)
    b.fn("0000:07:00.0", "0000:00:09.0", vendor=0x104C, device=0x8232, cls=0x060400,
         driver="pcieport", pcie="upstream-port", bridge=(0x08, 0x09))
    b.fn("0000:08:00.0", "0000:07:00.0", vendor=0x104C, device=0x8233, cls=0x060400,
         driver="pcieport", pcie="downstream-port", bridge=(0x09, 0x09), slot_hotplug=True)
    b.slots.append(("6", "0000:09:00", True))
    b.fn("0000:09:00.0", "0000:08:00.0", driver="vfio-pci", group=next(n), reset_method="bus",
         **edu)
    return b.write()


@scenario("bind-host")
def bind_host(path: str) -> str:
    """A host whose functions are on their host drivers, for bind/unbind and
    every guard: a boot console GPU + audio (boot_vga), an ACS-capable dual-port
    NIC whose ports are in separate groups on one bus (the reset scope spans two
    groups: --scope), a NIC carrying a route, an NVMe drive with the root
    filesystem and swap, an SR-IOV PF with VFs in use, an audio function held
    open (snd/controlC0), a ConnectX VF with a VFIO variant driver in
    modules.alias, and a vfio-pci device held by QEMU."""
    b = TreeBuilder(path, host_drivers=("mlx5_vfio_pci",), meta={
        "scenario": "bind-host", "osrelease": "6.12.0-vfioctl-bind"})
    _host_bridge(b)
    b.root_port("0000:00:01.0", 0x01, group=1)
    b.fn("0000:01:00.0", "0000:00:01.0", vendor=0x1002, device=0x73BF, cls=0x030000,
         driver="amdgpu", group=11, multifunction=True, boot_vga=True, reset_method="bus",
         chardevs=("dri/card0",))
    b.fn("0000:01:00.1", "0000:00:01.0", vendor=0x1002, device=0xAB28, cls=0x040300,
         driver="snd_hda_intel", group=11)
    b.root_port("0000:00:02.0", 0x02, group=2)
    for fnum in (0, 1):
        b.fn(f"0000:02:00.{fnum}", "0000:00:02.0", vendor=0x8086, device=0x1521, cls=0x020000,
             subsystem=(0x8086, 0x0001), driver="igb", group=21 + fnum, flr=True,
             multifunction=fnum == 0, reset_method="flr bus" if fnum == 0 else "flr")
    b.root_port("0000:00:03.0", 0x03, group=3)
    b.fn("0000:03:00.0", "0000:00:03.0", vendor=0x8086, device=0x10D3, cls=0x020000,
         driver="e1000e", group=31, reset_method="pm bus", net=("enp3s0",))
    b.routes.append(("enp3s0", "0002A8C0"))          # 192.168.2.0/24
    b.root_port("0000:00:04.0", 0x04, group=4)
    b.fn("0000:04:00.0", "0000:00:04.0", vendor=0x144D, device=0xA80A, cls=0x010802,
         driver="nvme", group=41, flr=True, reset_method="flr bus", block=("nvme0n1",),
         partitions=("nvme0n1p1", "nvme0n1p2", "nvme0n1p3"),
         block_holders={"nvme0n1p3": ("dm-0",)})
    b.mounts.append(("/dev/nvme0n1p1", "/", "ext4"))
    b.swaps.append("/dev/nvme0n1p2")
    b.root_port("0000:00:05.0", 0x05, group=5)
    b.fn("0000:05:00.0", "0000:00:05.0", vendor=0x8086, device=0x10FB, cls=0x020000,
         driver="ixgbe", group=51, flr=True, reset_method="flr bus", sriov_totalvfs=63)
    for i, drv in enumerate(("ixgbevf", None)):
        b.fn(f"0000:05:10.{2 * i}", "0000:00:05.0", vendor=0x8086, device=0x10ED,
             cls=0x020000, driver=drv, group=52 + i, flr=True, reset_method="flr",
             physfn="0000:05:00.0")
    b.fn("0000:00:1f.3", None, vendor=0x8086, device=0xA348, cls=0x040300,
         driver="snd_hda_intel", group=60, pcie=None, chardevs=("snd/controlC1",))
    b.hold("/dev/snd/controlC1", 1777, "pipewire")
    b.root_port("0000:00:06.0", 0x06, group=6)
    b.fn("0000:06:00.0", "0000:00:06.0", vendor=0x15B3, device=0x101E, cls=0x020000,
         subsystem=(0x15B3, 0x0016), driver=None, group=61, flr=True, reset_method="flr")
    b.root_port("0000:00:07.0", 0x07, group=7)
    b.fn("0000:07:00.0", "0000:00:07.0", vendor=0x10DE, device=0x1EB8, cls=0x030200,
         driver="vfio-pci", group=71, flr=True, reset_method="flr bus")
    b.hold("/dev/vfio/71", 4242, "qemu-system-x86")
    b.hold("/dev/vfio/vfio", 4242, "qemu-system-x86")
    b.hold("anon_inode:[vfio-device]", 4242, "qemu-system-x86")   # the device fd
    root = b.write()
    mods = os.path.join(root, "lib/modules/6.12.0-vfioctl-bind")
    os.makedirs(mods, exist_ok=True)
    with open(os.path.join(mods, "modules.alias"), "w") as f:
        f.write("# Aliases extracted from modules themselves.\n"
                "alias vfio_pci:v000015B3d*sv*sd*bc*sc*i* generic_vfio_pci\n"
                "alias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core\n"
                "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
                "alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e\n")
    return root


@scenario("qemu-q35-bind")
def qemu_q35_bind(path: str) -> str:
    """The bind scenario table's part of the real-kernel guest (tests/vm/
    test_bind_real.py): an e1000e (fn 0) on e1000e and an ich9-intel-hda (fn 1)
    on snd_hda_intel, one multifunction device in one IOMMU group behind a
    hotplug root port, and an edu pair on vfio-pci beside it."""
    b = TreeBuilder(path, meta={"scenario": "qemu-q35-bind", "osrelease": "6.12.0-fixture"})
    _host_bridge(b)
    b.root_port("0000:00:02.0", 0x01, group=2, slot="1", device=0x000C, vendor=0x1B36)
    edu = dict(vendor=0x1234, device=0x11E8, cls=0x00FF00, pcie=None,
               subsystem=(0x1AF4, 0x1100))
    b.fn("0000:01:00.0", "0000:00:02.0", driver="vfio-pci", group=10, multifunction=True,
         reset_method="bus", **edu)
    b.fn("0000:01:00.1", "0000:00:02.0", driver="vfio-pci", group=10, **edu)
    b.root_port("0000:00:0b.0", 0x0B, group=20, slot="9", device=0x000C, vendor=0x1B36)
    b.fn("0000:0b:00.0", "0000:00:0b.0", vendor=0x8086, device=0x10D3, cls=0x020000,
         driver="e1000e", group=21, multifunction=True, reset_method="pm bus", pm_reset=True)
    b.fn("0000:0b:00.1", "0000:00:0b.0", vendor=0x8086, device=0x293E, cls=0x040300,
         driver="snd_hda_intel", group=21, reset_method="pm", pm_reset=True)
    return b.write()
