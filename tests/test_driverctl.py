"""vfioctl bind --persist writes driverctl's override store; driverctl itself reads it.

driverctl (Debian package, unpacked by tests/peers/fetch-driverctl.sh, never
installed) hard-codes /etc/driverctl.d and /sys.  It runs here in a private
mount namespace (unshare -m): /etc is an overlay whose upper layer is a temp
dir (the machine's /etc is never written), the fixture's etc/driverctl.d is
bound over /etc/driverctl.d and the fixture's sys/ over /sys, and
/sbin/modprobe is replaced by /bin/false, so driverctl can only ever touch
the fixture.  The namespace script checks a marker file in the fixture's sys/
before it runs driverctl.

* ``list-overrides`` lists the overrides vfioctl bind set (driver_override);
* ``load-override`` - what driverctl@.service runs at boot for each file -
  reads vfioctl's file and sets driver_override from it;
* ``list-persisted`` (driverctl >= 0.114) lists the files, when present.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

FETCH = ROOT / "tests" / "peers" / "fetch-driverctl.sh"

NS = r'''
set -eu
T=$1; FIX=$2; DCTL=$3; shift 3
mkdir -p "$T/up" "$T/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$T/up,workdir=$T/work" /etc
mkdir -p /etc/driverctl.d
mount --bind "$FIX/etc/driverctl.d" /etc/driverctl.d
mount --bind "$FIX/sys" /sys
test -f /sys/VFIOCTL-FIXTURE-SYS
mount --bind /bin/false /sbin/modprobe
exec bash "$DCTL" "$@"
'''


def _driverctl() -> str:
    if not shutil.which("unshare") or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    try:
        out = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        out = None
    if out is None or out.returncode != 0:
        msg = f"driverctl could not be fetched: {out.stderr if out else 'timeout'}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return out.stdout.strip()


def _run(dctl, root, tmp, *args):
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", NS, "ns",
                           str(tmp), root, dctl, *args],
                          capture_output=True, text=True, timeout=60)


def test_driverctl_reads_what_bind_persist_writes(build, cli, tmp_path):
    dctl = _driverctl()
    etc_before = os.path.exists("/etc/driverctl.d") and sorted(os.listdir("/etc/driverctl.d"))
    root = build("bind-host")
    # the fixture stands in for /sys: a marker, and the module dir driverctl checks
    open(os.path.join(root, "sys/VFIOCTL-FIXTURE-SYS"), "w").close()
    os.makedirs(os.path.join(root, "sys/module/vfio-pci"), exist_ok=True)
    r = cli(["--root", root, "bind", "02:00.0", "--scope", "--yes", "--persist"])
    assert r.code == 0, r.err

    p = _run(dctl, root, tmp_path / "ns1", "list-overrides")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["0000:02:00.0 vfio-pci", "0000:02:00.1 vfio-pci"]

    # give the devices back without touching the persisted files: what a reboot does
    r = cli(["--root", root, "unbind", "02:00.0", "02:00.1", "--yes"])
    assert r.code == 0, r.err
    p = _run(dctl, root, tmp_path / "ns2", "list-overrides")
    assert "0000:02:00.0" not in p.stdout
    # driverctl@.service's load-override, from vfioctl's file
    p = _run(dctl, root, tmp_path / "ns3", "--noprobe", "load-override", "0000:02:00.0")
    assert p.returncode == 0, p.stderr
    with open(os.path.join(root, "sys/bus/pci/devices/0000:02:00.0/driver_override")) as f:
        assert f.read().strip() == "vfio-pci"
    # driverctl unbound first (echo BDF > driver/unbind: a plain file in the fixture,
    # no kernel behind it, so the driver link stays)
    with open(os.path.join(root, "sys/bus/pci/drivers/igb/unbind")) as f:
        assert f.read().strip() == "0000:02:00.0"
    p = _run(dctl, root, tmp_path / "ns4", "list-overrides")
    assert p.stdout.splitlines() == ["0000:02:00.0 igb"]
    # a file vfioctl did not write: load-override fails as driverctl does (exit 1)
    p = _run(dctl, root, tmp_path / "ns5", "--noprobe", "load-override", "0000:03:00.0")
    assert p.returncode == 1
    # newer driverctl (0.114+) lists the store itself
    p = _run(dctl, root, tmp_path / "ns6", "list-persisted")
    if p.returncode == 0:
        assert "0000:02:00.0" in p.stdout and "0000:02:00.1" in p.stdout
    # the machine's /etc was never written
    assert (os.path.exists("/etc/driverctl.d") and sorted(os.listdir("/etc/driverctl.d"))) \
        == etc_before
    r = cli(["--root", root, "unbind", "02:00.0", "--yes", "--persist"])
    assert sorted(os.listdir(os.path.join(root, "etc/driverctl.d"))) == ["pci-0000:02:00.1"]
