"""The host as vfioctl sees it: PCI functions, IOMMU groups, slots, VFIO nodes.

Pure data, built by :mod:`vfioctl.sysfs.reader` (or by hand in tests).  Field
names follow the kernel's sysfs attribute names where one exists.
"""

from __future__ import annotations

from vfioctl.model.record import dataclass, field

from vfioctl.model.address import PciAddress
from vfioctl.model import nodes

#: Drivers that do not claim the IOMMU group's DMA ownership
#: (``driver_managed_dma = true``): the group stays *viable* with them bound.
#: Source: drivers/vfio/pci/vfio_pci.c, drivers/pci/pci-stub.c,
#: drivers/pci/pcie/portdrv.c ("PCI: portdrv: Set driver_managed_dma", 5.19);
#: kernel-vfio.md §5.1 (VFIO_GROUP_GET_STATUS).
DMA_SAFE_DRIVERS = frozenset({"vfio-pci", "pci-stub", "pcieport"})

#: Class codes (base class, subclass) for the --class filter.
CLASS_FILTERS: dict[str, tuple[tuple[int, int | None], ...]] = {
    "gpu": ((0x03, None),),
    "display": ((0x03, None),),
    "network": ((0x02, None),),
    "nic": ((0x02, None),),
    "storage": ((0x01, None),),
    "nvme": ((0x01, 0x08),),
    "audio": ((0x04, 0x01), (0x04, 0x03)),
    "multimedia": ((0x04, None),),
    "usb": ((0x0C, 0x03),),
    "bridge": ((0x06, None),),
    "accelerator": ((0x12, None), (0x0B, 0x40)),
    "crypto": ((0x10, None),),
    "serial-bus": ((0x0C, None),),
}

#: Short names of PCI base classes (PCI Code and ID Assignment spec).
BASE_CLASS_NAMES = {
    0x00: "unclassified", 0x01: "storage", 0x02: "network", 0x03: "display",
    0x04: "multimedia", 0x05: "memory", 0x06: "bridge", 0x07: "communication",
    0x08: "system", 0x09: "input", 0x0A: "docking", 0x0B: "processor",
    0x0C: "serial-bus", 0x0D: "wireless", 0x0E: "intelligent-io",
    0x0F: "satellite", 0x10: "crypto", 0x11: "signal-processing",
    0x12: "accelerator", 0x13: "instrumentation", 0xFF: "unassigned",
}

# every class name the JSON prints (class_name) is also a --class filter
for _b, _n in BASE_CLASS_NAMES.items():
    CLASS_FILTERS.setdefault(_n, ((_b, None),))
del _b, _n

#: PCIe Capabilities register "Device/Port Type" (PCIe base spec 7.5.3.2).
PCIE_PORT_TYPES = {
    0x0: "endpoint", 0x1: "legacy-endpoint", 0x4: "root-port",
    0x5: "upstream-port", 0x6: "downstream-port", 0x7: "pcie-to-pci-bridge",
    0x8: "pci-to-pcie-bridge", 0x9: "rc-integrated-endpoint",
    0xA: "rc-event-collector",
}


def is_vfio_driver(driver: str | None) -> bool:
    """vfio-pci or a vfio-pci variant driver (mlx5_vfio_pci, pds-vfio-pci...)."""
    if not driver:
        return False
    d = driver.replace("_", "-")
    return d == "vfio-pci" or d.endswith("-vfio-pci")


def dma_safe_driver(driver: str | None) -> bool:
    """True if a device bound to ``driver`` (or unbound) keeps its group viable."""
    return driver is None or driver in DMA_SAFE_DRIVERS or is_vfio_driver(driver)


@dataclass(frozen=True)
class Holder:
    """A process holding a VFIO node open (read from ``/proc/<pid>/fd``)."""

    pid: int
    comm: str
    node: str  # the node as the link names it, e.g. /dev/vfio/12

    def __str__(self) -> str:
        return f"{self.comm} (pid {self.pid})"


