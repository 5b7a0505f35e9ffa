"""Hot reset, function reset, kernel INFO and check: resolve -> plan -> show ->
confirm -> execute -> verify -> report.

The same :class:`Session` code drives the real kernel and the simulator; the
sequences follow QEMU and the kernel documentation (kernel-vfio.md §5.2,
§5.3, §6.4, §6.5):

legacy groups
    open /dev/vfio/vfio, GET_API_VERSION, CHECK_EXTENSION (Type1v2, or
    VFIO_NOIOMMU_IOMMU for a noiommu group), open the target's group node,
    GET_STATUS (VIABLE), SET_CONTAINER, SET_IOMMU, GET_DEVICE_FD, then INFO
    (ENOSPC sizing), open every other group INFO lists, PCI_HOT_RESET with all
    group fds.  Other groups need no container: the kernel only checks that
    each dev_set member's group file is passed (vfio_file_has_dev).
iommufd
    open /dev/iommu, open the target's cdev, BIND_IOMMUFD, bind one device of
    every other IOMMU group of the dev_set into the same iommufd, INFO (must
    report DEV_ID_OWNED), PCI_HOT_RESET with a zero-length array.  No IOAS
    attach is needed (real-kernel-vm.md §5: bound but not attached works).

Every fd is closed on every path (devices first, then groups, then the
container/iommufd), failures included.
"""

from __future__ import annotations

import errno as E

from vfioctl.errors import (
    EXIT_KERNEL, EXIT_NO, KernelRefused, PartlyDone, Refused, UsageError, VerifyFailed,
)
from vfioctl.kernel.base import (
    HOT_RESET_INFO_HDR, KernelError, VFIO_API_VERSION, VFIO_GROUP_FLAGS_VIABLE,
    VFIO_NOIOMMU_IOMMU, VFIO_PCI_DEVID_NOT_OWNED, VFIO_PCI_DEVID_OWNED, VFIO_TYPE1v2_IOMMU,
    VFIO_TYPE1_IOMMU, HotResetInfo,
)
from vfioctl.model import scope as sc
from vfioctl.model import sriov
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host, PciFunction
from vfioctl.ops.explain import refusal
from vfioctl.ops.reports import (
    CheckEntry, CheckReport, Confirm, ConfirmRequest, FunctionResetReport, HotResetReport,
    KernelInfo, Progress, ProgressFn, Step, TargetResult, no_progress,
)
from vfioctl.model import nodes

#: the container IOMMU types vfioctl asks for, by their uapi names
IOMMU_TYPE_NAMES = {VFIO_TYPE1_IOMMU: "VFIO_TYPE1_IOMMU", VFIO_TYPE1v2_IOMMU: "VFIO_TYPE1v2_IOMMU",
                    VFIO_NOIOMMU_IOMMU: "VFIO_NOIOMMU_IOMMU"}

SIDE_EFFECTS = ("opening a device performs its open-time function reset; closing the last "
                "open device of a dev_set can trigger a bus reset when a member still needs one")


def choose_mode(plan: sc.ResetPlan, *, iommufd: bool, group: bool) -> str:
    """The access mode: forced by ``iommufd`` / ``group`` (the legacy mode), else the plan's default."""
    if iommufd and group:
        raise UsageError("--iommufd and --legacy exclude each other", "choose one access mode")
    if iommufd:
        return sc.IOMMUFD
    if group:
        return sc.GROUP
    return plan.default_mode()


def devid_kind(devid: int, is_self: bool) -> str:
    """A devid as the planner names it (scope.predict_info_iommufd): "not-owned"
    (VFIO_PCI_DEVID_NOT_OWNED), "owned" (VFIO_PCI_DEVID_OWNED: its group is
    owned), "self" (the asking device's own devid) or "bound" (another devid)."""
    if devid == VFIO_PCI_DEVID_NOT_OWNED:
        return "not-owned"
    if devid == VFIO_PCI_DEVID_OWNED:
        return "owned"
    return "self" if is_self else "bound"


def describe_devid(v: int) -> str:
    if v == VFIO_PCI_DEVID_NOT_OWNED:
        return "NOT_OWNED (-1)"
    if v == VFIO_PCI_DEVID_OWNED:
        return "OWNED (0)"
    return str(v)


# ---------------------------------------------------------------------------

