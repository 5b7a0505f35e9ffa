"""The simulator's PCI driver core: ``driver_override``, ``unbind``, ``bind``
and ``drivers_probe`` over a fixture root (mixed into
:class:`vfioctl.kernel.sim.SimKernel`).

MODELLED (binding-host-fleet.md A.1-A.8, each write's errno as ``write(2)``
returns it):

* ``driver_override`` (A.2): EINVAL when ``len >= PAGE_SIZE - 1`` (4095);
  the value is cut at the first newline and at the first NUL (``strlen``);
  empty clears it (reads back ``(null)``); setting it neither unbinds nor
  loads anything.  ENOENT when the device does not exist.
* ``drivers/<drv>/unbind`` (A.3): ENOENT when the driver is not registered
  (no such file), ENODEV when the device is missing or not bound to
  ``<drv>``.  Unbinding a VFIO driver (vfio-pci or a variant) while another
  process has the device open - through its cdev, or a device fd
  (``anon_inode:[vfio-device]``) beside the group node - *blocks* (A.8; an
  open group fd alone does not block it): the device's
  ``vfio-dev/vfioX``, ``class/vfio-dev/vfioX`` and ``/dev/vfio/devices/vfioX``
  go at once, the driver link and ``/dev/vfio/N`` stay until the holder lets
  go.  The simulator polls the holders for ``timeout`` seconds; past it the
  call raises ETIMEDOUT and the unbind stays *pending*: it completes when a
  simulated holder closes its device fd, or at the next driver-core call
  after the holder went away (the real kernel completes it the moment the
  last fd closes).
* ``drivers/<drv>/bind`` (A.3): ENOENT for an unregistered driver, ENODEV
  for a missing device or when the driver does not match it (an override
  naming another driver; a VFIO driver without an override naming it - its
  id table is ``override_only``; a host driver whose id table lacks the
  device), EBUSY when the device already has a driver, then the probe's own
  errno (below).
* ``drivers_probe`` (A.3): ENODEV for a missing device; success otherwise,
  also when nothing bound (a failed probe is swallowed, as ``really_probe``
  does); a device that already has a driver is left alone.  Candidates: the
  override's driver only, when set (and registered: the module is never
  loaded); else the first registered host driver whose id table matches.
* Probe of a VFIO driver (A.6): EINVAL for a bridge (header type != 0),
  EBUSY for a PF with VFs enabled (``sriov_numvfs`` > 0), EINVAL without an
  IOMMU group unless ``enable_unsafe_noiommu_mode`` is Y - then a fake
  ``vfio-noiommu`` group with the lowest free group number is created (and
  removed again at unbind).  Probe of a host driver that claims DMA (not
  pci-stub/pcieport) while a VFIO user holds the group: EBUSY
  (``iommu_device_use_default_domain``).  The kernel refuses once the group
  is DMA-claimed (attached to a container, or a device bound to an iommufd);
  /proc shows only that the node is open, so an open group node or a held
  cdev counts as claimed (QEMU attaches right after opening).
* What appears at a VFIO bind (A.7): ``driver`` link and
  ``drivers/<drv>/<bdf>``; ``vfio-dev/vfioX`` with X the lowest free index
  (``ida_alloc``), its ``dev`` (``MAJOR:X``) and ``/dev/vfio/devices/vfioX``
  when the fixture has cdevs (``dev/vfio/devices`` exists) and the group is
  not noiommu, ``class/vfio-dev/vfioX``; for the group's first VFIO device
  ``sys/devices/virtual/vfio/N``, ``class/vfio/N`` and ``/dev/vfio/N`` (or
  ``noiommu-N``).  Unbinding the group's last VFIO device removes them.

Id tables of host drivers: ``<root>/.vfioctl-sim/drivers.json``
(``{"e1000e": ["8086:10d3"], ...}``); when absent it is seeded, at the
first driver-core call, from the bindings the fixture shows (each host
driver matches the vendor:device pairs bound to it), which is what the
kernel's own tables did at boot.

NOT MODELLED: dynamic ids (``new_id``; vfioctl never writes it), module
loading, ``drivers_autoprobe`` = 0, EPROBE_DEFER, class devices a host driver
creates (``net/``, ``sound/``, ``block/`` stay as the fixture has them),
udev's asynchronous node permissions (nodes appear at once).

CONFINEMENT (issue 8): every read goes through the root's confined API
(:class:`~vfioctl.sysfs.root.Root`: links resolved inside the root, only
regular files opened, bounded); every write lands in a directory resolved
inside the root, files are opened ``O_NOFOLLOW`` and must be regular, the
simulator's own files (id tables, pending unbinds) are state files of
:class:`~vfioctl.kernel.sim.SimKernel`.  A fixture whose layout would make
a write leave the root is a :class:`~vfioctl.errors.HostError` (exit 4).

FAULT INJECTION: ops ``driver_override``, ``unbind``, ``bind``,
``drivers_probe``, optionally ``@BDF`` (``VFIOCTL_SIM_FAULTS=
"bind@0000:01:00.1=EIO"``); a fault on ``drivers_probe`` fails the write.
"""