@dataclass(frozen=True)
class ResetCaps:
    """Reset capabilities read from config space.

    ``None`` means *unknown*: the config file was not readable beyond the
    64-byte header (not root), so capabilities could not be walked.
    """

    flr: bool | None = None            # PCIe DevCap bit 28 (FLReset+)
    af_flr: bool | None = None         # Advanced Features cap, FLR bit
    pm_reset: bool | None = None       # PM cap present and NoSoftRst- (D3hot->D0 resets)
    pcie_type: str | None = None       # PCIE_PORT_TYPES value
    hotplug_capable: bool | None = None  # PCIe SltCap HPC (ports only)


UNKNOWN_CAPS = ResetCaps()


@dataclass(slots=True)
class PciFunction:
    """One PCI function, as ``/sys/bus/pci/devices/<address>`` shows it."""

    address: PciAddress
    #: path of the device directory relative to the root's ``sys/``,
    #: e.g. ``devices/pci0000:00/0000:00:02.0/0000:01:00.0``
    sysfs_path: str
    #: parent PCI function (the bridge above), None when on a root bus
    parent: PciAddress | None = None
    #: name of the root bus container (``pci0000:00``) for root-bus devices
    root_bus: str | None = None
    vendor: int | None = None
    device: int | None = None
    subsystem_vendor: int | None = None
    subsystem_device: int | None = None
    class_code: int | None = None      # 24-bit: base << 16 | sub << 8 | prog-if
    revision: int | None = None
    header_type: int | None = None     # 0 endpoint, 1 PCI-PCI bridge, 2 CardBus
    secondary_bus: int | None = None   # bridges: config 0x19
    subordinate_bus: int | None = None  # bridges: config 0x1a
    driver: str | None = None
    driver_override: str | None = None
    iommu_group: int | None = None
    physfn: PciAddress | None = None
    virtfns: tuple[PciAddress, ...] = ()
    sriov_totalvfs: int | None = None
    sriov_numvfs: int | None = None
    #: enabled methods of ``reset_method``; None when the attribute is absent
    reset_method: tuple[str, ...] | None = None
    config_size: int | None = None
    caps: ResetCaps = UNKNOWN_CAPS
    numa_node: int | None = None
    #: ``boot_vga``: the firmware's console GPU (VGA-class devices only; None: no attribute)
    boot_vga: bool | None = None
    #: ``vfio-dev/vfioX`` name (present while bound to a VFIO driver, 6.1+)
    vfio_dev: str | None = None
    #: ``vfio-dev/vfioX/dev`` ("MAJOR:MINOR"); None = kernel without cdev, or noiommu
    vfio_dev_devt: str | None = None
    vendor_name: str | None = None
    device_name: str | None = None

    @property
    def is_bridge(self) -> bool:
        return self.header_type in (1, 2) or (
            self.class_code is not None and (self.class_code >> 8) in (0x0604, 0x0609))

    @property
    def is_vf(self) -> bool:
        return self.physfn is not None

    @property
    def vfio_bound(self) -> bool:
        return is_vfio_driver(self.driver) or self.vfio_dev is not None

    @property
    def base_class(self) -> int | None:
        return None if self.class_code is None else self.class_code >> 16

    @property
    def class_name(self) -> str:
        b = self.base_class
        return "?" if b is None else BASE_CLASS_NAMES.get(b, f"class-{b:02x}")

    @property
    def ids(self) -> str:
        v = "????" if self.vendor is None else f"{self.vendor:04x}"
        d = "????" if self.device is None else f"{self.device:04x}"
        return f"{v}:{d}"

    @property
    def modalias(self) -> str | None:
        """The ``modalias`` the kernel prints for it (drivers/pci/pci-sysfs.c
        modalias_show): ``pci:v%08Xd%08Xsv%08Xsd%08Xbc%02Xsc%02Xi%02X``."""
        vals = (self.vendor, self.device, self.subsystem_vendor, self.subsystem_device,
                self.class_code)
        if any(v is None for v in vals):
            return None
        c = self.class_code
        return (f"pci:v{self.vendor:08X}d{self.device:08X}sv{self.subsystem_vendor:08X}"
                f"sd{self.subsystem_device:08X}bc{c >> 16:02X}sc{(c >> 8) & 0xFF:02X}"
                f"i{c & 0xFF:02X}")

    def matches_class(self, name: str) -> bool:
        if self.class_code is None:
            return False
        base, sub = self.class_code >> 16, (self.class_code >> 8) & 0xFF
        return any(base == b and (s is None or sub == s) for b, s in CLASS_FILTERS[name])