class Session:
    """Opens what one access mode needs; :meth:`close` releases everything.

    With ``dry_run`` nothing is called: the steps are only recorded, in the
    same ``op target`` form the simulator's journal uses.
    """

    def __init__(self, kernel, host: Host, mode: str, *, dry_run: bool = False,
                 vf_token: str | None = None):
        self.k = kernel
        self.host = host
        self.mode = mode
        self.dry = dry_run
        #: the SR-IOV VF token to open VFs / PFs with (never logged or reported)
        self.vf_token = vf_token
        #: functions opened with the token (reported; the token itself is not)
        self.token_used: list[PciAddress] = []
        self.steps: list[Step] = []
        self.container: int | None = None
        self.iommufd: int | None = None
        self.groups: dict[int, int] = {}        # group number -> fd
        self.devices: dict[PciAddress, int] = {}  # address -> device fd
        self.devids: dict[PciAddress, int] = {}
        self._opened: list[int] = []
        self._fake = 100

    # -- bookkeeping --
    def _call(self, op: str, target: str, fn, *args, note: str = "", opens: bool = False):
        """Record one step and (unless dry) make the call.  ``opens``: the call
        returns a new fd, which :meth:`close` will release."""
        st = Step(op, target, note)
        self.steps.append(st)
        if self.dry:
            self._fake += 1
            return self._fake
        try:
            r = fn(*args)
        except KernelError as e:
            st.result = E.errorcode.get(e.errno, str(e.errno))
            if "vf_token=" in (e.target or "") or (
                    self.vf_token and self.vf_token in (e.target or "").lower()):
                e.target = target          # the address: never the VF token
            raise
        if opens:
            st.result = "fd"
            self._opened.append(r)
        else:
            st.result = r if isinstance(r, (int, str)) else 0
        return r

    def _open(self, node: str, fn) -> int:
        return self._call("open", node, fn, opens=True)

    def close(self) -> None:
        if self.dry:
            self.steps.append(Step("close", "all", SIDE_EFFECTS.split("; ")[1]))
            return
        first_err = None
        # device fds first: releasing them may trigger the dev_set's bus reset
        order = ([fd for fd in self._opened if fd in self.devices.values()]
                 + [fd for fd in self._opened if fd in self.groups.values()]
                 + [fd for fd in self._opened if fd not in self.devices.values()
                    and fd not in self.groups.values()])
        seen = set()
        for fd in order:
            if fd in seen:
                continue
            seen.add(fd)
            try:
                self.k.close(fd)
            except Exception as e:  # keep closing the rest
                first_err = first_err or e
        self._opened.clear()
        self.devices.clear()
        self.groups.clear()
        self.container = self.iommufd = None
        if first_err is not None and not isinstance(first_err, KernelError):
            raise first_err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- legacy --
    def _container(self, noiommu: bool) -> int:
        if self.container is None:
            self.container = self._open(nodes.CONTAINER, self.k.open_container)
            v = self._call("VFIO_GET_API_VERSION", nodes.CONTAINER, self.k.VFIO_GET_API_VERSION,
                           self.container)
            if not self.dry and v != VFIO_API_VERSION:
                raise KernelRefused(f"unexpected VFIO API version {v}",
                                    "this kernel's VFIO interface is not supported")
            ext = VFIO_NOIOMMU_IOMMU if noiommu else VFIO_TYPE1v2_IOMMU
            r = self._call("VFIO_CHECK_EXTENSION", str(ext), self.k.VFIO_CHECK_EXTENSION,
                           self.container, ext, note=IOMMU_TYPE_NAMES.get(ext, ""))
            self._iommu_type = ext
            if not self.dry and not r:
                if not noiommu and self.k.VFIO_CHECK_EXTENSION(self.container, VFIO_TYPE1_IOMMU):
                    self._iommu_type = VFIO_TYPE1_IOMMU
                else:
                    raise KernelRefused(
                        "the container supports no usable IOMMU type" +
                        (" (noiommu mode is off: enable_unsafe_noiommu_mode=N)" if noiommu else ""),
                        "load vfio_iommu_type1, or enable vfio's noiommu mode for noiommu groups",
                        op="VFIO_CHECK_EXTENSION")
        return self.container

    def open_group(self, number: int) -> int:
        if number in self.groups:
            return self.groups[number]
        g = self.host.groups.get(number)
        node = g.node if g is not None else nodes.group(number)
        fd = self._open(node, lambda: self.k.open_group(node))
        self.groups[number] = fd
        return fd

    def open_device_group(self, fn: PciFunction) -> int:
        g = self.host.group_of(fn)
        if g is None:
            raise KernelRefused(f"{fn.address} has no IOMMU group", "use a device with a group")
        container = self._container(g.noiommu)
        gfd = self.open_group(g.number)
        flags = self._call("VFIO_GROUP_GET_STATUS", g.node, self.k.VFIO_GROUP_GET_STATUS, gfd)
        if not self.dry and not flags & VFIO_GROUP_FLAGS_VIABLE:
            blockers = self.host.viability_blockers(g)
            raise KernelRefused(
                f"group {g.number} is not viable" + (": " + ", ".join(
                    f"{b.address} is bound to {b.driver}" for b in blockers) if blockers else ""),
                "bind every member of the group to vfio-pci (or unbind it)",
                op="VFIO_GROUP_GET_STATUS", target=g.node)
        self._call("VFIO_GROUP_SET_CONTAINER", g.node, self.k.VFIO_GROUP_SET_CONTAINER, gfd,
                   container)
        if not getattr(self, "_iommu_set", False):
            self._call("VFIO_SET_IOMMU", str(self._iommu_type), self.k.VFIO_SET_IOMMU, container,
                       self._iommu_type, note=IOMMU_TYPE_NAMES.get(self._iommu_type, ""))
            self._iommu_set = True
        tok = self._token_for(fn)
        name = str(fn.address) + (f" vf_token={tok}" if tok else "")
        dfd = self._call("VFIO_GROUP_GET_DEVICE_FD", str(fn.address),
                         self.k.VFIO_GROUP_GET_DEVICE_FD, gfd, name,
                         note="opens the device: function reset"
                         + ("; name carries the VF token" if tok else ""), opens=True)
        self.devices[fn.address] = dfd
        return dfd

    def _token_for(self, fn: PciFunction) -> str | None:
        """The VF token, for the functions whose open checks or uses one
        (model.sriov.takes_token); the rest answer a token with EINVAL."""
        if self.vf_token is None or not sriov.takes_token(self.host, fn):
            return None
        if fn.address not in self.token_used:
            self.token_used.append(fn.address)
        return self.vf_token

    # -- iommufd --
    def open_device_cdev(self, fn: PciFunction) -> int:
        if self.iommufd is None:
            self.iommufd = self._open(nodes.IOMMUFD, self.k.open_iommufd)
        node = self.host.cdev_node(fn) or nodes.cdev(fn.vfio_dev or "?")
        dfd = self._open(node, lambda: self.k.open_cdev(node))
        self.devices[fn.address] = dfd
        tok = self._token_for(fn)
        args = (dfd, self.iommufd) if tok is None else (dfd, self.iommufd, tok)
        try:
            devid = self._call("VFIO_DEVICE_BIND_IOMMUFD", str(fn.address),
                               self.k.VFIO_DEVICE_BIND_IOMMUFD, *args,
                               note="opens the device: function reset"
                               + ("; VFIO_DEVICE_BIND_FLAG_TOKEN with the VF token" if tok else ""))
        except KernelError as e:
            if tok is not None and e.errno == E.EINVAL \
                    and not sriov.token_checked_on_cdev(self.host.kernel_release):
                raise token_not_taken(self.host, fn, e) from None
            raise
        self.devids[fn.address] = devid
        return dfd

    def open_device(self, fn: PciFunction) -> int:
        if self.mode == sc.IOMMUFD:
            return self.open_device_cdev(fn)
        return self.open_device_group(fn)

    # -- device ioctls --
    def hot_reset_info(self, dfd: int, target: str) -> HotResetInfo | None:
        """The QEMU two-call pattern: header only, ENOSPC gives count, then full."""
        if self.dry:
            self.steps.append(Step("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", target,
                                   f"argsz {HOT_RESET_INFO_HDR}, then sized from ENOSPC"))
            return None
        try:
            info = self._call("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", target,
                              self.k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, dfd, 0)
            self.steps[-1].result = "0"
            return info
        except KernelError as e:
            if e.errno != E.ENOSPC or e.count is None:
                raise
            count = e.count
        info = self._call("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", target,
                          self.k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, dfd, count)
        self.steps[-1].result = f"flags {info.flags:#x}, {len(info.devices)} device(s)"
        return info

    def pci_hot_reset(self, dfd: int, target: str, group_fds: list[int]) -> None:
        self._call("VFIO_DEVICE_PCI_HOT_RESET", target, self.k.VFIO_DEVICE_PCI_HOT_RESET, dfd,
                   group_fds, note=(f"{len(group_fds)} group fd" + ("" if len(group_fds) == 1 else "s")) if group_fds
                   else "zero-length array (iommufd)")


