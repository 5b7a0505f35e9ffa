"""The console script ends without the interpreter's teardown (issue 14:
``vfioctl.cli.entry.run``); these run the real process and check that
nothing a command owes its caller is lost: the whole output, the exit code
(including 1, 74 and 141), stderr, and the exit functions (a tarball root
unpacked for the command is removed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env(**extra) -> dict:
    env = dict(os.environ, PYTHONPATH=CHECKOUT, COLUMNS="120")
    env.update(extra)
    return env


#: the console script's entry, as pip's generated script calls it
SCRIPT = [sys.executable, "-c", "import sys; sys.argv[0] = 'vfioctl'; "
                                "from vfioctl.cli.entry import run; run()"]


def _vfioctl(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*SCRIPT, *args], capture_output=True,
                          text=True, env=kw.pop("env", None) or _env(), timeout=120, **kw)


def test_the_console_script_is_run():
    """pyproject's script goes through run(); ``python -m vfioctl`` through
    main(), so a program running it in-process (runpy, as the real-kernel
    guest runner does) gets SystemExit back instead of losing its process."""
    text = open(os.path.join(CHECKOUT, "pyproject.toml")).read()
    assert 'vfioctl = "vfioctl.cli.entry:run"' in text
    import runpy
    old = sys.argv
    sys.argv = ["vfioctl", "--version"]
    try:
        with pytest.raises(SystemExit) as e:
            runpy.run_module("vfioctl", run_name="__main__", alter_sys=True)
    finally:
        sys.argv = old
    assert e.value.code == 0


def test_whole_output_and_exit_codes():
    r = _vfioctl("--demo", "list", "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)   # the whole document: it parses
    assert len(d["functions"]) == 34
    r = _vfioctl("--demo", "reset-info", "0000:82:00.0")
    assert r.returncode == 1 and "NOT POSSIBLE" in r.stdout.upper()
    r = _vfioctl("--demo", "show", "0000:99:00.0")
    assert r.returncode == 3 and r.stderr.startswith("vfioctl: error:") and "hint:" in r.stderr


def test_output_errors_keep_their_codes():
    with open("/dev/full", "w") as full:
        r = subprocess.run([*SCRIPT, "--demo", "list"], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=_env(), timeout=120)
    assert r.returncode == 74 and "cannot write the output" in r.stderr
    p = subprocess.Popen([*SCRIPT, "--demo", "list"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    p.stdout.close()          # the reader is gone before the first write (| true)
    err = p.stderr.read()
    p.stderr.close()
    assert p.wait(timeout=120) == 141 and b"Traceback" not in err


def test_exit_functions_still_run(tmp_path):
    """A tarball root is unpacked into TMPDIR and removed at exit (atexit
    and finally); skipping the teardown must not leave it behind."""
    src = tmp_path / "snap.tar.gz"
    r = _vfioctl("--demo", "snapshot", str(src))
    assert r.returncode == 0, r.stderr
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    r = _vfioctl("--root", str(src), "list", "--json", env=_env(TMPDIR=str(tmp)))
    assert r.returncode == 0, r.stderr
    assert len(json.loads(r.stdout)["functions"]) == 34
    assert list(tmp.iterdir()) == []


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_eager_options_exit_cleanly(args):
    r = _vfioctl(*args)
    assert r.returncode == 0 and r.stdout.strip() and r.stderr == ""
