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
import os
import sys
from dataclasses import dataclass, field

from vfioctl.errors import (
    EXIT_NO, KernelRefused, NotFoundError, Refused, UsageError, VerifyFailed,
)
from vfioctl.kernel.base import (
    HOT_RESET_INFO_HDR, KernelError, VFIO_API_VERSION, VFIO_GROUP_FLAGS_VIABLE,
    VFIO_NOIOMMU_IOMMU, VFIO_PCI_DEVID_NOT_OWNED, VFIO_PCI_DEVID_OWNED, VFIO_TYPE1v2_IOMMU,
    VFIO_TYPE1_IOMMU, HotResetInfo,
)
from vfioctl.model import scope as sc
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host, PciFunction
from vfioctl.ops.explain import refusal
from vfioctl.model import nodes

SIDE_EFFECTS = ("opening a device performs its open-time function reset; closing the last "
                "open device of a dev_set can trigger a bus reset when a member still needs one")


@dataclass
class Step:
    op: str
    target: str
    note: str = ""
    result: object = None

    def to_json(self) -> dict:
        d = {"op": self.op, "target": self.target}
        if self.note:
            d["note"] = self.note
        if self.result is not None:
            d["result"] = self.result
        return d


def choose_mode(plan: sc.ResetPlan, *, iommufd: bool, group: bool) -> str:
    if iommufd and group:
        raise UsageError("--iommufd and --group exclude each other", "choose one access mode")
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


def info_to_json(info: HotResetInfo) -> dict:
    devs = []
    for d in info.devices:
        if info.dev_id:
            devs.append({"address": d.address, "devid": d.ident,
                         "devid_text": describe_devid(d.ident)})
        else:
            devs.append({"address": d.address, "group_id": d.ident})
    return {"flags": info.flags, "dev_id": info.dev_id, "dev_id_owned": info.dev_id_owned,
            "devices": devs}


# ---------------------------------------------------------------------------

class Session:
    """Opens what one access mode needs; :meth:`close` releases everything.

    With ``dry_run`` nothing is called: the steps are only recorded, in the
    same ``op target`` form the simulator's journal uses.
    """

    def __init__(self, kernel, host: Host, mode: str, *, dry_run: bool = False):
        self.k = kernel
        self.host = host
        self.mode = mode
        self.dry = dry_run
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
                           self.container, ext)
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
                       self._iommu_type)
            self._iommu_set = True
        dfd = self._call("VFIO_GROUP_GET_DEVICE_FD", str(fn.address),
                         self.k.VFIO_GROUP_GET_DEVICE_FD, gfd, str(fn.address),
                         note="opens the device: function reset", opens=True)
        self.devices[fn.address] = dfd
        return dfd

    # -- iommufd --
    def open_device_cdev(self, fn: PciFunction) -> int:
        if self.iommufd is None:
            self.iommufd = self._open(nodes.IOMMUFD, self.k.open_iommufd)
        node = self.host.cdev_node(fn) or nodes.cdev(fn.vfio_dev or "?")
        dfd = self._open(node, lambda: self.k.open_cdev(node))
        self.devices[fn.address] = dfd
        devid = self._call("VFIO_DEVICE_BIND_IOMMUFD", str(fn.address),
                           self.k.VFIO_DEVICE_BIND_IOMMUFD, dfd, self.iommufd,
                           note="opens the device: function reset")
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
                   group_fds, note=f"{len(group_fds)} group fd(s)" if group_fds
                   else "zero-length array (iommufd)")


# ---------------------------------------------------------------------------
# confirmation

def interactive() -> bool:
    try:
        return sys.stdin.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def confirm(question: str, *, yes: bool, json_mode: bool) -> None:
    if yes:
        return
    if json_mode or not interactive():
        raise Refused("refusing to act without confirmation"
                      + (" (--json)" if json_mode else " (not interactive)"),
                      "pass --yes to confirm, or --dry-run to see what would happen")
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    ans = sys.stdin.readline().strip().lower()
    if ans not in ("y", "yes"):
        raise Refused("not confirmed; nothing was done", "answer 'y' to proceed")


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