def token_not_taken(host: Host, fn: PciFunction, e: KernelError) -> KernelRefused:
    """BIND_IOMMUFD answered EINVAL to the token flag: a kernel before 6.17."""
    rel = host.kernel_release or "unknown"
    return KernelRefused(
        f"the kernel refused VFIO_DEVICE_BIND_IOMMUFD on {fn.address}: this kernel (Linux {rel}) "
        "takes no VF token on the cdev path (VFIO_DEVICE_BIND_FLAG_TOKEN arrived in 6.17) and "
        "does not check one there either (EINVAL)",
        "run without --vf-token for --iommufd on this kernel, or use --legacy, where the "
        "token goes with the device name", errno="EINVAL", op="VFIO_DEVICE_BIND_IOMMUFD",
        target=str(fn.address), kind="kernel", code=EXIT_KERNEL)


def check_vf_token(token: str) -> str:
    """A ``--vf-token`` value, canonical (lower case), or a UsageError that never
    echoes it (a VF token is a secret shared by the PF's and VFs' users)."""
    t = (token or "").strip()
    if not sriov.is_uuid(t):
        raise UsageError("--vf-token is not a UUID (the value is not shown: it is a secret)",
                         "give the PF's VF token as 8-4-4-4-12 hex digits, e.g. "
                         "--vf-token \"$(cat token-file)\"; 'uuidgen' makes a new one")
    return t.lower()


