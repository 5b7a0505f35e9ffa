"""Host side of the real-kernel VM tests: boot a Linux 6.12 guest under QEMU/TCG
with an emulated VT-d (or in noiommu mode), run a plan of steps inside it with
this very checkout and interpreter, and return the results.

Quick use::

    from harness import boot
    res = boot("iommu", [
        {"name": "list", "run": ["@PYTHON@", "-m", "vfioctl", "--json", "list"]},
        {"unbind": "@bdf:B@"},
        {"name": "reset", "run": ["@PYTHON@", "-m", "vfioctl", "reset", "@bdf:A@"]},
    ])
    assert res.step("list")["rc"] == 0
    res.bdf("S")          # guest address of the edu behind the PCIe switch

``boot`` returns a :class:`BootResult` (a ``list`` of step entries, one per plan
step: ``step, kind, name, request, rc, ok, stdout, stderr, duration`` and
kind-specific extras) carrying the guest's PCI topology.  It raises
:class:`VMError` (with the serial console tail) when the VM itself fails: QEMU
error, timeout, runner crash.  Failing *steps* do not raise; assert on them.

See tests/vm/README.md for the plan format, the topology ids and timings.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import json
import re
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VM_DIR = Path(__file__).resolve().parent
CHECKOUT = VM_DIR.parents[1]
WORK = CHECKOUT / ".vmcache"          # gitignored: initramfs + per-boot results dirs
RUNS = WORK / "runs"
KEEP_RUNS = 30
MODES = ("iommu", "noiommu")


class VMError(RuntimeError):
    """The VM could not be built, booted, or did not complete its plan."""


# ---------------------------------------------------------------- topology
@dataclasses.dataclass(frozen=True)
class Dev:
    id: str
    qemu: str    # -device argument
    chain: str   # devfn chain from the root bus as the guest sees it
    what: str


#: The guest's PCI topology (QEMU ids -> guest devfn chains).  Bus numbers are
#: assigned by the guest at enumeration; look them up with BootResult.bdf(id)
#: or the @bdf:ID@ placeholder instead of hard-coding them.
TOPOLOGY: tuple[Dev, ...] = (
    Dev("hostroot", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot,bus=pcie.0,addr=0x1", "01.0", "9p: host root (ro)"),
    Dev("rp1", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x2", "02.0", "root port"),
    Dev("A", "edu,id=A,bus=rp1,addr=0.0,multifunction=on", "02.0/00.0", "edu fn0 of a multifunction pair"),
    Dev("B", "edu,id=B,bus=rp1,addr=0.1", "02.0/00.1", "edu fn1 of the pair (same group/dev_set as A)"),
    Dev("rp2", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x3", "03.0", "root port"),
    Dev("C", "edu,id=C,bus=rp2,addr=0.0", "03.0/00.0", "edu alone behind a root port"),
    Dev("rp3", "pcie-root-port,id=rp3,bus=pcie.0,chassis=3,slot=3,addr=0x4", "04.0", "root port"),
    Dev("pb", "pcie-pci-bridge,id=pb,bus=rp3,addr=0.0", "04.0/00.0", "PCIe-to-PCI bridge"),
    Dev("D", "edu,id=D,bus=pb,addr=1.0", "04.0/00.0/01.0", "edu behind the PCI bridge"),
    Dev("E", "edu,id=E,bus=pb,addr=2.0", "04.0/00.0/02.0", "edu behind the PCI bridge"),
    Dev("F", "edu,id=F,bus=pcie.0,addr=0x5", "05.0", "edu on the root bus (no bus/slot reset: ENODEV)"),
    Dev("rp4", "pcie-root-port,id=rp4,bus=pcie.0,chassis=4,slot=4,addr=0x6,x-speed=2_5,x-width=1", "06.0",
        "root port at 2.5GT/s x1 (needed for e1000e hot reset)"),
    Dev("G", "e1000e,id=G,bus=rp4,addr=0.0,multifunction=on,netdev=n0", "06.0/00.0", "e1000e fn0"),
    Dev("H", "e1000e,id=H,bus=rp4,addr=0.1,netdev=n1", "06.0/00.1", "e1000e fn1"),
    Dev("rng", "virtio-rng-pci,bus=pcie.0,addr=0x7", "07.0", "virtio-rng"),
    Dev("rp5", "pcie-root-port,id=rp5,bus=pcie.0,chassis=5,slot=5,addr=0x8,hotplug=off", "08.0", "root port, hotplug=off"),
    Dev("I", "edu,id=I,bus=rp5,addr=0.0", "08.0/00.0", "edu behind the hotplug=off root port"),
    Dev("rp6", "pcie-root-port,id=rp6,bus=pcie.0,chassis=6,slot=6,addr=0x9", "09.0", "root port above the switch"),
    Dev("up", "x3130-upstream,id=up,bus=rp6,addr=0.0", "09.0/00.0", "PCIe switch upstream port"),
    Dev("dp1", "xio3130-downstream,id=dp1,bus=up,chassis=7,slot=7,addr=0.0", "09.0/00.0/00.0", "switch downstream port 1"),
    Dev("S", "edu,id=S,bus=dp1,addr=0.0", "09.0/00.0/00.0/00.0", "edu behind switch downstream port 1"),
    Dev("dp2", "xio3130-downstream,id=dp2,bus=up,chassis=7,slot=8,addr=1.0", "09.0/00.0/01.0", "switch downstream port 2"),
    Dev("T", "edu,id=T,bus=dp2,addr=0.0", "09.0/00.0/01.0/00.0", "edu behind switch downstream port 2"),
    Dev("results", "virtio-9p-pci,fsdev=results,mount_tag=results,bus=pcie.0,addr=0xa", "0a.0", "9p: results (rw)"),
)
IDS = {d.id: d.chain for d in TOPOLOGY}

#: The SR-IOV guest (``boot(..., topology=SRIOV_TOPOLOGY, qemu="trixie")``): igb
#: (82576) PFs in the three reset positions, and an e1000e behind a root port
#: at QEMU's default link speed (its secondary bus reset does not bring the
#: link back in time: the failed-reset case).  ``qemu=""`` entries are not
#: QEMU devices but the VFs the guest creates (offset 128, stride 2), so
#: ``@bdf:P1v0@`` works once they exist.  Needs QEMU >= 8 (``-device igb``).
SRIOV_TOPOLOGY: tuple[Dev, ...] = (
    TOPOLOGY[0],
    Dev("rp1", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x2", "02.0", "root port, hotplug slot 1"),
    Dev("P1", "igb,id=P1,bus=rp1,addr=0.0,romfile=,netdev=n0", "02.0/00.0", "igb PF in a hotplug slot"),
    Dev("P1v0", "", "02.0/10.0", "VF 0 of P1 (same bus as the PF, outside its slot)"),
    Dev("P1v1", "", "02.0/10.2", "VF 1 of P1"),
    Dev("rp2", "pcie-root-port,id=rp2,bus=pcie.0,chassis=2,slot=2,addr=0x3,hotplug=off", "03.0",
        "root port, hotplug=off"),
    Dev("P2", "igb,id=P2,bus=rp2,addr=0.0,romfile=,netdev=n1", "03.0/00.0", "igb PF behind a non-hotplug port"),
    Dev("P2v0", "", "03.0/10.0", "VF 0 of P2"),
    Dev("P2v1", "", "03.0/10.2", "VF 1 of P2"),
    Dev("P3", "igb,id=P3,bus=pcie.0,addr=0x4,romfile=,netdev=n2", "04.0", "igb PF on the root bus (RCiEP)"),
    Dev("P3v0", "", "14.0", "VF 0 of P3 (root bus)"),
    Dev("P3v1", "", "14.2", "VF 1 of P3"),
    Dev("rp3", "pcie-root-port,id=rp3,bus=pcie.0,chassis=3,slot=3,addr=0x5", "05.0",
        "root port at QEMU's default link speed"),
    Dev("X", "e1000e,id=X,bus=rp3,addr=0.0,romfile=,netdev=n3", "05.0/00.0",
        "e1000e behind a default-speed root port: hot reset runs, link does not come back"),
    TOPOLOGY[14],  # rng
    TOPOLOGY[-1],  # results
)

#: A reset that fails (host QEMU 7.2): an e1000e pair behind a root port at
#: QEMU's default link speed (16 GT/s x32).  The secondary bus reset happens,
#: but the kernel then waits for Data Link Layer Link Active, which QEMU 7.2
#: does not model for this endpoint: PCI_HOT_RESET returns ENOTTY
#: (real-kernel-vm.md §5; QEMU 10 models it and the reset succeeds).
FAILRESET_TOPOLOGY: tuple[Dev, ...] = (
    TOPOLOGY[0],
    Dev("rp1", "pcie-root-port,id=rp1,bus=pcie.0,chassis=1,slot=1,addr=0x2", "02.0",
        "root port at QEMU's default link speed"),
    Dev("G", "e1000e,id=G,bus=rp1,addr=0.0,multifunction=on,netdev=n0", "02.0/00.0", "e1000e fn0"),
    Dev("H", "e1000e,id=H,bus=rp1,addr=0.1,netdev=n1", "02.0/00.1", "e1000e fn1"),
    TOPOLOGY[14],  # rng
    TOPOLOGY[-1],  # results
)

#: QEMUs the harness can run: the host's (Debian 12: 7.2) and Debian 13's
#: (10.x) from a private debootstrap root (tests/vm/setup-qemu.sh).
QEMUS = ("host", "trixie")
#: PCI ids the guest's init binds to vfio-pci at boot (the default topology's
#: edu and e1000e functions); boot(bind_ids=...) changes it.
DEFAULT_BIND_IDS = ("0x1234:0x11e8", "0x8086:0x10d3")


# ---------------------------------------------------------------- kernel + initramfs
def cache_dir() -> Path:
    return Path(os.environ.get("VFIOCTL_VM_CACHE", "/var/cache/vfioctl-vm"))


def _run_setup(script: str, key: str, log_name: str,
               env_extra: dict[str, str] | None = None) -> Path:
    """Run tests/vm/``script`` (it builds or finds what it caches; its log goes to
    ``log_name``) and return the path of its last ``KEY=path`` line on stdout."""
    WORK.mkdir(parents=True, exist_ok=True)
    log = WORK / log_name
    t = time.monotonic()
    env = dict(os.environ, **(env_extra or {}))
    with open(log, "w") as lf:
        p = subprocess.run(["bash", str(VM_DIR / script)], stdout=subprocess.PIPE, stderr=lf,
                           text=True, env=env)
    if p.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise VMError(f"tests/vm/{script} failed (rc {p.returncode}) after "
                      f"{time.monotonic() - t:.0f} s; log {log}:\n{tail}")
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(key + "=")]
    if not lines:
        raise VMError(f"{script} printed no {key}= line; log {log}")
    return Path(lines[-1].split("=", 1)[1])


def _setup_kernel(log_name: str, env_extra: dict[str, str] | None = None) -> Path:
    """Run tests/vm/setup.sh (builds or finds the cached bzImage) and return its path."""
    return _run_setup("setup.sh", "BZIMAGE", log_name, env_extra)


@functools.lru_cache(maxsize=None)
def kernel() -> Path:
    """Path of the test bzImage: $VFIOCTL_VM_KERNEL, or build/find it with setup.sh."""
    env = os.environ.get("VFIOCTL_VM_KERNEL")
    if env:
        if not Path(env).is_file():
            raise VMError(f"VFIOCTL_VM_KERNEL={env} does not exist")
        return Path(env)
    return _setup_kernel("setup.log")


@functools.lru_cache(maxsize=None)
def qemu_root() -> Path:
    """The trixie QEMU root (built and cached by tests/vm/setup-qemu.sh)."""
    env = os.environ.get("VFIOCTL_VM_QEMU_ROOT")
    if env:
        return Path(env)
    return _run_setup("setup-qemu.sh", "QEMU_ROOT", "setup-qemu.log")


def qemu_command(qemu: str = "host") -> list[str]:
    """argv prefix running ``qemu-system-x86_64`` of ``qemu`` (see :data:`QEMUS`).

    "trixie": the root's binary through the root's own loader and libraries, in
    a private mount namespace where the root's module directory hides the
    host's (QEMU would dlopen() the host's 7.2 modules otherwise)."""
    if qemu == "host":
        return ["qemu-system-x86_64"]
    if qemu != "trixie":
        raise ValueError(f"qemu must be one of {QEMUS}, not {qemu!r}")
    r = str(qemu_root())
    moddir = "/usr/lib/x86_64-linux-gnu/qemu"
    return ["unshare", "-m", "sh", "-c",
            f'[ -d {moddir} ] && mount --bind "$0{moddir}" {moddir}; exec "$@"', r,
            f"{r}/lib64/ld-linux-x86-64.so.2", "--library-path", f"{r}/usr/lib/x86_64-linux-gnu",
            f"{r}/usr/bin/qemu-system-x86_64", "-L", f"{r}/usr/share/qemu", "-L", f"{r}/usr/share/seabios"]


#: the newer (>= 6.17) test kernel: Debian's backported upstream source
NEWER_SRCPKG = "linux-source-7.3"
NEWER_SUITE = "trixie-backports"


@functools.lru_cache(maxsize=None)
def newer_kernel() -> Path:
    """The newer (>= 6.17) test kernel: $VFIOCTL_VM_NEWER_KERNEL, or built/found by
    setup.sh from $VFIOCTL_VM_NEWER_SRCPKG (default linux-source-7.3) in
    $VFIOCTL_VM_NEWER_SUITE (default trixie-backports), with kernel.fragment +
    kernel-newer.fragment, cached like the 6.12 one (its own lock and apt state)."""
    env = os.environ.get("VFIOCTL_VM_NEWER_KERNEL")
    if env:
        if not Path(env).is_file():
            raise VMError(f"VFIOCTL_VM_NEWER_KERNEL={env} does not exist")
        return Path(env)
    p = _setup_kernel("setup-newer.log", {
        "VFIOCTL_VM_SRCPKG": os.environ.get("VFIOCTL_VM_NEWER_SRCPKG", NEWER_SRCPKG),
        "VFIOCTL_VM_SUITE": os.environ.get("VFIOCTL_VM_NEWER_SUITE", NEWER_SUITE)})
    if not re.match(r"bzImage-(6\.(1[7-9]|[2-9]\d)|[7-9]\.)", p.name):
        raise VMError(f"setup.sh gave {p.name}, not a >= 6.17 kernel")
    return p


#: kernels the VM stage runs (``VFIOCTL_VM_KERNELS``, comma-separated; default all)
ALL_KERNELS = ("custom", "stock", "newer")


def selected_kernels() -> tuple[str, ...]:
    raw = os.environ.get("VFIOCTL_VM_KERNELS", "").strip()
    if not raw:
        return ALL_KERNELS
    want = tuple(k.strip() for k in raw.split(",") if k.strip())
    bad = [k for k in want if k not in ALL_KERNELS]
    if bad:
        raise VMError(f"VFIOCTL_VM_KERNELS: unknown kernel(s) {', '.join(bad)}; "
                      f"use some of {', '.join(ALL_KERNELS)}")
    return want


def _busybox() -> Path:
    for c in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(c).is_file():
            return Path(c)
    raise VMError("busybox-static is not installed (run tests/vm/setup.sh)")


@functools.lru_cache(maxsize=None)
def stock_kernel() -> Path:
    """Directory of the stock Debian kernel (vmlinuz, modules/, modules.list): setup-stock.sh."""
    env = os.environ.get("VFIOCTL_VM_STOCK")
    if env:
        return Path(env)
    return _run_setup("setup-stock.sh", "STOCK", "setup-stock.log")


#: kernels a boot can run: the custom 6.12 (setup.sh, everything built in) and
#: Debian's stock package (setup-stock.sh: VFIO as modules loaded by /init, no IOMMUFD)
KERNELS = ("custom", "stock")


@functools.lru_cache(maxsize=None)
def initramfs(modules: Path | None = None) -> Path:
    """Build (once, cached by content hash) the busybox initramfs with /init.

    ``modules``: a setup-stock.sh directory; its ``modules.list`` and ``.ko``
    files go in, and /init insmods them in that order before anything else."""
    init = (VM_DIR / "guest_init.sh").read_bytes()
    bb = _busybox().read_bytes()
    h = hashlib.sha256(init + b"\0" + bb)
    mods: list[tuple[str, bytes]] = []
    if modules is not None:
        names = (modules / "modules.list").read_text().split()
        mods = [(n, (modules / "modules" / n).read_bytes()) for n in names]
        for n, b in mods:
            h.update(n.encode() + b"\0" + b)
    key = h.hexdigest()[:12]
    out = WORK / f"initramfs-{key}.cpio.gz"
    if out.is_file():
        return out
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as td:
        root = Path(td) / "root"
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "mnt/host", "results", "etc"):
            (root / d).mkdir(parents=True)
        (root / "bin/busybox").write_bytes(bb)
        (root / "bin/busybox").chmod(0o755)
        (root / "bin/sh").symlink_to("busybox")
        (root / "init").write_bytes(init)
        (root / "init").chmod(0o755)
        if mods:
            (root / "lib/modules").mkdir(parents=True)
            for n, b in mods:
                (root / "lib/modules" / n).write_bytes(b)
            (root / "modules.list").write_text("".join(n + "\n" for n, _ in mods))
        p = subprocess.run("find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet",
                           shell=True, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if p.returncode != 0:
            raise VMError(f"cpio failed: {p.stderr.decode(errors='replace')}")
        tmp = Path(td) / "initramfs.cpio.gz"
        tmp.write_bytes(gzip.compress(p.stdout, 6, mtime=0))
        os.replace(tmp, out)
    return out


# ---------------------------------------------------------------- results
class BootResult(list):
    """Step entries (a list) plus the guest's topology and logs."""

    def __init__(self, entries, *, mode, results_dir, serial, topology, topology_end, pci_tsv, wall, complete):
        super().__init__(entries)
        self.mode: str = mode
        self.results_dir: Path = results_dir
        self.serial: str = serial
        self.topology: dict = topology          # runner's dump at start (after init's binding)
        self.topology_end: dict = topology_end  # and at the end of the plan
        self.pci_tsv: list[dict] = pci_tsv      # init's dump (shell, before python)
        self.wall: float = wall
        self.complete: bool = complete

    def __repr__(self) -> str:  # keep pytest failure output readable
        return f"<BootResult {self.mode}: {len(self)} steps, wall {self.wall:.1f} s, {self.results_dir}>"

    # -- lookups --------------------------------------------------------------
    def step(self, name: str) -> dict:
        """The entry of the step with that ``name`` (KeyError if none)."""
        for e in self:
            if e.get("name") == name:
                return e
        raise KeyError(f"no step named {name!r}; have {[e.get('name') for e in self]}")

    def fragment(self, key: str) -> list[dict]:
        """Entries of a registered plan fragment (see :func:`register`)."""
        return [e for e in self if e.get("request", {}).get("fragment") == key]

    def device(self, ident: str) -> dict:
        """Topology record of a QEMU id ("A", "S", ...) or a BDF."""
        for d in self.topology.get("devices", []):
            if d.get("id") == ident or d["bdf"] == ident:
                return d
        raise KeyError(f"no guest device {ident!r}")

    def bdf(self, ident: str) -> str:
        return self.device(ident)["bdf"]

    def group(self, ident: str) -> int | None:
        return self.device(ident)["iommu_group"]

    @property
    def dmesg(self) -> str:
        p = self.results_dir / "dmesg.txt"
        return p.read_text(errors="replace") if p.exists() else ""

    def summary(self) -> str:
        return "\n".join(f"[{e['step']}] {e['kind']} {e.get('name') or ''} rc={e['rc']} {e['duration']}s"
                         for e in self)


