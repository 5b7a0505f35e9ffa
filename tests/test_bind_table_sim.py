"""The bind scenario table (tests/conformance/bind_table.py) on the simulator:
over the builder's copy of the guest's bind topology and over the tree
recorded from the real guest (the same table runs in the guest:
tests/vm/test_bind_real.py)."""

import os
import shutil

import pytest

from tests.conftest import RECORDED
from tests.conformance.bind_table import ROWS, judge, run_sim
from vfioctl.testing import scenarios

ROLES = {"nic": "0000:0b:00.0", "audio": "0000:0b:00.1"}


def _check(root, cli):
    obs = run_sim(root, ROLES, cli)
    bad = []
    for row in ROWS:
        o = obs[row.id]
        bad += judge(row, o["rc"], o["doc"], o["drivers"], ROLES)
    assert bad == [], {k: (v["rc"], v["stderr"][-300:]) for k, v in obs.items()}
    # the simulator leaves no trace of itself
    assert not [p for p in os.listdir(os.path.join(root, "proc")) if p.startswith("9")]


def test_bind_table_on_the_builder_tree(tmp_path, cli):
    _check(scenarios.build("qemu-q35-bind", str(tmp_path / "root")), cli)


def test_bind_table_on_the_recorded_guest_tree(tmp_path, cli):
    src = RECORDED / "qemu-q35-bind-before"
    if not src.is_dir():
        pytest.fail(f"recorded tree {src} is missing (tests/vm/test_bind_real.py records it)")
    root = str(tmp_path / "rec")
    shutil.copytree(src, root, symlinks=True)
    roles = dict(ROLES)
    _check(root, cli)


def test_recorded_guest_is_back_where_it_started():
    """The real kernel after the table: every function on the driver it had before."""
    from vfioctl.sysfs.reader import read_host
    before = read_host(str(RECORDED / "qemu-q35-bind-before"), holders=False)
    after = read_host(str(RECORDED / "qemu-q35-bind-after"), holders=False)
    drv = lambda h: {str(a): f.driver for a, f in h.functions.items()}  # noqa: E731
    assert drv(before) == drv(after)
    assert drv(after)[ROLES["nic"]] == "e1000e"
    assert drv(after)[ROLES["audio"]] == "snd_hda_intel"