def without_token_reasons(plan: sc.ResetPlan) -> sc.ResetPlan:
    """The plan as it stands when a VF token is passed: the "vf-token" reasons are
    gone (whether the token is the right one only the kernel can say)."""
    import copy
    p = copy.copy(plan)
    p.verdicts = {}
    for m, v in plan.verdicts.items():
        v2 = copy.copy(v)
        v2.reasons = [r for r in v.reasons if r.code != "vf-token"]
        p.verdicts[m] = v2
    return p


def token_targets(host: Host, plan: sc.ResetPlan, mode: str) -> list[PciFunction]:
    """The functions vfioctl's sequence opens (as devices) that take a VF token."""
    opened = [plan.target]
    if mode == sc.IOMMUFD:
        opened += plan.verdicts[sc.IOMMUFD].binds[1:]
    return [f for f in opened if f.vfio_bound and sriov.takes_token(host, f)]


# ---------------------------------------------------------------------------
# confirmation: the caller's callable decides (ops never prompt)

def _confirmed(confirm: Confirm, req: ConfirmRequest) -> None:
    if not confirm(req):
        raise Refused("not confirmed; nothing was done", "answer 'y' to proceed, or pass --yes")


def is_simulated(kernel) -> bool:
    """True when ``kernel`` simulates the kernel (nothing real is touched)."""
    return bool(getattr(kernel, "simulated", getattr(kernel, "name", "") == "sim"))


# ---------------------------------------------------------------------------
# verification

def verify(root: str, addresses: list[PciAddress]) -> list[str]:
    """After a reset: every affected function still present, config readable."""
    from vfioctl.sysfs.reader import read_host
    problems = []
    host = read_host(root, holders=False, full_config=False)
    for a in addresses:
        f = host.functions.get(a)
        if f is None:
            problems.append(f"{a} is gone from sysfs after the reset")
        elif f.config_size is not None and f.vendor is None:
            problems.append(f"{a}: config space reads all-ones (device not responding)")
    return problems


# ---------------------------------------------------------------------------
# operations

def _compare_info(host: Host, plan: sc.ResetPlan, mode: str, info: HotResetInfo) -> list[str]:
    """Disagreements between the kernel's INFO and the prediction."""
    out = []
    if mode == sc.GROUP:
        err, entries = sc.predict_info_group(host, plan)
        want = {e.address: e.group_id for e in entries}
        got = {d.address: d.ident for d in info.devices}
        if info.flags != 0:
            out.append(f"flags {info.flags:#x}, predicted 0")
    else:
        err, flags, entries = sc.predict_info_iommufd(host, plan, {plan.target.address})
        want = {e.address: e.devid for e in entries}
        got = {d.address: devid_kind(d.ident, d.address == str(plan.target.address))
               for d in info.devices}
        if info.flags != flags:
            out.append(f"flags {info.flags:#x}, predicted {flags:#x}")
    for a in sorted(set(want) | set(got)):
        if a not in got:
            out.append(f"{a} predicted in scope, the kernel did not list it")
        elif a not in want:
            out.append(f"{a} listed by the kernel, not predicted in scope")
        elif want[a] != got[a]:
            out.append(f"{a}: kernel says {got[a]}, predicted {want[a]}")
    return out


def _no_group(fn: PciFunction) -> UsageError:
    return UsageError(f"{fn.address} has no IOMMU group: VFIO cannot open it in any mode",
                      f"only functions in an IOMMU group bound to vfio-pci can be reset; "
                      f"'vfioctl show {fn.address}' explains")


