"""What ``vfioctl doctor`` reports: findings with status, evidence and remedy.

Pure data.  A :class:`Finding` answers one question about the host or one
PCI function; the check ``id`` is stable (kebab-case) so scripts can key on
it.  ``cannot-tell`` is used whenever vfioctl could not see what it needed
(not root, a file missing from a snapshot): it is never reported as a pass.
"""

from __future__ import annotations

from vfioctl.model.record import dataclass, field

PASS = "pass"
WARN = "warn"
FAIL = "fail"
CANNOT_TELL = "cannot-tell"
STATUSES = (PASS, CANNOT_TELL, WARN, FAIL)  # in rising order of severity
RANK = {s: i for i, s in enumerate(STATUSES)}

HOST = "host"


@dataclass(frozen=True)
class Evidence:
    """A file vfioctl read (node path, as the kernel names it) and what it found."""

    path: str
    value: str

    def __str__(self) -> str:
        return f"{self.path} = {self.value}"


@dataclass(frozen=True)
class Finding:
    check: str                 # stable kebab-case id, e.g. "iommu-kernel"
    subject: str               # "host" or a PCI address
    status: str                # pass | warn | fail | cannot-tell
    meaning: str               # one sentence
    evidence: tuple[Evidence, ...] = ()
    remedy: str | None = None  # a command, a kernel parameter or a firmware setting


@dataclass
class DoctorReport:
    root: str
    cpu_vendor: str | None
    findings: list[Finding] = field(default_factory=list)
    devices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def worst(self) -> str:
        return max((f.status for f in self.findings), key=RANK.__getitem__, default=PASS)

    @property
    def exit_code(self) -> int:
        """The exit status of ``vfioctl doctor``: from the worst finding
        (documented in vfioctl(8)): 0 pass, 10 cannot-tell, 13 warn, 1 fail."""
        from vfioctl.errors import EXIT_CANNOT_TELL, EXIT_DOCTOR_WARN, EXIT_NO, EXIT_OK
        return {PASS: EXIT_OK, CANNOT_TELL: EXIT_CANNOT_TELL, WARN: EXIT_DOCTOR_WARN,
                FAIL: EXIT_NO}[self.worst]

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in STATUSES}
        for f in self.findings:
            out[f.status] += 1
        return out

    def find(self, check: str, subject: str = HOST) -> Finding | None:
        for f in self.findings:
            if f.check == check and f.subject == subject:
                return f
        return None
