"""Host and device facts for ``vfioctl doctor``, read under one root.

Everything here is a read of one file below the root through the confined
Root API (:mod:`vfioctl.sysfs.root`: resolved inside the root, only regular
files opened, non-blocking, bounded per kind): ``proc/cmdline``,
``sys/firmware/acpi/tables/DMAR``, ``sys/module/*``, ``proc/modules``,
``lib/modules/<release>/modules.builtin``, ``dev/vfio/*`` metadata, ....  Each accessor returns the *node path* it looked at (as the
kernel names it, ``/proc/cmdline``) together with the value, so a finding can
show its evidence; ``None`` means the file was absent or unreadable.

Sources: shared/docs/binding-host-fleet.md §C (virt-host-validate's checks,
interrupt remapping, ACS override, default domain, device nodes, reset
capability, power and liveness, vendor-reset, boot_vga).
"""

from __future__ import annotations

import stat
from vfioctl.model.record import dataclass

from vfioctl.sysfs.root import Root

ACPI_TABLES = "sys/firmware/acpi/tables"
MODULES_DIR = "sys/module"
PROC_MODULES = "proc/modules"
PROC_CMDLINE = "proc/cmdline"
PROC_CPUINFO = "proc/cpuinfo"
PROC_INTERRUPTS = "proc/interrupts"
PROC_TAINTED = "proc/sys/kernel/tainted"
PROC_OSRELEASE = "proc/sys/kernel/osrelease"
LIB_MODULES = "lib/modules"
ETC_GROUP = "etc/group"
ETC_PASSWD = "etc/passwd"

#: bounded reads: sysfs attributes are at most a page; /proc files can be long
#: (their size bound on a fixture root is ``LIMITS["host"]`` of the root module)
SMALL = 4096
LARGE = 1 << 20