from __future__ import annotations

import errno as E
import json
import os
import shutil
import stat
import time

from vfioctl.model.host import dma_safe_driver, is_vfio_driver
from vfioctl.errors import HostError
from vfioctl.sysfs.root import (
    CLASS_VFIO, CLASS_VFIO_DEV, DEV_VFIO, DEV_VFIO_DEVICES, IOMMU_GROUPS, LIMITS, NOIOMMU_PARAM,
    PCI_DEVICES, PCI_DRIVERS,
)

PAGE_SIZE = 4096
POLL = 0.05


class DriverCoreMixin:
    """Driver-core writes for :class:`~vfioctl.kernel.sim.SimKernel`."""

    # -- paths ------------------------------------------------------------------
    def _dc_devdir(self, bdf: str) -> str | None:
        if "/" in bdf or bdf in ("", ".", ".."):
            return None
        try:
            real = self.root.realpath(self.root.join(f"{PCI_DEVICES}/{bdf}"))
        except OSError:
            return None
        return real if self.root.isdir(real) else None

    def _dc_driver(self, devdir: str) -> str | None:
        try:
            return os.path.basename(self.root.readlink(os.path.join(devdir, "driver")))
        except OSError:
            return None

    def _dc_override(self, devdir: str) -> str | None:
        b = self.root.read(os.path.join(devdir, "driver_override"), PAGE_SIZE)
        s = b.decode("utf-8", "replace").strip() if b is not None else ""
        return None if s in ("", "(null)") else s

    def _dc_registered(self, driver: str) -> bool:
        return bool(driver) and "/" not in driver and driver not in (".", "..") \
            and self.root.isdir(self.root.join(f"{PCI_DRIVERS}/{driver}"))

    def _dc_attr(self, devdir: str, name: str) -> str | None:
        return self._dc_read(os.path.join(devdir, name))

    # -- confined writes ---------------------------------------------------------
    def _dc_real(self, rel: str) -> str:
        """The real path of ``rel`` resolved inside the root (existing links
        followed inside it; missing components kept as named)."""
        p = self.root.join(rel)
        try:
            return self.root.realpath(p)
        except OSError as e:
            raise self._state_error(p, e) from None

    def _dc_write(self, path: str, data: bytes, *, create: bool = True) -> None:
        """Write ``data`` into the regular file ``path`` (its directory already
        resolved inside the root), never through a link, FIFO or device node."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as e:
            raise self._state_error(path, e) from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            from vfioctl.errors import HostError
            raise HostError(f"{self.root.shown(path)} is not a regular file; the simulator "
                            "does not write through it", "remove it from the fixture tree")
        flags = os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        if create:
            flags |= os.O_CREAT
        try:
            fd = os.open(path, flags, 0o644)
        except OSError as e:
            raise self._state_error(path, e) from None
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def _dc_makedirs(self, real: str) -> None:
        """``mkdir -p`` of a path whose existing part was resolved inside the root."""
        try:
            os.makedirs(real, exist_ok=True)
        except OSError as e:
            raise self._state_error(real, e) from None

    def _dc_unlink(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    @staticmethod
    def _dc_rmtree(path: str) -> None:
        """Remove a directory tree of ours; a link there is removed, never followed."""
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _dc_state_read(self, name: str):
        b = self.root.read(self.root.join(f".vfioctl-sim/{name}"), LIMITS["state"], "state")
        if b is None:
            return None
        try:
            return json.loads(b.decode("utf-8", "replace"))
        except ValueError:
            return None

    def _dc_state_write(self, name: str, doc) -> None:
        d = self._state_dir(".vfioctl-sim")
        path = os.path.join(d, name)
        fd = self._open_state(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        try:
            os.write(fd, json.dumps(doc, indent=1, sort_keys=True).encode())
        finally:
            os.close(fd)

    def _dc_ids(self, devdir: str) -> str:
        v = (self._dc_attr(devdir, "vendor") or "0x????")[2:]
        d = (self._dc_attr(devdir, "device") or "0x????")[2:]
        return f"{v}:{d}".lower()

    def _dc_group(self, devdir: str) -> str | None:
        g = os.path.join(devdir, "iommu_group")
        if not self.root.lexists(g):
            return None
        try:
            return self.root.realpath(g)
        except OSError:
            return None

    # -- id tables ---------------------------------------------------------------
    def _dc_tables(self) -> dict[str, list[str]]:
        doc = self._dc_state_read("drivers.json")
        if isinstance(doc, dict):
            return {k: v for k, v in doc.items() if isinstance(v, list)}
        tables: dict[str, list[str]] = {}
        ddir = self.root.join(PCI_DRIVERS)
        for drv in sorted(self.root.listdir(ddir)) if self.root.isdir(ddir) else ():
            if is_vfio_driver(drv):
                continue
            try:
                entries = sorted(self.root.listdir(os.path.join(ddir, drv)))
            except OSError:
                continue
            for e in entries:
                if ":" in e and "." in e:
                    dd = self._dc_devdir(e)
                    if dd is not None:
                        ids = self._dc_ids(dd)
                        if ids not in tables.setdefault(drv, []):
                            tables[drv].append(ids)
        try:
            self._dc_state_write("drivers.json", tables)
        except (OSError, HostError):
            pass
        return tables

    def _dc_matches(self, driver: str, devdir: str, tables: dict) -> bool:
        """``pci_match_device``: override first, override_only for VFIO drivers."""
        ov = self._dc_override(devdir)
        if ov is not None:
            return ov == driver
        if is_vfio_driver(driver):
            return False
        return self._dc_ids(devdir) in tables.get(driver, ())

    # -- holders and pending unbinds ----------------------------------------------
    def _dc_holders(self, devdir: str, bdf: str) -> list:
        """Processes that keep the device open: its cdev's holders, and holders of
        its group node that also hold a device fd (``anon_inode:[vfio-device]``,
        what GET_DEVICE_FD returns; which device it is does not show, so every
        device of the group counts).  A group fd alone does not block an unbind."""
        from vfioctl.model.address import PciAddress
        from vfioctl.sysfs.usage import node_holders
        host = self._host()
        fn = host.functions.get(PciAddress.parse(bdf))
        if fn is None:
            return []
        out = []
        g = host.group_of(fn)
        if g is not None:
            devfd = {p for p, _, _ in node_holders(self.root, ["anon_inode:[vfio-device]"])}
            out += [h for h in host.holders_of(g.node) if h.pid != self.pid and h.pid in devfd]
        vname = self._dc_pending().get(bdf, {}).get("vfio_dev") or fn.vfio_dev
        if vname:
            from vfioctl.model import nodes
            out += [h for h in host.holders_of(nodes.cdev(vname)) if h.pid != self.pid]
        return out

    def _dc_pending(self) -> dict:
        doc = self._dc_state_read("pending-unbind.json")
        return {k: v for k, v in doc.items() if isinstance(v, dict)} \
            if isinstance(doc, dict) else {}

    def _dc_save_pending(self, p: dict) -> None:
        if not p:
            self.root.remove(".vfioctl-sim/pending-unbind.json")
            return
        self._dc_state_write("pending-unbind.json", p)

    def _dc_settle(self, seed: bool = True) -> None:
        """Seed the id tables (before anything moves); complete pending
        (blocked) unbinds whose holders have let go."""
        if seed:
            self._dc_tables()
        pend = self._dc_pending()
        if not pend:
            return
        for bdf, info in list(pend.items()):
            dd = self._dc_devdir(bdf)
            if dd is None:
                pend.pop(bdf)
                continue
            if not self._dc_holders(dd, bdf):
                pend.pop(bdf)
                self._dc_save_pending(pend)
                self._dc_detach(dd, bdf, info["driver"])
                self._log("unbind (completed after release)", bdf, 0)
        self._dc_save_pending(pend)

    # -- the writes -----------------------------------------------------------------
    def write_driver_override(self, bdf: str, value: str) -> None:
        op = "driver_override"
        self._fault(op, bdf)
        self._dc_settle()
        dd = self._dc_devdir(bdf)
        if dd is None:
            self._fail(op, bdf, E.ENOENT, detail="no such device")
        raw = value.encode("utf-8", "surrogateescape")
        if len(raw) >= PAGE_SIZE - 1:
            self._fail(op, bdf, E.EINVAL, detail="longer than PAGE_SIZE - 2")
        raw = raw.split(b"\0", 1)[0].split(b"\n", 1)[0]
        self._dc_write(os.path.join(dd, "driver_override"), (raw or b"(null)") + b"\n")
        self._log(op, bdf, raw.decode("utf-8", "replace") or "(null)")

    def unbind(self, driver: str, bdf: str, timeout: float = 10.0) -> None:
        op = "unbind"
        self._fault(op, bdf)
        self._dc_settle()
        if not self._dc_registered(driver):
            self._fail(op, bdf, E.ENOENT, detail=f"no driver {driver!r} (no such file)")
        dd = self._dc_devdir(bdf)
        if dd is None or self._dc_driver(dd) != driver:
            self._fail(op, bdf, E.ENODEV, detail=f"not bound to {driver}")
        if bdf in self._dc_pending():
            self._fail(op, bdf, E.ENODEV, detail="an unbind is already in progress")
        if is_vfio_driver(driver):
            holders = self._dc_holders(dd, bdf)
            if holders:
                # vfio_unregister_group_dev: the device (and its cdev) go first,
                # then the kernel waits for the last user (A.8)
                vname = self._dc_remove_vfio_dev(dd)
                pend = self._dc_pending()
                pend[bdf] = {"driver": driver, "vfio_dev": vname}
                self._dc_save_pending(pend)
                deadline = time.monotonic() + max(0.0, timeout)
                while True:
                    holders = self._dc_holders(dd, bdf)
                    if not holders:
                        break
                    if time.monotonic() >= deadline:
                        self._fail(op, bdf, E.ETIMEDOUT, detail=(
                            "blocked: the device is in use by " + ", ".join(map(str, holders))
                            + "; the kernel keeps waiting and completes the unbind when it "
                              "is released"))
                    time.sleep(POLL)
                pend = self._dc_pending()
                pend.pop(bdf, None)
                self._dc_save_pending(pend)
        self._dc_detach(dd, bdf, driver)
        self._log(op, bdf, 0)

    def bind(self, driver: str, bdf: str) -> None:
        op = "bind"
        self._fault(op, bdf)
        self._dc_settle()
        if not self._dc_registered(driver):
            self._fail(op, bdf, E.ENOENT, detail=f"no driver {driver!r} (no such file)")
        dd = self._dc_devdir(bdf)
        if dd is None:
            self._fail(op, bdf, E.ENODEV, detail="no such device")
        if self._dc_driver(dd) is not None:
            self._fail(op, bdf, E.EBUSY, detail=f"already bound to {self._dc_driver(dd)}")
        if not self._dc_matches(driver, dd, self._dc_tables()):
            self._fail(op, bdf, E.ENODEV, detail=f"{driver} does not match the device")
        err = self._dc_probe(driver, dd, bdf)
        if err:
            self._fail(op, bdf, err[0], detail=err[1])
        self._log(op, bdf, driver)

    def drivers_probe(self, bdf: str) -> None:
        op = "drivers_probe"
        self._fault(op, bdf)
        self._dc_settle()
        dd = self._dc_devdir(bdf)
        if dd is None:
            self._fail(op, bdf, E.ENODEV, detail="no such device")
        if self._dc_driver(dd) is not None:
            self._log(op, bdf, "already bound")
            return
        tables = self._dc_tables()
        ov = self._dc_override(dd)
        if ov is not None:
            cands = [ov] if self._dc_registered(ov) else []
        else:
            ddir = self.root.join(PCI_DRIVERS)
            cands = [d for d in sorted(self.root.listdir(ddir)) if self._dc_matches(d, dd, tables)]
        for drv in cands:
            err = self._dc_probe(drv, dd, bdf)
            if err is None:
                self._log(op, bdf, drv)
                return
            self._log(f"probe {drv}", bdf, f"{E.errorcode.get(err[0])}: {err[1]}")
        self._log(op, bdf, "no driver")

    # -- probe and detach ---------------------------------------------------------
    def _dc_probe(self, driver: str, dd: str, bdf: str) -> tuple[int, str] | None:
        """Run ``driver``'s probe; (errno, why) on failure, else attach."""
        if is_vfio_driver(driver):
            cfg = self.root.read(os.path.join(dd, "config"), 64, "config") or b""
            if len(cfg) > 0x0E and (cfg[0x0E] & 0x7F) != 0:
                return (E.EINVAL, "not a normal (type 0) header: bridges cannot be bound")
            nvfs = self._dc_attr(dd, "sriov_numvfs")
            if nvfs and nvfs.isdigit() and int(nvfs) > 0:
                return (E.EBUSY, "Cannot bind to PF with SR-IOV enabled")
            if self._dc_group(dd) is None:
                param = self._dc_read_root(NOIOMMU_PARAM)
                if param not in ("Y", "1"):
                    return (E.EINVAL, "no IOMMU group and noiommu mode is off")
                self._dc_make_noiommu_group(dd, bdf)
            self._dc_attach(dd, bdf, driver)
            self._dc_add_vfio_dev(dd)
            self._dc_sync_group(dd)
            return None
        if not dma_safe_driver(driver):
            g = self._dc_group(dd)
            if g is not None and self._dc_group_in_use(g):
                return (E.EBUSY, "the IOMMU group is owned by a VFIO user "
                                 "(iommu_device_use_default_domain)")
        self._dc_attach(dd, bdf, driver)
        return None

    def _dc_read_root(self, rel: str) -> str | None:
        return self._dc_read(self.root.join(rel))

    def _dc_group_in_use(self, gdir: str) -> bool:
        from vfioctl.model import nodes
        host = self._host()
        try:
            num = int(os.path.basename(gdir))
        except ValueError:
            return False
        g = host.groups.get(num)
        if g is None:
            return False
        if host.holders_of(g.node):
            return True
        for a in g.members:
            f = host.functions.get(a)
            if f is not None and f.vfio_dev and host.holders_of(nodes.cdev(f.vfio_dev)):
                return True
        return False

    def _dc_attach(self, dd: str, bdf: str, driver: str) -> None:
        drv = self._dc_real(f"{PCI_DRIVERS}/{driver}")
        try:
            os.symlink(os.path.relpath(drv, dd), os.path.join(dd, "driver"))
            os.symlink(os.path.relpath(dd, drv), os.path.join(drv, bdf))
        except OSError as e:
            raise self._state_error(os.path.join(dd, "driver"), e) from None
        finally:
            self.root.invalidate()

    def _dc_detach(self, dd: str, bdf: str, driver: str) -> None:
        self._dc_unlink(os.path.join(dd, "driver"))
        self._dc_unlink(os.path.join(self._dc_real(f"{PCI_DRIVERS}/{driver}"), bdf))
        self.root.invalidate()
        if is_vfio_driver(driver):
            self._dc_remove_vfio_dev(dd)
            self._dc_sync_group(dd)
            g = self._dc_group(dd)
            if g is not None and self._dc_read(os.path.join(g, "name")) == "vfio-noiommu":
                # vfio_noiommu_group_alloc's group goes with its only device
                self._dc_rmtree(g)
                self._dc_unlink(os.path.join(dd, "iommu_group"))
                self.root.invalidate()

    def _dc_read(self, path: str) -> str | None:
        b = self.root.read(path, 256)
        return None if b is None else b.decode("utf-8", "replace").strip()

    def _dc_cdev_major(self) -> str:
        cls = self.root.join(CLASS_VFIO_DEV)
        for n in sorted(self.root.listdir(cls)) if self.root.isdir(cls) else ():
            v = self._dc_read(os.path.join(cls, n, "dev"))
            if v and ":" in v:
                return v.split(":")[0]
        return "511"

    def _dc_add_vfio_dev(self, dd: str) -> str:
        cls = self._dc_real(CLASS_VFIO_DEV)
        self._dc_makedirs(cls)
        used = set(os.listdir(cls))
        for info in self._dc_pending().values():  # a blocked unbind still holds its index
            if info.get("vfio_dev"):
                used.add(info["vfio_dev"])
        n = 0
        while f"vfio{n}" in used:
            n += 1
        name = f"vfio{n}"
        vd = os.path.join(dd, "vfio-dev", name)
        self._dc_makedirs(vd)
        g = self._dc_group(dd)
        noiommu = g is not None and self._dc_read(os.path.join(g, "name")) == "vfio-noiommu"
        cdir = self._dc_real(DEV_VFIO_DEVICES)
        if not noiommu and self.root.isdir(cdir):
            major = self._dc_cdev_major()
            self._dc_write(os.path.join(vd, "dev"), f"{major}:{n}\n".encode())
            self._dc_write(os.path.join(cdir, name), b"")
        try:
            os.symlink(os.path.relpath(vd, cls), os.path.join(cls, name))
        except OSError as e:
            raise self._state_error(os.path.join(cls, name), e) from None
        self.root.invalidate()
        return name

    def _dc_remove_vfio_dev(self, dd: str) -> str | None:
        vdir = os.path.join(dd, "vfio-dev")
        if not self.root.isdir(vdir):
            return None
        names = sorted(self.root.listdir(vdir))
        cls, cdir = self._dc_real(CLASS_VFIO_DEV), self._dc_real(DEV_VFIO_DEVICES)
        for name in names:
            self._dc_unlink(os.path.join(cls, name))
            self._dc_unlink(os.path.join(cdir, name))
        self._dc_rmtree(vdir)
        self.root.invalidate()
        return names[0] if names else None

    def _dc_sync_group(self, dd: str) -> None:
        """``/dev/vfio/N`` and ``class/vfio/N`` exist while a member is on a VFIO
        driver (vfio_create_group / vfio_device_remove_group)."""
        g = self._dc_group(dd)
        if g is None:
            return
        num = os.path.basename(g)
        node = ("noiommu-" if self._dc_read(os.path.join(g, "name")) == "vfio-noiommu"
                else "") + num
        bound = False
        pend = self._dc_pending()
        try:
            members = self.root.listdir(os.path.join(g, "devices"))
        except OSError:
            members = []
        for m in members:
            try:
                mdir = self.root.realpath(os.path.join(g, "devices", m))
            except OSError:
                continue
            drv = self._dc_driver(mdir)
            if is_vfio_driver(drv) or m in pend:
                bound = True
        devdir_ = self._dc_real(DEV_VFIO)
        devnode = os.path.join(devdir_, node)
        vparent = self._dc_real("sys/devices/virtual/vfio")
        vdir = os.path.join(vparent, node)
        cparent = self._dc_real(CLASS_VFIO)
        clink = os.path.join(cparent, node)
        if bound and not self.root.lexists(devnode):
            self._dc_makedirs(devdir_)
            self._dc_write(devnode, b"")
            self._dc_makedirs(vdir)
            self._dc_write(os.path.join(vdir, "dev"), f"243:{num}\n".encode())
            self._dc_makedirs(cparent)
            if not os.path.lexists(clink):
                os.symlink(os.path.relpath(vdir, cparent), clink)
        elif not bound:
            self._dc_unlink(devnode)
            self._dc_unlink(clink)
            self._dc_rmtree(vdir)
        self.root.invalidate()

    def _dc_make_noiommu_group(self, dd: str, bdf: str) -> None:
        gdir = self._dc_real(IOMMU_GROUPS)
        self._dc_makedirs(gdir)
        used = {int(n) for n in os.listdir(gdir) if n.isdigit()}
        n = 0
        while n in used:
            n += 1
        g = os.path.join(gdir, str(n))
        self._dc_makedirs(os.path.join(g, "devices"))
        self._dc_write(os.path.join(g, "name"), b"vfio-noiommu\n")
        self._dc_write(os.path.join(g, "type"), b"unknown\n")
        try:
            os.symlink(os.path.relpath(dd, os.path.join(g, "devices")),
                       os.path.join(g, "devices", bdf))
            os.symlink(os.path.relpath(g, dd), os.path.join(dd, "iommu_group"))
        except OSError as e:
            raise self._state_error(g, e) from None
        self.root.invalidate()
        tainted = self.root.join("proc/sys/kernel/tainted")
        cur = self._dc_read(tainted)
        if cur is not None:
            try:
                v = int(cur or 0) | 64
            except ValueError:
                return
            try:
                self._dc_write(self._dc_real("proc/sys/kernel/tainted"), f"{v}\n".encode(),
                               create=False)
            except (OSError, HostError):
                pass