def kernel_info(st, host: Host, plan: sc.ResetPlan, mode: str, *, dry_run: bool, yes: bool,
                json_mode: bool, out) -> dict:
    """``reset-info --kernel``: open only the target, ask INFO, compare."""
    from vfioctl.kernel import get_backend
    t = plan.target
    res: dict = {"mode": mode, "backend": None, "dry_run": dry_run, "steps": [], "errno": None,
                 "flags": None, "devices": [], "agrees": None, "disagreements": []}
    kernel = get_backend(st.backend, st.root_path())
    res["backend"] = kernel.name
    if not t.vfio_bound:
        res.update(errno=None, step="preflight", explanation=f"{t.address} is not bound to "
                   "vfio-pci: the kernel can only be asked through an open VFIO device")
        return res
    if not dry_run:
        if not json_mode:
            out.info(f"reset-info --kernel opens {t.address} ({mode} mode): {SIDE_EFFECTS}.")
        confirm(f"Open {t.address} (performs its function reset)?", yes=yes, json_mode=json_mode)
    sess = Session(kernel, host, mode, dry_run=dry_run)
    try:
        with sess:
            dfd = sess.open_device(t)
            info = sess.hot_reset_info(dfd, str(t.address))
    except KernelError as e:
        res.update(errno=E.errorcode.get(e.errno, str(e.errno)), step=e.op,
                   explanation=str(refusal(e, host)))
        pred_err = (sc.predict_info_group(host, plan)[0] if mode == sc.GROUP
                    else sc.predict_info_iommufd(host, plan, {t.address})[0])
        if e.op == "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO":
            res["agrees"] = res["errno"] == pred_err
            if not res["agrees"]:
                res["disagreements"].append(f"kernel answered {res['errno']}, predicted "
                                            f"{pred_err or 'success'}")
    finally:
        kernel.close_all()
        res["steps"] = [s.to_json() for s in sess.steps]
    if res["errno"] is None and not dry_run and "step" not in res:
        res.update(info_to_json(info))
        res["disagreements"] = _compare_info(host, plan, mode, info)
        res["agrees"] = not res["disagreements"]
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
    e = Refused(f"a hot reset of {plan.target.address} in {mode} mode would be refused "
                f"({err or 'refused'} at {step}): {first}",
                (f"fix: {'; '.join(fixes)}; " if fixes else "")
                + "'vfioctl reset-info' lists every reason; --no-preflight lets the kernel decide",
                code=EXIT_NO, kind="not-possible", errno=err, step=step, remedies=fixes)
    return e


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
                      no_preflight: bool, res: dict | None = None) -> dict:
    """Run one hot reset; returns the result document part.

    Raises :class:`KernelError` (or a refusal) on failure; ``res``, when given,
    is filled as the sequence goes (steps, the kernel's INFO), so callers can
    see how far it got."""
    t = plan.target
    sess = Session(kernel, host, mode, dry_run=dry_run)
    if res is None:
        res = {}
    res.update({"target": str(t.address), "mode": mode, "steps": [], "info": None,
                "result": None})
    try:
        with sess:
            dfd = sess.open_device(t)
            if mode == sc.IOMMUFD:
                for f in plan.verdicts[sc.IOMMUFD].binds[1:]:
                    sess.open_device_cdev(f)
            info = sess.hot_reset_info(dfd, str(t.address))
            if info is not None:
                res["info"] = info_to_json(info)
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
            res["result"] = "dry-run" if dry_run else "reset"
    finally:
        kernel.close_all()
        res["steps"] = [s.to_json() for s in sess.steps]
    return res