def kernel_info(kernel, host: Host, plan: sc.ResetPlan, mode: str, *, dry_run: bool,
                confirm: Confirm, vf_token: str | None = None) -> KernelInfo:
    """``reset-info --kernel``: open only the target, ask INFO, compare with the
    prediction (``vf_token``: opens the target with the SR-IOV VF token, as
    hot-reset does; never reported)."""
    t = plan.target
    if vf_token is not None:
        vf_token = check_vf_token(vf_token)
    res = KernelInfo(mode=mode, backend=kernel.name, simulated=is_simulated(kernel),
                     dry_run=dry_run)
    if not t.vfio_bound:
        res.step = "preflight"
        res.explanation = (f"{t.address} is not bound to vfio-pci: the kernel can only be asked "
                           "through an open VFIO device")
        return res
    if t.iommu_group is None:
        res.step = "preflight"
        res.explanation = f"{t.address} has no IOMMU group: VFIO cannot open it"
        return res
    if not dry_run:
        _confirmed(confirm, ConfirmRequest(
            command="reset-info --kernel", question=f"Open {t.address} (performs its function reset)?",
            affected=[str(t.address)], simulated=res.simulated,
            notes=[f"reset-info --kernel opens {t.address} ({mode} mode): {SIDE_EFFECTS}"]
            + ([sriov.pf_reset_note(host, t)] if sriov.vfs_of(host, t) else []),
            also_reset=[str(v.address) for v in sriov.vfs_of(host, t)]))
    sess = Session(kernel, host, mode, dry_run=dry_run, vf_token=vf_token)
    info = None
    try:
        with sess:
            dfd = sess.open_device(t)
            info = sess.hot_reset_info(dfd, str(t.address))
    except KernelError as e:
        res.errno = E.errorcode.get(e.errno, str(e.errno))
        res.step = e.op
        r = refusal(e, host)
        res.explanation = str(r)
        res.hint = getattr(r, "hint", None) or None
        pred_err = (sc.predict_info_group(host, plan)[0] if mode == sc.GROUP
                    else sc.predict_info_iommufd(host, plan, {t.address})[0])
        if e.op == "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO":
            res.agrees = res.errno == pred_err
            if not res.agrees:
                res.disagreements.append(f"kernel answered {res.errno}, predicted "
                                         f"{pred_err or 'success'}")
    except KernelRefused as e:      # raised by the session itself (not viable, API version)
        res.errno = e.details.get("errno")
        res.step = e.details.get("op") or "open"
        res.explanation = e.message
    finally:
        kernel.close_all()
        res.steps = list(sess.steps)
    if res.errno is None and res.step is None and info is not None:
        res.info = info
        res.disagreements = _compare_info(host, plan, mode, info)
        res.agrees = not res.disagreements
    return res


def _preflight_refusal(plan: sc.ResetPlan, mode: str) -> Refused:
    v = plan.verdicts[mode]
    step, err = v.expected
    first = v.reasons[0].message if v.reasons else ""
    fixes = list(dict.fromkeys(r.remedy for r in v.reasons if r.remedy))
    if v.cannot_tell:
        from vfioctl.errors import EXIT_CANNOT_TELL
        return Refused(f"cannot tell whether a hot reset of {plan.target.address} in {mode} mode "
                       f"is safe: {first}",
                       "run as root (sudo vfioctl ...) to see everything it depends on; "
                       "--no-preflight lets the kernel decide",
                       code=EXIT_CANNOT_TELL, kind="cannot-tell", step=step)
    return Refused(f"a hot reset of {plan.target.address} in {mode} mode would be refused "
                   f"({err or 'refused'} at {step}): {first}",
                   (f"fix: {'; '.join(fixes)}; " if fixes else "")
                   + f"'vfioctl reset-info {plan.target.address}' lists every reason; "
                   "--no-preflight lets the kernel decide",
                   code=EXIT_NO, kind="not-possible", errno=err, step=step, remedies=fixes)


def plan_targets(host: Host, fns: list[PciFunction]) -> list[sc.ResetPlan]:
    """One plan per distinct reset (targets sharing a dev_set and scope reset once)."""
    plans: list[sc.ResetPlan] = []
    covered: set[PciAddress] = set()
    for f in fns:
        if f.address in covered:
            continue
        p = sc.plan_reset(host, f)
        plans.append(p)
        covered.add(f.address)
        if p.kind:
            covered.update(a.address for a in p.affected if a.in_dev_set)
    return plans


