"""A host read on demand: what one device's answer depends on, and no more.

``show``, ``reset-info`` and ``check`` of one device need that device, its
IOMMU group and the group's members, its reset scope (the bridge above it and
the functions on its bus and every subordinate bus), its dev_set (vfio-pci
functions of the same bus or slot) and the holders of those nodes.  Reading
the whole host for that makes one answer cost as much as a listing of
thousands of functions.

:class:`TargetedHost` is a :class:`~vfioctl.model.host.Host` whose
``functions`` and ``groups`` are read when first asked for, through the same
:class:`~vfioctl.sysfs.reader.Reader` methods (and so the same root, the same
checks and warnings) as the full read:

* a function by address: its own ``bus/pci/devices/<address>`` directory;
* a bridge's children (:meth:`children`): the entries of the bridge's own
  directory, each read through its ``bus/pci/devices`` link;
* the functions of one bus (:meth:`functions_on_bus`) and the short-address
  and vfio cdev lookups: the *names* of ``bus/pci/devices`` (one listing,
  nothing read per entry) filter what is read;
* a group: ``iommu_groups/<n>``; a slot: the slots' ``address`` files only,
  then the one matching slot's directory.

The planner (:mod:`vfioctl.model.scope`) consumes it unchanged.  Anything that
iterates every function (``host.functions.values()``) still works: it reads
the functions as it reaches them (so ``any(...)`` stops at its first hit), the
rest of the host only if it goes on to the end.  Warnings cover what was read, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping

from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host, IommuGroup, PciFunction, Slot, is_vfio_driver
from vfioctl.sysfs.reader import _BDF, Reader, check_root, list_pci_devices
from vfioctl.sysfs.root import CLASS_VFIO_DEV, IOMMU_GROUPS, PCI_DEVICES, PCI_SLOTS, Root

_MISSING = object()


class _Functions(Mapping):
    """address -> PciFunction, each read on first use (None cached as absent)."""

    def __init__(self, host: "TargetedHost"):
        self._host = host
        self._d: dict[PciAddress, PciFunction | None] = {}
        self._all: dict[PciAddress, PciFunction] | None = None

    def get(self, addr, default=None):
        f = self._d.get(addr, _MISSING)
        if f is _MISSING:
            f = self._d[addr] = self._host._load(addr) if isinstance(addr, PciAddress) else None
        return default if f is None else f

    def __getitem__(self, addr):
        f = self.get(addr)
        if f is None:
            raise KeyError(addr)
        return f

    def __contains__(self, addr) -> bool:
        return self.get(addr) is not None

    def _everything(self) -> dict[PciAddress, PciFunction]:
        if self._all is None:
            self._all = self._host._load_all()
        return self._all

    def __iter__(self):
        # addresses in the full read's order, each read as it is reached: a
        # question answered by the first few (``any(f.reset_method ...)``)
        # stops reading there
        if self._all is not None:
            return iter(self._all)
        return self._lazy()

    def _lazy(self):
        seen = set()
        for n in sorted(self._host._names or ()):
            a = PciAddress.parse(n)
            if a not in seen:
                seen.add(a)
                if self.get(a) is not None:
                    yield a

    def __len__(self) -> int:
        return len(self._everything())

    def __bool__(self) -> bool:   # "any function?": the first one found
        return any(f is not None for f in self._d.values()) or \
            next(iter(self), None) is not None

    def loaded(self) -> list[PciFunction]:
        return [f for f in self._d.values() if f is not None]


class _Groups(Mapping):
    """group number -> IommuGroup, each read on first use."""

    def __init__(self, host: "TargetedHost"):
        self._host = host
        self._d: dict[int, IommuGroup | None] = {}
        self._all = False

    def get(self, n, default=None):
        g = self._d.get(n, _MISSING)
        if g is _MISSING:
            g = self._d[n] = self._host._load_group(n) if isinstance(n, int) else None
        return default if g is None else g

    def __getitem__(self, n):
        g = self.get(n)
        if g is None:
            raise KeyError(n)
        return g

    def __contains__(self, n) -> bool:
        return self.get(n) is not None

    def __setitem__(self, n: int, g: IommuGroup) -> None:
        self._d[n] = g

    def _everything(self) -> dict[int, IommuGroup]:
        if not self._all:
            self._host._load_all_groups()
            self._all = True
        return {n: g for n, g in self._d.items() if g is not None}

    def __iter__(self):
        return iter(self._everything())

    def __len__(self) -> int:
        return len(self._everything())

    def __bool__(self) -> bool:
        # "any group?" (vfio_hint asks it of every show): a group already read,
        # else the first iommu_groups entry that reads as one -- not all of them
        if self._all or any(g is not None for g in self._d.values()):
            return bool(self._everything()) if self._all else True
        return self._host._any_group()


class TargetedHost(Host):
    """A :class:`Host` read on demand (see the module docstring)."""

    def __init__(self, root: Root, *, names: bool = True, holders: bool = True, warn=None):
        check_root(root)
        super().__init__(root=root.path)
        # the kernel release, read (and its module imported) on first use only
        self.release_source = lambda: __import__(
            "vfioctl.sysfs.modalias", fromlist=["kernel_release"]).kernel_release(root)
        self._root = root
        self._warn = warn
        self._reader = r = Reader(root)
        r._brief = False
        r._gmember, r._drivers, r._vfio_devs = {}, {}, {}
        r._cdev_nodes = frozenset()
        self._devdir = root.join(PCI_DEVICES)
        self._names: list[str] | None = None
        self._name_set: frozenset[str] = frozenset()
        self._by_bus: dict[tuple[int, int], list[str]] = {}
        self._namer = None
        if names:
            from vfioctl.sysfs.names import NameCache
            self._namer = NameCache(
                root, warn=lambda m: self._noted(lambda: self.warnings.append(m)))
        self._slot_idx: dict[tuple[int, int, int], Slot] | None = None
        self._class_vfio: dict[str, str] | None = None
        self._root_seen = 0
        self.functions = _Functions(self)   # type: ignore[assignment]
        self.groups = _Groups(self)         # type: ignore[assignment]
        self._noted(lambda: self._listing())
        self._noted(lambda: r._nodes(self))
        if holders:
            self._noted(lambda: r._holders(self))

    # -- warnings: recorded as the full read words them, passed on at once --
    def _noted(self, fn):
        n = len(self.warnings)
        try:
            return fn()
        finally:
            rw = getattr(self._root, "warnings", None)   # a root's own (confinement) warnings
            if rw and len(rw) > self._root_seen:
                self.warnings.extend(rw[self._root_seen:])
                self._root_seen = len(rw)
            if len(self.warnings) > n:
                new = self.warnings[n:]
                if not self._root.live:
                    new = [w.replace(self._root.path + "/", "/") for w in new]
                self.warnings[n:] = new
                if self._warn is not None:
                    for w in new:
                        self._warn(w)

    # -- the names of bus/pci/devices (one listing) --
    def _listing(self) -> None:
        d = self._devdir
        entries = list_pci_devices(self._root, d, self.warnings)   # unsorted
        match = _BDF.match
        names = [n for n in entries if match(n)]
        if len(names) < len(entries):
            for n in sorted(set(entries).difference(names)):
                self.warnings.append(f"{d}/{n}: not a PCI address; skipped")
        self._names = names
        self._name_set = frozenset(names)

    def addresses(self) -> list[PciAddress]:
        """Every address ``bus/pci/devices`` names (nothing read per entry)."""
        out, seen = [], set()
        for n in sorted(self._names or ()):
            a = PciAddress.parse(n)
            if a not in seen:
                seen.add(a)
                out.append(a)
        return out

    # -- functions --
    def _name_of(self, addr: PciAddress) -> str | None:
        n = str(addr)
        if n in self._name_set:
            return n
        for m in sorted(self._names or ()):   # a non-canonical spelling (8-digit domain)
            if PciAddress.parse(m) == addr:
                return m
        return None

    def _load(self, addr: PciAddress) -> PciFunction | None:
        name = self._name_of(addr)
        if name is None:
            return None
        fn = self._noted(lambda: self._reader._function(self, self._devdir, name, True, False))
        if fn is None:
            return None
        if fn.iommu_group is not None and self.groups.get(fn.iommu_group) is None:
            self.groups[fn.iommu_group] = IommuGroup(fn.iommu_group, members=(fn.address,))
            self._noted(lambda: self.warnings.append(
                f"{fn.address}: iommu_group {fn.iommu_group} has no directory under "
                f"{IOMMU_GROUPS}; recorded from the device link only"))
        if fn.vfio_dev is None and is_vfio_driver(fn.driver):
            # no vfio-dev/ in the device's directory: the full read trusts a
            # class/vfio-dev link naming it; so does this one
            self._cdev_from_class(fn)
        fn.virtfns = self._virtfns(fn)
        if self._namer is not None:
            self._namer.fill(fn)
        return fn

    def _cdev_from_class(self, fn: PciFunction) -> None:
        r = self._reader
        if self._class_vfio is None:
            self._class_vfio = r._vfio_dev_index()
        vname = self._class_vfio.get(r.sysdir + "/" + fn.sysfs_path)
        if vname is not None:
            # the same reads as Reader._function's for an indexed cdev
            saved, n = r._vfio_devs, len(self.warnings)
            r._vfio_devs = self._class_vfio
            try:
                f2 = r._function(self, self._devdir, str(fn.address), True, False)
            finally:
                r._vfio_devs = saved
                del self.warnings[n:]   # already recorded by the first read
            if f2 is not None:
                fn.vfio_dev, fn.vfio_dev_devt = f2.vfio_dev, f2.vfio_dev_devt

    def _virtfns(self, fn: PciFunction) -> tuple[PciAddress, ...]:
        """VFs of a PF: its ``virtfnN`` links that ``bus/pci/devices`` also names."""
        import os
        if fn.sriov_totalvfs is None:
            return ()
        real = self._reader.sysdir + "/" + fn.sysfs_path
        try:
            links = [e for e in self._root.listdir(real) if e.startswith("virtfn")]
        except OSError:
            return ()
        out = set()
        for e in links:
            try:
                n = os.path.basename(self._root.readlink(os.path.join(real, e)))
            except OSError:
                continue
            if n in self._name_set:
                out.add(PciAddress.parse(n))
        return tuple(sorted(out))

    def _load_all(self) -> dict[PciAddress, PciFunction]:
        out: dict[PciAddress, PciFunction] = {}
        for n in sorted(self._names or ()):   # the full read's order
            a = PciAddress.parse(n)
            if a in out:
                continue
            f = self.functions.get(a)
            if f is not None:
                out[a] = f
        return out

    def children(self, addr: PciAddress | None) -> list[PciFunction]:
        """Functions whose parent is ``addr``, from the bridge's own directory."""
        import os
        if addr is None:
            return super().children(None)   # root-bus functions: read everything
        br = self.functions.get(addr)
        if br is None:
            return []
        real = self._reader.sysdir + "/" + br.sysfs_path
        try:
            ents = sorted(e for e in self._root.listdir(real) if _BDF.match(e))
        except OSError:
            return []
        out = []
        for e in ents:
            a = PciAddress.parse(e)
            f = self.functions.get(a) if e in self._name_set else None
            if f is not None and f.parent == addr and f not in out:
                out.append(f)
        return sorted(out, key=lambda f: f.address)

    def _on_bus(self, domain: int, bus: int) -> list[str]:
        """Names in ``bus/pci/devices`` on one bus: a prefix test per name for
        the kernel's spelling (``%04x:%02x:``), a parse for any other."""
        hit = self._by_bus.get((domain, bus))
        if hit is None:
            prefix = f"{domain:04x}:{bus:02x}:"
            hit = []
            for n in self._names or ():
                if n.startswith(prefix) if len(n) == 12 else (
                        (lambda a: (a.domain, a.bus) == (domain, bus))(PciAddress.parse(n))):
                    hit.append(n)
            self._by_bus[(domain, bus)] = hit
        return hit

    def functions_on_bus(self, domain: int, bus: int) -> list[PciFunction]:
        out, seen = [], set()
        for n in self._on_bus(domain, bus):
            f = self.functions.get(PciAddress.parse(n))
            if f is not None and f.address not in seen:
                seen.add(f.address)
                out.append(f)
        return sorted(out, key=lambda f: f.address)

    def any_function(self, pred) -> bool:
        """The functions read so far first (one device's neighbourhood usually
        answers), then the rest in address order, each read as reached."""
        if any(pred(f) for f in self.functions.loaded()):
            return True
        return any(pred(f) for f in self.functions.values())

    def broken_on(self, buses: set[tuple[int, int]]) -> list[PciAddress]:
        """Entries of ``bus/pci/devices`` on these buses that could not be read
        (each tried once)."""
        out = set()
        for d, b in buses:
            for n in self._on_bus(d, b):
                a = PciAddress.parse(n)
                if self._name_of(a) == n and self.functions.get(a) is None:
                    out.add(a)
        return sorted(out)

    def functions_at(self, bus: int, slot: int, function: int) -> list[PciFunction]:
        tail = f":{bus:02x}:{slot:02x}.{function:x}"
        out = []
        for n in self._names or ():
            if n.endswith(tail):
                f = self.functions.get(PciAddress.parse(n))
                if f is not None and f not in out:
                    out.append(f)
        return out

    def by_vfio_dev(self, name: str) -> list[PciFunction]:
        """Functions whose cdev is ``name``: ``class/vfio-dev/<name>`` names the device."""
        import os
        cdir = self._root.join(CLASS_VFIO_DEV)
        if not self._root.isdir(cdir):
            return super().by_vfio_dev(name)   # no class index: look at every device
        try:
            t = os.path.normpath(os.path.join(cdir, self._root.readlink(os.path.join(cdir, name))))
        except OSError:
            return []
        a = PciAddress.try_parse(os.path.basename(os.path.dirname(os.path.dirname(t))))
        f = self.functions.get(a) if a is not None else None
        return [f] if f is not None and f.vfio_dev == name else []

    # -- groups --
    def _load_group(self, n: int) -> IommuGroup | None:
        import os
        gdir = self._root.join(IOMMU_GROUPS)
        if n < 0 or not self._root.isdir(os.path.join(gdir, str(n))):
            return None
        return self._noted(lambda: self._reader._group(self, gdir, str(n), n))

    def _any_group(self) -> bool:
        import os
        gdir = self._root.join(IOMMU_GROUPS)
        try:
            names = self._root.listdir(gdir)
        except OSError:
            return False
        return any(self.groups.get(int(n)) is not None for n in sorted(names, key=len)
                   if n.isdigit())

    def _load_all_groups(self) -> None:
        import os
        gdir = self._root.join(IOMMU_GROUPS)
        try:
            names = self._root.listdir(gdir)
        except OSError:
            return
        for n in names:
            if n.isdigit():
                self.groups.get(int(n))

    # -- slots: every address file, then the matching slot's directory --
    def slot_for(self, addr: PciAddress) -> Slot | None:
        import os
        if self._slot_idx is None:
            self._slot_idx = {}
            sdir = self._root.join(PCI_SLOTS)
            try:
                names = sorted(self._root.listdir(sdir))
            except OSError:
                names = []
            found: dict[tuple[int, int, int], tuple[str, str]] = {}

            def scan():
                # one address file per slot, read relative to the slots
                # directory and to each slot's own (opened without following)
                root = self._root
                sfd = root.opendir(root.resolve(sdir)) if names else None
                try:
                    for n in names:
                        nfd = root.opendir_at(sfd, n) if sfd is not None else None
                        if nfd is None:
                            a = self._reader.slot_address(self, sdir, n)
                        else:
                            try:
                                a = root.text_at(nfd, f"{sdir}/{n}", "address")
                            finally:
                                os.close(nfd)
                            if not a:
                                self.warnings.append(f"{sdir}/{n}: no address; slot skipped")
                        p = PciAddress.try_parse(a + ".0") if a else None
                        if p is not None:
                            found[(p.domain, p.bus, p.slot)] = (n, a)
                finally:
                    if sfd is not None:
                        os.close(sfd)
            self._noted(scan)
            self._slot_found, self._slot_dir = found, sdir
        key = (addr.domain, addr.bus, addr.slot)
        if key not in self._slot_idx:
            hit = self._slot_found.get(key)
            self._slot_idx[key] = None if hit is None else self._noted(
                lambda: self._reader._slot(self, self._slot_dir, hit[0], hit[1]))
        return self._slot_idx[key]


def open_host(root: Root | str = "/", *, names: bool = True, holders: bool = True,
              warn=None) -> TargetedHost:
    """A host read on demand (``warn`` receives each warning as it is recorded)."""
    if not isinstance(root, Root):
        root = Root(root)
    return TargetedHost(root, names=names, holders=holders, warn=warn)
