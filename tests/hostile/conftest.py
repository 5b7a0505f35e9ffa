"""The hostile-input suite (issue 8): trees built programmatically, each case
asserting exit code, message, no traceback, one JSON document with --json, and
the post-conditions: nothing outside the root read or written (an in-process
audit hook over open/os.* events), no temporary directory left, no half state
in the simulator."""

from __future__ import annotations

import glob
import io
import json
import os
import shutil
import signal
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

import pytest

from vfioctl.testing import scenarios

DEV = "sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0"
DEV1 = "sys/devices/pci0000:80/0000:80:01.0/0000:81:00.1"

# -- the audit hook: installed once (hooks cannot be removed), armed per run ---
_EVENTS = ("open", "os.listdir", "os.scandir", "os.mkdir", "os.symlink", "os.remove",
           "os.rmdir", "os.rename", "os.replace", "shutil.rmtree", "os.chmod", "os.truncate",
           "os.utime", "os.link", "os.chown")
_armed: list[list] = []


def _hook(event, args):
    if _armed and event in _EVENTS and args:
        p = args[0] if event != "os.symlink" else None   # a link's text is not a path used
        if isinstance(p, bytes):
            p = os.fsdecode(p)
        if isinstance(p, str) and not os.path.isabs(p):
            p = None   # relative to a dir_fd (shutil.rmtree): its directory was seen
        if isinstance(p, str):
            if event == "open" and len(args) > 2 and (
                    (isinstance(args[1], str) and any(c in args[1] for c in "wax+"))
                    or (isinstance(args[2], int) and args[2] & (os.O_WRONLY | os.O_RDWR |
                                                                os.O_CREAT))):
                event = "open-w"
            _armed[-1].append((event, os.path.abspath(p)))
        if event in ("os.rename", "os.replace", "os.symlink", "os.link") and len(args) > 1 \
                and isinstance(args[1], str) and os.path.isabs(args[1]):
            # (a relative destination is relative to a dir_fd, as above)
            _armed[-1].append((event, os.path.abspath(args[1])))


sys.addaudithook(_hook)

#: Host places a hostile tree points at; nothing may be touched there.
FORBIDDEN = ("/sys/", "/proc/", "/etc/", "/dev/")
ALLOWED_DEV = ("/dev/null", "/dev/full", "/dev/tty")


@dataclass
class Run:
    code: int
    out: str
    err: str
    touched: list

    def json(self):
        return json.loads(self.out)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout("the command blocked")


def run(args: list[str], *, env: dict | None = None, timeout: int = 20) -> Run:
    from vfioctl.cli.entry import main
    out, err = io.StringIO(), io.StringIO()
    old_env = {}
    for k, v in (env or {}).items():
        old_env[k] = os.environ.get(k)
        os.environ[k] = v
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(timeout)
    _armed.append([])
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
    finally:
        touched = _armed.pop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return Run(code, out.getvalue(), err.getvalue(), touched)


@pytest.fixture(scope="session")
def outside(tmp_path_factory):
    """A directory outside every root, full of bait."""
    d = tmp_path_factory.mktemp("outside")
    (d / "secret").write_text("0x10de\n")
    (d / "sys" / "bus" / "pci" / "devices").mkdir(parents=True)
    (d / "config").write_bytes(b"\xde\x10\x04\x22" + b"\0" * 60)
    return str(d)


@pytest.fixture(scope="session")
def templates(tmp_path_factory):
    base = tmp_path_factory.mktemp("templates")
    out = {}
    for name in ("dual-function", "held-group"):
        out[name] = scenarios.build(name, str(base / name))
    return out


@pytest.fixture
def tree(templates, tmp_path):
    """tree(name) -> a private copy of a scenario tree."""
    def _copy(name: str = "dual-function") -> str:
        dst = tmp_path / "root"
        shutil.copytree(templates[name], dst, symlinks=True)
        return str(dst)
    return _copy


@pytest.fixture(autouse=True)
def private_tmp(tmp_path_factory):
    """A private temporary directory for every case (other processes share /tmp)."""
    d = str(tmp_path_factory.mktemp("T"))
    old = tempfile.tempdir
    tempfile.tempdir = d
    yield d
    tempfile.tempdir = old


def tmp_leftovers() -> set[str]:
    t = tempfile.gettempdir()
    return set(glob.glob(os.path.join(t, "vfioctl-*")))


def check(r: Run, *, root: str | None, outside: str | None, json_mode: bool,
          codes: tuple[int, ...], allowed: tuple[str, ...] = (), msg: str | None = None,
          before: set[str] | None = None) -> None:
    """The common post-conditions of every hostile case."""
    ctx = f"exit {r.code}\nstdout: {r.out[:600]}\nstderr: {r.err[:600]}"
    assert r.code in codes, ctx
    assert "Traceback" not in r.err and "Traceback" not in r.out, ctx
    if json_mode:
        docs = [ln for ln in r.out.splitlines() if ln.strip()]
        assert len(docs) == 1, ctx
        d = json.loads(docs[0])
        assert d.get("schema") == "vfioctl/1", ctx
        if r.code not in (0, 1, 10, 13):   # 13: doctor's "worst finding is a warning"
            assert d["error"]["exit_code"] == r.code, ctx
    if r.code not in (0, 1, 10, 13):
        assert "vfioctl: error:" in r.err or r.code in (141,), ctx
    if msg is not None:
        assert msg in r.err + r.out, ctx
    bad = []
    for ev, p in r.touched:
        if outside and (p == outside or p.startswith(outside.rstrip("/") + "/")):
            bad.append((ev, p))
        elif p.startswith(FORBIDDEN) and not p.startswith(ALLOWED_DEV) and not (
                root and p.startswith(root)):
            bad.append((ev, p))
        elif ev not in ("open", "os.listdir", "os.scandir") and root is not None and not p.startswith(
                (root, tempfile.gettempdir()) + allowed):
            bad.append((ev, p))   # a write outside the root and the temp dirs
    assert not bad, f"touched outside the root: {bad[:5]}\n{ctx}"
    if before is not None:
        assert tmp_leftovers() <= before, "a private temporary directory was left behind"
    if root is not None and os.path.isdir(os.path.join(root, "proc")):
        # no half state: no simulated process left holding anything
        left = [p for p in os.listdir(os.path.join(root, "proc")) if p.startswith("9")
                and p.isdigit() and len(p) == 6]
        assert not left, f"simulated process state left behind: {left}"


def clear(p: str) -> None:
    """Make room for a new entry at ``p``: whatever was there goes (a directory
    with its contents, a link itself, not its target); its parents are made."""
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p)
    elif os.path.lexists(p):
        os.unlink(p)
    os.makedirs(os.path.dirname(p), exist_ok=True)


def plant(p: str, kind: str) -> None:
    """Put an odd file at ``p`` (:func:`clear` first): ``fifo`` (blocks a
    reader that opens it), ``huge`` (300 MiB, sparse), ``dir``, or ``chr`` (a
    character device like /dev/zero, endless if opened: root only, skipped
    otherwise)."""
    clear(p)
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "huge":
        with open(p, "wb") as f:
            f.truncate(300 << 20)   # sparse: no disk used
    elif kind == "dir":
        os.mkdir(p)
    elif kind == "chr":
        if os.geteuid() != 0:
            pytest.skip("mknod needs root")
        os.mknod(p, 0o644 | 0o020000, os.makedev(1, 5))
    else:
        raise ValueError(f"no odd file kind {kind!r}")
