"""Read a host (live or fixture) into a :class:`~vfioctl.model.host.Host`.

One pass, O(devices + groups + processes): each PCI device directory is
listed once (``os.scandir``), its config header is read once, and groups,
slots, device nodes and holders are read from their own directories once.
Odd entries (dangling links, garbage in a file, missing attributes) are
skipped with a warning in ``Host.warnings``; they never abort the read.

Attribute formats (drivers/pci/pci-sysfs.c): ``vendor``/``device`` are
``0x%04x``, ``class`` ``0x%06x``, ``revision`` ``0x%02x``,
``driver_override`` the driver name or ``(null)``, ``reset_method`` a
space-separated list.  ``iommu_group``/``driver``/``physfn`` are symlinks
whose basename is the value (kernel-vfio.md §4).
"""

from __future__ import annotations

import errno
import os
import re

from vfioctl.errors import HostError, PermissionDenied
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Holder, Host, IommuGroup, PciFunction, Slot, is_vfio_driver
from vfioctl.sysfs import config as cfgmod
from vfioctl.model import nodes
from vfioctl.sysfs.root import (
    CLASS_IOMMU, CLASS_VFIO_DEV, DEV_IOMMU, DEV_VFIO, DEV_VFIO_DEVICES, IOMMU_GROUPS, NOIOMMU_PARAM,
    PCI_DEVICES, PCI_DRIVERS, PCI_SLOTS, PROC, Root,
)

_BDF = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_HOTPLUG_ATTRS = ("power", "attention", "latch", "adapter")


def _hexattr(host: Host, real: str, what: str, s: str | None) -> int | None:
    if s is None:
        return None
    try:
        return int(s, 16)
    except ValueError:
        host.warnings.append(f"{real}/{what}: {what} is not a hex number ({s[:20]!r}); ignored")
        return None


def _int(s: str | None) -> int | None:
    if s is None:
        return None
    try:
        return int(s)
    except ValueError:
        return None


