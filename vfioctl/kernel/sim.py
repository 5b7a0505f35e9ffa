"""A simulated VFIO kernel over a fixture root.

MODELLED (each with the errno the real kernel returns; kernel-vfio.md §3–§5,
real-kernel-vm.md §5):

* /dev/vfio/vfio containers: GET_API_VERSION (0), CHECK_EXTENSION (Type1/
  Type1v2 when IOMMU groups exist, VFIO_NOIOMMU_IOMMU only with
  enable_unsafe_noiommu_mode=Y), SET_IOMMU (EINVAL without a group or when
  already set; ENODEV for an unsupported type; noiommu containers take only
  type 8).
* Group nodes: ENOENT for a missing node (``/dev/vfio/N`` of a noiommu group
  does not exist: ``noiommu-N`` does); EBUSY when the group is already open
  (by anyone, this process included) or a member is opened through its cdev;
  EPERM for noiommu groups without CAP_SYS_RAWIO (``privileged=False``).
  GET_STATUS: VIABLE unless a member is bound to a DMA-claiming driver;
  CONTAINER_SET once attached.  SET_CONTAINER: EINVAL if already set, EBADF /
  EBADFD for bad fds, EPERM if not viable or mixing noiommu and IOMMU groups.
  GET_DEVICE_FD: EINVAL without a container IOMMU, ENODEV for a name that is
  not a vfio-pci device of the group.
* Device cdevs + /dev/iommu: any device ioctl before BIND is EINVAL; BIND:
  EINVAL on a group-obtained fd or a second bind, EBADF/EBADFD for a bad
  iommufd, EBUSY when the group node is open, EINVAL when the device is
  already open through another file, EPERM when the group's DMA is owned by
  a host driver or another iommufd, ENODEV without a group.  devids are
  allocated per iommufd from 1.
* Opening a device (GET_DEVICE_FD, BIND) performs the open-time function reset;
  ``reset_works`` follows the device's ``reset_method``: any of
  device_specific/acpi/flr/af_flr/pm, or ``bus`` only while the device is
  alone on its bus (the real kernel's multifunction anomaly, §4).
* GET_INFO: FLAGS_PCI, FLAGS_RESET iff reset_works, 9 regions, 5 irqs.
  RESET: EINVAL without reset_works.
* GET_PCI_HOT_RESET_INFO: ENODEV without slot/bus reset; ENOSPC with count
  written and flags 0 when the buffer is short; group ids (EPERM when an
  affected function has no group) or devids with DEV_ID / DEV_ID_OWNED and
  OWNED (0) / NOT_OWNED (0xffffffff) exactly as vfio_pci_fill_devs does.
* PCI_HOT_RESET: EINVAL for the count/mode mismatch (checked first), ENODEV
  without slot/bus reset, EINVAL for count > affected, EBADF for a closed fd,
  EINVAL for a non-group fd, EINVAL when a function in scope is not in the
  dev_set or a dev_set member is not owned; success resets every function
  in scope (journal) and clears needs_reset.
* Last close of a device: function reset when reset_works, else needs_reset;
  when no member of the dev_set is open any more and one needs a reset, a bus
  reset of the dev_set (vfio_pci_dev_set_try_reset).
* Topology is re-read from the fixture at every call, so a function removed
  between plan and execute disappears for the kernel too (ENODEV on its fds).

* VF tokens (kernel/sim_sriov.py, rules in model/sriov.py): EACCES opening a
  VF of a vfio-pci PF without the PF's token (group path; BIND_IOMMUFD from
  6.17), EINVAL for a token when the PF is not on vfio-pci, EACCES opening a
  PF whose VFs are in use without it; VFIO_DEVICE_FEATURE SET|PCI_VF_TOKEN.

NOT MODELLED: memory_lock contention (EBUSY) and device-lock contention
(EAGAIN) — inject them; PCI_DEV_FLAGS_NO_BUS_RESET
quirks; the reset failing (ENOTTY after a link that does not come back) —
inject it; IOAS/HWPT objects and DMA mapping; needs_reset of devices closed by
other processes.

STATE VISIBLE TO OTHERS: every node this simulator opens is recorded as a
``proc/<pid>/fd/<n>`` link in the fixture (pid: a per-instance number), the
way the real kernel shows open files, so another vfioctl process or instance
sees the group as held, exactly as on a live host.  Opens are serialised with
an flock on ``<root>/.vfioctl-sim.lock``.

DRIVER CORE: the sysfs writes of binding (``driver_override``, ``unbind``,
``bind``, ``drivers_probe``) are modelled in :mod:`vfioctl.kernel.sim_drivercore`
(its header lists what), mixed into :class:`SimKernel`.

FAULT INJECTION: ``SimKernel(root, faults={"VFIO_DEVICE_PCI_HOT_RESET":
"EIO", "VFIO_DEVICE_BIND_IOMMUFD@0000:81:00.1": "EAGAIN"})`` or the
environment variable ``VFIOCTL_SIM_FAULTS="OP[@ADDR]=ERRNO,..."``; ``OP`` may
also be ``open`` with ``@/dev/vfio/N``.  Every operation can be injected
(:data:`FAULT_OPS`, the API version query included); the specification is
validated: a bad item (no ``=``, an unknown operation or errno) is a usage
error naming it.

HARDENING (issue 8): simulated pids are unique across processes (a pid is
taken by creating ``proc/<pid>`` with ``mkdir``, which fails for a pid that
is taken); state is written only into regular files and directories the
simulator creates inside the root, never through a symlink (``O_NOFOLLOW``,
and a state path whose directories are links is refused); a filesystem
error on its state is a :class:`~vfioctl.errors.HostError` (exit 4).

JOURNAL: :attr:`SimKernel.journal` (and ``<root>/.vfioctl-sim/journal.jsonl``)
records every call and its result as ``{"op", "target", "result"}``.
"""