def _decode(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace").strip()


@dataclass(frozen=True)
class NodeInfo:
    """``lstat`` of a device node (never opened)."""

    path: str           # node path, /dev/vfio/12
    exists: bool
    char_device: bool = False
    mode: int = 0       # permission bits
    uid: int = 0
    gid: int = 0
    owner: str | None = None
    group: str | None = None

    def describe(self) -> str:
        if not self.exists:
            return "absent"
        kind = "character device" if self.char_device else "not a device node"
        return (f"{kind}, mode {self.mode:04o}, owner {self.owner or self.uid}:"
                f"{self.group or self.gid}")


@dataclass(frozen=True)
class CpuInfo:
    vendor: str | None        # GenuineIntel, AuthenticAMD, HygonGenuine, arm...
    flags: frozenset[str]
    arch: str | None          # x86, arm64, ppc64, s390, None = unknown


class HostFacts:
    """Lazy, cached readers of host facts below ``root``."""

    def __init__(self, root: Root):
        self.root = root
        self._cache: dict = {}

    # -- helpers: every access goes through the confined Root API --
    #    (resolved inside the root, lstat first, only regular files opened,
    #    O_NONBLOCK|O_NOFOLLOW, bounded by kind; see vfioctl.sysfs.root)
    def node(self, rel: str) -> str:
        return "/" + rel

    def text(self, rel: str, limit: int = SMALL) -> str | None:
        key = ("text", rel, limit)
        if key not in self._cache:
            kind = "attribute" if limit <= SMALL else "host"
            self._cache[key] = _decode(self.root.read(self.root.join(rel), limit, kind))
        return self._cache[key]

    def exists(self, rel: str) -> bool:
        return self.root.lexists(self.root.join(rel))

    def isdir(self, rel: str) -> bool:
        return self.root.isdir(self.root.join(rel))

    def listdir(self, rel: str) -> list[str] | None:
        try:
            return sorted(self.root.listdir(self.root.join(rel)))
        except OSError:  # missing, unreadable, or a link leading out of the root
            return None

    # -- kernel --
    def cmdline(self) -> str | None:
        return self.text(PROC_CMDLINE)

    def cmdline_params(self) -> list[str] | None:
        c = self.cmdline()
        if c is None:
            return None
        return c.split(" -- ")[0].split()

    def osrelease(self) -> str | None:
        return self.text(PROC_OSRELEASE)

    def tainted(self) -> int | None:
        t = self.text(PROC_TAINTED)
        try:
            return None if t is None else int(t)
        except ValueError:
            return None

    def cpu(self) -> CpuInfo:
        if "cpu" in self._cache:
            return self._cache["cpu"]
        txt = self.text(PROC_CPUINFO, 256 * 1024)
        vendor, flags, arch = None, frozenset(), None
        if txt is not None:
            first = txt.split("\n\n", 1)[0]
            kv = {}
            for ln in first.splitlines():
                k, sep, v = ln.partition(":")
                if sep:
                    kv.setdefault(k.strip(), v.strip())
            if "vendor_id" in kv:
                vendor, arch = kv["vendor_id"], "x86"
                flags = frozenset(kv.get("flags", "").split())
            elif "CPU implementer" in kv:
                vendor, arch = "arm", "arm64"
                flags = frozenset(kv.get("Features", "").split())
            elif "cpu" in kv and "POWER" in kv.get("cpu", "").upper():
                vendor, arch = "ibm", "ppc64"
            elif any(k.startswith("facilities") for k in kv) or "IBM/S390" in txt[:200]:
                vendor, arch = "ibm", "s390"
        self._cache["cpu"] = CpuInfo(vendor, flags, arch)
        return self._cache["cpu"]

    def acpi_table(self, name: str) -> bool | None:
        """Whether ``/sys/firmware/acpi/tables/NAME`` exists; None when the
        tables directory itself is absent (no ACPI, or not in a snapshot)."""
        if not self.isdir(ACPI_TABLES):
            return None
        return self.exists(f"{ACPI_TABLES}/{name}")

    def interrupts_ir(self) -> tuple[bool | None, str | None]:
        """(any interrupt routed through an ``IR-`` chip, first such chip name)."""
        txt = self.text(PROC_INTERRUPTS, LARGE)
        if txt is None:
            return None, None
        for ln in txt.splitlines()[1:]:
            for w in ln.split():
                if w.startswith("IR-"):
                    return True, w
        return False, None

    def iommu_ecap(self, unit: str) -> int | None:
        t = self.text(f"sys/class/iommu/{unit}/intel-iommu/ecap")
        try:
            return None if t is None else int(t, 16)
        except ValueError:
            return None

    # -- modules --
    def proc_modules(self) -> frozenset[str] | None:
        t = self.text(PROC_MODULES, LARGE)
        if t is None:
            return None
        return frozenset(ln.split()[0] for ln in t.splitlines() if ln.strip())

    def modules_builtin(self) -> tuple[str, frozenset[str]] | None:
        """(node path, module names) of ``lib/modules/<release>/modules.builtin``."""
        rel = self.osrelease()
        if not rel or "/" in rel or rel in (".", ".."):
            return None
        p = f"{LIB_MODULES}/{rel}/modules.builtin"
        t = self.text(p, LARGE)
        if t is None:
            return None
        names = set()
        for ln in t.splitlines():
            base = ln.strip().rsplit("/", 1)[-1]
            if base.endswith(".ko"):
                names.add(base[:-3].replace("-", "_"))
        return self.node(p), frozenset(names)

    def module_param(self, module: str, param: str) -> str | None:
        return self.text(f"{MODULES_DIR}/{module}/parameters/{param}")

    def module_dir(self, module: str) -> bool:
        return self.isdir(f"{MODULES_DIR}/{module}")

    # -- nodes --
    def _names(self, rel: str) -> dict[int, str]:
        key = ("names", rel)
        if key not in self._cache:
            out: dict[int, str] = {}
            t = self.text(rel, LARGE)
            for ln in (t or "").splitlines():
                parts = ln.split(":")
                if len(parts) >= 3 and parts[2].isdigit():
                    out.setdefault(int(parts[2]), parts[0])
            self._cache[key] = out
        return self._cache[key]

    def node_info(self, node_path: str) -> NodeInfo:
        try:
            st = self.root.lstat(self.root.node(node_path))
        except OSError:  # absent, or its directory leads out of the root
            return NodeInfo(node_path, False)
        return NodeInfo(node_path, True, stat.S_ISCHR(st.st_mode), stat.S_IMODE(st.st_mode),
                        st.st_uid, st.st_gid, self._names(ETC_PASSWD).get(st.st_uid),
                        self._names(ETC_GROUP).get(st.st_gid))

    # -- devices --
    def device_dir(self, sysfs_path: str) -> str:
        """Real directory of a function (``PciFunction.sysfs_path`` is relative to sys/)."""
        return self.root.sys(sysfs_path)

    def device_attr(self, sysfs_path: str, attr: str) -> str | None:
        return _decode(self.root.read(f"{self.device_dir(sysfs_path)}/{attr}", SMALL, "attribute"))

    def device_config(self, sysfs_path: str) -> bytes | None:
        return self.root.read(f"{self.device_dir(sysfs_path)}/config", 4096, "config")


# -- config space: the bits doctor needs beyond ResetCaps -----------------------

@dataclass(frozen=True)
class ResetBits:
    """Reset-relevant capability bits; None = unknown (config not readable
    beyond the 64-byte header, as non-root)."""

    readable: bool
    pcie: bool | None = None
    devcap_flr: bool | None = None
    af: bool | None = None
    af_flr: bool | None = None       # AF cap with TP and FLR
    pm: bool | None = None
    no_soft_reset: bool | None = None  # PMCSR NoSoftRst+
    devcap: int | None = None
    pmcsr: int | None = None


def reset_bits(cfg: bytes | None) -> ResetBits:
    if cfg is None or len(cfg) <= 64:
        return ResetBits(readable=False)
    pcie = af = pm = False
    flr = af_flr = nsr = None
    devcap = pmcsr = None
    status = cfg[6] | (cfg[7] << 8)
    if status & 0x10:
        ptr, seen = cfg[0x34] & 0xFC, set()
        while ptr and ptr not in seen and ptr + 2 <= len(cfg):
            seen.add(ptr)
            cid = cfg[ptr]
            if cid == 0x10 and ptr + 8 <= len(cfg):
                pcie = True
                devcap = int.from_bytes(cfg[ptr + 4:ptr + 8], "little")
                flr = bool(devcap & (1 << 28))
            elif cid == 0x13 and ptr + 4 <= len(cfg):
                af = True
                af_flr = bool(cfg[ptr + 3] & 0x01) and bool(cfg[ptr + 3] & 0x02)
            elif cid == 0x01 and ptr + 6 <= len(cfg):
                pm = True
                pmcsr = cfg[ptr + 4] | (cfg[ptr + 5] << 8)
                nsr = bool(pmcsr & 0x0008)
            ptr = cfg[ptr + 1] & 0xFC
    return ResetBits(readable=True, pcie=pcie, devcap_flr=flr if pcie else False, af=af,
                     af_flr=af_flr if af else False, pm=pm, no_soft_reset=nsr if pm else None,
                     devcap=devcap, pmcsr=pmcsr)