class Reader:
    """Reads one root.  Use :func:`read_host`."""

    def __init__(self, root: Root):
        self.root = root
        self.sysdir = root.sys()

    # -- entry point --
    def read(self, *, holders: bool = True, full_config: bool = True,
             names: bool = False, brief: bool = False) -> Host:
        root = self.root
        check_root(root)
        host = Host(root=root.path)
        # the kernel release, read (and its module imported) on first use only
        host.release_source = lambda: __import__(
            "vfioctl.sysfs.modalias", fromlist=["kernel_release"]).kernel_release(root)
        self._brief = brief
        devdir = root.join(PCI_DEVICES)
        entries = list_pci_devices(root, devdir, host.warnings)

        self._groups(host)
        self._gmember = gmember = {}
        for g in host.groups.values():
            for a in g.members:
                gmember[a] = g.number
        self._drivers = self._driver_index()
        self._vfio_devs = self._vfio_dev_index()
        try:
            self._cdev_nodes = frozenset(root.listdir(root.join(DEV_VFIO_DEVICES)))
        except OSError:
            self._cdev_nodes = frozenset()

        broken: list[PciAddress] = []
        for name in sorted(entries):
            if not _BDF.match(name):
                host.warnings.append(f"{devdir}/{name}: not a PCI address; skipped")
                continue
            fn = self._function(host, devdir, name, full_config, brief)
            if fn is None:
                broken.append(PciAddress.parse(name))
                continue
            if fn.address in host.functions:
                host.warnings.append(f"{devdir}/{name}: duplicate address; skipped")
                continue
            if fn.iommu_group is None:
                fn.iommu_group = gmember.get(fn.address)
            host.functions[fn.address] = fn

        host.broken = tuple(broken)
        # a group link naming a group directory that is missing
        for fn in host.functions.values():
            if fn.iommu_group is not None and fn.iommu_group not in host.groups:
                host.groups[fn.iommu_group] = IommuGroup(fn.iommu_group, members=(fn.address,))
                host.warnings.append(
                    f"{fn.address}: iommu_group {fn.iommu_group} has no directory under "
                    f"{IOMMU_GROUPS}; recorded from the device link only")

        self._vf_links(host)
        self._slots(host)
        if brief:
            self._slot_bus_reset_methods(host)
        self._nodes(host)
        if holders:
            self._holders(host)
        if names:
            from vfioctl.sysfs.names import fill_names
            fill_names(host, root)
        host.warnings.extend(root.warnings)
        if not root.live:  # name paths as the kernel does (/sys/...); host.root says where
            host.warnings = [w.replace(root.path + "/", "/") for w in host.warnings]
        return host

    # -- devices --
    def _function(self, host: Host, devdir: str, name: str, full_config: bool,
                  brief: bool = False) -> PciFunction | None:
        """One device directory, opened once: its attributes are read relative
        to it (one path component each).  Attributes are read by direct
        attempts (a failed lookup is cheaper than listing a sysfs directory)."""
        link = f"{devdir}/{name}"   # os.path is a measurable cost at 4096 devices
        root = self.root
        try:
            target, real, dfd = root.open_link_dir(link)
        except OSError as e:
            if e.errno == errno.EINVAL:  # a directory, not a link (flat copy)
                real = target = link
                dfd = root.opendir(real) if root.live else None
            elif e.errno == errno.EXDEV:  # leaves the root: warned by the root
                return None
            else:
                host.warnings.append(f"{link}: unreadable ({e.strerror}); skipped")
                return None
        if dfd is None:
            if not root.isdir(real):
                host.warnings.append(f"{link}: dangling link to {target}; skipped")
                return None
            return self._function_by_path(host, name, real, full_config, brief)
        try:
            return self._function_at(host, name, real, dfd, full_config, brief)
        finally:
            os.close(dfd)

    def _function_at(self, host: Host, name: str, real: str, dfd: int, full_config: bool,
                     brief: bool) -> PciFunction:
        """One device through its directory fd (see :meth:`Root.read_at`)."""
        root = self.root
        return self._function_from(
            host, name, real,
            root.read_at(dfd, real, "config", 4096 if full_config else 64, "config"),
            lambda a: os.readlink(a, dir_fd=dfd), lambda a: root.text_at(dfd, real, a),
            full_config, brief)

    def _function_by_path(self, host: Host, name: str, real: str, full_config: bool,
                          brief: bool) -> PciFunction:
        """One device whose directory could not be opened: every attribute
        through the root's path methods."""
        root = self.root
        return self._function_from(
            host, name, real,
            root.read(real + "/config", 4096 if full_config else 64, "config"),
            lambda a: root.readlink(f"{real}/{a}"), lambda a: root.text(f"{real}/{a}"),
            full_config, brief)

    def _function_from(self, host: Host, name: str, real: str, cfg: bytes | None, link, attr,
                       full_config: bool, brief: bool) -> PciFunction:
        """The function in directory ``real``: ``link(name)`` reads one of its
        links, ``attr(name)`` one of its attributes as text (None: absent)."""
        addr = PciAddress.parse(name)
        sysdir = self.sysdir
        rel = (real[len(sysdir) + 1:] if real.startswith(sysdir + "/")
               else os.path.relpath(real, sysdir))
        parent_name = real.rpartition("/")[0].rpartition("/")[2]
        fn = PciFunction(address=addr, sysfs_path=rel)
        if _BDF.match(parent_name):
            fn.parent = PciAddress.parse(parent_name)
        else:
            fn.root_bus = parent_name
        try:
            fn.physfn = PciAddress.parse(link("physfn").rpartition("/")[2])
        except OSError:
            pass
        except ValueError:
            host.warnings.append(f"{real}/physfn: not a PCI link; ignored")
        self._identity(host, fn, real, cfg, full_config, attr)
        fn.driver = self._drivers.get(name)
        if fn.driver is None:  # not listed under bus/pci/drivers: ask the link
            try:
                fn.driver = link("driver").rpartition("/")[2]
            except OSError:
                pass
        s = attr("driver_override")
        if s is not None and s != "" and s != "(null)":
            fn.driver_override = s
        if addr not in self._gmember:
            try:
                fn.iommu_group = int(link("iommu_group").rpartition("/")[2])
            except OSError:
                pass
            except ValueError:
                host.warnings.append(f"{real}/iommu_group: not a group link; ignored")
        self._details(host, fn, real, brief, attr)
        return fn

    @staticmethod
    def _identity(host: Host, fn: PciFunction, real: str, cfg: bytes | None,
                  full_config: bool, attr) -> None:
        """Ids, class, header type and bus numbers: one config read covers them
        (VFs read 0xffff for vendor/device in config space: attributes)."""
        hdr = cfgmod.parse_header(cfg) if cfg is not None else None
        if hdr is not None and fn.physfn is None:
            fn.vendor, fn.device, fn.revision = hdr.vendor, hdr.device, hdr.revision
            fn.class_code, fn.header_type = hdr.class_code, hdr.header_type
            fn.subsystem_vendor, fn.subsystem_device = hdr.subsystem_vendor, hdr.subsystem_device
            fn.secondary_bus, fn.subordinate_bus = hdr.secondary_bus, hdr.subordinate_bus
        else:
            for a in ("vendor", "device", "class", "revision",
                      "subsystem_vendor", "subsystem_device"):
                setattr(fn, "class_code" if a == "class" else a, _hexattr(host, real, a, attr(a)))
            if hdr is not None:
                fn.header_type = hdr.header_type
                fn.secondary_bus, fn.subordinate_bus = hdr.secondary_bus, hdr.subordinate_bus
            if fn.vendor is None:
                host.warnings.append(f"{real}: no readable vendor id")
        if fn.header_type == 1 and fn.subsystem_vendor is None:
            for a in ("subsystem_vendor", "subsystem_device"):
                setattr(fn, a, _hexattr(host, real, a, attr(a)))
        if cfg is not None:
            fn.config_size = len(cfg)
            if full_config:
                fn.caps = cfgmod.parse_caps(cfg)

    def _details(self, host: Host, fn: PciFunction, real: str, brief: bool, attr) -> None:
        """reset_method, SR-IOV counts (not for ``brief``), NUMA node, boot_vga
        and the vfio-dev cdev."""
        root = self.root
        if not brief:
            s = attr("reset_method")
            if s is not None:
                fn.reset_method = tuple(s.split())
            fn.sriov_totalvfs = _int(attr("sriov_totalvfs"))
            if fn.sriov_totalvfs is not None:
                fn.sriov_numvfs = _int(attr("sriov_numvfs"))
        n = attr("numa_node")
        if n is not None and n != "-1":
            n = _int(n)
            fn.numa_node = None if n is None or n < 0 else n
        if fn.class_code is not None and fn.class_code >> 16 == 0x03:
            b = attr("boot_vga")   # exists only for VGA-class devices
            fn.boot_vga = None if b is None else b == "1"
        # vfio-dev/vfioX exists only while bound to a VFIO driver; class/vfio-dev
        # names them all in one listing, else look in the device directory
        vname = self._vfio_devs.get(real)
        if vname is None and not self._vfio_devs and (not brief or is_vfio_driver(fn.driver)):
            try:
                names = sorted(n for n in root.listdir(real + "/vfio-dev") if n.startswith("vfio"))
            except OSError:
                names = []
            vname = names[0] if names else None
        if vname is not None:
            fn.vfio_dev = vname
            if brief and vname in self._cdev_nodes:
                # the node exists, so the kernel gave the cdev a devt (the dev
                # attribute); list does not show its MAJOR:MINOR value
                fn.vfio_dev_devt = "?"
            else:
                devt = root.text(f"{real}/vfio-dev/{vname}/dev")
                fn.vfio_dev_devt = devt if devt and ":" in devt else None

    def _vfio_dev_index(self) -> dict[str, str]:
        """device directory -> vfioX, from ``class/vfio-dev`` (one readlink each)."""
        out: dict[str, str] = {}
        root = self.root
        cdir = root.join(CLASS_VFIO_DEV)
        try:
            names = root.listdir(cdir)
        except OSError:
            return out
        sysdir = self.sysdir
        for n in names:
            try:
                link = f"{cdir}/{n}"
                t = root.readlink(link)
            except OSError:
                continue
            # a name to match, never opened: the kernel's own shape
            # ``../../devices/...`` by string, anything else lexically
            if t.startswith("../../devices/") and "/." not in t and "//" not in t:
                t = f"{sysdir}/{t[6:]}"
            else:
                t = root.lexical(link, t)
            # .../<device>/vfio-dev/vfioX
            out[t.rpartition("/")[0].rpartition("/")[0]] = n
        return out

    def _driver_index(self) -> dict[str, str]:
        """bdf -> driver from ``bus/pci/drivers/*/`` (one listing per driver
        instead of one readlink per device; the driver core keeps both)."""
        out: dict[str, str] = {}
        root = self.root
        ddir = root.join(PCI_DRIVERS)
        try:
            drivers = root.listdir(ddir)
        except OSError:
            return out
        for d in drivers:
            try:
                for e in root.listdir(f"{ddir}/{d}"):
                    if ":" in e and "." in e:
                        out[e] = d
            except OSError:
                continue
        return out

    def _vf_links(self, host: Host) -> None:
        vfs: dict[PciAddress, list[PciAddress]] = {}
        for f in host.functions.values():
            if f.physfn is not None:
                vfs.setdefault(f.physfn, []).append(f.address)
        for pf, lst in vfs.items():
            if pf in host.functions:
                host.functions[pf].virtfns = tuple(sorted(lst))

    # -- groups --
    def _groups(self, host: Host) -> None:
        root = self.root
        gdir = root.join(IOMMU_GROUPS)
        try:
            names = root.listdir(gdir)
        except OSError:
            return
        gfd = root.opendir(root.resolve(gdir)) if names else None
        try:
            for n in names:
                try:
                    num = int(n)
                except ValueError:
                    host.warnings.append(f"{gdir}/{n}: not a group number; skipped")
                    continue
                nfd = root.opendir_at(gfd, n) if gfd is not None else None
                if nfd is None:   # not a plain directory: the resolving path
                    host.groups[num] = self._group(host, gdir, n, num)
                    continue
                try:
                    host.groups[num] = self._group_at(host, gdir, n, num, nfd)
                finally:
                    os.close(nfd)
        finally:
            if gfd is not None:
                os.close(gfd)

    def _group_members(self, host: Host, base: str, num: int, listing) -> tuple[list, list]:
        members, others = [], []
        try:
            for m in listing():
                a = PciAddress.try_parse(m) if _BDF.match(m) else None
                if a is None:
                    others.append(m)
                else:
                    members.append(a)
        except OSError:
            host.warnings.append(f"{base}/devices: unreadable; group {num} has no members")
        return members, others

    def _group(self, host: Host, gdir: str, n: str, num: int) -> IommuGroup:
        """One ``iommu_groups/<n>`` directory (its members by name)."""
        base = f"{gdir}/{n}"
        members, others = self._group_members(
            host, base, num, lambda: self.root.listdir(f"{base}/devices"))
        return IommuGroup(
            number=num, members=tuple(sorted(members)), other_members=tuple(sorted(others)),
            type=None if self._brief else self.root.text(f"{base}/type"),
            name=self.root.text(f"{base}/name"))

    def _group_at(self, host: Host, gdir: str, n: str, num: int, nfd: int) -> IommuGroup:
        """:meth:`_group` through the group directory's fd."""
        root = self.root
        base = f"{gdir}/{n}"

        def listing():
            dfd = root.opendir_at(nfd, "devices")
            if dfd is None:
                return root.listdir(f"{base}/devices")
            try:
                return os.listdir(dfd)
            finally:
                os.close(dfd)
        members, others = self._group_members(host, base, num, listing)
        return IommuGroup(
            number=num, members=tuple(sorted(members)), other_members=tuple(sorted(others)),
            type=None if self._brief else root.text_at(nfd, base, "type"),
            name=root.text_at(nfd, base, "name"))

    # -- slots --
    def _slot_bus_reset_methods(self, host: Host) -> None:
        """``brief`` skips reset_method, except where it tells whether a pciehp
        slot is bus-wide (:func:`vfioctl.model.topology.bus_wide_evidence`):
        functions at a device number other than 0, without a slot of their
        own, on a bus whose device 0 has a reset-capable slot (SR-IOV VFs and
        ARI functions in a slot: few on any host)."""
        if not any(s.reset_capable for s in host.slots):
            return
        root, sysdir = self.root, self.sysdir
        for fn in host.functions.values():
            a = fn.address
            if a.slot == 0 or fn.reset_method is not None or host.slot_for(a) is not None:
                continue
            s0 = host.slot_for(PciAddress(a.domain, a.bus, 0, 0))
            if s0 is not None and s0.reset_capable:
                t = root.text(f"{sysdir}/{fn.sysfs_path}/reset_method")
                if t is not None:
                    fn.reset_method = tuple(t.split())

    def _slots(self, host: Host) -> None:
        root = self.root
        sdir = root.join(PCI_SLOTS)
        try:
            names = sorted(root.listdir(sdir))
        except OSError:
            return
        out = []
        sfd = root.opendir(root.resolve(sdir)) if names else None
        try:
            for n in names:
                nfd = root.opendir_at(sfd, n) if sfd is not None else None
                if nfd is None:   # not a plain directory: the resolving path
                    s = self._slot(host, sdir, n)
                else:
                    try:
                        s = self._slot_at(host, sdir, n, nfd)
                    finally:
                        os.close(nfd)
                if s is not None:
                    out.append(s)
        finally:
            if sfd is not None:
                os.close(sfd)
        host.slots = tuple(out)

    def _slot_at(self, host: Host, sdir: str, n: str, nfd: int) -> Slot | None:
        """:meth:`_slot` through the slot directory's fd."""
        base = f"{sdir}/{n}"
        addr = self.root.text_at(nfd, base, "address")
        if not addr:
            host.warnings.append(f"{base}: no address; slot skipped")
            return None
        try:
            ents = set(os.listdir(nfd))
        except OSError:
            ents = set()
        module = None
        if "module" in ents:
            try:
                module = self.root.readlink_at(nfd, "module").rpartition("/")[2]
            except OSError:
                pass
        return Slot(name=n, address=addr, hotplug=any(a in ents for a in _HOTPLUG_ATTRS),
                    module=module)

    def slot_address(self, host: Host, sdir: str, n: str) -> str | None:
        base = os.path.join(sdir, n)
        addr = self.root.text(os.path.join(base, "address"))
        if not addr:
            host.warnings.append(f"{base}: no address; slot skipped")
            return None
        return addr

    def _slot(self, host: Host, sdir: str, n: str, addr: str | None = None) -> Slot | None:
        """One ``slots/<n>`` directory (``addr``: its address, when already read)."""
        base = os.path.join(sdir, n)
        if addr is None:
            addr = self.slot_address(host, sdir, n)
            if addr is None:
                return None
        try:
            ents = set(self.root.listdir(base))
        except OSError:
            ents = set()
        module = None
        if "module" in ents:
            try:
                module = os.path.basename(self.root.readlink(os.path.join(base, "module")))
            except OSError:
                pass
        return Slot(name=n, address=addr, hotplug=any(a in ents for a in _HOTPLUG_ATTRS),
                    module=module)

    # -- nodes --
    def _nodes(self, host: Host) -> None:
        r = self.root
        try:
            host.dev_vfio = frozenset(r.listdir(r.join(DEV_VFIO)))
        except OSError:
            pass
        try:
            host.dev_vfio_devices = frozenset(r.listdir(r.join(DEV_VFIO_DEVICES)))
        except OSError:
            pass
        host.dev_iommu = r.lexists(r.join(DEV_IOMMU))
        p = r.text(r.join(NOIOMMU_PARAM))
        host.noiommu_mode = None if p is None else p in ("Y", "1")
        try:
            host.iommu_present = bool(r.listdir(r.join(CLASS_IOMMU)))
        except OSError:
            host.iommu_present = None

    # -- holders --
    def _holders(self, host: Host) -> None:
        """Scan ``proc/*/fd`` for links to VFIO nodes (lsof-style).

        Only links naming ``/dev/vfio/...`` or ``/dev/iommu`` are kept.  On a
        live host the link text is the node path; in a fixture it is the same
        text.  Processes whose fd directory is unreadable are counted.

        The scan costs what a bare ``scandir`` + ``readlink`` loop over the
        same tree costs (benchmarks/bench_speed.py measures both): each fd
        directory is opened once (``O_DIRECTORY``: never a FIFO) and its links
        are read relative to it (``readlinkat``), one component each.
        """
        holders: dict[str, list[Holder]] = {}
        host.holders = {}
        if not host.dev_vfio and not host.dev_iommu:
            return
        root = self.root
        pdir = root.join(PROC)
        try:
            pids = [p for p in root.listdir(pdir) if p.isdigit()]
        except OSError:
            host.holders = None
            return
        me = str(os.getpid()) if self.root.live else None
        unreadable = 0
        readlink, listdir, close = os.readlink, os.listdir, os.close
        dev_vfio, iommufd = nodes.DEV_VFIO, nodes.IOMMUFD
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        for pid in pids:
            if pid == me:
                continue
            try:
                # resolved inside the root (identity on "/"), then opened
                # without following a link: its entries are read relative to it
                dfd = os.open(root.resolve(f"{pdir}/{pid}/fd"), flags)
            except PermissionError:
                unreadable += 1
                continue
            except OSError:
                continue
            found: list[str] = []
            try:
                for fdn in listdir(dfd):
                    try:
                        t = readlink(fdn, dir_fd=dfd)
                    except OSError:
                        continue
                    if (t.startswith(dev_vfio) or t == iommufd) and t not in found:
                        found.append(t)
            except PermissionError:
                unreadable += 1
                continue
            except OSError:
                continue
            finally:
                close(dfd)
            if found:
                comm = root.text(f"{pdir}/{pid}/comm", kind="proc") or "?"
                for t in found:
                    holders.setdefault(t, []).append(Holder(int(pid), comm, t))
        host.holders = {k: tuple(sorted(v, key=lambda h: h.pid)) for k, v in holders.items()}
        host.holders_unreadable = unreadable