def hot_reset(st, host: Host, fns: list[PciFunction], *, mode_flags: tuple[bool, bool],
              dry_run: bool, yes: bool, no_preflight: bool, json_mode: bool, out) -> dict:
    from vfioctl.kernel import get_backend
    from vfioctl.present import jsondoc as jd
    from vfioctl.present import human
    plans = plan_targets(host, fns)
    modes = [choose_mode(p, iommufd=mode_flags[0], group=mode_flags[1]) for p in plans]
    doc = jd.doc("hot-reset", dry_run=dry_run, side_effects=SIDE_EFFECTS,
                 resets=[{"plan": jd.plan(host, p), "mode": m} for p, m in zip(plans, modes)],
                 results=[], verification=[])
    if not json_mode:
        c = out.canvas()
        for p, m in zip(plans, modes):
            human.render_plan(jd.plan(host, p), c)
            c.line(f"  mode: {m}")
    # preflight: refuse before touching anything
    if not no_preflight:
        for p, m in zip(plans, modes):
            if not p.verdicts[m].possible:
                raise _preflight_refusal(p, m)
    affected = sorted({a.address for p in plans for a in p.affected} |
                      {p.target.address for p in plans})
    kernel = get_backend(st.backend, st.root_path())
    if not dry_run:
        confirm(f"Reset {len(affected)} function(s): {', '.join(str(a) for a in affected)}?",
                yes=yes, json_mode=json_mode)
    doc["backend"] = kernel.name
    for p, m in zip(plans, modes):
        try:
            r = execute_hot_reset(kernel, host, p, m, dry_run=dry_run, no_preflight=no_preflight)
        except KernelError as e:
            ex = refusal(e, host)
            doc["results"].append({"target": str(p.target.address), "mode": m,
                                   "result": "error", "error": ex.to_json()})
            if not json_mode:
                out.emit(doc, lambda c: None)
            raise ex
        doc["results"].append(r)
        if not json_mode:
            c = out.canvas()
            if dry_run:
                c.line(f"dry run: the steps for {p.target.address} ({m}):")
                for s in r["steps"]:
                    c.bullet(human.step_line(s))
            else:
                c.line(f"{p.target.address}: {p.kind} reset done ({m} mode), "
                       f"{len(p.affected)} function(s) reset", "ok")
    if not dry_run:
        problems = verify(st.root_path(), affected)
        doc["verification"] = problems
        if problems:
            raise VerifyFailed("the reset ran but verification failed: " + "; ".join(problems),
                               "check dmesg and 'vfioctl list'; a rescan may be needed",
                               problems=problems)
    return doc


