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

FAULT INJECTION: ops ``driver_override``, ``unbind``, ``bind``,
``drivers_probe``, optionally ``@BDF`` (``VFIOCTL_SIM_FAULTS=
"bind@0000:01:00.1=EIO"``); a fault on ``drivers_probe`` fails the write.
"""

from __future__ import annotations

import errno as E
import json
import os
import shutil
import time

from vfioctl.model.host import dma_safe_driver, is_vfio_driver
from vfioctl.sysfs.root import (
    CLASS_VFIO, CLASS_VFIO_DEV, DEV_VFIO, DEV_VFIO_DEVICES, IOMMU_GROUPS, NOIOMMU_PARAM,
    PCI_DEVICES, PCI_DRIVERS,
)

PAGE_SIZE = 4096
POLL = 0.05


class DriverCoreMixin:
    """Driver-core writes for :class:`~vfioctl.kernel.sim.SimKernel`."""

    # -- paths ------------------------------------------------------------------
    def _dc_devdir(self, bdf: str) -> str | None:
        link = self.root.join(f"{PCI_DEVICES}/{bdf}")
        if not os.path.lexists(link):
            return None
        real = os.path.realpath(link)
        return real if os.path.isdir(real) else None

    def _dc_driver(self, devdir: str) -> str | None:
        try:
            return os.path.basename(os.readlink(os.path.join(devdir, "driver")))
        except OSError:
            return None

    def _dc_override(self, devdir: str) -> str | None:
        try:
            with open(os.path.join(devdir, "driver_override")) as f:
                s = f.read(PAGE_SIZE).strip()
        except OSError:
            return None
        return None if s in ("", "(null)") else s

    def _dc_registered(self, driver: str) -> bool:
        return bool(driver) and "/" not in driver and os.path.isdir(
            self.root.join(f"{PCI_DRIVERS}/{driver}"))

    def _dc_attr(self, devdir: str, name: str) -> str | None:
        try:
            with open(os.path.join(devdir, name)) as f:
                return f.read(256).strip()
        except OSError:
            return None

    def _dc_ids(self, devdir: str) -> str:
        v = (self._dc_attr(devdir, "vendor") or "0x????")[2:]
        d = (self._dc_attr(devdir, "device") or "0x????")[2:]
        return f"{v}:{d}".lower()

    def _dc_group(self, devdir: str) -> str | None:
        g = os.path.join(devdir, "iommu_group")
        if not os.path.lexists(g):
            return None
        return os.path.realpath(g)

    # -- id tables ---------------------------------------------------------------
    def _dc_tables(self) -> dict[str, list[str]]:
        path = self.root.join(".vfioctl-sim/drivers.json")
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
        tables: dict[str, list[str]] = {}
        ddir = self.root.join(PCI_DRIVERS)
        for drv in sorted(os.listdir(ddir)) if os.path.isdir(ddir) else ():
            if is_vfio_driver(drv):
                continue
            for e in sorted(os.listdir(os.path.join(ddir, drv))):
                if ":" in e and "." in e:
                    dd = self._dc_devdir(e)
                    if dd is not None:
                        ids = self._dc_ids(dd)
                        if ids not in tables.setdefault(drv, []):
                            tables[drv].append(ids)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                json.dump(tables, f, indent=1, sort_keys=True)
        except OSError:
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

    def _dc_pending_path(self) -> str:
        return self.root.join(".vfioctl-sim/pending-unbind.json")

    def _dc_pending(self) -> dict:
        try:
            with open(self._dc_pending_path()) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def _dc_save_pending(self, p: dict) -> None:
        path = self._dc_pending_path()
        if not p:
            try:
                os.unlink(path)
            except OSError:
                pass
            return
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(p, f)

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
        with open(os.path.join(dd, "driver_override"), "wb") as f:
            f.write((raw or b"(null)") + b"\n")
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
            cands = [d for d in sorted(os.listdir(ddir)) if self._dc_matches(d, dd, tables)]
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
            cfg = b""
            try:
                with open(os.path.join(dd, "config"), "rb") as f:
                    cfg = f.read(64)
            except OSError:
                pass
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
        try:
            with open(self.root.join(rel)) as f:
                return f.read(64).strip()
        except OSError:
            return None

    def _dc_group_in_use(self, gdir: str) -> bool:
        from vfioctl.model import nodes
        host = self._host()
        num = int(os.path.basename(gdir))
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
        drv = self.root.join(f"{PCI_DRIVERS}/{driver}")
        os.symlink(os.path.relpath(drv, dd), os.path.join(dd, "driver"))
        os.symlink(os.path.relpath(dd, drv), os.path.join(drv, bdf))

    def _dc_detach(self, dd: str, bdf: str, driver: str) -> None:
        for p in (os.path.join(dd, "driver"), self.root.join(f"{PCI_DRIVERS}/{driver}/{bdf}")):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        if is_vfio_driver(driver):
            self._dc_remove_vfio_dev(dd)
            self._dc_sync_group(dd)
            g = self._dc_group(dd)
            if g is not None and self._dc_read(os.path.join(g, "name")) == "vfio-noiommu":
                # vfio_noiommu_group_alloc's group goes with its only device
                shutil.rmtree(g, ignore_errors=True)
                os.unlink(os.path.join(dd, "iommu_group"))

    @staticmethod
    def _dc_read(path: str) -> str | None:
        try:
            with open(path) as f:
                return f.read(256).strip()
        except OSError:
            return None

    def _dc_cdev_major(self) -> str:
        cls = self.root.join(CLASS_VFIO_DEV)
        for n in sorted(os.listdir(cls)) if os.path.isdir(cls) else ():
            v = self._dc_read(os.path.join(cls, n, "dev"))
            if v and ":" in v:
                return v.split(":")[0]
        return "511"

    def _dc_add_vfio_dev(self, dd: str) -> str:
        cls = self.root.join(CLASS_VFIO_DEV)
        os.makedirs(cls, exist_ok=True)
        used = set(os.listdir(cls))
        for info in self._dc_pending().values():  # a blocked unbind still holds its index
            if info.get("vfio_dev"):
                used.add(info["vfio_dev"])
        n = 0
        while f"vfio{n}" in used:
            n += 1
        name = f"vfio{n}"
        vd = os.path.join(dd, "vfio-dev", name)
        os.makedirs(vd)
        g = self._dc_group(dd)
        noiommu = g is not None and self._dc_read(os.path.join(g, "name")) == "vfio-noiommu"
        cdir = self.root.join(DEV_VFIO_DEVICES)
        if not noiommu and os.path.isdir(cdir):
            major = self._dc_cdev_major()
            with open(os.path.join(vd, "dev"), "w") as f:
                f.write(f"{major}:{n}\n")
            open(os.path.join(cdir, name), "w").close()
        os.symlink(os.path.relpath(vd, cls), os.path.join(cls, name))
        return name

    def _dc_remove_vfio_dev(self, dd: str) -> str | None:
        vdir = os.path.join(dd, "vfio-dev")
        if not os.path.isdir(vdir):
            return None
        names = sorted(os.listdir(vdir))
        for name in names:
            for p in (self.root.join(f"{CLASS_VFIO_DEV}/{name}"),
                      self.root.join(f"{DEV_VFIO_DEVICES}/{name}")):
                if os.path.lexists(p):
                    os.unlink(p)
        shutil.rmtree(vdir)
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
            members = os.listdir(os.path.join(g, "devices"))
        except OSError:
            members = []
        for m in members:
            drv = self._dc_driver(os.path.realpath(os.path.join(g, "devices", m)))
            if is_vfio_driver(drv) or m in pend:
                bound = True
        devnode = self.root.join(f"{DEV_VFIO}/{node}")
        vdir = self.root.join(f"sys/devices/virtual/vfio/{node}")
        clink = self.root.join(f"{CLASS_VFIO}/{node}")
        if bound and not os.path.exists(devnode):
            os.makedirs(os.path.dirname(devnode), exist_ok=True)
            open(devnode, "w").close()
            os.makedirs(vdir, exist_ok=True)
            with open(os.path.join(vdir, "dev"), "w") as f:
                f.write(f"243:{num}\n")
            os.makedirs(os.path.dirname(clink), exist_ok=True)
            if not os.path.lexists(clink):
                os.symlink(os.path.relpath(vdir, os.path.dirname(clink)), clink)
        elif not bound:
            for p in (devnode, clink):
                if os.path.lexists(p):
                    os.unlink(p)
            shutil.rmtree(vdir, ignore_errors=True)

    def _dc_make_noiommu_group(self, dd: str, bdf: str) -> None:
        gdir = self.root.join(IOMMU_GROUPS)
        os.makedirs(gdir, exist_ok=True)
        used = {int(n) for n in os.listdir(gdir) if n.isdigit()}
        n = 0
        while n in used:
            n += 1
        g = os.path.join(gdir, str(n))
        os.makedirs(os.path.join(g, "devices"))
        with open(os.path.join(g, "name"), "w") as f:
            f.write("vfio-noiommu\n")
        with open(os.path.join(g, "type"), "w") as f:
            f.write("unknown\n")
        os.symlink(os.path.relpath(dd, os.path.join(g, "devices")),
                   os.path.join(g, "devices", bdf))
        os.symlink(os.path.relpath(g, dd), os.path.join(dd, "iommu_group"))
        try:
            with open(self.root.join("proc/sys/kernel/tainted"), "r+") as f:
                v = int(f.read().strip() or 0) | 64
                f.seek(0)
                f.write(f"{v}\n")
                f.truncate()
        except (OSError, ValueError):
            pass