def list_pci_devices(root: Root, devdir: str, warnings: list[str]) -> list[str]:
    """The names in ``bus/pci/devices`` (unsorted; none, with a warning, when the
    directory is missing); a listing refused or failing is the whole command's
    error (exit 4/5), since nothing can be told about the host without it."""
    try:
        return root.listdir(devdir)
    except FileNotFoundError:
        warnings.append(f"{devdir} is missing: this host has no PCI bus in sysfs")
        return []
    except PermissionError:
        raise PermissionDenied(f"cannot list {devdir}: permission denied",
                               "run as a user who can read sysfs") from None
    except OSError as e:
        raise HostError(f"cannot list {devdir}: {e.strerror}",
                        "check that sysfs is mounted and readable") from None


def check_root(root: Root) -> None:
    """Raise :class:`HostError`/:class:`PermissionDenied` unless ``root`` is a
    directory holding ``sys/`` that this user can read (the message says which)."""
    p = root.path
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise HostError(f"root {p} does not exist",
                        "pass --root DIR naming a directory that holds sys/, dev/ and proc/") from None
    except OSError as e:
        raise HostError(f"cannot look at root {p}: {e.strerror}",
                        "pass --root DIR naming a directory you can read") from None
    if not os.path.isdir(p):
        raise HostError(f"root {p} is not a directory",
                        "pass --root DIR naming a directory that holds sys/, dev/ and proc/")
    if not os.access(p, os.R_OK | os.X_OK):
        raise PermissionDenied(f"root {p} is not readable by this user",
                               "run as a user who can read it, or copy it somewhere readable")
    sysdir = root.sys()
    if not root.isdir(sysdir):
        if root.lexists(sysdir) and not root.live:
            try:
                root.resolve(sysdir)
            except OSError:
                pass
            if os.path.exists(sysdir) and not os.access(sysdir, os.R_OK | os.X_OK):
                raise PermissionDenied(f"{sysdir} is not readable by this user",
                                       "run as a user who can read it") from None
            raise HostError(f"root {p}: sys is not a directory inside the root",
                            "pass --root DIR naming a directory that holds sys/")
        raise HostError(f"root {p} has no sys/ directory",
                        "pass --root DIR naming a directory that holds sys/ (or use --demo)")
    if not os.access(root.resolve(sysdir), os.R_OK | os.X_OK):
        raise PermissionDenied(f"{sysdir} is not readable by this user",
                               "run as a user who can read it")


def read_host(root: Root | str = "/", *, holders: bool = True, full_config: bool = True,
              names: bool = False, brief: bool = False) -> Host:
    """Read everything vfioctl shows about the host under ``root``.

    ``brief`` (for ``list``) skips what the list does not show (it shows NUMA nodes since issue 9):
    SR-IOV counts, reset_method; ``full_config=False`` reads only the
    64-byte config header (no capability walk).

    Raises :class:`~vfioctl.errors.HostError` when the root has no ``sys/``.
    """
    if not isinstance(root, Root):
        root = Root(root)
    return Reader(root).read(holders=holders, full_config=full_config, names=names,
                             brief=brief)