from __future__ import annotations

import errno as E
import fcntl
import itertools
import json
import os
import stat
import threading
from vfioctl.model.record import dataclass, field

from vfioctl.kernel.base import (
    DeviceInfo, DependentDevice, HotResetInfo, KernelError, VFIO_DEVICE_FLAGS_PCI,
    VFIO_DEVICE_FLAGS_RESET, VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_VIABLE,
    VFIO_NOIOMMU_IOMMU, VFIO_PCI_DEVID_NOT_OWNED, VFIO_PCI_DEVID_OWNED,
    VFIO_PCI_HOT_RESET_FLAG_DEV_ID, VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED, VFIO_TYPE1_IOMMU,
    VFIO_TYPE1v2_IOMMU,
)
from vfioctl.errors import HostError
from vfioctl.kernel.sim_drivercore import DriverCoreMixin
from vfioctl.model import scope as sc
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host, PciFunction
from vfioctl.sysfs.root import Root
from vfioctl.model import nodes, sriov
from vfioctl.kernel.sim_sriov import VfTokens

FUNCTION_RESET_METHODS = ("device_specific", "acpi", "flr", "af_flr", "pm")
_instances = itertools.count(1)
_lock = threading.Lock()


@dataclass
class _Container:
    groups: list = field(default_factory=list)   # _Group objects
    iommu: int | None = None
    node: str = nodes.CONTAINER


@dataclass
class _Group:
    number: int
    node: str
    noiommu: bool
    container: int | None = None


@dataclass
class _Device:
    address: PciAddress
    via_group: int | None = None    # group fd it came from
    cdev: bool = False
    bound_ctx: int | None = None    # iommufd fd
    devid: int | None = None
    node: str = ""


@dataclass
class _Ictx:
    next_id: int = 1
    node: str = nodes.IOMMUFD


#: Operations a fault can be injected into (``OP`` of ``OP[@TARGET]=ERRNO``).
FAULT_OPS = (
    "open", "VFIO_GET_API_VERSION", "VFIO_CHECK_EXTENSION", "VFIO_SET_IOMMU",
    "VFIO_GROUP_GET_STATUS", "VFIO_GROUP_SET_CONTAINER", "VFIO_GROUP_GET_DEVICE_FD",
    "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_RESET",
    "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "VFIO_DEVICE_PCI_HOT_RESET",
    # the driver core (sim_drivercore.py)
    "driver_override", "unbind", "bind", "drivers_probe",
)


def _fault_errno(name: str) -> int | None:
    if name.isdigit():
        n = int(name)
        return n if 0 < n < 4096 else None
    n = getattr(E, name, None)
    return n if isinstance(n, int) and name in E.errorcode.values() else None


def parse_faults(spec: str | None) -> dict[str, str]:
    """``OP[@TARGET]=ERRNO,...`` -> {key: errno name}.  Raises
    :class:`~vfioctl.errors.UsageError` naming the first bad item."""
    from vfioctl.errors import UsageError
    out: dict[str, str] = {}
    hint = ("VFIOCTL_SIM_FAULTS is OP[@TARGET]=ERRNO,... with OP one of "
            + ", ".join(FAULT_OPS) + " and ERRNO a name such as EIO or a number")
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        k, eq, v = part.partition("=")
        k, v = k.strip(), v.strip().upper()
        if not eq or not k or not v:
            raise UsageError(f"VFIOCTL_SIM_FAULTS: {part!r} is not OP[@TARGET]=ERRNO", hint)
        op = k.partition("@")[0]
        if op not in FAULT_OPS:
            raise UsageError(f"VFIOCTL_SIM_FAULTS: {part!r}: unknown operation {op!r}", hint)
        if _fault_errno(v) is None:
            raise UsageError(f"VFIOCTL_SIM_FAULTS: {part!r}: unknown errno {v!r}", hint)
        out[k] = v
    return out