def _new_results_dir(mode: str) -> Path:
    RUNS.mkdir(parents=True, exist_ok=True)
    old = sorted(RUNS.iterdir(), key=lambda p: p.stat().st_mtime)
    for p in old[:-KEEP_RUNS] if len(old) > KEEP_RUNS else []:
        shutil.rmtree(p, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{time.strftime('%Y%m%d-%H%M%S')}-{mode}-", dir=RUNS))


def qemu_argv(mode: str, results: Path, serial_log: Path, *, kernel_path: Path, initrd: Path,
              append_extra: str = "", hotplug: str = "native", qemu_extra: tuple[str, ...] = (),
              topology: tuple[Dev, ...] = TOPOLOGY, qemu: str = "host", accel: str | None = None) -> list[str]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    append = "console=ttyS0 panic=-1 loglevel=4"
    # QEMU 10's MTTCG aborts or hangs after a VF's FLR (sriov-real-kernel.md): one thread there
    accel = accel or ("tcg,thread=multi" if qemu == "host" else "tcg,thread=single")
    argv = qemu_command(qemu) + ["-machine", "q35", "-accel", accel, "-cpu", "max",
            "-smp", "2", "-m", "1G", "-nodefaults", "-display", "none", "-no-reboot",
            "-monitor", "none", "-serial", f"file:{serial_log}"]
    if mode == "iommu":
        argv += ["-device", "intel-iommu,intremap=on,caching-mode=on"]
        append += " intel_iommu=on"
    else:
        append += " vfio.enable_unsafe_noiommu_mode=1"
    if append_extra:
        append += " " + append_extra
    if hotplug == "native":
        # QEMU >= 6.1 defaults q35 to ACPI PCI hotplug; our kernel has no acpiphp,
        # so without this the guest gets no /sys/bus/pci/slots at all.
        argv += ["-global", "ICH9-LPC.acpi-pci-hotplug-with-bridge-support=off"]
    elif hotplug != "acpi":
        raise ValueError(f"hotplug must be 'native' or 'acpi', not {hotplug!r}")
    argv += ["-kernel", str(kernel_path), "-initrd", str(initrd), "-append", append]
    argv += ["-fsdev", "local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap",
             "-fsdev", f"local,id=results,path={results},security_model=none"]
    import re
    nets = sorted({m for d in topology for m in re.findall(r"netdev=(n\d+)", d.qemu)} | {"n0", "n1"})
    for n in nets:
        argv += ["-netdev", f"hubport,id={n},hubid={n[1:]}"]
    for d in topology:
        if d.qemu:
            argv += ["-device", d.qemu]
    return argv + list(qemu_extra)


def boot(mode: str, plan: list[dict], timeout: float = 300.0, *, nobind: tuple[str, ...] | list[str] = (),
         install_records: bool = True, append: str = "", python: str | None = None,
         hotplug: str = "native", qemu_extra: tuple[str, ...] | list[str] = (),
         topology: tuple[Dev, ...] = TOPOLOGY, qemu: str = "host", accel: str | None = None,
         bind_ids: tuple[str, ...] | list[str] = DEFAULT_BIND_IDS,
         kernel_path: Path | str | None = None, kernel: str = "custom") -> BootResult:
    """Boot the guest in ``mode`` ("iommu" | "noiommu"), run ``plan``, return the results.

    ``nobind``: topology ids left without a driver at boot (default: every edu
    and e1000e function is bound to vfio-pci).  ``install_records``: copy what
    ``record`` steps with a relative destination wrote into the checkout.
    ``topology``: the devices (default :data:`TOPOLOGY`; :data:`SRIOV_TOPOLOGY`
    needs ``qemu="trixie"``).  ``qemu``: one of :data:`QEMUS`.  ``bind_ids``:
    the ``0xVVVV:0xDDDD`` ids init binds to vfio-pci.
    """
    ids = {d.id: d.chain for d in topology}
    python = python or sys.executable
    if kernel == "stock":
        stock = stock_kernel()
        kpath, initrd = Path(kernel_path or stock / "vmlinuz"), initramfs(stock)
        # Debian's kernel checks the IO-APIC timer at boot; on a loaded 2-core TCG host
        # that check failed once ("timer doesn't work through Interrupt-remapped IO-APIC")
        append = ("no_timer_check " + append).strip()
    elif kernel == "custom":
        kpath, initrd = (Path(kernel_path) if kernel_path else globals()["kernel"]()), initramfs()
    else:
        raise ValueError(f"kernel must be one of {KERNELS}, not {kernel!r}")
    results = _new_results_dir(mode)
    serial_log = results / "serial.log"
    plan_doc = {"version": 1, "mode": mode, "checkout": str(CHECKOUT), "results": str(results),
                "python": python, "topology": ids, "steps": list(plan),
                "host_time": time.time()}
    (results / "plan.json").write_text(json.dumps(plan_doc, indent=1))
    nob = ",".join(ids[i] if i in ids else i for i in nobind)
    env_lines = {
        "VM_MODE": mode, "VM_RESULTS": str(results), "VM_PYTHON": python,
        "VM_RUNNER": str(VM_DIR / "guest_runner.py"), "VM_PLAN": str(results / "plan.json"),
        "VM_NOBIND": nob, "VM_BIND_IDS": " ".join(bind_ids),
    }
    (results / "boot.env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in env_lines.items()))
    argv = qemu_argv(mode, results, serial_log, kernel_path=kpath, initrd=initrd, append_extra=append,
                     hotplug=hotplug, qemu_extra=tuple(qemu_extra), topology=topology, qemu=qemu,
                     accel=accel)
    (results / "qemu.cmdline").write_text(shlex.join(argv) + "\n")

    t = time.monotonic()
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        qemu_out, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        qemu_out, rc = (e.stdout or b"").decode(errors="replace") + f"\n[killed after {timeout} s]", None
    except FileNotFoundError:
        raise VMError("qemu-system-x86_64 not found (run tests/vm/setup.sh)") from None
    wall = time.monotonic() - t
    serial = serial_log.read_text(errors="replace") if serial_log.exists() else ""
    (results / "qemu.out").write_text(qemu_out)

    def fail(msg: str):
        tail = "\n".join(serial.splitlines()[-60:])
        raise VMError(f"{mode} VM: {msg} (wall {wall:.1f} s, results {results})\n--- qemu output:\n"
                      f"{qemu_out.strip()[-2000:]}\n--- serial tail:\n{tail}")

    if rc is None:
        fail(f"timed out after {timeout} s")
    rfile = results / "results.json"
    if not rfile.exists():
        fail(f"no results.json (qemu rc {rc})")
    doc = json.loads(rfile.read_text())
    if not doc.get("complete"):
        fail(f"plan did not complete (qemu rc {rc}); finished steps: {len(doc.get('steps', []))}")

    def load(name):
        f = results / name
        return json.loads(f.read_text()) if f.exists() else {}

    rows = []
    tsv = results / "pci.tsv"
    if tsv.exists():
        lines = tsv.read_text().splitlines()
        hdr = lines[0].split("\t")
        rows = [dict(zip(hdr, ln.split("\t"))) for ln in lines[1:] if ln]
    res = BootResult(doc["steps"], mode=mode, results_dir=results, serial=serial, topology=load("topology.json"),
                     topology_end=load("topology-end.json"), pci_tsv=rows, wall=wall, complete=True)
    for e in res:
        if e.get("kind") == "record" and e.get("ok") and e.get("archive"):
            _unpack(Path(e["archive"]), Path(e["path"]))
    if install_records:
        for e in res:
            if e.get("kind") == "record" and e.get("ok"):
                rel = e["request"]["record"]
                if os.path.isabs(rel):
                    continue
                src = results / "records" / rel
                dst = CHECKOUT / rel
                if dst.exists():
                    shutil.rmtree(dst)
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(src, dst, symlinks=True)
                e["installed"] = str(dst)
    return res


def _unpack(archive: Path, dest: Path) -> None:
    """Unpack a record step's tar (written by the guest runner) into ``dest``."""
    import tarfile
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(archive) as t:
        if hasattr(tarfile, "tar_filter"):
            t.extractall(dest, filter="tar")  # keeps absolute proc/*/fd link targets
        else:  # pragma: no cover - Python without extraction filters
            t.extractall(dest)


# ---------------------------------------------------------------- shared boots
#: mode -> [(key, steps)]: fragments registered at import/collection time and
#: run together in ONE boot per mode (see conftest.py's ``vm_shared``).
_FRAGMENTS: dict[str, list[tuple[str, list[dict]]]] = {m: [] for m in MODES}


def register(mode: str, key: str, steps: list[dict]) -> str:
    """Add ``steps`` to the shared boot of ``mode`` (call at module import time).

    Fetch them later with ``vm_shared(mode).fragment(key)``.  Fragments run in
    registration order in the same guest, so a fragment must leave the guest
    as it found it (re-bind what it unbinds, release what it holds).
    """
    if mode not in MODES:
        raise ValueError(mode)
    if any(k == key for k, _ in _FRAGMENTS[mode]):
        return key
    _FRAGMENTS[mode].append((key, [dict(s, fragment=key) for s in steps]))
    return key


def shared_plan(mode: str) -> list[dict]:
    return [s for _, steps in _FRAGMENTS[mode] for s in steps]


if __name__ == "__main__":  # manual: python tests/vm/harness.py iommu 'ls /dev/vfio'
    m = sys.argv[1] if len(sys.argv) > 1 else "iommu"
    steps = [{"name": f"sh{i}", "sh": s} for i, s in enumerate(sys.argv[2:])] or [{"sh": "ls -l /dev/vfio"}]
    r = boot(m, steps)
    for e in r:
        print(f"--- [{e['step']}] {e['kind']} rc={e['rc']} {e['duration']}s\n{e['stdout']}{e['stderr']}")
    print(f"wall {r.wall:.1f} s; results in {r.results_dir}")