def execute_hot_reset(kernel, host: Host, plan: sc.ResetPlan, mode: str, *, dry_run: bool,
                      no_preflight: bool, res: TargetResult | None = None,
                      vf_token: str | None = None) -> TargetResult:
    """Run one hot reset and return its :class:`TargetResult`.

    Raises :class:`KernelError` (or a refusal) on failure; ``res``, when given,
    is filled as the sequence goes (steps, the kernel's INFO), so callers can
    see how far it got."""
    t = plan.target
    sess = Session(kernel, host, mode, dry_run=dry_run, vf_token=vf_token)
    if res is None:
        res = TargetResult(target=str(t.address), mode=mode, kind=plan.kind,
                           affected=[str(a.address) for a in plan.affected])
    try:
        with sess:
            dfd = sess.open_device(t)
            if mode == sc.IOMMUFD:
                for f in plan.verdicts[sc.IOMMUFD].binds[1:]:
                    sess.open_device_cdev(f)
            info = sess.hot_reset_info(dfd, str(t.address))
            res.info = info
            gfds: list[int] = []
            if mode == sc.GROUP:
                numbers = ([d.ident for d in info.devices] if info is not None
                           else [g.number for g in plan.verdicts[sc.GROUP].groups])
                for n in numbers:
                    g = host.groups.get(n)
                    if g is not None and g.node.rsplit("/", 1)[1] not in host.dev_vfio:
                        # no node: no vfio-pci member, so nothing to prove; the
                        # kernel refuses (EINVAL) unless the scope is all vfio
                        sess.steps.append(Step("skip", g.node, "no VFIO group node"))
                        continue
                    if n not in sess.groups:
                        sess.open_group(n)
                gfds = [sess.groups[n] for n in sorted(sess.groups, key=lambda n: (
                    n != (t.iommu_group or -1), n))]
            elif info is not None and not info.dev_id_owned and not no_preflight:
                nots = [d.address for d in info.devices if d.ident == VFIO_PCI_DEVID_NOT_OWNED]
                raise KernelRefused(
                    f"the kernel reports functions in the reset scope as not owned: "
                    f"{', '.join(nots)}", "bind them to vfio-pci and make sure no other "
                    "process uses them; 'vfioctl reset-info' explains", errno="EINVAL",
                    op="VFIO_DEVICE_GET_PCI_HOT_RESET_INFO")
            sess.pci_hot_reset(dfd, str(t.address), gfds)
            res.result = "dry-run" if dry_run else "reset"
    finally:
        kernel.close_all()
        res.steps = list(sess.steps)
        if vf_token is not None:
            res.vf_token_passed_to = [str(a) for a in sess.token_used]
    return res


