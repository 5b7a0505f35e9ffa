"""``vfioctl doctor``: will device assignment and reset work here, and if not, what to do.

Returns a :class:`~vfioctl.model.doctor.DoctorReport`; never prints.  Every
check reads through :mod:`vfioctl.sysfs` below one root.  Sources for each
check are in shared/docs/binding-host-fleet.md §C (cited as §C.n):

* host: IOMMU in firmware (DMAR/IVRS/IORT) and enabled by the kernel — the
  two lines libvirt's ``virt-host-validate`` prints (§C.1) — interrupt
  remapping and ``allow_unsafe_interrupts`` (§C.2), ``pcie_acs_override``
  (§C.3), default domain type (§C.4), VFIO modules, device nodes, cdev
  support, noiommu and its taint, node ownership (§C.6);
* device: group viability, reset mechanisms and QEMU's verdict (§C.7,
  QEMU hw/vfio/pci.c ``vfio_pci_reset``/``vfio_pci_hot_reset``), liveness and
  power (§C.8), vendor-reset quirks (§C.9), ``boot_vga`` (§C.10), the
  collateral of a bus reset, holders.
"""

from __future__ import annotations

from vfioctl.model.doctor import (
    CANNOT_TELL, FAIL, HOST, PASS, WARN, DoctorReport, Evidence, Finding,
)
from vfioctl.model.host import Host, PciFunction
from vfioctl.model import quirks
from vfioctl.sysfs.hostfacts import HostFacts, ResetBits, reset_bits
from vfioctl.sysfs.root import Root

E = Evidence

#: kernel parameter that turns the IOMMU on, per CPU vendor (§C.1; for AMD
#: the IOMMU is on by default when IVRS exists: only "off" settings block it)
INTEL_PARAM = "intel_iommu=on"
AMD_NOTE = ("AMD-Vi is on by default when the IVRS table exists: remove amd_iommu=off / "
            "iommu=off from the kernel command line, and use a kernel built with "
            "CONFIG_AMD_IOMMU")


def _vendor_kind(vendor: str | None) -> str | None:
    if vendor == "GenuineIntel":
        return "intel"
    if vendor in ("AuthenticAMD", "HygonGenuine"):
        return "amd"
    if vendor == "arm":
        return "arm"
    return None


def _firmware_remedy(kind: str | None) -> str:
    if kind == "intel":
        return ("enable VT-d (Intel Virtualization Technology for Directed I/O) in the "
                "firmware setup, then boot with " + INTEL_PARAM)
    if kind == "amd":
        return "enable IOMMU / AMD-Vi in the firmware setup (and SVM)"
    if kind == "arm":
        return "enable the SMMU in the firmware (ACPI IORT)"
    return "enable the IOMMU in the firmware setup"


def _kernel_remedy(kind: str | None) -> str:
    if kind == "intel":
        return f"add {INTEL_PARAM} to the kernel command line (and iommu=pt to keep host DMA fast)"
    if kind == "amd":
        return AMD_NOTE
    if kind == "arm":
        return "remove iommu.passthrough=1 / arm-smmu.disable_bypass=0 overrides; load the SMMU driver"
    return "enable the IOMMU driver for this platform on the kernel command line"


