"""The scenario table against the simulator.

The same table (tests/conformance/table.py) runs unchanged against the real
kernel in the QEMU guest (tests/vm); here it runs over the builder's copy of
the guest topology and over the trees recorded from the real guest.
"""

import os
import shutil

import pytest

from tests.conformance.envs import SimEnv
from tests.conformance.procedures import judge, run_row
from tests.conformance.table import ROWS, applies
from tests.conftest import RECORDED
from vfioctl.testing import scenarios

TREES = [("qemu-q35", "iommu", "builder"), ("qemu-q35-noiommu", "noiommu", "builder"),
         ("qemu-q35-intel-iommu", "iommu", "recorded"), ("qemu-q35-noiommu", "noiommu", "recorded"),
         # issue 13: SR-IOV under QEMU 10 (PFs on vfio-pci / on igb), Debian's stock kernel
         ("qemu-q35-sriov-vfio", "sriov-vfio", "recorded"),
         ("qemu-q35-sriov-igb", "sriov-igb", "recorded"),
         # the same PFs/VFs on the newer kernel (7.3.4): the rows of its kernel range
         ("qemu-q35-sriov-newer", "sriov-vfio", "recorded"),
         ("qemu-q35-stock", "iommu-stock", "recorded")]


def _release(tree: str, src: str) -> str:
    if src == "builder":
        return "6.12.0-fixture"
    try:
        return (RECORDED / tree / "proc/sys/kernel/osrelease").read_text().strip()
    except OSError:
        return "6.12.0"


def _cases():
    for tree, kind, src in TREES:
        if src == "recorded" and not (RECORDED / tree).is_dir() and kind not in ("iommu", "noiommu"):
            continue  # recorded by tests/vm/record_fixtures.py; missing trees of the
                      # issue-13 boots are reported by test_recorded_trees_present
        for row in ROWS:
            if applies(row, kind, _release(tree, src)):
                yield pytest.param(tree, kind, src, row, id=f"{src}:{tree}:{row.id}")


def test_recorded_trees_present():
    missing = [t for t, _, src in TREES if src == "recorded" and not (RECORDED / t).is_dir()]
    assert missing == [], "run python tests/vm/record_fixtures.py"


@pytest.mark.parametrize("tree,kind,src,row", list(_cases()))
def test_row(tmp_path, tree, kind, src, row):
    root = str(tmp_path / "root")
    if src == "builder":
        scenarios.build(tree, root)
    else:
        if not (RECORDED / tree).is_dir():
            pytest.fail(f"recorded tree {tree} is missing")
        shutil.copytree(RECORDED / tree, root, symlinks=True)
        # the recording keeps a holder process for the inspection fixtures; the
        # table starts from an idle host, as it does in the guest
        for p in os.listdir(os.path.join(root, "proc")):
            if p.isdigit():
                shutil.rmtree(os.path.join(root, "proc", p))
    env = SimEnv(root, kind)
    roles = env.roles()
    if row.role not in roles:
        pytest.fail(f"role {row.role} not found in {tree}: {roles}")
    obs = run_row(env, row)
    assert judge(env, row, obs) == []
    # the simulator leaves no trace of itself once everything is closed
    assert not [p for p in os.listdir(os.path.join(root, "proc")) if p.startswith("9")]
