"""Write sysfs/dev/proc trees shaped like the real kernel's.

The layout mirrors what Linux 6.12 shows (``shared/docs/real-kernel-vm.md``
§4, recorded trees under ``tests/fixtures/recorded``):

* ``sys/devices/pciDDDD:BB/<bridge>/.../<bdf>/`` real device directories with
  ``vendor device class revision subsystem_* config driver_override
  reset_method numa_node``, relative symlinks ``driver``, ``iommu_group``,
  ``subsystem``, ``physfn``/``virtfnN``, and ``vfio-dev/vfioX/dev``;
* ``sys/bus/pci/devices/<bdf>`` -> ``../../../devices/...`` (relative);
* ``sys/bus/pci/drivers/<drv>/<bdf>``, ``sys/bus/pci/slots/<n>/address``;
* ``sys/kernel/iommu_groups/N/{devices/<bdf>,type[,name]}``;
* ``sys/class/vfio/<N|noiommu-N>``, ``sys/class/vfio-dev/vfioX``;
* ``dev/vfio/{vfio,N,noiommu-N,devices/vfioX}``, ``dev/iommu`` as plain files;
* ``proc/<pid>/{comm,fd/<n>}`` for holders.

Config space is binary, built from the same facts (header, PM, PCIe and AF
capabilities), so FLR/PM reset bits can be tested.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field

from vfioctl.model.address import PciAddress
from vfioctl.model.host import is_vfio_driver


def _w(path: str, data: str | bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def _link(path: str, target_abs: str) -> None:
    """Create ``path`` as a *relative* symlink to ``target_abs``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rel = os.path.relpath(target_abs, os.path.dirname(path))
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(rel, path)


@dataclass
class Fn:
    """A PCI function to be written."""

    bdf: str
    parent: str | None            # parent bridge bdf, or None for a root bus
    vendor: int = 0x1234
    device: int = 0x11E8
    cls: int = 0x00FF00
    revision: int = 0x10
    subsystem: tuple[int, int] = (0x1AF4, 0x1100)
    driver: str | None = None
    driver_override: str | None = None
    group: int | None = None
    reset_method: str | None = None
    flr: bool = False
    pm_reset: bool = False          # PM cap with NoSoftRst-
    pcie: str | None = "endpoint"   # PCIe port type, None = conventional PCI
    bridge: tuple[int, int] | None = None   # (secondary, subordinate)
    slot_hotplug: bool = False       # ports: SltCap HPC
    multifunction: bool = False
    config_size: int | None = None   # default 4096 PCIe / 256 PCI; 64 = non-root
    vfio_dev: str | None = None      # vfioX (set automatically for vfio-pci)
    cdev: bool = True                # vfio-dev/vfioX/dev exists
    physfn: str | None = None
    numa_node: int = -1
    boot_vga: bool | None = None     # VGA-class devices: the boot_vga attribute (0/1)
    sriov_totalvfs: int | None = None
    noiommu: bool = False            # in a fake vfio-noiommu group (no IOMMU coverage)
    net: tuple[str, ...] = ()        # network interfaces below the function (net/<if>)
    block: tuple[str, ...] = ()      # disks below the function (nvme/nvme0/<disk>)
    block_holders: dict = field(default_factory=dict)  # disk or partition -> holder names
    partitions: tuple[str, ...] = ()  # partitions of the first disk
    chardevs: tuple[str, ...] = ()   # DEVNAMEs of class devices below (snd/controlC0)