class SimKernel(DriverCoreMixin):
    """See the module docstring.  ``name = "sim"``."""

    name = "sim"

    def __init__(self, root: str = "/", *, faults: dict[str, str] | None = None,
                 privileged: bool = True, comm: str = "vfioctl", hook=None):
        self.root = Root(root)
        self.faults = dict(parse_faults(os.environ.get("VFIOCTL_SIM_FAULTS")))
        self.faults.update(parse_faults(",".join(f"{k}={v}" for k, v in (faults or {}).items())))
        self.privileged = privileged
        self.comm = comm
        self.hook = hook  # callable(op, target) for tests (races)
        self.pid = 900000 + (os.getpid() % 1000) * 100 + next(_instances) % 100
        self.journal: list[dict] = []
        self._fds: dict[int, object] = {}
        self._next_fd = itertools.count(1000)
        self._open_count: dict[PciAddress, int] = {}
        self._works: dict[PciAddress, bool] = {}
        self._needs_reset: dict[PciAddress, bool] = {}
        self.vf_tokens = VfTokens(self)   # SR-IOV VF tokens (kernel/sim_sriov.py)

    # -- plumbing ---------------------------------------------------------------
    def _host(self) -> Host:
        from vfioctl.sysfs.reader import read_host
        return read_host(self.root, holders=True, full_config=False)

    # -- state files: only regular files/directories of ours, inside the root --
    def _state_path(self, rel: str) -> str:
        """Real path of a state file; its directories must not be links."""
        p = self.root.join(rel)
        try:
            ok = self.root.resolve(p, follow_last=False) == p
        except OSError:
            ok = False
        if not ok:
            raise HostError(f"simulator state {self.root.shown(p)} lies behind a symbolic link; "
                            "refusing to write through it",
                            "remove the link from the fixture tree")
        return p

    def _state_dir(self, rel: str) -> str:
        p = self._state_path(rel)
        try:
            os.mkdir(p, 0o755)
        except FileExistsError:
            pass
        except OSError as e:
            raise self._state_error(p, e) from None
        try:
            st = os.lstat(p)
        except OSError as e:
            raise self._state_error(p, e) from None
        if not stat.S_ISDIR(st.st_mode):
            raise HostError(f"simulator state {self.root.shown(p)} is not a directory",
                            "remove it from the fixture tree")
        return p

    def _state_error(self, path: str, e: OSError) -> HostError:
        return HostError(f"the simulator cannot use {path}: "
                         f"{e.strerror or e}",
                         "check that the fixture root is writable and holds no odd entries "
                         "(links, FIFOs, directories) where the simulator keeps its state")

    def _open_state(self, path: str, flags: int, mode: int = 0o644) -> int:
        try:
            fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
        except OSError as e:
            raise self._state_error(path, e) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise HostError(f"simulator state {self.root.shown(path)} is not a regular file",
                            "remove it from the fixture tree")
        return fd

    def _log(self, op: str, target: str, result) -> None:
        entry = {"op": op, "target": target, "result": result}
        self.journal.append(entry)
        try:
            d = self._state_dir(".vfioctl-sim")
            fd = self._open_state(os.path.join(d, "journal.jsonl"),
                                  os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, (json.dumps(entry) + "\n").encode())
            finally:
                os.close(fd)
        except (OSError, HostError):
            pass   # the in-memory journal stays authoritative

    def _fail(self, op: str, target: str, err: int, **kw) -> None:
        self._log(op, target, E.errorcode.get(err, str(err)))
        raise KernelError(op, err, target, **kw)

    def _fault(self, op: str, target: str) -> None:
        if self.hook is not None:
            self.hook(op, target)
        for key in (f"{op}@{target}", op):
            if key in self.faults:
                self._fail(op, target, _fault_errno(self.faults[key]), detail="injected fault")

    def _flock(self):
        path = self._state_path(".vfioctl-sim.lock")
        fd = self._open_state(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as e:
            os.close(fd)
            raise self._state_error(path, e) from None
        return fd

    def _unflock(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _proc_dir(self) -> str:
        return self.root.join(f"proc/{self.pid}")

    def _claim_pid(self) -> str:
        """Take a simulated pid no other process uses: ``mkdir proc/<pid>``
        fails when the pid is taken (another vfioctl, another instance)."""
        proc = self._state_dir("proc")
        for _ in range(1000):
            d = os.path.join(proc, str(self.pid))
            try:
                os.mkdir(d, 0o755)
            except FileExistsError:
                self.pid = 900000 + (self.pid - 900000 + 1) % 99999
                continue
            except OSError as e:
                raise self._state_error(d, e) from None
            try:
                os.mkdir(os.path.join(d, "fd"), 0o755)
                cfd = self._open_state(os.path.join(d, "comm"),
                                       os.O_WRONLY | os.O_CREAT | os.O_EXCL)
                try:
                    os.write(cfd, (self.comm + "\n").encode())
                finally:
                    os.close(cfd)
            except (OSError, HostError) as e:
                self._remove_proc_dir(d)
                raise e if isinstance(e, HostError) else self._state_error(d, e) from None
            return d
        raise HostError("the simulator found no free simulated pid under proc/",
                        "remove stale proc/9xxxxx directories from the fixture tree")

    def _new_fd(self, obj, node: str) -> int:
        d = self._proc_dir()
        if not self._fds:
            d = self._claim_pid()
        fd = next(self._next_fd)
        try:
            os.symlink(node, os.path.join(d, "fd", str(fd)))
        except OSError as e:
            if not self._fds:
                self._remove_proc_dir(d)
            raise self._state_error(os.path.join(d, "fd", str(fd)), e) from None
        self._fds[fd] = obj
        return fd

    @staticmethod
    def _remove_proc_dir(d: str) -> None:
        for p in (os.path.join(d, "comm"), os.path.join(d, "fd"), d):
            try:
                (os.rmdir if not p.endswith("comm") else os.unlink)(p)
            except OSError:
                pass

    def _drop_fd(self, fd: int) -> None:
        self._fds.pop(fd, None)
        d = self._proc_dir()
        try:
            os.unlink(os.path.join(d, "fd", str(fd)))
        except OSError:
            pass
        if not self._fds:
            self._remove_proc_dir(d)

    def _get(self, fd: int, kind, op: str, target: str = ""):
        obj = self._fds.get(fd)
        if obj is None:
            self._fail(op, target or f"fd {fd}", E.EBADF)
        if not isinstance(obj, kind):
            # an ioctl the fd's file_operations do not know: -ENOTTY
            self._fail(op, target or f"fd {fd}", E.ENOTTY)
        return obj

    def _holds_device(self, address: PciAddress) -> bool:
        """Whether this process holds an opened (group-got or iommufd-bound) device
        fd of ``address``."""
        return any(isinstance(o, _Device) and o.address == address
                   and (o.via_group is not None or o.bound_ctx is not None)
                   for o in self._fds.values())

    def _others(self, host: Host, node: str) -> list:
        # our pid is ours only while we hold an fd (proc/<pid> is claimed then)
        mine = self.pid if self._fds else None
        return [h for h in host.holders_of(node) if h.pid != mine]

    # -- the fd table -----------------------------------------------------------
    def open_fds(self) -> list[int]:
        return sorted(self._fds)

    def open_container(self) -> int:
        node = nodes.CONTAINER
        self._fault("open", node)
        if not self.root.lexists(self.root.node(node)):
            self._fail("open", node, E.ENOENT)
        fd = self._new_fd(_Container(), node)
        self._log("open", node, fd)
        return fd

    def open_iommufd(self) -> int:
        node = nodes.IOMMUFD
        self._fault("open", node)
        if not self.root.lexists(self.root.node(node)):
            self._fail("open", node, E.ENOENT)
        fd = self._new_fd(_Ictx(), node)
        self._log("open", node, fd)
        return fd

    def open_group(self, node: str) -> int:
        self._fault("open", node)
        lk = self._flock()
        try:
            if not self.root.lexists(self.root.node(node)):
                self._fail("open", node, E.ENOENT)
            name = node.rsplit("/", 1)[1]
            noiommu = name.startswith("noiommu-")
            try:
                num = int(name[len("noiommu-"):] if noiommu else name)
            except ValueError:
                self._fail("open", node, E.ENODEV)
            host = self._host()
            g = host.groups.get(num)
            if g is None:
                self._fail("open", node, E.ENODEV)
            if noiommu and not self.privileged:
                self._fail("open", node, E.EPERM, detail="noiommu needs CAP_SYS_RAWIO")
            if self._others(host, node) or any(
                    isinstance(o, _Group) and o.number == num for o in self._fds.values()):
                self._fail("open", node, E.EBUSY)
            for a in g.members:
                f = host.functions.get(a)
                if f is None or not f.vfio_dev:
                    continue
                cnode = nodes.cdev(f.vfio_dev)
                if self._others(host, cnode) or any(
                        isinstance(o, _Device) and o.cdev and o.address == a
                        for o in self._fds.values()):
                    self._fail("open", node, E.EBUSY, detail="a member is open through its cdev")
            fd = self._new_fd(_Group(num, node, g.noiommu), node)
        finally:
            self._unflock(lk)
        self._log("open", node, fd)
        return fd

    def open_cdev(self, node: str) -> int:
        self._fault("open", node)
        if not self.root.lexists(self.root.node(node)):
            self._fail("open", node, E.ENOENT)
        name = node.rsplit("/", 1)[1]
        host = self._host()
        hits = [f for f in host.functions.values() if f.vfio_dev == name]
        if not hits:
            self._fail("open", node, E.ENODEV)
        fd = self._new_fd(_Device(hits[0].address, cdev=True, node=node), node)
        self._log("open", node, fd)
        return fd

    def close(self, fd: int) -> None:
        obj = self._fds.get(fd)
        if obj is None:
            raise KernelError("close", E.EBADF, f"fd {fd}")
        if isinstance(obj, _Device) and (obj.via_group is not None or obj.bound_ctx is not None):
            self._device_release(obj)
        if isinstance(obj, _Group) and obj.container is not None:
            c = self._fds.get(obj.container)
            if isinstance(c, _Container) and obj in c.groups:
                c.groups.remove(obj)
                if not c.groups:
                    c.iommu = None
        self._drop_fd(fd)
        self._log("close", str(obj.address) if isinstance(obj, _Device) and not obj.cdev
                  else obj.node, 0)
        if isinstance(obj, _Device):
            self._dc_settle(seed=False)  # the last user gone: a blocked unbind completes

    def close_all(self) -> None:
        # devices first, then groups, then containers/iommufds: the kernel's
        # release order when a process exits
        order = sorted(self._fds.items(), key=lambda kv: (
            0 if isinstance(kv[1], _Device) else 1 if isinstance(kv[1], _Group) else 2, kv[0]))
        for fd, _ in order:
            try:
                self.close(fd)
            except KernelError:
                pass

    # -- device open/close side effects ----------------------------------------
    def _reset_works(self, host: Host, fn: PciFunction) -> bool:
        methods = fn.reset_method or ()
        if any(m in FUNCTION_RESET_METHODS for m in methods):
            return True
        if "bus" in methods:
            br = sc.bus_self(host, fn)
            siblings = [f for f in host.children(fn.parent) if f.address.bus == fn.address.bus
                        and f.address != fn.address]
            return br is not None and not siblings
        return False

    def _device_open(self, host: Host, fn: PciFunction, op: str) -> None:
        n = self._open_count.get(fn.address, 0)
        if n == 0:
            works = self._reset_works(host, fn)
            self._works[fn.address] = works
            self._log("function reset (open)", str(fn.address), "done" if works else "no method")
        self._open_count[fn.address] = n + 1

    def _device_release(self, dev: _Device) -> None:
        a = dev.address
        n = self._open_count.get(a, 1) - 1
        self._open_count[a] = n
        if n > 0:
            return
        self._open_count.pop(a, None)
        if self._works.get(a):
            self._needs_reset[a] = False
            self._log("function reset (close)", str(a), "done")
        else:
            self._needs_reset[a] = True
        try:
            host = self._host()
        except Exception:
            return
        fn = host.functions.get(a)
        if fn is None:
            return
        _, dev_set = sc.dev_set_of(host, fn)
        if any(self._open_count.get(m.address) for m in dev_set):
            return
        if any(self._others(host, m_node) for m in dev_set
               for m_node in self._nodes_of(host, m)):
            return
        if not any(self._needs_reset.get(m.address) for m in dev_set):
            return
        plan = sc.plan_reset(host, dev_set[0]) if dev_set else None
        if plan is None or plan.kind is None or any(not x.in_dev_set for x in plan.affected):
            return
        for m in dev_set:
            self._needs_reset[m.address] = False
        self._log("bus reset (vfio_pci_dev_set_try_reset)", plan.dev_set_key or "",
                  [str(x.address) for x in plan.affected])

    @staticmethod
    def _nodes_of(host: Host, fn: PciFunction) -> list[str]:
        out = []
        g = host.group_of(fn)
        if g is not None:
            out.append(g.node)
        if fn.vfio_dev:
            out.append(nodes.cdev(fn.vfio_dev))
        return out

    def _usable_device(self, fd: int, op: str) -> tuple[_Device, Host, PciFunction]:
        dev = self._get(fd, _Device, op)
        target = str(dev.address)
        if dev.cdev and dev.bound_ctx is None:
            self._fail(op, target, E.EINVAL, detail="cdev not bound (access not granted)")
        self._fault(op, target)
        host = self._host()
        fn = host.functions.get(dev.address)
        if fn is None or not fn.vfio_bound:
            self._fail(op, target, E.ENODEV, detail="the device is gone")
        return dev, host, fn

    # -- container ioctls -------------------------------------------------------
    def VFIO_GET_API_VERSION(self, container: int) -> int:
        self._get(container, _Container, "VFIO_GET_API_VERSION")
        self._fault("VFIO_GET_API_VERSION", nodes.CONTAINER)
        self._log("VFIO_GET_API_VERSION", nodes.CONTAINER, 0)
        return 0

    def VFIO_CHECK_EXTENSION(self, container: int, ext: int) -> int:
        op = "VFIO_CHECK_EXTENSION"
        self._get(container, _Container, op)
        self._fault(op, str(ext))
        host = self._host()
        if ext in (VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU):
            r = int(any(not g.noiommu for g in host.groups.values()) or bool(host.iommu_present))
        elif ext == VFIO_NOIOMMU_IOMMU:
            r = int(bool(host.noiommu_mode))
        else:
            r = 0
        self._log(op, str(ext), r)
        return r

    def VFIO_SET_IOMMU(self, container: int, iommu_type: int) -> None:
        op = "VFIO_SET_IOMMU"
        c = self._get(container, _Container, op)
        self._fault(op, str(iommu_type))
        if not c.groups or c.iommu is not None:
            self._fail(op, str(iommu_type), E.EINVAL)
        noi = c.groups[0].noiommu
        if noi:
            if iommu_type != VFIO_NOIOMMU_IOMMU:
                self._fail(op, str(iommu_type), E.ENODEV)
            if not self.privileged:
                self._fail(op, str(iommu_type), E.EPERM)
        elif iommu_type not in (VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU):
            self._fail(op, str(iommu_type), E.ENODEV)
        c.iommu = iommu_type
        self._log(op, str(iommu_type), 0)

    # -- group ioctls -----------------------------------------------------------
    def VFIO_GROUP_GET_STATUS(self, group: int) -> int:
        op = "VFIO_GROUP_GET_STATUS"
        g = self._get(group, _Group, op)
        self._fault(op, g.node)
        host = self._host()
        hg = host.groups.get(g.number)
        if hg is None:
            self._fail(op, g.node, E.ENODEV)
        flags = 0 if host.viability_blockers(hg) else VFIO_GROUP_FLAGS_VIABLE
        if g.container is not None:
            flags |= VFIO_GROUP_FLAGS_CONTAINER_SET
        self._log(op, g.node, flags)
        return flags

    def VFIO_GROUP_SET_CONTAINER(self, group: int, container: int) -> None:
        op = "VFIO_GROUP_SET_CONTAINER"
        g = self._get(group, _Group, op)
        self._fault(op, g.node)
        if g.container is not None:
            self._fail(op, g.node, E.EINVAL)
        c = self._fds.get(container)
        if c is None:
            self._fail(op, g.node, E.EBADF)
        if not isinstance(c, _Container):
            self._fail(op, g.node, E.EBADFD)
        host = self._host()
        hg = host.groups.get(g.number)
        if hg is None or host.viability_blockers(hg):
            self._fail(op, g.node, E.EPERM, detail="group not viable")
        if c.groups and c.groups[0].noiommu != g.noiommu:
            self._fail(op, g.node, E.EPERM, detail="noiommu and IOMMU groups cannot share a container")
        if g.noiommu and not self.privileged:
            self._fail(op, g.node, E.EPERM)
        g.container = container
        c.groups.append(g)
        self._log(op, g.node, 0)

    def VFIO_GROUP_GET_DEVICE_FD(self, group: int, name: str) -> int:
        op = "VFIO_GROUP_GET_DEVICE_FD"
        g = self._get(group, _Group, op)
        raw, name = name, sriov.redact(name)   # the journal never holds a VF token
        self._fault(op, (raw.split() or [""])[0])
        c = self._fds.get(g.container) if g.container is not None else None
        if not isinstance(c, _Container) or c.iommu is None:
            self._fail(op, name, E.EINVAL, detail="no container IOMMU set")
        host = self._host()
        addr, token, well_formed = sriov.parse_device_name(raw)
        a = PciAddress.try_parse(addr)
        fn = host.functions.get(a) if a else None
        if fn is None or fn.iommu_group != g.number or not fn.vfio_bound:
            self._fail(op, name, E.ENODEV)
        if not well_formed:
            self._fail(op, name, E.EINVAL, detail="malformed device name arguments")
        self.vf_tokens.check_open(host, fn, token, op, name)
        self._device_open(host, fn, op)
        # a device fd from the group is an anonymous inode, as /proc/PID/fd shows it
        fd = self._new_fd(_Device(fn.address, via_group=group, node=g.node),
                          "anon_inode:[vfio-device]")
        self._log(op, name, fd)
        return fd

    # -- cdev ioctls ------------------------------------------------------------
    def VFIO_DEVICE_BIND_IOMMUFD(self, device: int, iommufd: int, token: str | None = None) -> int:
        op = "VFIO_DEVICE_BIND_IOMMUFD"
        dev = self._get(device, _Device, op)
        target = str(dev.address)
        if not dev.cdev or dev.bound_ctx is not None:
            self._fail(op, target, E.EINVAL)
        ictx = self._fds.get(iommufd)
        if ictx is None:
            self._fail(op, target, E.EBADF)
        if not isinstance(ictx, _Ictx):
            self._fail(op, target, E.EBADFD)
        self._fault(op, target)
        lk = self._flock()
        try:
            host = self._host()
            fn = host.functions.get(dev.address)
            if fn is None:
                self._fail(op, target, E.ENODEV)
            g = host.group_of(fn)
            if g is None:
                self._fail(op, target, E.ENODEV)
            # vfio_device_block_group: the group node must not be open
            if self._others(host, g.node) or any(
                    isinstance(o, _Group) and o.number == g.number for o in self._fds.values()):
                self._fail(op, target, E.EBUSY)
            # vfio_df_open: only one open through a cdev
            if self._others(host, dev.node) or any(
                    isinstance(o, _Device) and o is not dev and o.address == dev.address
                    and o.bound_ctx is not None for o in self._fds.values()):
                self._fail(op, target, E.EINVAL, detail="device already open")
            # iommu_device_claim_dma_owner: host driver or another iommufd
            if host.viability_blockers(g):
                self._fail(op, target, E.EPERM, detail="group DMA owned by a host driver")
            for a in g.members:
                if a == fn.address:
                    continue
                m = host.functions.get(a)
                if m is not None and m.vfio_dev and self._others(
                        host, nodes.cdev(m.vfio_dev)):
                    self._fail(op, target, E.EPERM, detail="group DMA owned by another iommufd")
                if any(isinstance(o, _Device) and o.address == a and o.bound_ctx not in
                       (None, iommufd) for o in self._fds.values()):
                    self._fail(op, target, E.EPERM, detail="group DMA owned by another iommufd")
            self.vf_tokens.check_bind(host, fn, token, op, target)
            self._device_open(host, fn, op)
            dev.bound_ctx = iommufd
            dev.devid = ictx.next_id
            ictx.next_id += 1
        finally:
            self._unflock(lk)
        self._log(op, target, dev.devid)
        return dev.devid

    # -- device ioctls ----------------------------------------------------------
    def VFIO_DEVICE_GET_INFO(self, device: int) -> DeviceInfo:
        op = "VFIO_DEVICE_GET_INFO"
        dev, host, fn = self._usable_device(device, op)
        flags = VFIO_DEVICE_FLAGS_PCI
        if self._works.get(dev.address):
            flags |= VFIO_DEVICE_FLAGS_RESET
        self._log(op, str(dev.address), flags)
        return DeviceInfo(flags=flags, num_regions=9, num_irqs=5)

    def VFIO_DEVICE_FEATURE_PCI_VF_TOKEN(self, device: int, token: str) -> None:
        op = "VFIO_DEVICE_FEATURE"
        dev, host, fn = self._usable_device(device, op)
        self.vf_tokens.set_feature(host, fn, token, op, str(dev.address))
        self._log(op, str(dev.address), "PCI_VF_TOKEN set")

    def VFIO_DEVICE_RESET(self, device: int) -> None:
        op = "VFIO_DEVICE_RESET"
        dev, host, fn = self._usable_device(device, op)
        if not self._works.get(dev.address):
            self._fail(op, str(dev.address), E.EINVAL, detail="reset_works is false")
        self._log(op, str(dev.address), 0)

    def _info_entries(self, dev: _Device, host: Host, plan: sc.ResetPlan, op: str
                      ) -> tuple[int, list[DependentDevice]]:
        out: list[DependentDevice] = []
        if not dev.cdev:
            for a in plan.affected:
                if a.function.iommu_group is None:
                    self._fail(op, str(dev.address), E.EPERM,
                               detail=f"{a.address} has no IOMMU group")
                out.append(DependentDevice(a.address.domain, a.address.bus, a.address.devfn,
                                           a.function.iommu_group))
            return 0, out
        flags = VFIO_PCI_HOT_RESET_FLAG_DEV_ID | VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED
        in_set = {f.address for f in plan.dev_set}
        for a in plan.affected:
            devid = self._devid(host, a.function, dev.bound_ctx, in_set)
            if devid == VFIO_PCI_DEVID_NOT_OWNED:
                flags &= ~VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED
            out.append(DependentDevice(a.address.domain, a.address.bus, a.address.devfn, devid))
        return flags, out

    def _devid(self, host: Host, f: PciFunction, ctx: int | None, in_set: set) -> int:
        """vfio_iommufd_get_dev_id(): devid, OWNED (group owned), or NOT_OWNED."""
        if f.address not in in_set:
            return VFIO_PCI_DEVID_NOT_OWNED
        for o in self._fds.values():
            if isinstance(o, _Device) and o.address == f.address and o.bound_ctx == ctx:
                return o.devid
        if f.iommu_group is not None:
            for o in self._fds.values():
                if (isinstance(o, _Device) and o.bound_ctx == ctx
                        and host.functions.get(o.address) is not None
                        and host.functions[o.address].iommu_group == f.iommu_group):
                    return VFIO_PCI_DEVID_OWNED
        return VFIO_PCI_DEVID_NOT_OWNED

    def VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(self, device: int, capacity: int) -> HotResetInfo:
        op = "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"
        dev, host, fn = self._usable_device(device, op)
        plan = sc.plan_reset(host, fn)
        if plan.kind is None:
            self._fail(op, str(dev.address), E.ENODEV)
        count = len(plan.affected)
        if count == 0:
            self._fail(op, str(dev.address), E.ERANGE)
        if capacity < count:
            self._fail(op, str(dev.address), E.ENOSPC, count=count)
        flags, entries = self._info_entries(dev, host, plan, op)
        self._log(op, str(dev.address), {"flags": flags, "count": count})
        return HotResetInfo(flags=flags, devices=tuple(entries))

    def VFIO_DEVICE_PCI_HOT_RESET(self, device: int, group_fds: list[int]) -> None:
        op = "VFIO_DEVICE_PCI_HOT_RESET"
        dev = self._get(device, _Device, op)
        target = str(dev.address)
        if dev.cdev and dev.bound_ctx is None:
            self._fail(op, target, E.EINVAL, detail="cdev not bound")
        if bool(group_fds) == dev.cdev:
            self._fail(op, target, E.EINVAL,
                       detail="a group fd array goes with group-opened devices, "
                              "an empty one with cdev-bound devices")
        host = self._host()
        fn = host.functions.get(dev.address)
        if fn is None:
            self._fail(op, target, E.ENODEV, detail="the device is gone")
        plan = sc.plan_reset(host, fn)
        if plan.kind is None:
            self._fail(op, target, E.ENODEV)
        groups: set[int] = set()
        if group_fds:
            if len(group_fds) > len(plan.affected):
                self._fail(op, target, E.EINVAL, detail="more fds than affected devices")
            for gfd in group_fds:
                o = self._fds.get(gfd)
                if o is None:
                    self._fail(op, target, E.EBADF)
                if not isinstance(o, _Group):
                    self._fail(op, target, E.EINVAL, detail=f"fd {gfd} is not a VFIO group")
                groups.add(o.number)
        self._fault(op, target)
        # vfio_pci_dev_set_hot_reset
        outside = [a for a in plan.affected if not a.in_dev_set]
        if outside:
            self._fail(op, target, E.EINVAL, detail="not every affected function is a vfio-pci "
                       "member of the dev_set: " + ", ".join(str(a.address) for a in outside))
        in_set = {f.address for f in plan.dev_set}
        for m in plan.dev_set:
            if dev.cdev:
                owned = self._devid(host, m, dev.bound_ctx, in_set) != VFIO_PCI_DEVID_NOT_OWNED
            else:
                owned = m.iommu_group in groups
            if not owned:
                self._fail(op, target, E.EINVAL, detail=f"{m.address} is not owned")
        for m in plan.dev_set:
            self._needs_reset[m.address] = False
        self._log(op, target, {"reset": plan.kind, "functions":
                               [str(a.address) for a in plan.affected]})
