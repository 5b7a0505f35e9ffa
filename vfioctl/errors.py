"""Errors a user can cause, each with a remedy and a documented exit code.

Exit codes (documented in vfioctl(8), EXIT STATUS):

  0  success (for reset-info/check: a hot reset is possible)
  1  the answer is "no": reset-info/check found a hot reset impossible, doctor a failure, or
     hot-reset/reset refused before opening anything (kind "not-possible")
  2  usage error: bad option, malformed or ambiguous DEVICE
  3  not found: no such PCI function, group or cdev
  4  host error: ROOT has no sys/, sysfs missing or unreadable
  5  permission denied
  6  refused for safety: not confirmed (no --yes when not interactive, or declined),
     a bind/unbind guard (console GPU, NIC or disk in use, held open...), or the
     output channel does not work (nothing was done)
  7  the kernel refused the operation (errno kept in the JSON error object)
  8  the operation ran but verification failed (a function vanished, config unreadable)
  9  backend unavailable (unknown --backend, VFIO nodes missing)
 10  cannot tell: reset-info, check or hot-reset's preflight could not see what the verdict depends on (other users' open files, config space, broken sysfs entries), or doctor's worst finding is "cannot tell"; the message says what, and how to see it (usually: run as root)
 11  partly done: a multi-target operation did some targets, then one failed
     (the report lists done, failed and not-attempted targets)
 12  done, but the result could not be written (stdout closed or full): the
     operation acted; a message says so on stderr when it can
 13  doctor: the worst finding is a warning (no failure)
 70  internal error (a bug: please report it; VFIOCTL_DEBUG=1 shows the traceback)
 74  the output could not be written (a full disk, a closed stdout)
130  interrupted (SIGINT)
141  the reader of the output went away (EPIPE/SIGPIPE, e.g. '| head -1')
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NO = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_HOST = 4
EXIT_PERMISSION = 5
EXIT_REFUSED = 6
EXIT_KERNEL = 7
EXIT_VERIFY = 8
EXIT_BACKEND = 9
EXIT_CANNOT_TELL = 10
EXIT_PARTIAL = 11
EXIT_UNREPORTED = 12
EXIT_DOCTOR_WARN = 13
EXIT_INTERNAL = 70
EXIT_OUTPUT = 74
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_NO: "not possible: reset-info/check verdict, or hot-reset/reset refused before opening anything",
    EXIT_USAGE: "usage error",
    EXIT_NOT_FOUND: "device, group or cdev not found",
    EXIT_HOST: "host root/sysfs missing or unreadable",
    EXIT_PERMISSION: "permission denied",
    EXIT_REFUSED: "refused for safety (not confirmed, a bind/unbind guard, or the output "
                  "channel does not work)",
    EXIT_KERNEL: "the kernel refused the operation",
    EXIT_VERIFY: "operation ran but verification failed",
    EXIT_BACKEND: "backend unavailable",
    EXIT_CANNOT_TELL: "cannot tell: what the verdict depends on could not be seen (run as root)",
    EXIT_PARTIAL: "partly done: some targets done, then one failed",
    EXIT_UNREPORTED: "done, but the result could not be written",
    EXIT_DOCTOR_WARN: "doctor: the worst finding is a warning",
    EXIT_INTERNAL: "internal error (a bug; VFIOCTL_DEBUG=1 shows the traceback)",
    EXIT_OUTPUT: "the output could not be written (full disk, closed stdout)",
    EXIT_INTERRUPTED: "interrupted (SIGINT)",
    EXIT_PIPE: "the reader of the output went away (EPIPE/SIGPIPE)",
}


class VfioctlError(Exception):
    """Base for every error a user can cause.

    ``message`` says what is wrong (one line), ``hint`` what to do (one line),
    ``code`` is the exit status, ``kind`` a stable identifier for JSON.
    """

    code = EXIT_INTERNAL
    kind = "error"

    def __init__(self, message: str, hint: str = "", *, code: int | None = None,
                 kind: str | None = None, **details):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code
        if kind is not None:
            self.kind = kind
        self.details = details

    def to_json(self) -> dict:
        d = {"kind": self.kind, "message": self.message, "hint": self.hint,
             "exit_code": self.code}
        d.update({k: v for k, v in self.details.items() if v is not None})
        return d


class UsageError(VfioctlError):
    code = EXIT_USAGE
    kind = "usage"


class NotFoundError(VfioctlError):
    code = EXIT_NOT_FOUND
    kind = "not-found"


class HostError(VfioctlError):
    code = EXIT_HOST
    kind = "host"


class PermissionDenied(VfioctlError):
    code = EXIT_PERMISSION
    kind = "permission"


class Refused(VfioctlError):
    code = EXIT_REFUSED
    kind = "refused"


class KernelRefused(VfioctlError):
    code = EXIT_KERNEL
    kind = "kernel"


class VerifyFailed(VfioctlError):
    code = EXIT_VERIFY
    kind = "verify"


class BackendUnavailable(VfioctlError):
    code = EXIT_BACKEND
    kind = "backend"


class PartlyDone(VfioctlError):
    """Some targets of a multi-target operation were done, then one failed
    (``details``: done, failed, not_attempted)."""
    code = EXIT_PARTIAL
    kind = "partial"