@dataclass
class TreeBuilder:
    """Accumulate functions/groups/holders, then :meth:`write` a root."""

    path: str
    functions: list[Fn] = field(default_factory=list)
    slots: list[tuple[str, str, bool]] = field(default_factory=list)  # name, addr, hotplug
    group_types: dict[int, str] = field(default_factory=dict)
    holders: list[tuple[int, str, str]] = field(default_factory=list)   # pid, comm, node
    noiommu_param: bool | None = False
    noiommu: bool = False          # groups are fake vfio-noiommu groups
    cdev_support: bool = True
    iommufd: bool = True
    iommu_units: tuple[str, ...] = ("dmar0",)
    extra: list = field(default_factory=list)  # callables(root) for broken entries
    routes: list = field(default_factory=list)   # (iface, destination hex) -> proc/net/route
    addrs6: list = field(default_factory=list)   # (iface, address hex, scope) -> if_inet6
    mounts: list = field(default_factory=list)   # (device, mountpoint, fstype) -> proc/mounts
    swaps: list = field(default_factory=list)    # device names -> proc/swaps
    host_drivers: tuple[str, ...] = ()  # registered drivers with no device bound
    meta: dict = field(default_factory=dict)
    #: text of lib/modules/<osrelease>/modules.alias (None: no such file)
    modules_alias: str | None = None

    # -- declaration helpers --
    def fn(self, bdf: str, parent: str | None = None, **kw) -> Fn:
        f = Fn(bdf=bdf, parent=parent, **kw)
        self.functions.append(f)
        return f

    def root_port(self, bdf: str, secondary: int, subordinate: int | None = None,
                  group: int | None = None, slot: str | None = None, hotplug: bool = True,
                  parent: str | None = None, **kw) -> Fn:
        kw.setdefault("vendor", 0x8086)
        kw.setdefault("device", 0x7075 if parent is None else 0x2030)
        f = self.fn(bdf, parent, cls=0x060400, driver="pcieport", group=group, pcie="root-port",
                    bridge=(secondary, subordinate if subordinate is not None else secondary),
                    slot_hotplug=hotplug and slot is not None, **kw)
        if slot is not None:
            a = PciAddress.parse(bdf)
            self.slots.append((slot, f"{a.domain:04x}:{secondary:02x}:00", hotplug))
        return f

    def hold(self, node: str, pid: int, comm: str) -> None:
        self.holders.append((pid, comm, node))

    # -- writing --
    def write(self) -> str:
        root = os.path.abspath(self.path)
        sysd = os.path.join(root, "sys")
        by_bdf = {f.bdf: f for f in self.functions}
        devpath: dict[str, str] = {}

        def dpath(f: Fn) -> str:
            if f.bdf in devpath:
                return devpath[f.bdf]
            if f.parent is None:
                a = PciAddress.parse(f.bdf)
                base = os.path.join(sysd, "devices", f"pci{a.domain:04x}:{a.bus:02x}")
            else:
                base = dpath(by_bdf[f.parent])
            devpath[f.bdf] = os.path.join(base, f.bdf)
            return devpath[f.bdf]

        vfio_idx = 0
        used_vfio = {f.vfio_dev for f in self.functions if f.vfio_dev}
        for f in self.functions:
            if is_vfio_driver(f.driver) and f.vfio_dev is None:
                while f"vfio{vfio_idx}" in used_vfio:
                    vfio_idx += 1
                f.vfio_dev = f"vfio{vfio_idx}"
                used_vfio.add(f.vfio_dev)

        groups: dict[int, list[Fn]] = {}
        for f in self.functions:
            d = dpath(f)
            os.makedirs(d, exist_ok=True)
            _w(f"{d}/vendor", f"0x{f.vendor:04x}\n")
            _w(f"{d}/device", f"0x{f.device:04x}\n")
            _w(f"{d}/class", f"0x{f.cls:06x}\n")
            _w(f"{d}/revision", f"0x{f.revision:02x}\n")
            _w(f"{d}/subsystem_vendor", f"0x{f.subsystem[0]:04x}\n")
            _w(f"{d}/subsystem_device", f"0x{f.subsystem[1]:04x}\n")
            _w(f"{d}/driver_override", f"{f.driver_override or '(null)'}\n")
            _w(f"{d}/numa_node", f"{f.numa_node}\n")
            if f.boot_vga is not None:
                _w(f"{d}/boot_vga", f"{int(f.boot_vga)}\n")
            _w(f"{d}/modalias", f"pci:v{f.vendor:08X}d{f.device:08X}sv{f.subsystem[0]:08X}sd{f.subsystem[1]:08X}bc{f.cls >> 16:02X}"
                                f"sc{(f.cls >> 8) & 0xFF:02X}i{f.cls & 0xFF:02X}\n")
            _w(f"{d}/config", self._config(f))
            if f.reset_method is not None:
                _w(f"{d}/reset_method", f.reset_method + "\n")
            for ifname in f.net:
                nd = f"{d}/net/{ifname}"
                _w(f"{nd}/operstate", "up\n")
                _w(f"{nd}/uevent", f"INTERFACE={ifname}\n")
                _link(f"{sysd}/class/net/{ifname}", nd)
            for i, disk in enumerate(f.block):
                bd = f"{d}/nvme/nvme{i}/{disk}"
                _w(f"{bd}/uevent", f"DEVNAME={disk}\nDEVTYPE=disk\n")
                os.makedirs(f"{bd}/holders", exist_ok=True)
                for h in f.block_holders.get(disk, ()):
                    os.makedirs(f"{sysd}/devices/virtual/block/{h}", exist_ok=True)
                    _link(f"{bd}/holders/{h}", f"{sysd}/devices/virtual/block/{h}")
                for part in (f.partitions if i == 0 else ()):
                    _w(f"{bd}/{part}/uevent", f"DEVNAME={part}\nDEVTYPE=partition\n")
                    os.makedirs(f"{bd}/{part}/holders", exist_ok=True)
                    for h in f.block_holders.get(part, ()):
                        os.makedirs(f"{sysd}/devices/virtual/block/{h}", exist_ok=True)
                        _link(f"{bd}/{part}/holders/{h}", f"{sysd}/devices/virtual/block/{h}")
                _link(f"{sysd}/block/{disk}", bd)
            for i, devname in enumerate(f.chardevs):
                cd = f"{d}/class-dev{i}/{devname.rsplit('/', 1)[-1]}"
                _w(f"{cd}/uevent", f"DEVNAME={devname}\n")
            if f.sriov_totalvfs is not None:
                nvfs = sum(1 for g in self.functions if g.physfn == f.bdf)
                _w(f"{d}/sriov_totalvfs", f"{f.sriov_totalvfs}\n")
                _w(f"{d}/sriov_numvfs", f"{nvfs}\n")
            _link(f"{d}/subsystem", f"{sysd}/bus/pci")
            _link(f"{sysd}/bus/pci/devices/{f.bdf}", d)
            if f.driver:
                drv = f"{sysd}/bus/pci/drivers/{f.driver}"
                os.makedirs(drv, exist_ok=True)
                _link(f"{d}/driver", drv)
                _link(f"{drv}/{f.bdf}", d)
            if f.group is not None:
                groups.setdefault(f.group, []).append(f)
                _link(f"{d}/iommu_group", f"{sysd}/kernel/iommu_groups/{f.group}")
            if f.physfn:
                _link(f"{d}/physfn", dpath(by_bdf[f.physfn]))
            if f.vfio_dev:
                vd = f"{d}/vfio-dev/{f.vfio_dev}"
                os.makedirs(vd, exist_ok=True)
                n = int(f.vfio_dev[4:])
                if self.cdev_support and f.cdev and not (self.noiommu or f.noiommu):
                    _w(f"{vd}/dev", f"511:{n}\n")
                _link(f"{sysd}/class/vfio-dev/{f.vfio_dev}", vd)
        for pf in self.functions:
            vfs = [f for f in self.functions if f.physfn == pf.bdf]
            for i, vf in enumerate(vfs):
                _link(f"{dpath(pf)}/virtfn{i}", dpath(vf))
        os.makedirs(f"{sysd}/bus/pci/drivers/vfio-pci", exist_ok=True)
        for drv in self.host_drivers:
            os.makedirs(f"{sysd}/bus/pci/drivers/{drv}", exist_ok=True)
        os.makedirs(f"{sysd}/bus/pci/devices", exist_ok=True)
        os.makedirs(f"{sysd}/kernel/iommu_groups", exist_ok=True)
        os.makedirs(f"{sysd}/class/vfio", exist_ok=True)
        os.makedirs(f"{sysd}/class/vfio-dev", exist_ok=True)

        # groups, class/vfio and /dev/vfio nodes
        devv = os.path.join(root, "dev", "vfio")
        os.makedirs(devv, exist_ok=True)
        _w(f"{devv}/vfio", b"")
        for num, members in sorted(groups.items()):
            gd = f"{sysd}/kernel/iommu_groups/{num}"
            os.makedirs(f"{gd}/devices", exist_ok=True)
            for m in members:
                _link(f"{gd}/devices/{m.bdf}", dpath(m))
            noi = self.noiommu or any(m.noiommu for m in members)
            _w(f"{gd}/type", (self.group_types.get(num)
                              or ("unknown" if noi else "DMA")) + "\n")
            if not noi:
                _w(f"{gd}/reserved_regions", "0x00000000fee00000 0x00000000feefffff msi\n")
            if noi:
                _w(f"{gd}/name", "vfio-noiommu\n")
            if any(is_vfio_driver(m.driver) for m in members):
                node = f"noiommu-{num}" if noi else str(num)
                vdir = f"{sysd}/devices/virtual/vfio/{node}"
                _w(f"{vdir}/dev", f"243:{num}\n")
                _link(f"{sysd}/class/vfio/{node}", vdir)
                _w(f"{devv}/{node}", b"")
        if self.cdev_support and not self.noiommu:
            os.makedirs(f"{devv}/devices", exist_ok=True)
            for f in self.functions:
                if f.vfio_dev and f.cdev and not f.noiommu:
                    _w(f"{devv}/devices/{f.vfio_dev}", b"")
        if self.iommufd:
            _w(os.path.join(root, "dev", "iommu"), b"")
        for unit in (() if self.noiommu else self.iommu_units):
            vd = f"{sysd}/devices/virtual/iommu/{unit}"
            os.makedirs(vd, exist_ok=True)
            _link(f"{sysd}/class/iommu/{unit}", vd)
        os.makedirs(f"{sysd}/class/iommu", exist_ok=True)
        if self.noiommu_param is not None:
            _w(f"{sysd}/module/vfio/parameters/enable_unsafe_noiommu_mode",
               "Y\n" if self.noiommu_param else "N\n")

        for name, addr, hotplug in self.slots:
            sd = f"{sysd}/bus/pci/slots/{name}"
            _w(f"{sd}/address", addr + "\n")
            _w(f"{sd}/max_bus_speed", "16.0 GT/s PCIe\n")
            _w(f"{sd}/cur_bus_speed", "16.0 GT/s PCIe\n")
            if hotplug:
                for a in ("power", "attention", "latch", "adapter"):
                    _w(f"{sd}/{a}", "1\n")
                os.makedirs(f"{sysd}/module/pciehp", exist_ok=True)
                _link(f"{sd}/module", f"{sysd}/module/pciehp")

        # proc: holders and a little context
        proc = os.path.join(root, "proc")
        os.makedirs(f"{proc}/sys/kernel", exist_ok=True)
        release = self.meta.get("osrelease", "6.12.0-vfioctl-fixture")
        _w(f"{proc}/sys/kernel/osrelease", release + "\n")
        if self.modules_alias is not None:
            moddir = os.path.join(self.path, "lib/modules", release)
            os.makedirs(moddir, exist_ok=True)
            _w(f"{moddir}/modules.alias", self.modules_alias)
        _w(f"{proc}/sys/kernel/tainted", ("64" if self.noiommu else "0") + "\n")
        _w(f"{proc}/cmdline", self.meta.get("cmdline", "intel_iommu=on") + "\n")
        net = os.path.join(proc, "net")
        os.makedirs(net, exist_ok=True)
        _w(f"{net}/route", "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask"
                           "\t\tMTU\tWindow\tIRTT\n" + "".join(
                               f"{i}\t{dst}\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
                               for i, dst in self.routes))
        _w(f"{net}/if_inet6", "".join(f"{a} 02 40 {sc} 80 {i}\n" for i, a, sc in self.addrs6))
        _w(f"{proc}/mounts", "sysfs /sys sysfs rw 0 0\nproc /proc proc rw 0 0\n" + "".join(
            f"{dev} {mp} {fs} rw 0 0\n" for dev, mp, fs in self.mounts))
        _w(f"{proc}/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + "".join(
            f"{dev}\tpartition\t8388604\t\t0\t\t-2\n" for dev in self.swaps))
        fdnum: dict[int, int] = {}
        for pid, comm, node in self.holders:
            _w(f"{proc}/{pid}/comm", comm + "\n")
            n = fdnum.get(pid, 16) + 1
            fdnum[pid] = n
            p = f"{proc}/{pid}/fd/{n}"
            os.makedirs(os.path.dirname(p), exist_ok=True)
            os.symlink(node, p)  # absolute, as the kernel shows it
        for fix in self.extra:
            fix(root)
        if self.meta:
            _w(os.path.join(root, "VFIOCTL-FIXTURE"), json.dumps(self.meta, indent=1) + "\n")
        return root

    # -- config space --
    @staticmethod
    def _config(f: Fn) -> bytes:
        size = f.config_size or (4096 if f.pcie else 256)
        b = bytearray(max(size, 256))
        struct.pack_into("<HHHH", b, 0, f.vendor, f.device, 0x0000, 0x0010)
        b[8] = f.revision
        b[9], b[10], b[11] = f.cls & 0xFF, (f.cls >> 8) & 0xFF, (f.cls >> 16) & 0xFF
        htype = 1 if f.bridge else 0
        b[0x0E] = htype | (0x80 if f.multifunction else 0)
        if f.bridge:
            a = PciAddress.parse(f.bdf)
            b[0x18], b[0x19], b[0x1A] = a.bus, f.bridge[0], f.bridge[1]
        else:
            struct.pack_into("<HH", b, 0x2C, *f.subsystem)
        # capability list: PM @0x40 -> PCIe @0x60 (or AF @0x60 for PCI)
        b[0x34] = 0x40
        b[0x40], b[0x41] = 0x01, 0x60
        struct.pack_into("<HH", b, 0x42, 0x0003, 0x0000 if f.pm_reset else 0x0008)
        if f.pcie:
            types = {"endpoint": 0, "root-port": 4, "upstream-port": 5,
                     "downstream-port": 6, "pcie-to-pci-bridge": 7,
                     "rc-integrated-endpoint": 9}
            slot_impl = f.pcie in ("root-port", "downstream-port")
            b[0x60], b[0x61] = 0x10, 0x00
            struct.pack_into("<H", b, 0x62, 0x2 | (types[f.pcie] << 4) | (0x100 if slot_impl else 0))
            struct.pack_into("<I", b, 0x64, (1 << 28) if f.flr else 0)
            if slot_impl:
                struct.pack_into("<I", b, 0x60 + 0x14, (1 << 6) if f.slot_hotplug else 0)
        elif f.flr:
            b[0x60], b[0x61], b[0x62], b[0x63] = 0x13, 0x00, 0x06, 0x03
        else:
            b[0x41] = 0x00
        return bytes(b[:size])
