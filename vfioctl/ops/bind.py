"""bind / unbind: move a set of PCI functions to a VFIO driver and back.

Plan -> guards -> confirm -> execute (all or nothing) -> wait -> record.

The set (``plan_bind``): each DEVICE and every other endpoint of its IOMMU
group (bridges, and members on a DMA-safe driver such as pcieport or
pci-stub, stay where they are); with ``scope`` also every function of the
device's hot-reset scope and their groups.  The plan shows, per function,
driver now -> after, holders and guards, and the consequence: the reset
planner (:mod:`vfioctl.model.scope`) run on the *predicted* post-bind host.

The kernel's own sequence (binding-host-fleet.md A.3, libvirt's order), per
function, through the backend's driver-core writes: ``driver_override``
:= target, ``unbind`` from the current driver, ``drivers_probe``, then the
``driver`` link is read back (``drivers_probe`` succeeds even when nothing
bound).  Never ``new_id``.  If any step fails, every function already moved
(and the one in progress) goes back: its old ``driver_override`` is
restored, the new driver unbound and the old driver bound again
(``bind``, falling back to ``drivers_probe``); the result lists each step
of the rollback.

Nothing here prints or prompts: operations return report dataclasses
(:class:`BindPlan`, :class:`BindResult`; their JSON and table views are
:mod:`vfioctl.present.bind`'s) and raise typed errors; confirmation is a
``confirm(ConfirmRequest) -> bool`` callable the CLI passes in
(:mod:`vfioctl.ops.reports`).
"""

from __future__ import annotations

import copy
import errno as E
import time
from vfioctl.model.record import dataclass, field
from typing import Callable, Optional

from vfioctl.errors import EXIT_KERNEL, EXIT_REFUSED, KernelRefused, Refused, UsageError, \
    VerifyFailed, VfioctlError
from vfioctl.kernel.base import KernelError
from vfioctl.model import nodes
from vfioctl.model import scope as sc
from vfioctl.model.host import Host, PciFunction, dma_safe_driver, is_vfio_driver
from vfioctl.sysfs import usage
from vfioctl.sysfs.root import Root

DEFAULT_DRIVER = "vfio-pci"

#: guard codes (each refusable per code with --allow CODE, all with --force)
GUARDS = {
    "boot-vga": "the boot console GPU (boot_vga=1): binding it evicts the firmware framebuffer",
    "nic-in-use": "a network interface with addresses or routes",
    "storage-in-use": "a storage controller with mounted filesystems, swap or holders",
    "pf-vfs": "an SR-IOV PF with VFs enabled",
    "no-iommu-group": "a device without an IOMMU group",
    "held": "a function held open by a process",
    "held-unseen": "a function whose holders could not be seen (processes not examinable)",
    "driver-missing": "the target driver is not loaded",
}


class GuardRefused(Refused):
    """Guards refused the bind; ``plan`` is attached for the report."""

    kind = "guard"

    def __init__(self, message, hint, plan):
        super().__init__(message, hint, code=EXIT_REFUSED)
        self.plan = plan


class BindFailed(KernelRefused):
    """A step failed; ``result`` says what ran and what was rolled back."""

    kind = "bind-failed"

    def __init__(self, message, hint, result, **details):
        super().__init__(message, hint, code=EXIT_KERNEL, **details)
        self.result = result


@dataclass
class Guard:
    code: str
    address: str
    message: str
    remedy: str
    forced: bool = False



@dataclass
class Move:
    address: str
    role: str                 # target | group | scope
    action: str               # bind | none | stay  (unbind: unbind | none)
    driver_now: str | None
    driver_after: str | None
    override_now: str | None
    why: str = ""
    holders: list[str] = field(default_factory=list)
    guards: list[Guard] = field(default_factory=list)
    iommu_group: int | None = None
    class_name: str = "?"



@dataclass
class Consequence:
    target: str
    iommu_group: int | None
    viable_now: bool | None
    viable_after: bool | None
    hot_reset_kind: str | None
    possible_now: list[str]
    possible_after: list[str]
    #: (mode, scope.Reason) for every reason a hot reset stays impossible after
    reasons_after: list[tuple[str, object]]