def hot_reset(kernel, root: str, host: Host, fns: list[PciFunction], *,
              mode_flags: tuple[bool, bool], dry_run: bool, no_preflight: bool,
              confirm: Confirm, progress: ProgressFn = no_progress,
              vf_token: str | None = None) -> HotResetReport:
    """Plan, preflight, confirm, reset every target in turn, verify.

    Raises before anything is opened (usage, preflight refusal, not confirmed).
    Once execution starts it returns a :class:`HotResetReport`: a failing
    target stops the sequence and is recorded in ``report.error``; the targets
    before it stay "reset", the ones after it "not-attempted"
    (``report.status``: done / partial / failed).  Verification problems of a
    completed run are in ``report.verification``."""
    for f in fns:
        if f.iommu_group is None:
            raise _no_group(f)
    plans = plan_targets(host, fns)
    if vf_token is not None:
        # the token answers the "vf-token" reasons; whether it is the right one
        # only the kernel can tell (EACCES at the open if not)
        vf_token = check_vf_token(vf_token)
        plans = [without_token_reasons(p) for p in plans]
    modes = [choose_mode(p, iommufd=mode_flags[0], group=mode_flags[1]) for p in plans]
    simulated = is_simulated(kernel)
    if not no_preflight:
        for p, m in zip(plans, modes):
            if not p.verdicts[m].possible:
                raise _preflight_refusal(p, m)
    affected = sorted({a.address for p in plans for a in p.affected} |
                      {p.target.address for p in plans})
    rep = HotResetReport(
        host=host, dry_run=dry_run, backend=kernel.name, simulated=simulated,
        plans=list(zip(plans, modes)),
        results=[TargetResult(target=str(p.target.address), mode=m, kind=p.kind,
                              affected=[str(a.address) for a in p.affected])
                 for p, m in zip(plans, modes)])
    # functions the reset also hits that the kernel's INFO does not list (VFs of a
    # PF in a slot reset): the kernel will not name them, so the question must
    also = [c for p in plans for c in p.collateral]
    if not dry_run:
        extra = ""
        if also:
            extra = (" ALSO reset, although the kernel does not list them: " + ", ".join(
                f"{c.address} (VF of {c.pf}" + (f", in use by {', '.join(str(h) for h in c.holders)}"
                                                 if c.holders else "") + ")" for c in also) + ".")
        _confirmed(confirm, ConfirmRequest(
            command="hot-reset",
            question=(f"Reset {len(affected)} function{'' if len(affected) == 1 else 's'}: "
                      f"{', '.join(str(a) for a in affected)}?" + extra),
            affected=[str(a) for a in affected], simulated=simulated, plans=rep.plans,
            notes=[SIDE_EFFECTS], host=host, also_reset=[str(c.address) for c in also]))
    if dry_run:
        progress = no_progress      # nothing happens: nothing to report as it happens
    anyway: list[str] = []      # verification of a reset the kernel ran but reported failed
    for (p, m), r in zip(rep.plans, rep.results):
        progress(Progress("start", r.target, m, simulated, p.kind, len(p.affected)))
        try:
            execute_hot_reset(kernel, host, p, m, dry_run=dry_run, no_preflight=no_preflight,
                              res=r, vf_token=vf_token)
        except KernelError as e:
            r.result = "error"
            r.error = refusal(e, host)
            if e.op == "VFIO_DEVICE_PCI_HOT_RESET" and e.errno == E.ENOTTY and not dry_run:
                # the kernel performed the reset but the link did not come back in
                # time (no DLLLA): say what state the functions are left in
                anyway = r.error.details["verification"] = verify(root, sorted(
                    {a.address for a in p.affected} | {p.target.address}))
        except KernelRefused as e:
            r.result = "error"
            r.error = e
        if r.error is not None:
            rep.error = r.error
            progress(Progress("failed", r.target, m, simulated, p.kind, len(p.affected),
                              r.error.message))
            break
        progress(Progress("done", r.target, m, simulated, p.kind, len(p.affected)))
    if rep.error is not None and rep.done and not dry_run:
        done = ", ".join(rep.done)
        rep.error = PartlyDone(
            f"hot reset partly done: {done} reset; {rep.failed[0]} failed: {rep.error.message}",
            rep.error.hint, done=rep.done, failed=rep.failed,
            not_attempted=[r.target for r in rep.results if r.result == "not-attempted"])
    if not dry_run and rep.done:
        rep.verification = verify(root, [PciAddress.parse(a) if isinstance(a, str) else a
                                          for a in sorted({x for r in rep.results
                                                           if r.result == "reset"
                                                           for x in r.affected + [r.target]})])
        if rep.verification and rep.error is None:
            rep.error = verification_error(rep.verification)
    if anyway:
        rep.verification = list(dict.fromkeys(rep.verification + anyway))
    return rep


def verification_error(problems: list[str]) -> VerifyFailed:
    return VerifyFailed("the reset ran but verification failed: " + "; ".join(problems),
                        "check dmesg and 'vfioctl list'; a rescan may be needed",
                        problems=problems)