def function_reset(st, host: Host, fn: PciFunction, *, mode_flags: tuple[bool, bool],
                   dry_run: bool, yes: bool, json_mode: bool, out) -> dict:
    """``vfioctl reset``: VFIO_DEVICE_RESET, refused when the device has no reset."""
    from vfioctl.kernel import get_backend
    from vfioctl.present import jsondoc as jd
    plan = sc.plan_reset(host, fn)
    mode = choose_mode(plan, iommufd=mode_flags[0], group=mode_flags[1])
    if not fn.vfio_bound:
        raise Refused(f"{fn.address} is not bound to vfio-pci (driver: {fn.driver or 'none'})",
                      f"bind it to vfio-pci first: vfioctl bind {fn.address}",
                      code=EXIT_NO, kind="not-possible")
    v = plan.verdicts[mode]
    setup = [r for r in v.reasons if r.step in (
        "preflight", "open /dev/iommu", "open cdev", "open group", "VFIO_GROUP_GET_STATUS",
        "VFIO_DEVICE_BIND_IOMMUFD")]
    if setup:
        r = setup[0]
        raise Refused(f"cannot open {fn.address} in {mode} mode: {r.message}",
                      (f"fix: {r.remedy}; " if r.remedy else "")
                      + "'vfioctl show DEVICE' explains the device's state", code=EXIT_NO,
                      kind="not-possible", errno=r.errno, step=r.step)
    methods = fn.reset_method
    scope_note = None
    if methods and "bus" in methods and not any(
            m in ("device_specific", "acpi", "flr", "af_flr", "pm") for m in methods):
        scope_note = (f"{fn.address}'s only reset method is 'bus': it works only while the "
                      "device is alone on its bus, and then resets everything below the bridge")
    kernel = get_backend(st.backend, st.root_path())
    doc = jd.doc("reset", target=str(fn.address), mode=mode, dry_run=dry_run,
                 reset_method=list(methods) if methods is not None else None,
                 note=scope_note, side_effects=SIDE_EFFECTS, steps=[], result=None)
    if not json_mode:
        out.info(f"function reset of {fn.address} ({mode} mode); reset_method: "
                 f"{' '.join(methods) if methods else '(none listed)'}")
        if scope_note:
            out.info(f"note: {scope_note}")
    if not dry_run:
        confirm(f"Reset {fn.address}?", yes=yes, json_mode=json_mode)
    doc["backend"] = kernel.name
    sess = Session(kernel, host, mode, dry_run=dry_run)
    try:
        with sess:
            dfd = sess.open_device(fn)
            info = sess._call("VFIO_DEVICE_GET_INFO", str(fn.address), kernel.VFIO_DEVICE_GET_INFO,
                              dfd)
            if not dry_run:
                doc["device_info"] = {"flags": info.flags, "reset": info.reset,
                                      "num_regions": info.num_regions, "num_irqs": info.num_irqs}
                if not info.reset:
                    raise KernelRefused(
                        f"{fn.address} reports no function reset (VFIO_DEVICE_FLAGS_RESET is "
                        "clear: no method in its reset_method list worked when it was opened)",
                        "use 'vfioctl hot-reset' (slot/bus reset) instead",
                        op="VFIO_DEVICE_GET_INFO", errno=None)
            sess._call("VFIO_DEVICE_RESET", str(fn.address), kernel.VFIO_DEVICE_RESET, dfd)
    except KernelError as e:
        raise refusal(e, host) from None
    finally:
        kernel.close_all()
        doc["steps"] = [s.to_json() for s in sess.steps]
    doc["result"] = "dry-run" if dry_run else "reset"
    if not dry_run:
        problems = verify(st.root_path(), [fn.address])
        doc["verification"] = problems
        if problems:
            raise VerifyFailed("the reset ran but verification failed: " + "; ".join(problems),
                               "check dmesg and 'vfioctl list'")
    return doc


def check(host: Host, fns: list[PciFunction], *, mode_flags: tuple[bool, bool]) -> dict:
    from vfioctl.present import jsondoc as jd
    plans = plan_targets(host, fns)
    entries = []
    answers: list[str] = []
    ok = True
    for p in plans:
        forced = mode_flags[0] or mode_flags[1]
        mode = choose_mode(p, iommufd=mode_flags[0], group=mode_flags[1])
        possible_modes = [m for m, v in p.verdicts.items() if v.possible]
        good = p.verdicts[mode].possible if forced else bool(possible_modes)
        if not forced and possible_modes and mode not in possible_modes:
            mode = possible_modes[0]
        ok = ok and good
        answer = "possible" if good else (
            "cannot-tell" if (p.verdicts[mode].cannot_tell if forced else p.cannot_tell)
            else "not-possible")
        answers.append(answer)
        modes = [mode] if forced or good else list(p.verdicts)
        entries.append({"target": str(p.target.address), "possible": good, "answer": answer,
                        "mode": mode,
                        "possible_modes": possible_modes, "kind": p.kind,
                        "affected": [str(a.address) for a in p.affected],
                        "reasons": [] if good else [
                            dict(r.to_json(), mode=m) for m in modes
                            for r in p.verdicts[m].reasons]})
    answer = ("possible" if ok else "not-possible" if "not-possible" in answers
              else "cannot-tell")
    return jd.doc("check", possible=ok, answer=answer, resets=entries)
