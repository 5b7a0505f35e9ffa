"""What operations return: one report dataclass per command.

A report holds model objects and plain values -- never text laid out for a
person, never a JSON dict.  :mod:`vfioctl.present` turns each report type into
its JSON document and its table/plain views (see ``vfioctl/present/__init__.py``).

Acting operations take two callables from the caller:

* ``confirm(ConfirmRequest) -> bool``: asked once, after the plan is known and
  before anything is opened; False means "not confirmed" (the operation raises
  :class:`~vfioctl.errors.Refused`).  The CLI's confirmer shows the request on
  stderr, refuses without ``--yes`` when not interactive, and checks that the
  output channel works.
* ``progress(Progress) -> None``: told what is happening as it happens
  (a target started, a target done); the CLI prints it on stderr.
"""

from __future__ import annotations

from vfioctl.model.record import dataclass, field
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from vfioctl.errors import VfioctlError
    from vfioctl.kernel.base import HotResetInfo
    from vfioctl.model import scope as sc
    from vfioctl.model.host import Holder, Host, IommuGroup, PciFunction, Slot


@dataclass
class Step:
    """One step of an access sequence, in the simulator journal's ``op target`` form."""
    op: str
    target: str
    note: str = ""
    result: object = None


# -- inspection ----------------------------------------------------------------

@dataclass
class ListReport:
    host: "Host"
    functions: list["PciFunction"]


@dataclass
class GroupsReport:
    host: "Host"
    groups: list["IommuGroup"]


@dataclass
class ShowReport:
    host: "Host"
    function: "PciFunction"
    plan: "sc.ResetPlan"
    #: modules whose modules.alias entries match (None: no modules.alias under the root)
    modules: list[str] | None = None
    #: why reset_method is absent, when it is (see ops.inspect.reset_method_absent)
    reset_method_note: str | None = None


@dataclass
class KernelInfo:
    """``reset-info --kernel``: what the kernel answered (or why it was not asked)."""
    mode: str
    backend: str
    simulated: bool
    dry_run: bool
    steps: list[Step] = field(default_factory=list)
    errno: str | None = None
    step: str | None = None
    explanation: str | None = None
    hint: str | None = None            # what to do about the failure, when there is a fix
    info: "HotResetInfo | None" = None
    agrees: bool | None = None
    disagreements: list[str] = field(default_factory=list)


@dataclass
class ResetInfoReport:
    host: "Host"
    function: "PciFunction"
    plan: "sc.ResetPlan"
    kernel: KernelInfo | None = None


# -- tree ----------------------------------------------------------------------

@dataclass
class TreeMark:
    """What reset number ``scope`` (index into :attr:`TreeReport.plans`) does to a node."""

    scope: int
    target: bool = False              # the DEVICE asked about
    hit: bool = False                 # in the reset scope: the reset resets it
    in_dev_set: bool | None = None    # hit functions: member of the target's dev_set
    held_by: tuple["Holder", ...] = ()  # hit functions: processes holding its group/cdev
    reset_point: str | None = None    # "bus" (the bridge) or "slot" (the slot node)
    #: hit although the kernel's INFO does not list it (an SR-IOV VF of a PF in
    #: the scope, model.scope.Collateral): the kernel neither checks nor refuses it
    also_reset: bool = False

    @property
    def blocks(self) -> bool:
        """A hit function that makes the kernel refuse (outside the dev_set or held);
        never one the kernel does not list (it does not check those)."""
        return self.hit and not self.also_reset and (self.in_dev_set is False
                                                     or bool(self.held_by))


@dataclass
class TreeNode:
    type: str                          # root-complex, slot or function
    name: str                          # pci0000:00, the slot name, or the address
    role: str | None = None            # functions: root-port, endpoint, vf... (ops.tree.role_of)
    function: "PciFunction | None" = None
    slot: "Slot | None" = None
    matched: bool = True               # passes the filters (False: kept as a path)
    children: list["TreeNode"] = field(default_factory=list)
    marks: list[TreeMark] = field(default_factory=list)


@dataclass
class TreeReport:
    """``tree``: the PCI hierarchy (one node per root complex shown) with the
    reset of every DEVICE (``plans``, in argument order) drawn on it as marks."""
    host: "Host"
    roots: list[TreeNode]
    plans: list["sc.ResetPlan"]
    #: root complexes left out (with DEVICE: those holding none of them; see ``all``)
    hidden_roots: list[str]
    filtered: bool                    # a filter was given


@dataclass
class CheckEntry:
    plan: "sc.ResetPlan"
    possible: bool
    mode: str
    possible_modes: list[str]
    #: (mode, scope.Reason) for every reason a reset is refused
    reasons: list[tuple[str, object]]
    #: other requested targets this reset covers (same dev_set, same scope)
    covers: list[str] = field(default_factory=list)
    #: "possible", "not-possible" or "cannot-tell" (vfioctl could not see enough)
    answer: str = "possible"


@dataclass
class CheckReport:
    host: "Host"
    entries: list[CheckEntry]

    @property
    def possible(self) -> bool:
        return all(e.possible for e in self.entries)

    @property
    def answer(self) -> str:
        """"possible"; "not-possible" when any reset is; else "cannot-tell"."""
        answers = [e.answer for e in self.entries]
        if self.possible:
            return "possible"
        return "not-possible" if "not-possible" in answers else "cannot-tell"