@dataclass
class IommuGroup:
    """``/sys/kernel/iommu_groups/<number>``."""

    number: int
    members: tuple[PciAddress, ...] = ()
    #: members that are not PCI functions (platform devices...), by name
    other_members: tuple[str, ...] = ()
    type: str | None = None        # DMA, DMA-FQ, identity, blocked, unmanaged, unknown
    name: str | None = None        # "vfio-noiommu" for fake noiommu groups

    @property
    def noiommu(self) -> bool:
        return self.name == "vfio-noiommu"

    @property
    def node(self) -> str:
        """The legacy group node: ``/dev/vfio/N`` or ``/dev/vfio/noiommu-N``."""
        return nodes.group(self.number, self.noiommu)


@dataclass(frozen=True)
class Slot:
    """``/sys/bus/pci/slots/<name>``.

    ``hotplug`` is True when the slot has hotplug controls (``power``,
    ``attention``, ``latch`` or ``adapter`` attributes, created by
    ``pci_hp_register``).  Only hotplug slots can implement ``reset_slot``.
    ``module`` is the hotplug driver's module name when the slot links it.
    """

    name: str
    address: str  # DDDD:BB:DD
    hotplug: bool = False
    module: str | None = None

    @property
    def reset_capable(self) -> bool:
        """Whether ``pci_probe_reset_slot`` would succeed.

        Only pciehp implements ``hotplug_slot_ops.reset_slot``
        (drivers/pci/hotplug/pciehp_core.c); acpiphp/shpchp slots fall back to a
        bus reset.  When the module is unknown a hotplug slot is assumed pciehp.
        """
        return self.hotplug and (self.module is None or self.module == "pciehp")


