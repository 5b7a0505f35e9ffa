"""Global options, shared by every command through typer's context object."""

from __future__ import annotations

import os
from vfioctl.model.record import dataclass, field

from vfioctl.present.output import Output


@dataclass
class State:
    root: str = "/"
    demo: bool = False
    backend: str | None = None
    fmt: str = "auto"
    quiet: bool = False
    json: bool = False
    _host: object = field(default=None, repr=False)
    _root_resolved: str | None = field(default=None, repr=False)
    output: Output | None = field(default=None, repr=False)

    def root_path(self) -> str:
        if self._root_resolved is None:
            if self.demo:
                from vfioctl.testing.demo import demo_root
                self._root_resolved = demo_root()
            elif os.path.isfile(self.root):
                # a snapshot tarball: extracted privately, removed at exit
                from vfioctl.ops.snapshot import open_tarball_root
                self._root_resolved = open_tarball_root(self.root)
            else:
                self._root_resolved = os.path.abspath(self.root)
        return self._root_resolved

    def host(self, *, names: bool = True, holders: bool = True, brief: bool = False,
             targeted: bool = False):
        """Read the host once per invocation (``brief``: what ``list`` shows;
        ``targeted``: read on demand, for answers about one device)."""
        if self._host is None and targeted:
            from vfioctl.sysfs.targeted import open_host
            self._host = open_host(self.root_path(), names=names, holders=holders,
                                   warn=self.output.warn if self.output is not None else None)
        if self._host is None:
            from vfioctl.sysfs.reader import read_host
            self._host = read_host(self.root_path(), names=names, holders=holders,
                                   brief=brief, full_config=not brief)
            if self.output is not None:
                for w in self._host.warnings:
                    self.output.warn(w)
        return self._host

    def kernel(self):
        """The kernel backend for this root (refused up front when it cannot work)."""
        from vfioctl.kernel import get_backend
        return get_backend(self.backend, self.root_path(), shown_root=self.root)

    def out(self, json_mode: bool) -> Output:
        self.output = Output(json_mode=json_mode or self.json, fmt=self.fmt, quiet=self.quiet)
        return self.output


#: The state of the running invocation (for the top-level error handler).
CURRENT: list[State] = []
