"""Fixture hosts for ``vfioctl doctor``: one healthy host, and variants that
trigger each finding.

:func:`healthy` writes a host on which every check passes: an Intel CPU with
VT-x, an ACPI DMAR table, ``dmar0`` with interrupt remapping supported
(ecap bit 3) and in use (``IR-PCI-MSI`` in /proc/interrupts), every VFIO
module loaded, safe module parameters, group nodes owned ``root:kvm`` mode
0660 (real character devices: needs ``mknod``, i.e. root), and one GPU on
vfio-pci alone behind a root port with FLR, in D0, not the boot console.

:data:`VARIANTS` maps a name to ``(check, subject, expected status,
builder tweaks, tree edits)``; :func:`build_variant` writes one.  The test
suite builds every variant and checks doctor's status for that check.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable

from vfioctl.testing.builder import TreeBuilder

GPU = "0000:01:00.0"
AUDIO = "0000:01:00.1"
ROOT_PORT = "0000:00:01.0"

CPUINFO_INTEL = ("processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
                 "model name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n"
                 "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic vmx x2apic\n\n"
                 "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n")
CPUINFO_AMD = ("processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\n"
               "model name\t: AMD EPYC 7763 64-Core Processor\nflags\t\t: fpu svm x2apic\n")
INTERRUPTS_IR = ("            CPU0       CPU1\n"
                 "  0:         40          0   IR-IO-APIC    2-edge      timer\n"
                 " 24:          0          0  DMAR-MSI    0-edge      dmar0\n"
                 " 25:        100          0  IR-PCI-MSI 1048576-edge      vfio-msi[0](0000:01:00.0)\n")
INTERRUPTS_NO_IR = ("            CPU0       CPU1\n"
                    "  0:         40          0   IO-APIC    2-edge      timer\n"
                    " 25:        100          0  PCI-MSI 1048576-edge      eth0\n")
MODULES = ("vfio_pci 16384 0 - Live 0x0000000000000000\n"
           "vfio_pci_core 94208 1 vfio_pci, Live 0x0000000000000000\n"
           "vfio_iommu_type1 45056 0 - Live 0x0000000000000000\n"
           "vfio 69632 3 vfio_pci,vfio_pci_core,vfio_iommu_type1, Live 0x0000000000000000\n"
           "iommufd 98304 1 vfio, Live 0x0000000000000000\n")
KVM_GID = 993


def _w(root: str, rel: str, text: str | bytes) -> None:
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(text if isinstance(text, bytes) else text.encode())


def _rm(root: str, rel: str) -> None:
    p = os.path.join(root, rel)
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p)
    elif os.path.lexists(p):
        os.unlink(p)


def dev_dir(root: str, bdf: str) -> str:
    return os.path.realpath(os.path.join(root, "sys/bus/pci/devices", bdf))


def dev_attr(bdf: str, attr: str, text: str) -> Callable[[str], None]:
    def fix(root: str) -> None:
        if not os.path.isdir(dev_dir(root, bdf)):
            return  # the variant moved or removed the device
        with open(os.path.join(dev_dir(root, bdf), attr), "w") as f:
            f.write(text + "\n")
    return fix


def host_file(rel: str, text: str) -> Callable[[str], None]:
    return lambda root: _w(root, rel, text)


def remove(rel: str) -> Callable[[str], None]:
    return lambda root: _rm(root, rel)


def char_nodes(mode: int = 0o660, uid: int = 0, gid: int = KVM_GID) -> Callable[[str], None]:
    """Replace every /dev/vfio/N file with a character device node (0:0, never
    opened) owned ``uid:gid`` with ``mode``.  Needs CAP_MKNOD."""
    def fix(root: str) -> None:
        d = os.path.join(root, "dev/vfio")
        for n in os.listdir(d):
            p = os.path.join(d, n)
            if n in ("vfio", "devices") or os.path.isdir(p):
                continue
            os.unlink(p)
            os.mknod(p, 0o600 | 0o020000, os.makedev(243, int(n.split("-")[-1])))
            os.chown(p, uid, gid)
            os.chmod(p, mode)
    return fix


def base(path: str, *, cpu: str = CPUINFO_INTEL, cmdline: str = "BOOT_IMAGE=/vmlinuz intel_iommu=on iommu=pt",
         nodes: bool = True) -> TreeBuilder:
    b = TreeBuilder(path, meta={"scenario": "doctor-healthy", "cmdline": cmdline,
                                "osrelease": "6.12.48-doctor"})
    b.fn("0000:00:00.0", None, vendor=0x8086, device=0x09A2, cls=0x060000, group=0, pcie=None)
    b.root_port(ROOT_PORT, 0x01, group=1)
    b.fn(GPU, ROOT_PORT, vendor=0x10DE, device=0x2204, cls=0x030000, driver="vfio-pci", group=11,
         flr=True, pm_reset=True, reset_method="flr pm bus")
    b.extra += [
        host_file("proc/cpuinfo", cpu),
        host_file("sys/firmware/acpi/tables/DMAR", "DMAR"),
        host_file("sys/firmware/acpi/tables/APIC", "APIC"),
        host_file("sys/class/iommu/dmar0/intel-iommu/ecap", "f0205ec\n"),
        host_file("proc/interrupts", INTERRUPTS_IR),
        host_file("proc/modules", MODULES),
        host_file("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n"),
        host_file("sys/module/iommufd/parameters/allow_unsafe_interrupts", "N\n"),
        host_file("etc/group", f"root:x:0:\nkvm:x:{KVM_GID}:qemu\n"),
        host_file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
        dev_attr(GPU, "power_state", "D0"),
        dev_attr(GPU, "d3cold_allowed", "1"),
        dev_attr(GPU, "boot_vga", "0"),
        dev_attr(ROOT_PORT, "power_state", "D0"),
    ]
    if nodes:
        b.extra.append(char_nodes())
    return b


def _audio(b: TreeBuilder, driver: str | None = "snd_hda_intel", group: int = 11) -> None:
    b.functions[2].multifunction = True
    b.fn(AUDIO, ROOT_PORT, vendor=0x10DE, device=0x1AEF, cls=0x040300, driver=driver, group=group,
         reset_method="flr", flr=True)


def _set(**kw):
    def tweak(b: TreeBuilder) -> None:
        for k, v in kw.items():
            setattr(b, k, v)
    return tweak


def _gpu(**kw):
    def tweak(b: TreeBuilder) -> None:
        for k, v in kw.items():
            setattr(b.functions[2], k, v)
    return tweak


def _meta(**kw):
    return lambda b: b.meta.update(kw)


def _chain(*fs):
    def tweak(b):
        for f in fs:
            f(b)
    return tweak


def _root_bus_edu(b: TreeBuilder) -> None:
    """The GPU replaced by a conventional-PCI edu on the root bus: no FLR, no
    PM reset, no bus reset (like QEMU's edu at 00:05.0)."""
    g = b.functions[2]
    g.parent, g.bdf, g.pcie, g.flr, g.pm_reset = None, "0000:00:05.0", None, False, False
    g.vendor, g.device, g.cls, g.reset_method = 0x1234, 0x11E8, 0x00FF00, None


def _dead_config(root: str) -> None:
    p = os.path.join(dev_dir(root, GPU), "config")
    size = os.path.getsize(p)
    with open(p, "wb") as f:
        f.write(b"\xff" * size)


#: name -> (check, subject, status, builder tweak | None, tree edits)
S = "host"
VARIANTS: dict[str, tuple[str, str, str, Callable | None, tuple[Callable, ...]]] = {
    # --- IOMMU in firmware and kernel (virt-host-validate's two lines)
    "iommu-firmware-pass": ("iommu-firmware", S, "pass", None, ()),
    "iommu-firmware-fail": ("iommu-firmware", S, "fail", _set(iommu_units=()),
                            (remove("sys/firmware/acpi/tables/DMAR"), remove("sys/class/iommu/dmar0"))),
    "iommu-firmware-amd-fail": ("iommu-firmware", S, "fail", _set(iommu_units=()),
                                (host_file("proc/cpuinfo", CPUINFO_AMD),
                                 remove("sys/firmware/acpi/tables/DMAR"), remove("sys/class/iommu/dmar0"))),
    # QEMU TCG -cpu max: AuthenticAMD with svm, but intel-iommu (DMAR): what the VM shows
    "iommu-firmware-mismatch-warn": ("iommu-firmware", S, "warn", None,
                                     (host_file("proc/cpuinfo", CPUINFO_AMD),)),
    "iommu-firmware-cannot-tell": ("iommu-firmware", S, "cannot-tell", _set(iommu_units=()),
                                   (remove("sys/firmware"), remove("sys/class/iommu"))),
    "iommu-kernel-pass": ("iommu-kernel", S, "pass", None, ()),
    "iommu-kernel-fail": ("iommu-kernel", S, "fail", _set(iommu_units=()),
                          (remove("sys/class/iommu/dmar0"),)),
    "iommu-kernel-off-fail": ("iommu-kernel", S, "fail",
                              _chain(_set(iommu_units=()), _meta(cmdline="intel_iommu=off")),
                              (remove("sys/class/iommu/dmar0"),)),
    # --- interrupt remapping
    "interrupt-remapping-pass": ("interrupt-remapping", S, "pass", None, ()),
    "interrupt-remapping-unsupported-fail": ("interrupt-remapping", S, "fail", None,
                                             (host_file("sys/class/iommu/dmar0/intel-iommu/ecap", "f0205e4\n"),)),
    "interrupt-remapping-off-fail": ("interrupt-remapping", S, "fail", _meta(cmdline="intel_iommu=on intremap=off"), ()),
    "interrupt-remapping-disabled-fail": ("interrupt-remapping", S, "fail", None,
                                          (host_file("proc/interrupts", INTERRUPTS_NO_IR),)),
    "interrupt-remapping-cannot-tell": ("interrupt-remapping", S, "cannot-tell", None,
                                        (remove("proc/interrupts"),)),
    "unsafe-interrupts-pass": ("unsafe-interrupts", S, "pass", None, ()),
    "unsafe-interrupts-warn": ("unsafe-interrupts", S, "warn", None,
                               (host_file("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "Y\n"),)),
    "unsafe-interrupts-cannot-tell": ("unsafe-interrupts", S, "cannot-tell", None,
                                      (remove("sys/module/vfio_iommu_type1"), remove("sys/module/iommufd"))),
    # --- ACS override, default domain
    "acs-override-pass": ("acs-override", S, "pass", None, ()),
    "acs-override-warn": ("acs-override", S, "warn",
                          _meta(cmdline="intel_iommu=on pcie_acs_override=downstream,multifunction"), ()),
    "acs-override-cannot-tell": ("acs-override", S, "cannot-tell", None, (remove("proc/cmdline"),)),
    "default-domain-pass": ("default-domain", S, "pass", None, ()),
    "default-domain-identity-pass": ("default-domain", S, "pass",
                                     _set(group_types={0: "identity", 1: "identity", 11: "identity"}), ()),
    "default-domain-warn": ("default-domain", S, "warn", _set(group_types={0: "blocked"}), ()),
    # --- modules and nodes
    "module-vfio-pass": ("module-vfio", S, "pass", None, ()),
    "module-vfio-fail": ("module-vfio", S, "fail", _set(noiommu_param=None),
                         (host_file("proc/modules", "e1000e 1 0 - Live 0x0\n"),)),
    "module-vfio-cannot-tell": ("module-vfio", S, "cannot-tell", None,
                                (remove("proc/modules"), remove("sys/module"))),
    "module-vfio-pci-pass": ("module-vfio-pci", S, "pass", None, ()),
    "module-vfio-pci-fail": ("module-vfio-pci", S, "fail", _gpu(driver=None),
                             (host_file("proc/modules", "vfio 1 0 - Live 0x0\n"),
                              remove("sys/bus/pci/drivers/vfio-pci"))),
    "module-vfio-iommu-type1-pass": ("module-vfio-iommu-type1", S, "pass", None, ()),
    "module-vfio-iommu-type1-warn": ("module-vfio-iommu-type1", S, "warn", None,
                                     (host_file("proc/modules", "vfio_pci 1 0 - Live 0x0\nvfio 1 0 - Live 0x0\n"),
                                      remove("sys/module/vfio_iommu_type1"))),
    "module-iommufd-pass": ("module-iommufd", S, "pass", None, ()),
    "module-iommufd-warn": ("module-iommufd", S, "warn", None,
                            (host_file("proc/modules", "vfio_pci 1 0 - Live 0x0\nvfio 1 0 - Live 0x0\n"),
                             remove("sys/module/iommufd"))),
    "module-builtin-pass": ("module-vfio", S, "pass", None,
                            (remove("proc/modules"), remove("sys/module/vfio"),
                             host_file("lib/modules/6.12.48-doctor/modules.builtin",
                                       "kernel/drivers/vfio/vfio.ko\nkernel/drivers/vfio/pci/vfio-pci.ko\n"))),
    "dev-vfio-vfio-pass": ("dev-vfio-vfio", S, "pass", None, ()),
    "dev-vfio-vfio-fail": ("dev-vfio-vfio", S, "fail", None, (remove("dev/vfio/vfio"),)),
    "dev-iommu-pass": ("dev-iommu", S, "pass", None, ()),
    "dev-iommu-warn": ("dev-iommu", S, "warn", _set(iommufd=False), ()),
    "vfio-cdev-pass": ("vfio-cdev", S, "pass", None, ()),
    "vfio-cdev-warn": ("vfio-cdev", S, "warn", _set(cdev_support=False), ()),
    "vfio-cdev-cannot-tell": ("vfio-cdev", S, "cannot-tell", _gpu(driver=None), ()),
    "noiommu-pass": ("noiommu", S, "pass", None, ()),
    "noiommu-warn": ("noiommu", S, "warn", _chain(_set(noiommu=True, noiommu_param=True, iommu_units=())),
                     (remove("sys/class/iommu/dmar0"),)),
    "dev-vfio-permissions-pass": ("dev-vfio-permissions", S, "pass", None, ()),
    "dev-vfio-permissions-root-only-warn": ("dev-vfio-permissions", S, "warn", None, (char_nodes(0o600, 0, 0),)),
    "dev-vfio-permissions-world-warn": ("dev-vfio-permissions", S, "warn", None, (char_nodes(0o666, 0, 0),)),
    "dev-vfio-permissions-cannot-tell": ("dev-vfio-permissions", S, "cannot-tell", None, ()),  # plain files
    # --- device checks
    "group-viable-pass": ("group-viable", GPU, "pass", None, ()),
    "group-viable-fail": ("group-viable", GPU, "fail", _audio, ()),
    "group-viable-acs-warn": ("group-viable", GPU, "warn",
                              _meta(cmdline="intel_iommu=on pcie_acs_override=downstream"), ()),
    "group-viable-none-fail": ("group-viable", GPU, "fail", _gpu(group=None, driver="nvidia"), ()),
    "config-alive-pass": ("config-alive", GPU, "pass", None, ()),
    "config-alive-fail": ("config-alive", GPU, "fail", None, (_dead_config,)),
    "power-state-pass": ("power-state", GPU, "pass", None, ()),
    "power-state-d3hot-pass": ("power-state", GPU, "pass", None, (dev_attr(GPU, "power_state", "D3hot"),)),
    "power-state-d3cold-warn": ("power-state", GPU, "warn", None, (dev_attr(GPU, "power_state", "D3cold"),)),
    "power-state-error-fail": ("power-state", GPU, "fail", None, (dev_attr(GPU, "power_state", "error"),)),
    "power-state-cannot-tell": ("power-state", GPU, "cannot-tell", None,
                                (lambda root: os.unlink(os.path.join(dev_dir(root, GPU), "power_state")),)),
    "reset-function-pass": ("reset-function", GPU, "pass", None, ()),
    "reset-function-pm-pass": ("reset-function", GPU, "pass", _gpu(flr=False, reset_method="pm bus"), ()),
    "reset-function-bus-warn": ("reset-function", GPU, "warn", _gpu(flr=False, pm_reset=False, reset_method="bus"), ()),
    "reset-function-hot-only-warn": ("reset-function", GPU, "warn",
                                     _chain(_gpu(flr=False, pm_reset=False, reset_method=None),
                                            lambda b: _audio(b, "vfio-pci")), ()),
    "reset-function-fail": ("reset-function", "0000:00:05.0", "fail", _root_bus_edu, ()),
    "reset-function-cannot-tell": ("reset-function", GPU, "cannot-tell", _gpu(config_size=64, reset_method=None), ()),
    "qemu-reset-pass": ("qemu-reset", GPU, "pass", None, ()),
    "qemu-reset-hot-warn": ("qemu-reset", GPU, "warn",
                            _chain(_gpu(flr=False, pm_reset=False, reset_method=None),
                                   lambda b: _audio(b, "vfio-pci")), ()),
    "qemu-reset-fail": ("qemu-reset", "0000:00:05.0", "fail", _root_bus_edu, ()),
    "qemu-reset-not-owned-pm-warn": ("qemu-reset", GPU, "warn",
                                     _chain(_gpu(flr=False, pm_reset=True, reset_method="pm"),
                                            lambda b: _audio(b, "snd_hda_intel", 12)), ()),
    "qemu-reset-not-owned-fail": ("qemu-reset", GPU, "fail",
                                  _chain(_gpu(flr=False, pm_reset=False, reset_method=None),
                                         lambda b: _audio(b, "snd_hda_intel", 12)), ()),
    "qemu-reset-cannot-tell": ("qemu-reset", GPU, "cannot-tell", _gpu(config_size=64), ()),
    "reset-collateral-pass": ("reset-collateral", GPU, "pass", None, ()),
    "reset-collateral-warn": ("reset-collateral", GPU, "warn", lambda b: _audio(b, "snd_hda_intel", 12), ()),
    "reset-collateral-held-warn": ("reset-collateral", GPU, "warn",
                                   _chain(lambda b: _audio(b, "vfio-pci", 12),
                                          lambda b: b.hold("/dev/vfio/12", 4242, "qemu-system-x86")), ()),
    "boot-vga-pass": ("boot-vga", GPU, "pass", None, ()),
    "boot-vga-warn": ("boot-vga", GPU, "warn", None, (dev_attr(GPU, "boot_vga", "1"),)),
    "boot-vga-cannot-tell": ("boot-vga", GPU, "cannot-tell", None,
                             (lambda root: os.unlink(os.path.join(dev_dir(root, GPU), "boot_vga")),)),
    "reset-quirk-warn": ("reset-quirk", GPU, "warn", _gpu(vendor=0x1002, device=0x731F), ()),
    "reset-quirk-pass": ("reset-quirk", GPU, "pass",
                         _gpu(vendor=0x1002, device=0x731F, reset_method="device_specific"),
                         (host_file("sys/module/vendor_reset/refcnt", "0\n"),)),
    "reset-quirk-device-specific-pass": ("reset-quirk", GPU, "pass",
                                         _gpu(reset_method="device_specific flr bus"), ()),
    "holders-pass": ("holders", GPU, "pass", None, ()),
    "holders-warn": ("holders", GPU, "warn", lambda b: b.hold("/dev/vfio/11", 4242, "qemu-system-x86"), ()),
}

#: variants whose tree keeps plain files for /dev/vfio/N (no mknod needed)
PLAIN_NODES = {"dev-vfio-permissions-cannot-tell"}


def build_variant(name: str, path: str) -> str:
    check, subject, status, tweak, edits = VARIANTS[name]
    b = base(path, nodes=name not in PLAIN_NODES)
    b.meta["scenario"] = f"doctor-{name}"
    if tweak is not None:
        tweak(b)
    b.extra.extend(edits)
    return b.write()


def healthy(path: str) -> str:
    return build_variant("iommu-firmware-pass", path)


def demo_host_files() -> list[Callable[[str], None]]:
    """What the bundled demo host adds for doctor: an Intel CPU with VT-x, the
    DMAR table, interrupt remapping in use, the VFIO modules loaded, and power
    and boot-console attributes on its GPUs and NVMe drive."""
    return [
        host_file("proc/cpuinfo", CPUINFO_INTEL),
        host_file("sys/firmware/acpi/tables/DMAR", "DMAR"),
        host_file("sys/class/iommu/dmar0/intel-iommu/ecap", "f0205ec\n"),
        host_file("proc/interrupts", INTERRUPTS_IR),
        host_file("proc/modules", MODULES),
        host_file("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts", "N\n"),
        host_file("sys/module/iommufd/parameters/allow_unsafe_interrupts", "N\n"),
        dev_attr("0000:03:00.0", "power_state", "D0"),
        dev_attr("0000:03:00.0", "boot_vga", "0"),
        dev_attr("0000:03:00.1", "power_state", "D0"),
        dev_attr("0000:82:00.0", "power_state", "D3hot"),
        dev_attr("0000:82:00.0", "d3cold_allowed", "1"),
        dev_attr("0000:82:00.0", "boot_vga", "0"),
        dev_attr("0000:04:00.0", "power_state", "D3cold"),
        dev_attr("0000:04:00.0", "d3cold_allowed", "1"),
        _all_d0,
    ]


def _all_d0(root: str) -> None:
    """power_state D0 on every function that has none yet."""
    d = os.path.join(root, "sys/bus/pci/devices")
    for n in os.listdir(d):
        p = os.path.join(dev_dir(root, n), "power_state")
        if not os.path.exists(p):
            with open(p, "w") as f:
                f.write("D0\n")
