"""Record the part of a host that vfioctl reads into a directory (a "fake root").

``take_snapshot("/", "out")`` copies, from the live ``/sys``, ``/dev`` and
``/proc``, exactly what vfioctl's sysfs reader looks at, so that ``out`` can be
used as ``--root out`` (or ``Root("out")``) later and on another machine:

* ``sys/bus/pci/devices/*`` symlinks, recreated *relative* as the kernel has
  them, and each PCI device's real directory under ``sys/devices/pci*/...``
  together with all its ancestors up to ``sys/devices/pciDDDD:BB``, holding the
  identification/reset attributes (``vendor``, ``device``, ``class``,
  ``config`` [binary; 64 bytes unless run as root], ``reset_method``...) and
  the ``driver``, ``iommu_group``, ``physfn``, ``virtfn*`` links plus
  ``vfio-dev/vfioX/dev``;
* ``sys/bus/pci/drivers/<drv>/<bdf>`` links (drivers with bound devices, and
  ``vfio-pci`` even when empty), ``sys/bus/pci/slots/*``;
* ``sys/kernel/iommu_groups/N/{devices/*,type,name,reserved_regions}``;
* ``sys/class/{vfio,vfio-dev,iommu}/*`` links (and the targets' ``dev``);
* the vfio / vfio_iommu_type1 / iommufd module parameters;
* ``dev/vfio/*``, ``dev/vfio/devices/*``, ``dev/iommu`` as **empty regular
  files** (never device nodes);
* ``proc/<pid>/comm`` and the ``proc/<pid>/fd/<n>`` links of processes that
  hold ``/dev/vfio/...`` or ``/dev/iommu`` open (the link targets are kept
  verbatim, so they dangle in the copy, as intended);
* ``proc/cmdline``, ``proc/sys/kernel/tainted``, ``proc/sys/kernel/osrelease``,
  and ``lib/modules/<osrelease>/modules.alias`` when present;
* ``run/udev/data/+pci:<bdf>`` (the udev database's names), when present;
* ``VFIOCTL-SNAPSHOT``: a small JSON marker (format version, source osrelease,
  time).

Symlinks are never followed while walking (no loops, no ``cp -rL`` blow-up).
Unreadable files are skipped and listed in the returned report
``{"files": n, "links": n, "dirs": n, "skipped": [...]}``.

Standard library only, and no imports from the rest of vfioctl, so that it can
run anywhere (the real-kernel VM tests load it straight from its file).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import stat
import shutil

FORMAT_VERSION = 1
MARKER = "VFIOCTL-SNAPSHOT"

#: Regular files copied from every PCI device directory (and its PCI ancestors).
PCI_DEVICE_FILES = (
    "vendor", "device", "subsystem_vendor", "subsystem_device", "class", "revision",
    "config", "driver_override", "reset_method", "numa_node", "sriov_totalvfs",
    "sriov_numvfs", "modalias", "label", "enable", "boot_vga",
    "current_link_speed", "current_link_width", "max_link_speed", "max_link_width",
    "power_state", "d3cold_allowed",  # vfioctl doctor (and boot_vga above)
)
#: Write-only attributes recorded as empty placeholders (their *presence* matters).
PCI_DEVICE_PRESENCE = ("reset",)
#: Symlinks copied from every PCI device directory (``virtfn*`` handled separately).
PCI_DEVICE_LINKS = ("driver", "iommu_group", "physfn")
SLOT_FILES = ("address", "power", "attention", "latch", "adapter", "max_bus_speed", "cur_bus_speed")
GROUP_FILES = ("type", "name", "reserved_regions")
MODULE_PARAMS = (
    ("sys/module/vfio/parameters", ("enable_unsafe_noiommu_mode",)),
    ("sys/module/vfio_iommu_type1/parameters", None),  # None: every parameter
    ("sys/module/iommufd/parameters", None),
)
PROC_FILES = ("proc/cmdline", "proc/sys/kernel/tainted", "proc/sys/kernel/osrelease",
              "proc/cpuinfo", "proc/modules", "proc/interrupts")  # the last three: doctor
#: Files whose presence vfioctl doctor reads (the IOMMU's ACPI tables), kept empty.
HOST_PRESENCE = ("sys/firmware/acpi/tables/DMAR", "sys/firmware/acpi/tables/IVRS",
                 "sys/firmware/acpi/tables/IORT")

_BDF = re.compile(r"^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_PCI_ROOT = re.compile(r"^pci[0-9a-f]{4,}:[0-9a-f]{2}$")
_MAX_READ = 1 << 20


def _is_holder_target(target: str) -> bool:
    return target.startswith("/dev/vfio/") or target == "/dev/iommu"


class _Recorder:
    def __init__(self, src: str, dest: str, root=None):
        self.src = src
        self.dest = dest
        #: A ``vfioctl.sysfs.root.Root`` of ``src`` (duck-typed, so this module
        #: stays importable alone): every source path is then resolved inside
        #: it (symlinks cannot lead the copy out of the root).
        self.root = root
        self.files = 0
        self.links = 0
        self.dirs = 0
        self.skipped: list[str] = []
        self._done: set[str] = set()

    # -- primitives (all paths are relative to the roots, "/"-separated) --------
    def s(self, rel: str) -> str:
        p = os.path.join(self.src, rel)
        if self.root is None:
            return p
        try:
            return self.root.resolve(p, follow_last=False)
        except OSError as e:
            # a link leading out of the root (or a loop): the part is skipped,
            # through a path that cannot exist (a name under a regular file)
            self.skip(rel, e.strerror or e)
            return os.path.join(self.dest, MARKER, rel)

    def d(self, rel: str) -> str:
        return os.path.join(self.dest, rel)

    def skip(self, rel: str, why: object) -> None:
        self.skipped.append(f"{rel}: {why}")

    def mkdir(self, rel: str) -> None:
        p = self.d(rel)
        if not os.path.isdir(p):
            os.makedirs(p, exist_ok=True)
            self.dirs += 1

    def listdir(self, rel: str) -> list[os.DirEntry]:
        try:
            with os.scandir(self.s(rel)) as it:
                return sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return []
        except OSError as e:
            self.skip(rel, e.strerror or e)
            return []

    def is_file(self, rel: str) -> bool:
        try:
            st = os.lstat(self.s(rel))
        except OSError:
            return False
        return stat.S_ISREG(st.st_mode)

    def is_link(self, rel: str) -> bool:
        return os.path.islink(self.s(rel))

    def copy_file(self, rel: str, *, empty: bool = False) -> bool:
        """Copy one regular file (never through a symlink); ``empty``: presence only."""
        if rel in self._done:
            return True
        if not self.is_file(rel):
            return False
        try:
            size = os.lstat(self.s(rel)).st_size
        except OSError:
            return False
        if size > _MAX_READ:
            self.skip(rel, f"larger than {_MAX_READ} bytes; not copied")
            return False
        data = b""
        if not empty:
            try:
                fd = os.open(self.s(rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError as e:
                self.skip(rel, e.strerror or e)
                return False
            try:
                chunks = []
                total = 0
                while total < _MAX_READ:
                    b = os.read(fd, 65536)
                    if not b:
                        break
                    chunks.append(b)
                    total += len(b)
                data = b"".join(chunks)
            except OSError as e:
                self.skip(rel, e.strerror or e)
                return False
            finally:
                os.close(fd)
        self.mkdir(os.path.dirname(rel))
        with open(self.d(rel), "wb") as f:
            f.write(data)
        self._done.add(rel)
        self.files += 1
        return True

    def copy_link(self, rel: str, *, verbatim: bool = False) -> str | None:
        """Recreate one symlink; absolute targets become relative unless ``verbatim``."""
        if rel in self._done:
            return os.readlink(self.d(rel))
        try:
            target = os.readlink(self.s(rel))
        except OSError as e:
            if not isinstance(e, FileNotFoundError):
                self.skip(rel, e.strerror or e)
            return None
        if os.path.isabs(target) and not verbatim:
            target = os.path.relpath(target, "/" + os.path.dirname(rel))
        self.mkdir(os.path.dirname(rel))
        try:
            os.symlink(target, self.d(rel))
        except FileExistsError:
            pass
        self._done.add(rel)
        self.links += 1
        return target

    def empty_file(self, rel: str) -> None:
        if rel in self._done:
            return
        self.mkdir(os.path.dirname(rel))
        open(self.d(rel), "wb").close()
        self._done.add(rel)
        self.files += 1

    def resolve(self, rel: str) -> str | None:
        """Real path of ``src/rel`` relative to src, or None if it leaves src."""
        if self.root is not None:
            try:
                real = self.root.resolve(os.path.join(self.src, rel))
            except OSError:
                return None
            base = self.root.path
        else:
            real = os.path.realpath(self.s(rel))
            base = os.path.realpath(self.src)
        if real == base:
            return ""
        if not real.startswith(base.rstrip("/") + "/"):
            return None
        return os.path.relpath(real, base)

    # -- parts ----------------------------------------------------------------
    def pci_devices(self) -> None:
        wanted: set[str] = set()
        for e in self.listdir("sys/bus/pci/devices"):
            rel = f"sys/bus/pci/devices/{e.name}"
            if not e.is_symlink():
                continue
            self.copy_link(rel)
            real = self.resolve(rel)
            if real is None or not real.startswith("sys/devices/"):
                self.skip(rel, "link target outside sys/devices")
                continue
            if not os.path.isdir(self.s(real)):
                continue  # a dangling link stays dangling in the copy, as in the source
            # the device and every ancestor up to sys/devices/pciDDDD:BB
            parts = real.split("/")
            for i in range(3, len(parts) + 1):
                wanted.add("/".join(parts[:i]))
        for rel in sorted(wanted):
            self.mkdir(rel)
            name = rel.rsplit("/", 1)[-1]
            if _PCI_ROOT.match(name):
                continue
            self.pci_device_dir(rel)

    def pci_device_dir(self, rel: str) -> None:
        for f in PCI_DEVICE_FILES:
            self.copy_file(f"{rel}/{f}")
        for f in PCI_DEVICE_PRESENCE:
            if self.is_file(f"{rel}/{f}"):
                self.empty_file(f"{rel}/{f}")
        for ln in PCI_DEVICE_LINKS:
            if self.is_link(f"{rel}/{ln}"):
                self.copy_link(f"{rel}/{ln}")
        for e in self.listdir(rel):
            if e.name.startswith("virtfn") and e.is_symlink():
                self.copy_link(f"{rel}/{e.name}")
        for e in self.listdir(f"{rel}/vfio-dev"):
            if e.is_dir(follow_symlinks=False):
                self.mkdir(f"{rel}/vfio-dev/{e.name}")
                self.copy_file(f"{rel}/vfio-dev/{e.name}/dev")

    def pci_drivers(self) -> None:
        for drv in self.listdir("sys/bus/pci/drivers"):
            if not drv.is_dir(follow_symlinks=False):
                continue
            base = f"sys/bus/pci/drivers/{drv.name}"
            bound = [e for e in self.listdir(base) if _BDF.match(e.name) and e.is_symlink()]
            if not bound and drv.name != "vfio-pci":
                continue
            self.mkdir(base)
            for e in bound:
                self.copy_link(f"{base}/{e.name}")

    def pci_slots(self) -> None:
        for slot in self.listdir("sys/bus/pci/slots"):
            if not slot.is_dir(follow_symlinks=False):
                continue
            base = f"sys/bus/pci/slots/{slot.name}"
            self.mkdir(base)
            for f in SLOT_FILES:
                self.copy_file(f"{base}/{f}")

    def iommu_groups(self) -> None:
        if os.path.isdir(self.s("sys/kernel/iommu_groups")):
            self.mkdir("sys/kernel/iommu_groups")
        for g in self.listdir("sys/kernel/iommu_groups"):
            if not g.is_dir(follow_symlinks=False):
                continue
            base = f"sys/kernel/iommu_groups/{g.name}"
            self.mkdir(f"{base}/devices")
            for e in self.listdir(f"{base}/devices"):
                if e.is_symlink():
                    self.copy_link(f"{base}/devices/{e.name}")
            for f in GROUP_FILES:
                self.copy_file(f"{base}/{f}")

    def classes(self) -> None:
        for cls, with_dev in (("vfio", True), ("vfio-dev", True), ("iommu", False)):
            base = f"sys/class/{cls}"
            if not os.path.isdir(self.s(base)):
                continue
            self.mkdir(base)
            for e in self.listdir(base):
                if not e.is_symlink():
                    continue
                rel = f"{base}/{e.name}"
                self.copy_link(rel)
                real = self.resolve(rel)
                if real is None or not real.startswith("sys/"):
                    continue
                self.mkdir(real)  # so the link does not dangle
                if with_dev:
                    self.copy_file(f"{real}/dev")

    def modules(self) -> None:
        for base, names in MODULE_PARAMS:
            if names is None:
                names = [e.name for e in self.listdir(base) if e.is_file(follow_symlinks=False)]
            for n in names:
                self.copy_file(f"{base}/{n}")

    def dev_nodes(self) -> None:
        for sub in ("dev/vfio", "dev/vfio/devices"):
            if os.path.isdir(self.s(sub)) and not os.path.islink(self.s(sub)):
                self.mkdir(sub)
            for e in self.listdir(sub):
                rel = f"{sub}/{e.name}"
                if e.is_symlink():
                    self.copy_link(rel, verbatim=True)
                elif e.is_dir(follow_symlinks=False):
                    self.mkdir(rel)
                else:
                    self.empty_file(rel)
        if os.path.lexists(self.s("dev/iommu")):
            self.empty_file("dev/iommu")

    def holders(self) -> None:
        denied = 0
        for p in self.listdir("proc"):
            if not p.name.isdigit():
                continue
            fddir = f"proc/{p.name}/fd"
            try:
                fds = os.listdir(self.s(fddir))
            except PermissionError:
                denied += 1  # another user's process: summarised below
                continue
            except OSError:
                continue  # process gone
            held = []
            for fd in fds:
                try:
                    target = os.readlink(self.s(f"{fddir}/{fd}"))
                except OSError:
                    continue
                if _is_holder_target(target):
                    held.append((fd, target))
            if not held:
                continue
            for fd, target in sorted(held, key=lambda x: int(x[0]) if x[0].isdigit() else 0):
                self.mkdir(fddir)
                os.symlink(target, self.d(f"{fddir}/{fd}"))
                self.links += 1
            self.copy_file(f"proc/{p.name}/comm")
        if denied:
            self.skip("proc/*/fd", f"{denied} processes not readable (run as root to see every holder)")

    def udev_names(self) -> None:
        """``run/udev/data/+pci:<bdf>``: the udev database entries of the PCI
        functions (vendor/model names), so a snapshot keeps its names elsewhere."""
        base = "run/udev/data"
        if not os.path.isdir(self.s(base)):
            return
        for e in self.listdir("sys/bus/pci/devices"):
            rel = f"{base}/+pci:{e.name}"
            if os.path.isfile(self.s(rel)):
                self.copy_file(rel)

    def proc_files(self) -> None:
        for rel in PROC_FILES:
            self.copy_file(rel)
        for rel in HOST_PRESENCE:
            if self.is_file(rel):  # lstat inside the root: never through a link
                self.empty_file(rel)
        # lib/modules/<release>/modules.alias: which modules could drive each
        # function (show's "kernel modules"; bind --driver auto)
        from vfioctl.sysfs.modalias import kernel_release
        from vfioctl.sysfs.root import Root
        rel = kernel_release(Root(self.src))
        if rel and os.path.isfile(self.s(f"lib/modules/{rel}/modules.alias")):
            self.copy_file(f"lib/modules/{rel}/modules.alias")


def take_snapshot(src_root: str | os.PathLike = "/", dest: str | os.PathLike = "snapshot", *,
                  overwrite: bool = False, root=None) -> dict:
    """Copy what vfioctl reads from ``src_root`` into ``dest`` (see module doc).

    ``dest`` must not exist or be empty, unless ``overwrite`` (then it is
    removed first).  Returns ``{"files": n, "links": n, "dirs": n,
    "skipped": ["path: reason", ...], "dest": str}``.
    """
    src = os.fspath(src_root)
    dst = os.fspath(dest)
    if os.path.lexists(dst):
        if os.path.isdir(dst) and not os.path.islink(dst) and not os.listdir(dst):
            pass
        elif overwrite:
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            else:
                os.unlink(dst)
        else:
            raise FileExistsError(f"{dst} exists and is not empty")
    os.makedirs(dst, exist_ok=True)

    r = _Recorder(src, dst, root)
    r.pci_devices()
    r.pci_drivers()
    r.pci_slots()
    r.iommu_groups()
    r.classes()
    r.modules()
    r.dev_nodes()
    r.holders()
    r.proc_files()
    r.udev_names()

    osrelease = ""
    try:
        fd = os.open(r.s("proc/sys/kernel/osrelease"), os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                osrelease = os.read(fd, 256).decode("utf-8", "replace").strip()
        finally:
            os.close(fd)
    except OSError:
        pass
    marker = {
        "format": FORMAT_VERSION,
        "osrelease": osrelease,
        "time": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "source": os.path.abspath(src),
        "as_root": hasattr(os, "geteuid") and os.geteuid() == 0,
    }
    with open(os.path.join(dst, MARKER), "w") as f:
        json.dump(marker, f, indent=1, sort_keys=True)
        f.write("\n")
    return {"files": r.files, "links": r.links, "dirs": r.dirs, "skipped": r.skipped, "dest": dst}


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - convenience
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m vfioctl.sysfs.snapshot DEST [SRC_ROOT]", file=sys.stderr)
        return 2
    rep = take_snapshot(args[1] if len(args) == 2 else "/", args[0])
    print(json.dumps({k: v for k, v in rep.items()}, indent=1))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