# -- acting --------------------------------------------------------------------

@dataclass
class ConfirmRequest:
    """What an acting operation is about to do, for the caller's confirmer."""
    command: str                      # "hot-reset", "reset", "reset-info --kernel"
    question: str                     # "Reset 2 functions: A, B?"
    affected: list[str]               # every function the action touches
    simulated: bool                   # the backend is a simulation
    plans: list[tuple["sc.ResetPlan", str]] = field(default_factory=list)   # (plan, mode)
    notes: list[str] = field(default_factory=list)
    host: "Host | None" = None
    #: another report to show with the question (bind/unbind: the BindPlan)
    report: object = None
    #: functions the action also hits that the kernel does not list (VFs of a PF
    #: in a slot reset): a refusal to act without confirmation names them
    also_reset: list[str] = field(default_factory=list)


Confirm = Callable[[ConfirmRequest], bool]


@dataclass
class Progress:
    """``event``: "start" (a target's sequence begins) or "done"/"failed"."""
    event: str
    target: str
    mode: str
    simulated: bool
    kind: str | None = None
    affected: int = 0
    message: str = ""


ProgressFn = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The default progress callback: say nothing."""


@dataclass
class TargetResult:
    """One target of a hot reset.  ``result``: "reset", "dry-run", "error", or
    "not-attempted" (an earlier target failed, so this one was left alone)."""
    target: str
    mode: str
    kind: str | None
    affected: list[str]
    result: str = "not-attempted"
    steps: list[Step] = field(default_factory=list)
    info: "HotResetInfo | None" = None
    error: "VfioctlError | None" = None
    #: with --vf-token: the functions opened with the token (None: no token given)
    vf_token_passed_to: list[str] | None = None


@dataclass
class HotResetReport:
    host: "Host"
    dry_run: bool
    backend: str
    simulated: bool
    plans: list[tuple["sc.ResetPlan", str]]
    results: list[TargetResult]
    verification: list[str] = field(default_factory=list)
    #: the first failure (the sequence stops there), or the verification failure
    #: of a completed run; None when every target was done and verified
    error: "VfioctlError | None" = None

    @property
    def done(self) -> list[str]:
        return [r.target for r in self.results if r.result in ("reset", "dry-run")]

    @property
    def failed(self) -> list[str]:
        return [r.target for r in self.results if r.result == "error"]

    @property
    def status(self) -> str:
        """"done", "partial" (some targets reset, then one failed) or "failed"."""
        if not self.failed:
            return "done"
        return "partial" if self.done else "failed"


@dataclass
class FunctionResetReport:
    host: "Host"
    target: str
    mode: str
    dry_run: bool
    backend: str
    simulated: bool
    reset_method: list[str] | None
    note: str | None
    steps: list[Step] = field(default_factory=list)
    result: str | None = None
    device_info: dict | None = None
    verification: list[str] = field(default_factory=list)
    #: the verification failure after the reset ran (the reset itself was done)
    error: "VfioctlError | None" = None
    #: with --vf-token: the functions opened with it (None: no token given)
    vf_token_passed_to: list[str] | None = None


@dataclass
class SnapshotReport:
    out: str
    tarball: bool
    source: str
    files: int
    links: int
    skipped: list
    extra: dict = field(default_factory=dict)


# -- fleet: export, libvirt hook -------------------------------------------------

@dataclass
class ExportReport:
    """``vfioctl export``: the data built from the host and where it goes.

    ``families`` are :class:`vfioctl.ops.export.MetricFamily` (the host's and
    the run's own ``last_export`` families), ``features`` NFD
    :class:`vfioctl.ops.export.Feature` lines; ``prometheus``/``nfd`` are the
    destinations (absolute paths, ``-`` for standard output, None when not
    asked).  ``success`` False: the host could not be read and only the run's
    families are there (the CLI writes them, then reports the error)."""
    success: bool
    timestamp: float
    duration: float | None
    families: list
    features: list
    prometheus: str | None
    nfd: str | None
    nfd_expires: float
    warnings: list[str] = field(default_factory=list)

    @property
    def series(self) -> int:
        return sum(len(f.samples) for f in self.families)


@dataclass
class Hostdev:
    """One ``<hostdev type="pci">`` of a domain judged by the libvirt hook."""
    address: str
    managed: bool
    function_reset: bool | None = None
    function_reset_why: str = ""
    hot_reset: bool = False
    hot_reset_reasons: list[str] = field(default_factory=list)
    resettable: bool = False
    remedy: str | None = None


@dataclass
class HookReport:
    """``vfioctl libvirt-hook``: the decision for one call of libvirt's qemu hook."""
    domain: str
    operation: str
    sub_operation: str
    opted_in: bool
    decision: str = "allow"      # allow | refuse | skip
    hostdevs: list[Hostdev] = field(default_factory=list)
    message: str | None = None   # what libvirt shows on refusal

    @property
    def refused(self) -> bool:
        return self.decision == "refuse"