def function_reset(kernel, root: str, host: Host, fn: PciFunction, *,
                   mode_flags: tuple[bool, bool], dry_run: bool,
                   confirm: Confirm, vf_token: str | None = None) -> FunctionResetReport:
    """``vfioctl reset``: VFIO_DEVICE_RESET, refused when the device has no reset.
    ``vf_token``: as for :func:`hot_reset` (a VF of a vfio-pci PF needs it)."""
    plan = sc.plan_reset(host, fn)
    if vf_token is not None:
        vf_token = check_vf_token(vf_token)
        plan = without_token_reasons(plan)
    mode = choose_mode(plan, iommufd=mode_flags[0], group=mode_flags[1])
    if not fn.vfio_bound:
        raise Refused(f"{fn.address} is not bound to vfio-pci (driver: {fn.driver or 'none'})",
                      f"bind it to vfio-pci first: vfioctl bind {fn.address} (or driverctl "
                      f"set-override {fn.address} vfio-pci)",
                      code=EXIT_NO, kind="not-possible")
    if fn.iommu_group is None:
        raise _no_group(fn)
    v = plan.verdicts[mode]
    setup = [r for r in v.reasons if r.step in (
        "preflight", "open /dev/iommu", "open cdev", "open group", "VFIO_GROUP_GET_STATUS",
        "VFIO_DEVICE_BIND_IOMMUFD") or r.code == "vf-token"]
    if setup:
        r = setup[0]
        raise Refused(f"cannot open {fn.address} in {mode} mode: {r.message}",
                      (f"fix: {r.remedy}; " if r.remedy else "")
                      + f"'vfioctl show {fn.address}' explains the device's state", code=EXIT_NO,
                      kind="not-possible", errno=r.errno, step=r.step)
    methods = fn.reset_method
    scope_note = None
    if methods and "bus" in methods and not any(
            m in ("device_specific", "acpi", "flr", "af_flr", "pm") for m in methods):
        scope_note = (f"{fn.address}'s only reset method is 'bus': it works only while the "
                      "device is alone on its bus, and then resets everything below the bridge")
    rep = FunctionResetReport(
        host=host, target=str(fn.address), mode=mode, dry_run=dry_run, backend=kernel.name,
        simulated=is_simulated(kernel), reset_method=list(methods) if methods is not None else None,
        note=scope_note)
    if not dry_run:
        notes = [f"function reset of {fn.address} ({mode} mode); reset_method: "
                 f"{' '.join(methods) if methods else '(none listed)'}"]
        if scope_note:
            notes.append(f"note: {scope_note}")
        vfs = sriov.vfs_of(host, fn)
        if vfs:
            notes.append(f"note: {sriov.pf_reset_note(host, fn)}")
        _confirmed(confirm, ConfirmRequest(
            command="reset", question=f"Reset {fn.address}?" + (
                " ALSO reset: its VFs " + ", ".join(str(v.address) for v in vfs) + "." if vfs else ""),
            affected=[str(fn.address)], simulated=rep.simulated, notes=notes,
            also_reset=[str(v.address) for v in vfs]))
    sess = Session(kernel, host, mode, dry_run=dry_run, vf_token=vf_token)
    try:
        with sess:
            dfd = sess.open_device(fn)
            info = sess._call("VFIO_DEVICE_GET_INFO", str(fn.address), kernel.VFIO_DEVICE_GET_INFO,
                              dfd)
            if not dry_run:
                rep.device_info = {"flags": info.flags, "reset": info.reset,
                                   "num_regions": info.num_regions, "num_irqs": info.num_irqs}
                if not info.reset:
                    raise KernelRefused(
                        f"{fn.address} reports no function reset (VFIO_DEVICE_FLAGS_RESET is "
                        "clear: no method in its reset_method list worked when it was opened)",
                        f"use 'vfioctl hot-reset {fn.address}' (slot/bus reset) instead",
                        op="VFIO_DEVICE_GET_INFO", errno=None)
            sess._call("VFIO_DEVICE_RESET", str(fn.address), kernel.VFIO_DEVICE_RESET, dfd)
    except KernelError as e:
        raise refusal(e, host) from None
    finally:
        kernel.close_all()
        rep.steps = list(sess.steps)
        if vf_token is not None:
            rep.vf_token_passed_to = [str(a) for a in sess.token_used]
    rep.result = "dry-run" if dry_run else "reset"
    if not dry_run:
        rep.verification = verify(root, [fn.address])
        if rep.verification:
            rep.error = verification_error(rep.verification)
    return rep


def check(host: Host, fns: list[PciFunction], *, mode_flags: tuple[bool, bool]) -> CheckReport:
    """Would a hot reset of each target work now?  One entry per distinct reset;
    a target inside an earlier target's dev_set and scope is listed in that
    entry's ``covers`` (one reset does both)."""
    plans = plan_targets(host, fns)
    asked = [str(f.address) for f in fns]
    entries = []
    for p in plans:
        forced = mode_flags[0] or mode_flags[1]
        mode = choose_mode(p, iommufd=mode_flags[0], group=mode_flags[1])
        possible_modes = [m for m, v in p.verdicts.items() if v.possible]
        good = p.verdicts[mode].possible if forced else bool(possible_modes)
        if not forced and possible_modes and mode not in possible_modes:
            mode = possible_modes[0]
        answer = "possible" if good else (
            "cannot-tell" if (p.verdicts[mode].cannot_tell if forced else p.cannot_tell)
            else "not-possible")
        modes = [mode] if forced or good else list(p.verdicts)
        in_set = {str(a.address) for a in p.affected if a.in_dev_set} if p.kind else set()
        covers = [a for a in asked if a in in_set and a != str(p.target.address)]
        entries.append(CheckEntry(
            plan=p, possible=good, mode=mode, possible_modes=possible_modes,
            reasons=[] if good else [(m, r) for m in modes for r in p.verdicts[m].reasons],
            covers=list(dict.fromkeys(covers)), answer=answer))
    return CheckReport(host=host, entries=entries)