@dataclass
class BindPlan:
    command: str              # bind | unbind
    targets: list[str]
    driver: str | None
    driver_choice: str
    scope: bool
    moves: list[Move]
    consequences: list[Consequence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def guards(self) -> list[Guard]:
        return [g for m in self.moves for g in m.guards]

    @property
    def blocking(self) -> list[Guard]:
        return [g for g in self.guards if not g.forced]

    @property
    def to_move(self) -> list[Move]:
        return [m for m in self.moves if m.action in ("bind", "unbind")]



@dataclass
class Step:
    op: str
    target: str
    value: str = ""
    result: str | None = None     # "ok", an errno name, "dry-run"
    detail: str = ""



@dataclass
class BindResult:
    plan: BindPlan
    dry_run: bool
    backend: str | None = None
    steps: list[Step] = field(default_factory=list)
    rollback: list[Step] = field(default_factory=list)
    result: str = "pending"   # done | dry-run | nothing-to-do | rolled-back | rollback-incomplete
    moved: list[str] = field(default_factory=list)
    nodes: list[dict] = field(default_factory=list)
    persisted: list[str] = field(default_factory=list)
    state_file: str | None = None
    failure: dict | None = None
    warnings: list[str] = field(default_factory=list)
    #: the error the command ends with (a guard's refusal, a failed step), when any
    error: "VfioctlError | None" = None



# ---------------------------------------------------------------------------
# choosing the driver

def choose_driver(root: Root, fn: PciFunction, requested: str) -> tuple[str, str]:
    """(driver, why).  ``auto``: the most specific ``vfio_pci:`` alias."""
    if requested != "auto":
        return requested, f"--driver {requested}" if requested != DEFAULT_DRIVER else "default"
    from vfioctl.sysfs.modalias import ModAlias
    from vfioctl.sysfs.usage import driver_dir_name, read_modalias
    ma = ModAlias.load(root)
    modalias = read_modalias(root, str(fn.address))
    if ma is None:
        return DEFAULT_DRIVER, "auto: no modules.alias for the root's kernel: vfio-pci"
    if modalias is None:
        return DEFAULT_DRIVER, f"auto: {fn.address} has no modalias: vfio-pci"
    variants = ma.vfio_variants_for(modalias)
    if not variants:
        return DEFAULT_DRIVER, "auto: no vfio_pci: alias matches: vfio-pci"
    mod = variants[0]
    name = driver_dir_name(root, mod) or mod
    return name, f"auto: {mod} is the most specific vfio_pci: alias for {modalias}"


# ---------------------------------------------------------------------------
# guards

def _who(holders) -> list[str]:
    return [f"{c} (pid {p})" for p, c, _ in holders]


def _fn_guards(root: Root, host: Host, fn: PciFunction, driver: str, noiommu: bool) -> tuple[
        list[Guard], list[str]]:
    """Guards for moving ``fn`` from its host driver to ``driver``; (guards, holders)."""
    a = str(fn.address)
    out: list[Guard] = []
    holders: list[str] = []
    if fn.base_class == 0x03 and usage.boot_vga(root, a):
        out.append(Guard("boot-vga", a, f"{a} is the boot console GPU (boot_vga=1): vfio-pci "
                         "evicts the firmware framebuffer and the host loses its console",
                         "use another GPU for the host console, or --allow boot-vga if the "
                         "host is headless"))
    for ifname in usage.net_interfaces(root, a):
        u = usage.iface_usage(root, ifname)
        if u["routes"] or u["addresses"]:
            what = ", ".join([f"route {r}" for r in u["routes"]] +
                             [f"address {x}" for x in u["addresses"]])
            out.append(Guard("nic-in-use", a, f"{a} is network interface {ifname}, which "
                             f"carries {what}", f"take {ifname} down first (ip link set "
                             f"{ifname} down; ip addr flush dev {ifname}), or --allow nic-in-use"))
    for disk in usage.block_devices(root, a):
        u = usage.block_usage(root, disk)
        if u:
            out.append(Guard("storage-in-use", a, f"{a} holds disk {disk}: " + "; ".join(u),
                             f"unmount, swapoff and stop what holds /dev/{disk} first, "
                             "or --allow storage-in-use"))
    if fn.sriov_numvfs:
        used = [v for v in fn.virtfns if host.functions.get(v) is not None
                and host.functions[v].driver]
        out.append(Guard("pf-vfs", a, f"{a} is an SR-IOV PF with {fn.sriov_numvfs} VF(s) "
                         "enabled" + (f", {len(used)} of them bound to a driver ("
                                      + ", ".join(f"{v} on {host.functions[v].driver}"
                                                  for v in used) + ")" if used else "")
                         + "; vfio-pci refuses a PF with VFs enabled (EBUSY)",
                         f"release the VFs and disable them: echo 0 > "
                         f"/sys/bus/pci/devices/{a}/sriov_numvfs"))
    if fn.iommu_group is None:
        if host.noiommu_mode and noiommu:
            pass
        elif host.noiommu_mode:
            out.append(Guard("no-iommu-group", a, f"{a} has no IOMMU group: only vfio's unsafe "
                             "noiommu mode can take it (no DMA isolation, taints the kernel)",
                             f"vfioctl bind --noiommu {a} if you accept that"))
        else:
            out.append(Guard("no-iommu-group", a, f"{a} has no IOMMU group and noiommu mode is "
                             "off: vfio-pci refuses it (EINVAL)", "enable the IOMMU "
                             "(intel_iommu=on / amd_iommu=on), or vfio's "
                             "enable_unsafe_noiommu_mode and --noiommu"))
    devnames = usage.chardev_names(root, a)
    held, unseen = usage.node_holders_seen(root, ["/dev/" + n for n in devnames])
    if unseen:
        nodes_ = ", ".join("/dev/" + n for n in devnames)
        who = ("the process list could not be read" if unseen < 0 else
               f"{unseen} process(es) could not be examined (permission denied)")
        out.append(Guard("held-unseen", a, f"{a} has {nodes_}: {who}, so whether a process "
                         "holds them cannot be told", "run as root (binding needs root "
                         "anyway), or --allow held-unseen"))
    if held:
        holders += _who(held)
        out.append(Guard("held", a, f"{a} is in use: " + ", ".join(
            f"{c} (pid {p}) has {n} open" for p, c, n in held),
            "stop " + ", ".join(f"{c} (pid {p})" for p, c, _ in held) + " first"))
    return out, holders


# ---------------------------------------------------------------------------
# planning

def _set_for(host: Host, fns: list[PciFunction], scope: bool) -> list[tuple[PciFunction, str]]:
    chosen: dict = {}

    def add(f: PciFunction, role: str) -> None:
        if f.address not in chosen:
            chosen[f.address] = (f, role)

    def add_group(f: PciFunction, role: str) -> None:
        g = host.group_of(f)
        if g is None:
            return
        for a in g.members:
            m = host.functions.get(a)
            if m is not None:
                add(m, role)

    for f in fns:
        add(f, "target")
    for f in fns:
        add_group(f, "group")
    if scope:
        for f in fns:
            _, _, _, _, funcs = sc.scope_of(host, f)
            for m in funcs:
                add(m, "scope")
                add_group(m, "scope")
    return [chosen[a] for a in sorted(chosen)]


def predict_host(host: Host, moves: list[Move]) -> Host:
    """The host as it would look with every move done (pure)."""
    after = copy.deepcopy(host)
    used = {f.vfio_dev for f in after.functions.values() if f.vfio_dev}
    cdev = bool(after.dev_vfio_devices) or any(f.vfio_dev_devt for f in after.functions.values())
    dev_vfio = set(after.dev_vfio)
    devs = set(after.dev_vfio_devices)
    from vfioctl.model.address import PciAddress
    for m in moves:
        f = after.functions.get(PciAddress.parse(m.address))
        if f is None:
            continue
        if m.action == "bind":
            f.driver = m.driver_after
            f.driver_override = m.driver_after
            n = 0
            while f"vfio{n}" in used:
                n += 1
            f.vfio_dev = f"vfio{n}"
            used.add(f.vfio_dev)
            g = after.group_of(f)
            if cdev and not (g is not None and g.noiommu):
                f.vfio_dev_devt = "?"
                devs.add(f.vfio_dev)
            if g is not None:
                dev_vfio.add(g.node.rsplit("/", 1)[1])
        elif m.action == "unbind":
            used.discard(f.vfio_dev)
            devs.discard(f.vfio_dev or "")
            f.driver = m.driver_after
            f.driver_override = None
            f.vfio_dev = f.vfio_dev_devt = None
    for g in after.groups.values():
        name = g.node.rsplit("/", 1)[1]
        if not any(after.functions[a].vfio_bound for a in g.members if a in after.functions):
            dev_vfio.discard(name)
    after.dev_vfio = frozenset(dev_vfio)
    after.dev_vfio_devices = frozenset(devs)
    after.invalidate()
    return after


def consequences(host: Host, after: Host, fns: list[PciFunction]) -> list[Consequence]:
    out = []
    for f in fns:
        g, ga = host.group_of(f), after.group_of(after.functions[f.address])
        p_now = sc.plan_reset(host, f)
        p_after = sc.plan_reset(after, after.functions[f.address])
        reasons = []
        if not p_after.possible:
            for mode, v in p_after.verdicts.items():
                reasons += [(mode, r) for r in v.reasons]
        out.append(Consequence(
            target=str(f.address), iommu_group=f.iommu_group,
            viable_now=None if g is None else not host.viability_blockers(g),
            viable_after=None if ga is None else not after.viability_blockers(ga),
            hot_reset_kind=p_after.kind,
            possible_now=[m for m, v in p_now.verdicts.items() if v.possible],
            possible_after=[m for m, v in p_after.verdicts.items() if v.possible],
            reasons_after=reasons))
    return out


def _holders_of_vfio(host: Host, f: PciFunction) -> list[str]:
    g = host.group_of(f)
    hs = list(host.group_holders(g)) + list(host.device_holders(f)) if f.vfio_bound else []
    return sorted({str(h) for h in hs})


def plan_bind(root: Root, host: Host, fns: list[PciFunction], *, driver: str = DEFAULT_DRIVER,
              scope: bool = False, noiommu: bool = False, force: bool = False,
              allow: tuple[str, ...] = ()) -> BindPlan:
    """Everything ``bind`` would do, with guards and the predicted consequence."""
    bad = [a for a in allow if a not in GUARDS]
    if bad:
        raise UsageError(f"unknown guard {bad[0]!r}", "guards: " + ", ".join(GUARDS))
    if not fns:
        raise UsageError("bind needs at least one DEVICE", "'vfioctl list' shows the functions")
    target, why = choose_driver(root, fns[0], driver)
    if not is_vfio_driver(target):
        raise UsageError(f"--driver {target}: not a VFIO driver",
                         "use vfio-pci, a vfio-pci variant driver (*_vfio_pci), or auto")
    moves: list[Move] = []
    for f, role in _set_for(host, fns, scope):
        a = str(f.address)
        m = Move(address=a, role=role, action="bind", driver_now=f.driver,
                 driver_after=target, override_now=f.driver_override,
                 iommu_group=f.iommu_group, class_name=f.class_name)
        if f.is_bridge:
            m.action, m.driver_after, m.why = "stay", f.driver, "bridge: stays on its driver"
        elif f.vfio_bound:
            m.action, m.driver_after = "none", f.driver
            m.why = f"already on {f.driver}"
            m.holders = _holders_of_vfio(host, f)
        elif f.driver is not None and dma_safe_driver(f.driver) and role != "target":
            m.action, m.driver_after = "stay", f.driver
            m.why = f"{f.driver} is DMA-safe: the group stays viable with it"
        else:
            if driver == "auto":  # each function gets its own best variant
                m.driver_after, choice = choose_driver(root, f, "auto")
            m.guards, m.holders = _fn_guards(root, host, f, m.driver_after, noiommu)
            m.why = f"{f.driver or 'no driver'} -> {m.driver_after}"
        moves.append(m)
    plan = BindPlan("bind", [str(f.address) for f in fns], target, why, scope, moves)
    missing: set[str] = set()
    for m in plan.to_move:
        d = m.driver_after
        if d not in missing and not usage_driver_registered(root, d):
            missing.add(d)
            m.guards.append(Guard(
                "driver-missing", m.address, f"driver {d} is not registered "
                f"(no /sys/bus/pci/drivers/{d}): the device would be left without a driver",
                f"modprobe {d.replace('-', '_')}"))
    if not plan.to_move and all(f.is_bridge for f in fns):
        raise UsageError(f"{fns[0].address} is a bridge: vfio-pci binds only endpoints "
                         "(type 0 header)", "name an endpoint below it")
    for g in plan.guards:
        g.forced = force or g.code in allow
    after = predict_host(host, plan.to_move)
    plan.consequences = consequences(host, after, fns)
    if any(m.role == "scope" and m.action == "bind" for m in moves):
        plan.notes.append("--scope adds every function of the hot-reset scope and their "
                          "groups, so a hot reset becomes possible")
    return plan


def usage_driver_registered(root: Root, driver: str) -> bool:
    return bool(driver) and "/" not in driver and driver not in (".", "..") and root.isdir(
        root.join(f"sys/bus/pci/drivers/{driver}"))


# ---------------------------------------------------------------------------
# executing

class _Runner:
    def __init__(self, kernel, root: Root, res: BindResult, dry: bool, timeout: float):
        self.k, self.root, self.res, self.dry, self.timeout = kernel, root, res, dry, timeout

    def call(self, steps: list[Step], op: str, target: str, value: str, fn, *args) -> None:
        st = Step(op, target, value)
        steps.append(st)
        if self.dry:
            st.result = "dry-run"
            return
        try:
            fn(*args)
        except KernelError as e:
            st.result = E.errorcode.get(e.errno, str(e.errno))
            st.detail = e.detail
            raise
        finally:
            self.root.invalidate()   # the write moved links (driver, iommu_group...)
        st.result = "ok"

    def verify(self, steps: list[Step], bdf: str, want: str | None) -> None:
        st = Step("verify driver", bdf, want or "(none)")
        steps.append(st)
        if self.dry:
            st.result = "dry-run"
            return
        now = usage.driver_of(self.root, bdf)
        st.detail = f"driver is {now or 'none'}"
        if now != want:
            st.result = "mismatch"
            raise KernelError("verify", E.ENODEV, bdf,
                              detail=f"the probe left {bdf} on {now or 'no driver'}, not "
                                     f"{want or 'no driver'}")
        st.result = "ok"


def _move(r: _Runner, steps: list[Step], bdf: str, target: str, cur: str | None,
          override: str) -> None:
    r.call(steps, "driver_override", bdf, override, r.k.write_driver_override, bdf, override)
    if cur is not None:
        r.call(steps, "unbind", bdf, cur, r.k.unbind, cur, bdf, r.timeout)
    r.call(steps, "drivers_probe", bdf, bdf, r.k.drivers_probe, bdf)
    r.verify(steps, bdf, target)


def _restore(r: _Runner, bdf: str, driver: str | None, override: str | None) -> bool:
    """Give ``bdf`` back to ``driver`` (rollback); every step recorded, never raises."""
    steps = r.res.rollback
    ok = True
    try:
        r.call(steps, "driver_override", bdf, override or "", r.k.write_driver_override, bdf,
               override or "")
    except KernelError:
        ok = False
    cur = usage.driver_of(r.root, bdf)
    if cur is not None and cur != driver:
        try:
            r.call(steps, "unbind", bdf, cur, r.k.unbind, cur, bdf, r.timeout)
        except KernelError:
            return False
        cur = None
    if driver is not None and cur is None:
        try:
            r.call(steps, "bind", bdf, driver, r.k.bind, driver, bdf)
        except KernelError:
            try:
                r.call(steps, "drivers_probe", bdf, bdf, r.k.drivers_probe, bdf)
            except KernelError:
                ok = False
    try:
        r.verify(steps, bdf, driver)
    except KernelError:
        ok = False
    return ok


def _wait_nodes(r: _Runner, host_after: Host, moved: list[str]) -> list[dict]:
    """Wait (bounded) for /dev/vfio/N and each cdev of the moved functions."""
    from vfioctl.model.address import PciAddress
    from vfioctl.sysfs.reader import read_host
    want: list[dict] = []
    after = read_host(r.root, holders=False, full_config=False) if not r.dry else host_after
    for bdf in moved:
        f = after.functions.get(PciAddress.parse(bdf))
        if f is None:
            continue
        g = after.group_of(f)
        if g is not None and not any(w["node"] == g.node for w in want):
            want.append({"node": g.node, "for": bdf, "present": None})
        if f.vfio_dev and f.vfio_dev_devt:
            want.append({"node": nodes.cdev(f.vfio_dev), "for": bdf, "present": None})
    if r.dry:
        return want
    deadline = time.monotonic() + r.timeout
    while True:
        for w in want:
            w["present"] = usage.node_exists(r.root, w["node"])
        if all(w["present"] for w in want) or time.monotonic() >= deadline:
            return want
        time.sleep(0.05)


def _persist(root: Root, res: BindResult, moves: list[Move]) -> None:
    """driverctl's override for each move; a write refused (a link on the way,
    an unwritable /etc) is a warning: the binding itself is done."""
    from vfioctl.sysfs.bindstate import driverctl_node, driverctl_write
    for m in moves:
        try:
            res.persisted.append(driverctl_write(root, m.address, m.driver_after))
        except OSError as ex:
            res.warnings.append(f"could not write driverctl's override "
                                f"{driverctl_node(m.address)}: {ex.strerror or ex}; "
                                "the binding will not survive a reboot")


def _confirm(confirm, kernel, host: Host, plan: "BindPlan") -> None:
    """Ask the caller's confirmer (ops never prompt); False: not confirmed."""
    from vfioctl.ops.reports import ConfirmRequest
    moving = [m.address for m in plan.to_move]
    sim = bool(getattr(kernel, "simulated", getattr(kernel, "name", "") == "sim"))
    req = ConfirmRequest(
        command=plan.command, affected=moving, simulated=sim, host=host, report=plan,
        question=f"{plan.command} {len(moving)} function(s): {', '.join(moving)}?")
    if not confirm(req):
        raise Refused("not confirmed; nothing was done", "answer 'y' to proceed, or pass --yes")


def execute_bind(kernel, root: Root, host: Host, plan: BindPlan, *, dry_run: bool = False,
                 confirm: Optional[Callable] = None, persist: bool = False,
                 timeout: float = 10.0) -> BindResult:
    """Run ``plan``: guards, confirmation, the moves, rollback on failure."""
    from vfioctl.sysfs.bindstate import BindState
    res = BindResult(plan, dry_run, backend=getattr(kernel, "name", None))
    if plan.blocking:
        g = plan.blocking[0]
        more = len(plan.blocking) - 1
        raise GuardRefused(f"refusing to bind {g.address}: {g.message}"
                           + (f" (and {more} more guard(s))" if more else ""),
                           f"{g.remedy}; --force overrides every guard", plan)
    todo = plan.to_move
    if not todo:
        res.result = "nothing-to-do"
        if persist and not dry_run:
            _persist(root, res, [m for m in plan.moves if m.action == "none"])
        return res
    if not dry_run and confirm is not None:
        _confirm(confirm, kernel, host, plan)
    r = _Runner(kernel, root, res, dry_run, timeout)
    done: list[Move] = []
    current: Move | None = None
    try:
        for m in todo:
            current = m
            _move(r, res.steps, m.address, m.driver_after, m.driver_now, m.driver_after)
            done.append(m)
            current = None
    except KernelError as e:
        failed = current
        res.failure = {"op": e.op, "target": e.target, "errno": e.errname,
                     "message": _step_message(e), "detail": e.detail}
        ok = True
        for m in reversed(done + ([failed] if failed is not None else [])):
            ok = _restore(r, m.address, m.driver_now, m.override_now) and ok
        res.result = "rolled-back" if ok else "rollback-incomplete"
        msg = (f"binding {e.target} failed at {e.op} ({e.errname}): {_step_message(e)}; "
               + ("every function is back on its original driver" if ok else
                  "the rollback did not complete - see the report"))
        raise BindFailed(msg, "the report lists every step; fix the cause and retry",
                         res, op=e.op, errno=e.errname, target=e.target) from None
    res.moved = [m.address for m in done]
    res.result = "dry-run" if dry_run else "done"
    after = predict_host(host, todo)
    res.nodes = _wait_nodes(r, after, res.moved)
    if dry_run:
        return res
    st = BindState.load(root)
    for m in done:
        st.record(m.address, driver=m.driver_now, driver_override=m.override_now,
                  bound_to=m.driver_after)
    try:
        st.save()
        res.state_file = st.node_path
    except OSError as ex:
        res.warnings.append(f"could not record the original drivers in {st.node_path}: "
                            f"{ex.strerror}; 'vfioctl unbind' will let the kernel choose")
    if persist:
        _persist(root, res, [m for m in plan.moves if m.action in ("bind", "none")])
    missing = [w["node"] for w in res.nodes if not w["present"]]
    if missing:
        raise VerifyFailed(
            f"bound, but {', '.join(missing)} did not appear within {timeout:g} s",
            "check that udev/devtmpfs is running ('udevadm settle'), then 'vfioctl list'",
            missing=missing)
    return res


def _step_message(e: KernelError) -> str:
    texts = {
        ("driver_override", E.EINVAL): "the driver name is too long",
        ("unbind", E.ENODEV): "the device is not bound to that driver (any more)",
        ("unbind", E.ETIMEDOUT): "the unbind is blocked: the device is in use",
        ("bind", E.ENODEV): "the driver does not match the device (driver_override names "
                            "another driver)",
        ("bind", E.EBUSY): "the device already has a driver, or its IOMMU group is in use",
        ("verify", E.ENODEV): "the probe did not bind the expected driver",
    }
    t = texts.get((e.op, e.errno), f"{e.op} failed")
    return t + (f" ({e.detail})" if e.detail else "")


# ---------------------------------------------------------------------------
# unbind

def plan_unbind(root: Root, host: Host, fns: list[PciFunction], *, force: bool = False
                ) -> BindPlan:
    """Give functions back: to the driver recorded at bind, else the kernel's choice.

    The set: the DEVICEs, plus every member of their IOMMU groups that
    vfioctl bound (returning one member to a host driver makes the group
    not viable for the others anyway)."""
    from vfioctl.sysfs.bindstate import BindState
    if not fns:
        raise UsageError("unbind needs at least one DEVICE", "'vfioctl list --vfio' shows them")
    st = BindState.load(root)
    chosen: dict = {f.address: (f, "target") for f in fns}
    for f in fns:
        g = host.group_of(f)
        for a in (g.members if g is not None else ()):
            if a not in chosen and str(a) in st.functions and a in host.functions:
                chosen[a] = (host.functions[a], "group")
    moves = []
    for a in sorted(chosen):
        f, role = chosen[a]
        rec = st.functions.get(str(a))
        m = Move(address=str(a), role=role, action="unbind", driver_now=f.driver,
                 driver_after=None, override_now=f.driver_override,
                 iommu_group=f.iommu_group, class_name=f.class_name)
        if not f.vfio_bound and rec is not None and f.driver != rec.get("driver"):
            # an unbind that completed after vfioctl stopped waiting (the holder let
            # go): finish it by giving the function its recorded driver
            m.driver_after = rec.get("driver")
            m.why = (f"unbound from {rec.get('bound_to')} earlier; back to "
                     f"{rec.get('driver') or 'no driver'} (recorded at bind)")
        elif not f.vfio_bound:
            m.action, m.driver_after = "none", f.driver
            m.why = f"not on a VFIO driver ({f.driver or 'no driver'})"
        elif rec is not None:
            m.driver_after = rec.get("driver")
            m.why = (f"back to {rec.get('driver')} (recorded at bind)" if rec.get("driver")
                     else "back to no driver (recorded at bind)")
        else:
            m.driver_after = None
            m.why = "no record of an earlier driver: clear driver_override, the kernel chooses"
        if m.action == "unbind":
            m.holders = _holders_of_vfio(host, f)
            if m.holders:
                m.guards.append(Guard(
                    "held", m.address, f"{a} is in use by {', '.join(m.holders)}: the kernel "
                    "blocks the unbind until it lets go",
                    f"stop {', '.join(m.holders)} first, or --force to wait a bounded time",
                    forced=force))
        moves.append(m)
    plan = BindPlan("unbind", [str(f.address) for f in fns], None,
                    "recorded original drivers", False, moves)
    plan.notes.append("functions without a record get the kernel's default driver: "
                      "driver_override is cleared and the device re-probed")
    return plan


def execute_unbind(kernel, root: Root, host: Host, plan: BindPlan, *, dry_run: bool = False,
                   confirm: Optional[Callable] = None, persist: bool = False,
                   timeout: float = 10.0) -> BindResult:
    from vfioctl.sysfs.bindstate import BindState, driverctl_remove
    res = BindResult(plan, dry_run, backend=getattr(kernel, "name", None))
    if plan.blocking:
        g = plan.blocking[0]
        raise GuardRefused(f"refusing to unbind {g.address}: {g.message}", g.remedy, plan)
    todo = plan.to_move
    if not todo:
        res.result = "nothing-to-do"
    elif not dry_run and confirm is not None:
        _confirm(confirm, kernel, host, plan)
    r = _Runner(kernel, root, res, dry_run, timeout)
    st = BindState.load(root)
    for m in todo:
        rec = st.functions.get(m.address) or {}
        override = rec.get("driver_override") or ""
        try:
            r.call(res.steps, "driver_override", m.address, override,
                   kernel.write_driver_override, m.address, override)
            # re-read: a blocked unbind may have completed since the plan was made
            cur = m.driver_now if dry_run else usage.driver_of(root, m.address)
            if cur is not None and is_vfio_driver(cur):
                r.call(res.steps, "unbind", m.address, cur, kernel.unbind, cur, m.address,
                       timeout)
            if m.driver_after is not None:
                try:
                    r.call(res.steps, "bind", m.address, m.driver_after, kernel.bind,
                           m.driver_after, m.address)
                except KernelError:
                    r.call(res.steps, "drivers_probe", m.address, m.address,
                           kernel.drivers_probe, m.address)
            else:
                r.call(res.steps, "drivers_probe", m.address, m.address,
                       kernel.drivers_probe, m.address)
            if m.driver_after is not None:
                r.verify(res.steps, m.address, m.driver_after)
            elif not dry_run:
                m.driver_after = usage.driver_of(root, m.address)
        except KernelError as e:
            res.failure = {"op": e.op, "target": e.target, "errno": e.errname,
                         "message": _step_message(e), "detail": e.detail}
            res.result = "incomplete"
            if not dry_run:
                try:
                    st.save()
                except OSError:
                    pass
            hint = ("the kernel completes the unbind when the holder closes the device; "
                    "'vfioctl list' shows the state" if e.errno == E.ETIMEDOUT else
                    "the report lists every step")
            raise BindFailed(f"unbinding {e.target} failed at {e.op} ({e.errname}): "
                             f"{_step_message(e)}", hint, res, op=e.op, errno=e.errname,
                             target=e.target) from None
        res.moved.append(m.address)
        if not dry_run:
            st.forget(m.address)
    if not dry_run:
        try:
            st.save()
            res.state_file = st.node_path
        except OSError as ex:
            res.warnings.append(f"could not update {st.node_path}: {ex.strerror}")
        if persist:
            from vfioctl.sysfs.bindstate import driverctl_node
            for m in plan.moves:
                try:
                    if driverctl_remove(root, m.address):
                        res.persisted.append(driverctl_node(m.address))
                except OSError as ex:
                    res.warnings.append(f"could not remove driverctl's override "
                                        f"{driverctl_node(m.address)}: {ex.strerror or ex}; "
                                        "driverctl re-applies it at boot")
    if res.result == "pending":
        res.result = "dry-run" if dry_run else "done"
    return res
