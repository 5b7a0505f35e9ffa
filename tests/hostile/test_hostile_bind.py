"""Hostile inputs for bind/unbind (issue 10 over issue 8): the guard readers
(proc/mounts, proc/swaps, proc/net/*, sys/block and its holders, the net/
class directory, modules.alias), the state file run/vfioctl/bindings.json and
driverctl's store stay inside the root, never block on a FIFO, and a link
planted where a state file is written is replaced, never written through.
See conftest.py for the post-conditions every case asserts."""

from __future__ import annotations

import os
import shutil

import pytest

from vfioctl.testing import scenarios

from .conftest import check, run, tmp_leftovers

NVME = "sys/devices/pci0000:00/0000:00:04.0/0000:04:00.0"
NIC = "sys/devices/pci0000:00/0000:00:03.0/0000:03:00.0"

#: Where bind's guards read, and the device whose guard reads it.
GUARD_PLACES = {
    "proc/mounts": "04:00.0", "proc/swaps": "04:00.0", "proc/net/route": "03:00.0",
    "proc/net/if_inet6": "03:00.0", "proc/net/ipv6_route": "03:00.0",
    "sys/block/nvme0n1": "04:00.0", "sys/block": "04:00.0",
    f"{NVME}/nvme/nvme0/nvme0n1/nvme0n1p3/holders": "04:00.0",
    f"{NIC}/net": "03:00.0", "sys/class/net/enp3s0": "03:00.0",
    "proc/sys/kernel/osrelease": "06:00.0", "lib/modules/6.12.0-vfioctl-bind": "06:00.0",
    "lib/modules/6.12.0-vfioctl-bind/modules.alias": "06:00.0",
    "proc/1777/fd": "00:1f.3", "proc/1777/comm": "00:1f.3",
}


@pytest.fixture(scope="module")
def bind_template(tmp_path_factory):
    return scenarios.build("bind-host", str(tmp_path_factory.mktemp("bt") / "bind-host"))


@pytest.fixture
def bind_tree(bind_template, tmp_path):
    dst = tmp_path / "root"
    shutil.copytree(bind_template, dst, symlinks=True)
    return str(dst)


@pytest.fixture
def bait(tmp_path):
    """A directory outside the root, full of bait that must stay as it is."""
    d = tmp_path / "outside"
    (d / "run" / "vfioctl").mkdir(parents=True)
    (d / "secret").write_text("/dev/sda1 / ext4 rw 0 0\n")
    (d / "run" / "vfioctl" / "bindings.json").write_text("{}\n")
    return str(d)


