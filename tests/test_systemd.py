"""contrib/systemd: the export service and timer pass systemd's own checks
(`systemd-analyze verify`, and `security --offline` for the hardening), and the
service's command line is a valid vfioctl invocation."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "contrib" / "systemd"
ANALYZE = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze missing "
                                   "(scripts/test installs systemd)")
VFIOCTL = str(Path(sys.executable).with_name("vfioctl"))



def _stage(tmp_path, edit=lambda s: s) -> tuple[Path, dict]:
    """The units as a pip install would run them: ExecStart pointed at this
    environment's vfioctl (the drop-in the unit's comment describes), and
    MANPATH holding the man pages Documentation= names."""
    d = tmp_path / "units"
    d.mkdir()
    for u in UNITS.iterdir():
        text = u.read_text().replace("ExecStart=/usr/bin/vfioctl", f"ExecStart={VFIOCTL}")
        (d / u.name).write_text(edit(text))
    man = tmp_path / "man"
    for sec, page in (("8", "vfioctl.8"), ("5", "vfioctl-json.5")):
        (man / f"man{sec}").mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "man" / page, man / f"man{sec}" / page)
    env = dict(os.environ, MANPATH=str(man), SYSTEMD_LOG_COLOR="0")
    return d, env


def _verify(d: Path, env) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, "verify", str(d / "vfioctl-export.service"),
                           str(d / "vfioctl-export.timer")],
                          capture_output=True, text=True, env=env, timeout=60)


@needs_analyze
def test_units_pass_systemd_analyze_verify(tmp_path):
    d, env = _stage(tmp_path)
    r = _verify(d, env)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", r.stderr


@needs_analyze
def test_verify_catches_a_broken_unit(tmp_path):
    """The control: verify must complain about a bad value (it exits 0 and
    logs, so the test above requires an empty stderr)."""
    d, env = _stage(tmp_path, lambda s: s.replace("ProtectSystem=strict", "ProtectSystem=stric"))
    r = _verify(d, env)
    assert "protect system" in r.stderr.lower()


@needs_analyze
def test_service_is_hardened(tmp_path):
    d, env = _stage(tmp_path)
    r = subprocess.run([ANALYZE, "security", "--offline=yes", "--threshold=30",
                        str(d / "vfioctl-export.service")],
                       capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert "Overall exposure level" in r.stdout


def _service() -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNITS / "vfioctl-export.service")
    return cp


def test_read_only_root_service_options():
    s = _service()["Service"]
    assert s["Type"] == "oneshot"
    assert s["ProtectSystem"] == "strict" and s["NoNewPrivileges"] == "yes"
    rw = s["ReadWritePaths"].split()
    assert rw == ["-/var/lib/prometheus/node-exporter",
                  "-/etc/kubernetes/node-feature-discovery/features.d"]
    # root for config space beyond 64 bytes; never PrivateDevices/ProtectProc,
    # which would hide /dev/vfio and the holders in /proc
    assert "CAP_SYS_ADMIN" in s["CapabilityBoundingSet"]
    assert "PrivateDevices" not in s and "ProtectProc" not in s
    assert s["DevicePolicy"] == "closed"


def test_exec_start_is_a_valid_invocation(build, tmp_path):
    argv = shlex.split(_service()["Service"]["ExecStart"])
    assert argv[0] == "/usr/bin/vfioctl"
    out = tmp_path / "textfile"
    out.mkdir()
    args = [a.replace("/var/lib/prometheus/node-exporter", str(out)) for a in argv[1:]]
    r = run(["--root", build("dual-function")] + args)
    assert r.code == 0, r.err
    assert (out / "vfioctl.prom").read_text().startswith("# HELP vfioctl_")
    assert "--quiet" in argv and r.err == ""


def test_timer_schedule():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(UNITS / "vfioctl-export.timer")
    assert cp["Timer"]["OnUnitActiveSec"] == "5min" and cp["Install"]["WantedBy"] == "timers.target"


def test_units_ship_in_the_wheel_data():
    text = (ROOT / "pyproject.toml").read_text()
    assert '"share/vfioctl/systemd" = ["contrib/systemd/vfioctl-export.service", ' \
           '"contrib/systemd/vfioctl-export.timer"]' in text