class Doctor:
    def __init__(self, host: Host, root: Root):
        self.host = host
        self.facts = HostFacts(root)
        self.cpu = self.facts.cpu()
        self.kind = _vendor_kind(self.cpu.vendor)
        self.out: list[Finding] = []
        self.params = self.facts.cmdline_params()

    def add(self, check, subject, status, meaning, evidence=(), remedy=None):
        self.out.append(Finding(check, subject, status, meaning, tuple(evidence), remedy))

    # ================================================================ host
    def host_checks(self) -> None:
        self.iommu_firmware()
        self.iommu_kernel()
        self.interrupt_remapping()
        self.unsafe_interrupts()
        self.acs_override()
        self.default_domain()
        self.modules()
        self.nodes()
        self.cdev()
        self.noiommu()
        self.node_permissions()

    def _cmd_ev(self) -> Evidence:
        c = self.facts.cmdline()
        return E("/proc/cmdline", c if c is not None else "unreadable")

    def _has_param(self, *prefixes: str) -> str | None:
        for p in self.params or ():
            for pre in prefixes:
                if p == pre or p.startswith(pre + "=") or (pre.endswith("=") and p.startswith(pre)):
                    return p
        return None

    def iommu_firmware(self) -> None:
        """virt-host-validate: "Checking for device assignment IOMMU support"."""
        f = self.facts
        ev = [E("/proc/cpuinfo", f"vendor_id {self.cpu.vendor or 'unknown'}; "
                                 + ("vmx" if "vmx" in self.cpu.flags else
                                    "svm" if "svm" in self.cpu.flags else "no vmx/svm flag"))]
        tables = {t: f.acpi_table(t) for t in ("DMAR", "IVRS", "IORT")}
        units = f.listdir("sys/class/iommu")
        want = {"intel": "DMAR", "amd": "IVRS", "arm": "IORT"}.get(self.kind)
        if tables["DMAR"] is None:
            ev.append(E("/sys/firmware/acpi/tables", "absent"))
        else:
            for t, present in tables.items():
                if t == want or present or (t == "DMAR" and "vmx" in self.cpu.flags) or \
                        (t == "IVRS" and "svm" in self.cpu.flags):
                    ev.append(E(f"/sys/firmware/acpi/tables/{t}", "present" if present else "absent"))
        if units is not None:
            ev.append(E("/sys/class/iommu", " ".join(units) or "empty"))
        found = [t for t, p in tables.items() if p]
        # virt-host-validate picks the table by CPU flag: vmx -> DMAR, svm -> IVRS
        by_flag = ("DMAR" if "vmx" in self.cpu.flags else "IVRS" if "svm" in self.cpu.flags
                   else None)
        if found and by_flag and by_flag not in found and units:
            self.add("iommu-firmware", HOST, WARN,
                     f"the IOMMU works (ACPI {'/'.join(found)} table, units {', '.join(units)}) "
                     f"but does not match the CPU, which advertises "
                     f"{'vmx' if by_flag == 'DMAR' else 'svm'} and so implies an ACPI {by_flag} "
                     "table (an emulated machine, such as QEMU TCG's -cpu max with "
                     "intel-iommu): tools that pick the table by CPU flag, like "
                     "virt-host-validate, report no IOMMU here", ev,
                     f"nothing to fix for device assignment; expect virt-host-validate to say "
                     f"'No ACPI {by_flag} table found' (or give the guest a CPU model that "
                     "matches its vIOMMU)")
        elif found:
            self.add("iommu-firmware", HOST, PASS,
                     f"the firmware describes an IOMMU (ACPI {'/'.join(found)} table)", ev)
        elif units:
            self.add("iommu-firmware", HOST, PASS,
                     "IOMMU units are registered (no ACPI DMAR/IVRS/IORT table is visible here: "
                     "not in this snapshot, or a device-tree or paravirtual IOMMU)", ev)
        elif tables["DMAR"] is None and units is None:
            self.add("iommu-firmware", HOST, CANNOT_TELL,
                     "neither the ACPI tables nor /sys/class/iommu could be read", ev,
                     "run on the live host or take a snapshot that includes them")
        elif self.cpu.arch is None:
            self.add("iommu-firmware", HOST, CANNOT_TELL,
                     "the CPU vendor is unknown (no /proc/cpuinfo), so the IOMMU table to "
                     "look for is unknown; none of DMAR, IVRS, IORT is present", ev,
                     _firmware_remedy(None))
        else:
            self.add("iommu-firmware", HOST, FAIL,
                     f"no ACPI {want or 'DMAR/IVRS/IORT'} table: the IOMMU is disabled in the "
                     "firmware or the platform (or hypervisor) provides none", ev,
                     _firmware_remedy(self.kind))

    def iommu_kernel(self) -> None:
        """virt-host-validate: "Checking if IOMMU is enabled by kernel"."""
        f, h = self.facts, self.host
        names = f.listdir("sys/kernel/iommu_groups")
        units = f.listdir("sys/class/iommu")
        real = [g for g in h.groups.values() if not g.noiommu]
        fake = [g for g in h.groups.values() if g.noiommu]
        ev = [E("/sys/kernel/iommu_groups",
                "absent" if names is None else f"{len(names)} group(s)"
                + (f", {len(fake)} of them vfio-noiommu" if fake else ""))]
        if units is not None:
            ev.append(E("/sys/class/iommu", " ".join(units) or "empty"))
        iommu_off = self._has_param("intel_iommu=off", "amd_iommu=off", "iommu=off")
        if iommu_off or self.params is not None:
            ev.append(self._cmd_ev())
        if real and units:
            self.add("iommu-kernel", HOST, PASS,
                     f"the kernel runs an IOMMU driver ({', '.join(units)}) and placed "
                     f"devices in {len(real)} IOMMU group(s)", ev)
        elif names is None and units is None:
            self.add("iommu-kernel", HOST, CANNOT_TELL,
                     "neither /sys/kernel/iommu_groups nor /sys/class/iommu is readable", ev,
                     "run on the live host")
        else:
            why = (f"{iommu_off} is on the kernel command line" if iommu_off else
                   "no IOMMU driver is active" if not units else
                   "IOMMU units exist but no device is in an IOMMU group")
            if fake and not real:
                why += (f" (the {len(fake)} group(s) in /sys/kernel/iommu_groups are fake "
                        "vfio-noiommu groups, which virt-host-validate counts as an IOMMU)")
            table = {"intel": "DMAR", "amd": "IVRS", "arm": "IORT"}.get(self.kind)
            remedy = (_kernel_remedy(self.kind) if not iommu_off else
                      f"remove {iommu_off} from the kernel command line"
                      + (f" and add {INTEL_PARAM}" if self.kind == "intel" else ""))
            if table and f.acpi_table(table) is False:
                remedy = _firmware_remedy(self.kind) + (
                    "" if self.kind == "intel" else "; then " + remedy)
            self.add("iommu-kernel", HOST, FAIL,
                     f"the kernel has not enabled DMA remapping: {why}", ev, remedy)

    def _iommu_on(self) -> bool:
        return bool(self.facts.listdir("sys/class/iommu"))

    def interrupt_remapping(self) -> None:
        f = self.facts
        units = f.listdir("sys/class/iommu") or []
        if not units:
            self.add("interrupt-remapping", HOST, CANNOT_TELL,
                     "no IOMMU unit is registered, so there is no interrupt remapping to check",
                     [E("/sys/class/iommu", "empty or absent")], _kernel_remedy(self.kind))
            return
        ev = []
        supported = None
        for u in units:
            ecap = f.iommu_ecap(u)
            if ecap is not None:
                ev.append(E(f"/sys/class/iommu/{u}/intel-iommu/ecap",
                            f"{ecap:x} (IR bit 3 {'set' if ecap >> 3 & 1 else 'clear'})"))
                supported = bool(ecap >> 3 & 1) if supported is None else (supported and bool(ecap >> 3 & 1))
        off = self._has_param("intremap=off", "intremap=nosid", "intremap=no_x2apic_optout")
        if off:
            ev.append(self._cmd_ev())
        enabled, chip = f.interrupts_ir()
        ev.append(E("/proc/interrupts", "unreadable or absent" if enabled is None else
                    f"IR- chips: {chip}" if enabled else "no IR- interrupt chip"))
        if supported is False:
            self.add("interrupt-remapping", HOST, FAIL,
                     "the IOMMU does not support interrupt remapping: VFIO refuses to attach "
                     "devices (EPERM) unless allow_unsafe_interrupts is set, which lets a "
                     "guest inject interrupts", ev,
                     "use a platform with interrupt remapping (x2APIC/IR enabled in the firmware)")
        elif off and "off" in off:
            self.add("interrupt-remapping", HOST, FAIL,
                     f"interrupt remapping is switched off on the kernel command line ({off})",
                     ev, f"remove {off} from the kernel command line")
        elif enabled:
            self.add("interrupt-remapping", HOST, PASS,
                     "interrupts are routed through the IOMMU's remapping table (MSI isolation)",
                     ev)
        elif enabled is False:
            self.add("interrupt-remapping", HOST, FAIL,
                     "no interrupt is routed through remapping (no IR- chip in /proc/interrupts): "
                     "VFIO type1 refuses to attach without allow_unsafe_interrupts", ev,
                     "enable interrupt remapping / x2APIC in the firmware; check dmesg for "
                     "'DMAR-IR: Enabled IRQ remapping' or 'AMD-Vi: Interrupt remapping enabled'")
        else:
            self.add("interrupt-remapping", HOST, CANNOT_TELL,
                     "cannot tell whether interrupt remapping is enabled: /proc/interrupts "
                     "is not readable here" + (" (the hardware supports it)" if supported else ""),
                     ev, "run on the live host; dmesg shows 'DMAR-IR: Enabled IRQ remapping' "
                         "or 'AMD-Vi: Interrupt remapping enabled'")

    def unsafe_interrupts(self) -> None:
        f = self.facts
        ev, unsafe = [], []
        for m in ("vfio_iommu_type1", "iommufd"):
            v = f.module_param(m, "allow_unsafe_interrupts")
            if v is not None:
                ev.append(E(f"/sys/module/{m}/parameters/allow_unsafe_interrupts", v))
                if v in ("Y", "1"):
                    unsafe.append(m)
        if unsafe:
            self.add("unsafe-interrupts", HOST, WARN,
                     "allow_unsafe_interrupts is set: VFIO attaches devices without interrupt "
                     "isolation, so a guest can inject interrupts into the host", ev,
                     "remove " + " ".join(f"{m}.allow_unsafe_interrupts=1" for m in unsafe)
                     + " (kernel command line or /etc/modprobe.d) once interrupt remapping works")
        elif ev:
            self.add("unsafe-interrupts", HOST, PASS,
                     "allow_unsafe_interrupts is off: VFIO insists on interrupt isolation", ev)
        else:
            self.add("unsafe-interrupts", HOST, CANNOT_TELL,
                     "neither vfio_iommu_type1 nor iommufd shows its allow_unsafe_interrupts "
                     "parameter (not loaded)",
                     [E("/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "absent")],
                     "modprobe vfio_iommu_type1")

    def acs_override(self) -> None:
        if self.params is None:
            self.add("acs-override", HOST, CANNOT_TELL, "the kernel command line is not readable",
                     [self._cmd_ev()], "run on the live host")
            return
        p = self._has_param("pcie_acs_override")
        if p:
            self.add("acs-override", HOST, WARN,
                     f"{p} (an out-of-tree patch) makes the kernel claim ACS isolation the "
                     "hardware lacks: IOMMU groups no longer imply isolation and peer-to-peer "
                     "DMA can bypass the IOMMU", [self._cmd_ev()],
                     f"remove {p} from the kernel command line and move the device to a slot "
                     "with real ACS isolation")
        else:
            self.add("acs-override", HOST, PASS,
                     "no pcie_acs_override on the kernel command line: IOMMU groups reflect "
                     "the hardware's isolation", [self._cmd_ev()])

    def default_domain(self) -> None:
        real = [g for g in self.host.groups.values() if not g.noiommu]
        if not real:
            self.add("default-domain", HOST, CANNOT_TELL,
                     "no IOMMU group to read a default domain type from",
                     [E("/sys/kernel/iommu_groups", "no IOMMU-backed group")])
            return
        types: dict[str, list[int]] = {}
        for g in real:
            types.setdefault(g.type or "unreadable", []).append(g.number)
        ev = [E("/sys/kernel/iommu_groups/*/type",
                ", ".join(f"{t} ({len(ns)} group(s))" for t, ns in sorted(types.items())))]
        pt = self._has_param("iommu=pt", "iommu.passthrough")
        if pt:
            ev.append(self._cmd_ev())
        odd = sorted(t for t in types if t not in ("DMA", "DMA-FQ", "identity"))
        if odd:
            self.add("default-domain", HOST, WARN,
                     "some groups have no usual default domain (" + ", ".join(odd) + "): their "
                     "devices may not be assignable", ev,
                     "check dmesg for IOMMU errors for these groups")
        else:
            what = []
            if "identity" in types:
                what.append("identity (iommu=pt: host drivers bypass translation; VFIO still "
                            "attaches its own domain, so isolation is unaffected)")
            if types.keys() & {"DMA", "DMA-FQ"}:
                what.append("translated (DMA/DMA-FQ)")
            self.add("default-domain", HOST, PASS,
                     "default domains are " + " and ".join(what), ev)

    def _module_state(self, name: str, driver: str | None = None) -> tuple[str | None, list[Evidence]]:
        """("loaded" | "built-in" | "present" | "absent" | None, evidence)."""
        f = self.facts
        ev = []
        mods = f.proc_modules()
        if mods is not None and name in mods:
            return "loaded", [E("/proc/modules", f"{name} listed")]
        bi = f.modules_builtin()
        if bi is not None and name in bi[1]:
            return "built-in", [E(bi[0], f"{name} listed")]
        if f.module_dir(name):
            return "present", [E(f"/sys/module/{name}", "present")]
        if driver and f.exists(f"sys/bus/pci/drivers/{driver}"):
            return "present", [E(f"/sys/bus/pci/drivers/{driver}", "registered")]
        if mods is not None:
            ev.append(E("/proc/modules", f"{name} not listed"))
        if bi is not None:
            ev.append(E(bi[0], f"{name} not listed"))
        ev.append(E(f"/sys/module/{name}", "absent"))
        if mods is None and bi is None and not f.exists("sys/module"):
            return None, ev
        return "absent", ev

    def modules(self) -> None:
        noiommu_only = not self._iommu_on()
        table = (
            ("vfio", None, FAIL, "the VFIO core", "modprobe vfio"),
            ("vfio_pci", "vfio-pci", FAIL, "the vfio-pci driver", "modprobe vfio-pci"),
            ("vfio_iommu_type1", None, WARN if not noiommu_only else PASS,
             "the type1 IOMMU backend of legacy group/container access", "modprobe vfio_iommu_type1"),
            ("iommufd", None, WARN, "iommufd (cdev access, /dev/iommu)", "modprobe iommufd"),
        )
        for name, driver, bad, what, remedy in table:
            state, ev = self._module_state(name, driver)
            cid = "module-" + name.replace("_", "-")
            if state is None:
                self.add(cid, HOST, CANNOT_TELL,
                         f"cannot tell whether {what} is available: no /proc/modules, "
                         "modules.builtin or /sys/module here", ev)
            elif state != "absent":
                self.add(cid, HOST, PASS, f"{what} is {state.replace('present', 'available')}", ev)
            elif bad == PASS:
                self.add(cid, HOST, PASS,
                         f"{what} is absent, and not needed without an IOMMU (noiommu mode)", ev)
            else:
                self.add(cid, HOST, bad, f"{what} is not loaded or built in", ev, remedy)

    def nodes(self) -> None:
        f = self.facts
        vfio = f.node_info("/dev/vfio/vfio")
        ev = [E("/dev/vfio/vfio", vfio.describe())]
        if vfio.exists:
            self.add("dev-vfio-vfio", HOST, PASS,
                     "the legacy container node /dev/vfio/vfio exists", ev)
        else:
            self.add("dev-vfio-vfio", HOST, FAIL,
                     "/dev/vfio/vfio is missing: legacy group access (and QEMU without "
                     "iommufd) cannot work", ev, "modprobe vfio (and check that udev/devtmpfs "
                                                 "created /dev/vfio)")
        io = f.node_info("/dev/iommu")
        ev = [E("/dev/iommu", io.describe())]
        if io.exists:
            self.add("dev-iommu", HOST, PASS, "/dev/iommu exists: iommufd access is possible", ev)
        elif not self._iommu_on():
            self.add("dev-iommu", HOST, PASS,
                     "/dev/iommu is absent, which is expected without an IOMMU", ev)
        else:
            self.add("dev-iommu", HOST, WARN,
                     "/dev/iommu is missing: no iommufd access (cdev mode), only legacy groups",
                     ev, "modprobe iommufd (CONFIG_IOMMUFD)")

    def cdev(self) -> None:
        bound = [fn for fn in self.host.functions.values() if fn.vfio_bound]
        if not bound:
            self.add("vfio-cdev", HOST, CANNOT_TELL,
                     "no function is bound to vfio-pci, so cdev support cannot be seen",
                     [E("/sys/class/vfio-dev", "no device")],
                     "bind a device (vfioctl bind DEVICE) and run doctor again")
            return
        if not self._iommu_on():
            self.add("vfio-cdev", HOST, PASS,
                     "noiommu devices have no cdev by design; legacy noiommu groups are used",
                     [E("/sys/class/iommu", "empty")])
            return
        with_devt = [fn for fn in bound if fn.vfio_dev_devt]
        fn = (with_devt or bound)[0]
        ev = [E(f"/sys/{fn.sysfs_path}/vfio-dev/{fn.vfio_dev or '?'}/dev",
                fn.vfio_dev_devt or "absent")]
        if with_devt:
            self.add("vfio-cdev", HOST, PASS,
                     "the kernel gives VFIO devices a cdev (/dev/vfio/devices/vfioX)", ev)
        else:
            self.add("vfio-cdev", HOST, WARN,
                     "VFIO devices have no cdev: the kernel lacks CONFIG_VFIO_DEVICE_CDEV, so "
                     "only legacy group access works", ev,
                     "use a kernel built with CONFIG_VFIO_DEVICE_CDEV=y and CONFIG_IOMMUFD")

    def noiommu(self) -> None:
        f = self.facts
        p = f.module_param("vfio", "enable_unsafe_noiommu_mode")
        t = f.tainted()
        ev = [E("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", p or "absent")]
        if t is not None:
            ev.append(E("/proc/sys/kernel/tainted",
                        f"{t} (TAINT_USER {'set' if t & 64 else 'clear'})"))
        fake = sorted(g.number for g in self.host.groups.values() if g.noiommu)
        if fake:
            ev.append(E("/sys/kernel/iommu_groups/*/name",
                        f"vfio-noiommu: groups {', '.join(map(str, fake))}"))
        if p in ("Y", "1") or fake:
            self.add("noiommu", HOST, WARN,
                     "vfio's unsafe noiommu mode is on: devices used through it have no DMA "
                     "protection, need CAP_SYS_RAWIO, and taint the kernel"
                     + (" (tainted)" if t is not None and t & 64 else ""), ev,
                     "boot with an IOMMU and vfio.enable_unsafe_noiommu_mode=0")
        else:
            self.add("noiommu", HOST, PASS,
                     "vfio's unsafe noiommu mode is off" if p else
                     "vfio's unsafe noiommu mode is not available or vfio is not loaded", ev)

    def node_permissions(self) -> None:
        nodes = sorted(n for n in self.host.dev_vfio if n not in ("vfio", "devices"))
        if not nodes:
            self.add("dev-vfio-permissions", HOST, CANNOT_TELL,
                     "no /dev/vfio group node exists, so there is no ownership to check",
                     [E("/dev/vfio", " ".join(sorted(self.host.dev_vfio)) or "empty or absent")],
                     "bind a device to vfio-pci (vfioctl bind DEVICE)")
            return
        ev, root_only, world, unknown, shared = [], [], [], [], []
        for n in nodes:
            info = self.facts.node_info(f"/dev/vfio/{n}")
            ev.append(E(info.path, info.describe()))
            if not info.char_device:
                unknown.append(info.path)
            elif info.mode & 0o006:
                world.append(info.path)
            elif info.uid == 0 and not info.mode & 0o060:
                root_only.append(info.path)
            else:
                shared.append(info.path)
        if world:
            self.add("dev-vfio-permissions", HOST, WARN,
                     "group nodes open to every user: any local user can take the device "
                     f"({', '.join(world)})", ev,
                     "chmod 0660 the nodes and give them to the VMM's group with a udev rule: "
                     'SUBSYSTEM=="vfio", GROUP="kvm", MODE="0660"')
        elif unknown:
            self.add("dev-vfio-permissions", HOST, CANNOT_TELL,
                     "the group nodes here are not device nodes (a snapshot or fixture keeps "
                     "no ownership), so who may open them cannot be told", ev,
                     "run on the live host")
        elif root_only:
            self.add("dev-vfio-permissions", HOST, WARN,
                     "only root can open " + ", ".join(root_only) + ": a non-root VMM needs "
                     "the node given to it (libvirt does this per VM)"
                     + ("; noiommu nodes also need CAP_SYS_RAWIO"
                        if any("noiommu-" in n for n in root_only) else ""), ev,
                     'add a udev rule SUBSYSTEM=="vfio", GROUP="kvm", MODE="0660" (or chown '
                     "the node to the VMM's user)")
        else:
            self.add("dev-vfio-permissions", HOST, PASS,
                     "the group nodes are open to their owner group only", ev)

    # ============================================================== devices
    def device_checks(self, fn: PciFunction) -> None:
        a = str(fn.address)
        f = self.facts
        # power_state before config: a config read runtime-resumes the device (§C.8)
        power = f.device_attr(fn.sysfs_path, "power_state")
        d3cold = f.device_attr(fn.sysfs_path, "d3cold_allowed")
        cfg = f.device_config(fn.sysfs_path)
        bits = reset_bits(cfg)
        self.group(fn, a)
        alive = self.alive(fn, a, cfg)
        self.power(fn, a, power, d3cold)
        if alive:
            self.reset_methods(fn, a, bits)
            self.qemu_reset(fn, a, bits)
        self.bus_collateral(fn, a)
        self.boot_vga(fn, a)
        self.reset_quirk(fn, a)
        self.holders(fn, a)

    def _p(self, fn: PciFunction, attr: str) -> str:
        return f"/sys/bus/pci/devices/{fn.address}/{attr}"

    def group(self, fn: PciFunction, a: str) -> None:
        h = self.host
        g = h.group_of(fn)
        if g is None:
            self.add("group-viable", a, FAIL,
                     "the function is in no IOMMU group: it cannot be assigned (no IOMMU covers "
                     "it, and it is not bound to vfio-pci in noiommu mode)",
                     [E(self._p(fn, "iommu_group"), "absent")],
                     _kernel_remedy(self.kind) if not self._iommu_on() else
                     "the IOMMU does not cover this device: check dmesg for DMAR/AMD-Vi "
                     "messages about it, or move it to another slot")
            return
        ev = [E(f"/sys/kernel/iommu_groups/{g.number}/devices",
                " ".join(f"{m}[{(h.functions[m].driver if m in h.functions else None) or 'none'}]"
                         for m in g.members) + (" " + " ".join(g.other_members) if g.other_members else ""))]
        blockers = h.viability_blockers(g)
        if blockers:
            self.add("group-viable", a, FAIL,
                     f"group {g.number} is not viable: " + ", ".join(
                         f"{b.address} is bound to {b.driver}" for b in blockers)
                     + " (a host driver owns DMA for the group)", ev,
                     "vfioctl bind " + " ".join(str(b.address) for b in blockers))
        elif g.noiommu:
            self.add("group-viable", a, WARN,
                     f"group {g.number} is a fake vfio-noiommu group: usable, but the device "
                     "has no DMA protection", ev, "boot with an IOMMU")
        elif self._has_param("pcie_acs_override"):
            self.add("group-viable", a, WARN,
                     f"group {g.number} is viable, but pcie_acs_override is set: its isolation "
                     "is claimed, not verified", ev + [self._cmd_ev()],
                     "remove pcie_acs_override from the kernel command line")
        else:
            self.add("group-viable", a, PASS,
                     f"group {g.number} is viable: every member is on vfio-pci, a DMA-safe "
                     "driver, or unbound", ev)

    def alive(self, fn: PciFunction, a: str, cfg: bytes | None) -> bool:
        if cfg is None:
            self.add("config-alive", a, CANNOT_TELL, "the config space file is not readable",
                     [E(self._p(fn, "config"), "unreadable")], "run as root")
            return True
        if len(cfg) < 2:
            self.add("config-alive", a, CANNOT_TELL,
                     f"the config space file holds only {len(cfg)} byte(s)",
                     [E(self._p(fn, "config"), f"{len(cfg)} bytes")])
            return True
        vid = cfg[0] | cfg[1] << 8
        ids = f"vendor 0x{vid:04x}"
        cached = f"0x{fn.vendor:04x}" if fn.vendor is not None else "?"
        ev = [E(self._p(fn, "config"), ids), E(self._p(fn, "vendor"), cached + " (cached at enumeration)")]
        if vid == 0xFFFF and not fn.is_vf:
            self.add("config-alive", a, FAIL,
                     "config space reads 0xffff: the device no longer answers (fell off the "
                     "bus, dead after a reset, or in D3cold)", ev,
                     f"echo 1 > /sys/bus/pci/devices/{a}/remove; echo 1 > /sys/bus/pci/rescan "
                     "(else a secondary bus reset of the parent, else reboot)")
            return False
        self.add("config-alive", a, PASS, "the device answers config reads", ev)
        return True

    def power(self, fn: PciFunction, a: str, power: str | None, d3cold: str | None) -> None:
        ev = [E(self._p(fn, "power_state"), power or "absent")]
        if d3cold is not None:
            ev.append(E(self._p(fn, "d3cold_allowed"), d3cold))
        if power is None:
            self.add("power-state", a, CANNOT_TELL,
                     "power_state is not readable (kernel before 5.17, or not in this snapshot)", ev)
        elif power == "D0":
            self.add("power-state", a, PASS, "the device is powered on (D0)", ev)
        elif power == "D3hot" and fn.vfio_bound:
            self.add("power-state", a, PASS,
                     "D3hot: an unopened vfio-pci device idles in D3hot by design; opening it "
                     "wakes it", ev)
        elif power in ("D1", "D2", "D3hot"):
            self.add("power-state", a, PASS, f"the device is in a low-power state ({power}) it "
                                             "leaves on access", ev)
        elif power == "D3cold":
            self.add("power-state", a, WARN,
                     "the device is powered off (D3cold); some devices do not come back", ev,
                     f"echo 0 > /sys/bus/pci/devices/{a}/d3cold_allowed")
        else:
            self.add("power-state", a, FAIL,
                     f"the kernel reports power state '{power}': the device is in error", ev,
                     f"echo 1 > /sys/bus/pci/devices/{a}/remove; echo 1 > /sys/bus/pci/rescan")

    def reset_methods(self, fn: PciFunction, a: str, bits: ResetBits) -> None:
        rm = fn.reset_method
        ev = [E(self._p(fn, "reset_method"), " ".join(rm) if rm else ("empty" if rm == () else "absent"))]
        if bits.readable:
            ev.append(E(self._p(fn, "config"),
                        f"FLR (PCIe DevCap) {'yes' if bits.devcap_flr else 'no'}, "
                        f"AF FLR {'yes' if bits.af_flr else 'no'}, PM "
                        + ("absent" if not bits.pm else
                           "NoSoftRst+" if bits.no_soft_reset else "NoSoftRst-")))
        else:
            ev.append(E(self._p(fn, "config"),
                        f"{fn.config_size or 0} bytes readable (capabilities need root)"))
        from vfioctl.model.scope import reset_kind
        ev.append(E("hot reset", reset_kind(self.host, fn)[1]))
        kernel = set(rm or ())
        strong = kernel & {"device_specific", "acpi", "flr", "af_flr"}
        if strong:
            self.add("reset-function", a, PASS,
                     f"the kernel can reset this function alone ({', '.join(m for m in rm if m in strong)})",
                     ev)
        elif "pm" in kernel:
            self.add("reset-function", a, PASS,
                     "the kernel resets the function through a D3hot->D0 transition (PM "
                     "reset, NoSoftRst-), which is weaker than FLR", ev)
        elif "bus" in kernel:
            self.add("reset-function", a, WARN,
                     "the function's only reset is a secondary bus reset (no FLR, no PM reset): "
                     "it resets everything below the bridge", ev,
                     "keep other devices off this bus, or use a device with FLR")
        elif not bits.readable and rm is None:
            self.add("reset-function", a, CANNOT_TELL,
                     "no reset_method attribute and the capabilities are not readable (not "
                     "root)", ev, "run as root")
        elif rm is None and bits.readable and (bits.devcap_flr or bits.af_flr):
            self.add("reset-function", a, PASS,
                     "the function advertises FLR (this kernel has no reset_method attribute)", ev)
        else:
            from vfioctl.model.topology import reset_kind_fast
            hot = reset_kind_fast(self.host, fn)
            if hot:
                self.add("reset-function", a, WARN,
                         "the kernel has no reset for this function alone (no FLR, no PM reset, "
                         f"not alone on its bus); only a {hot} hot reset through VFIO remains",
                         ev, "assign every function in the reset scope together "
                             "(vfioctl reset-info " + a + " lists them)")
            else:
                self.add("reset-function", a, FAIL,
                         "the device cannot be reset at all: no FLR, no PM reset, and no slot "
                         "or bus reset reaches it", ev,
                         "move the device behind a PCIe root port or switch port, or use a "
                         "device with FLR")

    def qemu_reset(self, fn: PciFunction, a: str, bits: ResetBits) -> None:
        """QEMU hw/vfio/pci.c: vfio_pci_reset() tries VFIO_DEVICE_RESET when
        reset_works && (has_flr || !has_pm_reset), then its own hot reset
        (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO), then PM reset; when the hot
        reset info fails and !has_pm_reset it prints "vfio: Cannot reset
        device %s, no available reset mechanism."."""
        from vfioctl.model.topology import reset_kind_fast
        rm = fn.reset_method
        hot = reset_kind_fast(self.host, fn)
        ev = [E(self._p(fn, "reset_method"), " ".join(rm) if rm else "empty or absent"),
              E("hot reset", f"{hot} reset" if hot else "none (ENODEV: root bus or virtual bus)")]
        if not bits.readable:
            self.add("qemu-reset", a, CANNOT_TELL,
                     "QEMU's reset choice depends on FLR and NoSoftRst in config space, which "
                     "is readable only by root here", ev, "run as root")
            return
        has_flr = bool(bits.devcap_flr or bits.af_flr)
        has_pm = bool(bits.pm and not bits.no_soft_reset)
        reset_works = bool(rm) if rm is not None else (has_flr or has_pm)
        ev.append(E(self._p(fn, "config"), f"has_flr {has_flr}, has_pm_reset {has_pm}"))
        if reset_works and (has_flr or not has_pm):
            self.add("qemu-reset", a, PASS,
                     "QEMU resets the device with VFIO_DEVICE_RESET (the kernel's "
                     f"{rm[0] if rm else 'function'} reset)", ev)
        elif hot:
            h = self.host
            own = h.group_of(fn)
            others = [o for o in self._scope(fn) if o.address != fn.address
                      and not (o.is_bridge and o.driver == "pcieport")]
            # QEMU's hot reset needs every group in scope owned by the VM; a group
            # with a member on a host driver cannot be given to it
            foreign = sorted({o.iommu_group for o in others
                              if o.iommu_group is not None and (own is None or o.iommu_group != own.number)
                              and h.groups.get(o.iommu_group) is not None
                              and h.viability_blockers(h.groups[o.iommu_group])})
            if foreign and not has_pm:
                self.add("qemu-reset", a, FAIL,
                         f"QEMU falls back to a {hot} hot reset, which fails: 'vfio: Cannot reset "
                         f"device {a}, depends on group {foreign[0]} which is not owned.' (a host "
                         "driver holds a device in that group), and there is no PM reset", ev,
                         "vfioctl bind the other functions in the reset scope and assign them to "
                         "the same VM (vfioctl reset-info " + a + " lists them)")
            elif foreign and reset_works:
                self.add("qemu-reset", a, WARN,
                         f"QEMU's {hot} hot reset is refused (group {foreign[0]} is not owned by "
                         "the VM: a host driver holds a device in it), so QEMU falls back to a "
                         "PM reset (D3hot->D0), the weakest reset", ev,
                         "vfioctl bind the other functions in the reset scope and assign them "
                         "to the same VM (vfioctl reset-info " + a + " lists them)")
            elif not others:
                self.add("qemu-reset", a, PASS,
                         f"QEMU resets the device with a {hot} hot reset (nothing else in scope)", ev)
            else:
                self.add("qemu-reset", a, WARN,
                         f"QEMU falls back to a {hot} hot reset; it works only when every function "
                         "in the reset scope is assigned to the same VM", ev,
                         "assign every function in the reset scope to the same VM "
                         "(vfioctl reset-info " + a + " lists them)")
        elif reset_works and has_pm:
            self.add("qemu-reset", a, PASS, "QEMU resets the device with a PM reset "
                                            "(D3hot->D0, NoSoftRst-)", ev)
        else:
            self.add("qemu-reset", a, FAIL,
                     "QEMU will print 'vfio: Cannot reset device " + a + ", no available reset "
                     "mechanism.': no FLR, no PM reset and no slot/bus reset", ev,
                     "move the device behind a PCIe root port or switch port (a bus reset "
                     "becomes possible), or use a device with FLR")

    def _scope(self, fn: PciFunction) -> list[PciFunction]:
        from vfioctl.model.scope import scope_of
        return scope_of(self.host, fn)[4]

    def bus_collateral(self, fn: PciFunction, a: str) -> None:
        from vfioctl.model.scope import scope_of
        kind, why, _slot, _br, funcs = scope_of(self.host, fn)
        if kind is None:
            self.add("reset-collateral", a, PASS,
                     "no slot or bus reset can reach this function, so none can hit other "
                     "devices", [E("hot reset", why)])
            return
        h = self.host
        others = [f for f in funcs if f.address != fn.address]
        in_use = []
        for o in others:
            holders = h.group_holders(h.group_of(o)) + h.device_holders(o)
            if o.is_bridge and o.driver == "pcieport":
                continue
            if o.driver and not o.vfio_bound:
                in_use.append(f"{o.address} ({o.driver})")
            elif holders and not any(hh in h.group_holders(h.group_of(fn)) for hh in holders):
                in_use.append(f"{o.address} (held by {', '.join(map(str, holders))})")
        sriov = fn.physfn is not None or bool(fn.virtfns)
        ev = [E("hot reset", f"{kind} reset: " + (", ".join(str(o.address) for o in others)
                                                  or "no other function"))]
        if in_use:
            self.add("reset-collateral", a, WARN,
                     f"a {kind} reset of {a} also hits devices in use: " + ", ".join(in_use)
                     + (" (an SR-IOV PF and its VFs share this bus)" if sriov else ""), ev,
                     "assign every function in the reset scope to the same VM, or unbind "
                     "their host drivers (vfioctl reset-info " + a + " lists them)")
        else:
            self.add("reset-collateral", a, PASS,
                     f"a {kind} reset of {a} hits no device in use elsewhere"
                     + (f" ({len(others)} other function(s) in scope, all free or assignable)"
                        if others else ""), ev)

    def boot_vga(self, fn: PciFunction, a: str) -> None:
        if fn.base_class != 0x03:
            return
        v = self.facts.device_attr(fn.sysfs_path, "boot_vga")
        ev = [E(self._p(fn, "boot_vga"), v or "absent")]
        if v is None:
            if (fn.class_code or 0) >> 8 == 0x0300:
                self.add("boot-vga", a, CANNOT_TELL,
                         "boot_vga is not readable for this VGA device", ev)
            return
        if v.strip() == "1":
            self.add("boot-vga", a, WARN,
                     "this GPU is the firmware's boot console: binding it to vfio-pci evicts "
                     "the host framebuffer and the host loses its console", ev,
                     "select another primary display in the firmware setup, or add "
                     "video=efifb:off / initcall_blacklist=sysfb_init and accept a headless host")
        else:
            self.add("boot-vga", a, PASS, "this GPU is not the boot console", ev)

    def reset_quirk(self, fn: PciFunction, a: str) -> None:
        fam = quirks.vendor_reset_family(fn.vendor, fn.device)
        rm = fn.reset_method or ()
        if fam is None:
            if "device_specific" in rm:
                self.add("reset-quirk", a, PASS,
                         "a device-specific reset (kernel quirk or vendor-reset) is in place",
                         [E(self._p(fn, "reset_method"), " ".join(rm))])
            return
        loaded = self.facts.module_dir("vendor_reset") or "vendor_reset" in (self.facts.proc_modules() or ())
        ev = [E(self._p(fn, "device"), f"0x{fn.device:04x} ({fam}, gnif/vendor-reset)"),
              E("/sys/module/vendor_reset", "present" if loaded else "absent"),
              E(self._p(fn, "reset_method"), " ".join(rm) or "empty or absent")]
        if loaded and rm and rm[0] == "device_specific":
            self.add("reset-quirk", a, PASS,
                     f"an AMD {fam} GPU with the vendor-reset module's device-specific reset", ev)
        else:
            self.add("reset-quirk", a, WARN,
                     f"an AMD {fam} GPU with a known reset bug: without vendor-reset it may not "
                     "come back after the VM stops", ev,
                     "install gnif/vendor-reset, modprobe vendor-reset, then echo device_specific > "
                     f"/sys/bus/pci/devices/{a}/reset_method (its udev rule does this)")

    def holders(self, fn: PciFunction, a: str) -> None:
        h = self.host
        g = h.group_of(fn)
        hs = h.group_holders(g) + h.device_holders(fn)
        nodes = [n for n in ((g.node if g else None), h.cdev_node(fn)) if n]
        ev = [E(n, ", ".join(str(x) for x in h.holders_of(n)) or "not open") for n in nodes]
        if hs:
            self.add("holders", a, WARN,
                     "in use: " + ", ".join(sorted({str(x) for x in hs}))
                     + " holds its VFIO node open", ev,
                     "stop the VM (or process) using it before binding, resetting or assigning it")
        elif h.holders is None:
            self.add("holders", a, CANNOT_TELL, "/proc was not scanned for holders", ev)
        elif h.holders_unreadable:
            self.add("holders", a, CANNOT_TELL,
                     f"{h.holders_unreadable} process(es) could not be inspected "
                     "(/proc/<pid>/fd unreadable: not root), so a holder may be missed",
                     ev + [E("/proc/*/fd", f"{h.holders_unreadable} unreadable")], "run as root")
        elif not nodes:
            self.add("holders", a, PASS, "not bound to VFIO: no VFIO node to hold", ev)
        else:
            self.add("holders", a, PASS, "no process holds its VFIO nodes open", ev)


def default_devices(host: Host) -> list[PciFunction]:
    """What doctor looks at without DEVICE arguments: every function bound to a
    VFIO driver or overridden to vfio-pci, and every known reset-quirk device."""
    out = []
    for fn in sorted(host.functions.values(), key=lambda f: f.address):
        if (fn.vfio_bound or (fn.driver_override or "").replace("_", "-") == "vfio-pci"
                or quirks.vendor_reset_family(fn.vendor, fn.device)):
            out.append(fn)
    return out


def doctor(host: Host, root: Root | str, devices: list[PciFunction] | None = None,
           *, host_checks: bool = True) -> DoctorReport:
    """Run the host checks and the device checks for ``devices`` (default:
    :func:`default_devices`)."""
    if not isinstance(root, Root):
        root = Root(root)
    d = Doctor(host, root)
    if host_checks:
        d.host_checks()
    fns = default_devices(host) if devices is None else devices
    for fn in fns:
        d.device_checks(fn)
    warnings = list(host.warnings)
    for w in root.warnings:  # what doctor's own reads skipped (links out, FIFOs, oversize)
        if not root.live:
            w = w.replace(root.path + "/", "/")
        if w not in warnings:
            warnings.append(w)
    return DoctorReport(root=host.root, cpu_vendor=d.cpu.vendor, findings=d.out,
                        devices=[str(f.address) for f in fns], warnings=warnings)