def _listing(d: str) -> dict:
    out = {}
    for top, dirs, files in os.walk(d):
        for n in files:
            p = os.path.join(top, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = f.read()
        for n in dirs:
            out[os.path.relpath(os.path.join(top, n), d) + "/"] = None
    return out


def _link(root: str, rel: str, target: str) -> None:
    p = os.path.join(root, rel)
    if os.path.isdir(p) and not os.path.islink(p):
        shutil.rmtree(p)
    elif os.path.lexists(p):
        os.unlink(p)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    os.symlink(target, p)


def _targets(rel: str, bait: str) -> dict:
    return {"abs": bait, "climb": "../" * (rel.count("/") + 3) + bait.lstrip("/"),
            "host": "/" + rel}


@pytest.mark.parametrize("how", ("abs", "climb", "host"))
@pytest.mark.parametrize("place", sorted(GUARD_PLACES))
def test_guard_readers_stay_inside_the_root(bind_tree, bait, place, how):
    root = bind_tree
    _link(root, place, _targets(place, bait)[how])
    before, listing = tmp_leftovers(), _listing(bait)
    r = run(["--root", root, "bind", GUARD_PLACES[place], "--dry-run", "--json"])
    check(r, root=root, outside=bait, json_mode=True, codes=(0, 2, 6), before=before)
    assert _listing(bait) == listing


@pytest.mark.parametrize("place", sorted(p for p in GUARD_PLACES if p.startswith("proc/")
                                         and not p.endswith("/fd")) + [
    "lib/modules/6.12.0-vfioctl-bind/modules.alias", "run/vfioctl/bindings.json",
    "etc/driverctl.d/pci-0000:06:00.0", f"{NVME}/modalias"])
def test_fifos_never_block_bind(bind_tree, place):
    root = bind_tree
    p = os.path.join(root, place)
    if os.path.lexists(p):
        os.unlink(p)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    os.mkfifo(p)
    dev = GUARD_PLACES.get(place, "04:00.0" if "nvme" in place or "0000:04" in place
                           else "06:00.0")
    r = run(["--root", root, "bind", dev, "--dry-run", "--json"], timeout=20)
    check(r, root=root, outside=None, json_mode=True, codes=(0, 2, 6))
    r = run(["--root", root, "unbind", dev, "--dry-run", "--json"], timeout=20)
    check(r, root=root, outside=None, json_mode=True, codes=(0, 2, 6))


#: A link planted where bind/unbind keep their files: (place, link target).
STATE_LINKS = {
    "state-file-out": ("run/vfioctl/bindings.json", "BAIT/run/vfioctl/bindings.json"),
    "state-dir-out": ("run/vfioctl", "BAIT/run/vfioctl"),
    "run-out": ("run", "BAIT/run"),
    "state-file-host": ("run/vfioctl/bindings.json", "/run/vfioctl/bindings.json"),
    "driverctl-dir-out": ("etc/driverctl.d", "BAIT"),
    "driverctl-file-out": ("etc/driverctl.d/pci-0000:02:00.1", "BAIT/secret"),
    "etc-host": ("etc", "/etc"),
}


@pytest.mark.parametrize("case", sorted(STATE_LINKS))
def test_state_writes_never_follow_links(bind_tree, bait, case):
    root = bind_tree
    place, target = STATE_LINKS[case]
    _link(root, place, target.replace("BAIT", bait))
    before, listing = tmp_leftovers(), _listing(bait)
    r = run(["--root", root, "bind", "02:00.1", "--yes", "--persist", "--json"])
    check(r, root=root, outside=bait, json_mode=True, codes=(0,), before=before)
    d = r.json()
    assert d["result"] == "done"
    assert _listing(bait) == listing
    state = os.path.join(root, "run/vfioctl/bindings.json")
    if case in ("state-file-out", "state-file-host"):
        # the planted link was replaced by a regular file inside the root
        assert not os.path.islink(state) and os.path.isfile(state)
        assert d["state_file"] == "/run/vfioctl/bindings.json"
    if case in ("state-dir-out", "run-out"):
        assert d["state_file"] is None and any("bindings.json" in w for w in d["warnings"])
    if case.startswith(("driverctl-dir", "etc-")):
        assert d["persisted"] == [] and any("driverctl" in w for w in d["warnings"])
    if case == "driverctl-file-out":
        dc = os.path.join(root, "etc/driverctl.d/pci-0000:02:00.1")
        assert not os.path.islink(dc)
        with open(dc) as f:
            assert f.read() == "vfio-pci\n"
    # and back: unbind reads the state through the root and removes links, never targets
    r = run(["--root", root, "unbind", "02:00.1", "--yes", "--persist", "--json"])
    check(r, root=root, outside=bait, json_mode=True, codes=(0,))
    assert _listing(bait) == listing


def test_state_file_read_is_bounded_and_confined(bind_tree, bait):
    root = bind_tree
    # a state file pointing unbind at a driver path that climbs out of the root
    p = os.path.join(root, "run/vfioctl")
    os.makedirs(p)
    with open(os.path.join(p, "bindings.json"), "w") as f:
        f.write('{"version": 1, "functions": {"0000:07:00.0": {"driver": "../../../../x", '
                '"driver_override": null, "bound_to": "vfio-pci"}}}')
    r = run(["--root", root, "unbind", "07:00.0", "--dry-run", "--force", "--json"])
    check(r, root=root, outside=bait, json_mode=True, codes=(0, 6))
    with open(os.path.join(p, "bindings.json"), "wb") as f:
        f.truncate(300 << 20)      # sparse: larger than the state bound
    r = run(["--root", root, "unbind", "07:00.0", "--dry-run", "--force", "--json"])
    check(r, root=root, outside=bait, json_mode=True, codes=(0, 6))