@dataclass
class Host:
    """Everything vfioctl reads about one host (live or fixture)."""

    root: str
    functions: dict[PciAddress, PciFunction] = field(default_factory=dict)
    groups: dict[int, IommuGroup] = field(default_factory=dict)
    slots: tuple[Slot, ...] = ()
    #: entries of /dev/vfio (group nodes and "vfio"), names only
    dev_vfio: frozenset[str] = frozenset()
    #: entries of /dev/vfio/devices
    dev_vfio_devices: frozenset[str] = frozenset()
    dev_iommu: bool = False
    #: /sys/module/vfio/parameters/enable_unsafe_noiommu_mode (None: absent)
    noiommu_mode: bool | None = None
    #: node path -> holders; None when /proc was not scanned
    holders: dict[str, tuple[Holder, ...]] | None = None
    #: processes whose fds could not be read (not root)
    holders_unreadable: int = 0
    #: PCI device entries present but unreadable (dangling, leaving the root,
    #: odd): a reset scope on their bus is then "cannot tell"
    broken: tuple[PciAddress, ...] = ()
    iommu_present: bool | None = None  # /sys/class/iommu has entries
    warnings: list[str] = field(default_factory=list)
    #: reads the kernel release (``proc/sys/kernel/osrelease``) on first use:
    #: set by the sysfs layer (the model reads nothing); see :attr:`kernel_release`
    release_source: object = field(default=None, repr=False, compare=False)

    @property
    def kernel_release(self) -> str | None:
        """The kernel's release (``"6.12.95"``), read once on first use; None: unknown.

        Only the SR-IOV VF-token rules depend on it (BIND_IOMMUFD checks the
        token from Linux 6.17), so hosts without SR-IOV never read it."""
        d = self.__dict__
        if "_kernel_release" not in d:
            src = self.release_source
            try:
                d["_kernel_release"] = src() if callable(src) else None
            except Exception:  # noqa: BLE001 - unreadable: unknown
                d["_kernel_release"] = None
        return d["_kernel_release"]

    @kernel_release.setter
    def kernel_release(self, value: str | None) -> None:
        self.__dict__["_kernel_release"] = value

    # -- lookups --
    def function(self, addr: PciAddress) -> PciFunction | None:
        return self.functions.get(addr)

    def group_of(self, fn: PciFunction) -> IommuGroup | None:
        return None if fn.iommu_group is None else self.groups.get(fn.iommu_group)

    def slot_for(self, addr: PciAddress) -> Slot | None:
        idx = self.__dict__.get("_slot_idx")
        if idx is None or self.__dict__.get("_slot_n") != len(self.slots):
            idx = {}
            for s in self.slots:
                a = PciAddress.try_parse(s.address + ".0")
                if a is not None:
                    idx[(a.domain, a.bus, a.slot)] = s
            self.__dict__["_slot_idx"], self.__dict__["_slot_n"] = idx, len(self.slots)
        return idx.get((addr.domain, addr.bus, addr.slot)) if idx else None

    def children(self, addr: PciAddress | None) -> list[PciFunction]:
        """Functions whose parent is ``addr`` (None: root-bus functions), sorted.

        Indexed once (O(devices)); call :meth:`invalidate` after mutating.
        """
        idx = self.__dict__.get("_child_idx")
        if idx is None:
            idx = {}
            for f in self.functions.values():
                idx.setdefault(f.parent, []).append(f)
            for v in idx.values():
                v.sort(key=lambda f: f.address)
            self.__dict__["_child_idx"] = idx
        return idx.get(addr, [])

    # Narrow lookups: a host read on demand (vfioctl.sysfs.targeted) answers
    # them without reading every function; here they filter what was read.
    def addresses(self) -> list[PciAddress]:
        return list(self.functions)

    def functions_on_bus(self, domain: int, bus: int) -> list[PciFunction]:
        """Functions on ``domain:bus``, from a per-host index built once
        (O(devices)), so planning every function of a big host (``export``)
        stays linear.  Rebuilt when the functions dict is replaced or
        resized; :meth:`invalidate` drops it."""
        token = (id(self.functions), len(self.functions))
        cached = self.__dict__.get("_bus_idx")
        if cached is None or cached[0] != token:
            idx: dict[tuple[int, int], list[PciFunction]] = {}
            for f in self.functions.values():
                idx.setdefault((f.address.domain, f.address.bus), []).append(f)
            cached = self.__dict__["_bus_idx"] = (token, idx)
        return list(cached[1].get((domain, bus), ()))

    def functions_at(self, bus: int, slot: int, function: int) -> list[PciFunction]:
        """Functions at ``BB:DD.F`` in any domain."""
        return [f for f in self.functions.values()
                if (f.address.bus, f.address.slot, f.address.function) == (bus, slot, function)]

    def broken_on(self, buses: set[tuple[int, int]]) -> list[PciAddress]:
        """Device entries on these (domain, bus) buses that could not be read."""
        return sorted(b for b in getattr(self, "broken", ()) if (b.domain, b.bus) in buses)

    def by_vfio_dev(self, name: str) -> list[PciFunction]:
        """Functions whose vfio cdev is ``name`` (``vfioX``)."""
        return [f for f in self.functions.values() if f.vfio_dev == name]

    def any_function(self, pred) -> bool:
        """Whether some function satisfies ``pred`` (a host read on demand
        asks the functions it already read first, then reads on until a hit)."""
        return any(pred(f) for f in self.functions.values())

    def invalidate(self) -> None:
        self.__dict__.pop("_child_idx", None)
        self.__dict__.pop("_slot_idx", None)
        self.__dict__.pop("_slot_n", None)
        self.__dict__.pop("_bus_idx", None)

    def cdev_node(self, fn: PciFunction) -> str | None:
        """``/dev/vfio/devices/vfioX`` when the cdev is usable, else None."""
        if fn.vfio_dev and fn.vfio_dev_devt:
            return nodes.cdev(fn.vfio_dev)
        return None

    def holders_of(self, node: str | None) -> tuple[Holder, ...]:
        if node is None or not self.holders:
            return ()
        return self.holders.get(node, ())

    def group_holders(self, group: IommuGroup | None) -> tuple[Holder, ...]:
        return () if group is None else self.holders_of(group.node)

    def device_holders(self, fn: PciFunction) -> tuple[Holder, ...]:
        """Holders of the function's cdev node (if any)."""
        if not fn.vfio_dev:
            return ()
        return self.holders_of(nodes.cdev(fn.vfio_dev))

    def viability_blockers(self, group: IommuGroup) -> list[PciFunction]:
        """Members bound to a driver that claims DMA ownership (group not viable)."""
        out = []
        for a in group.members:
            f = self.functions.get(a)
            if f is not None and not dma_safe_driver(f.driver):
                out.append(f)
        return out
