"""The default topology's intel-iommu scenario rows on the newer (>= 6.17) kernel.

"Each kernel runs the scenario rows that apply to it": one boot of the default
topology (host QEMU, intel-iommu) on the newer kernel runs every row that
``applies(row, "iommu", release)``, and on the host the simulator replays them
over that guest's snapshot.  The SR-IOV rows run on it in test_sriov.py.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

import harness


def _plan():
    return [
        {"name": "nk-uname", "sh": "uname -r"},
        {"name": "nk-snap", "record": "@RESULTS@/snap"},
        {"name": "nk-conformance", "timeout": 900,
         "run": ["@PYTHON@", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "tests/conformance/guest_real_kernel.py"],
         "env": {"VFIOCTL_CONFORMANCE": "iommu", "VFIOCTL_OBS_OUT": "@RESULTS@/obs.json",
                 "VFIOCTL_PCI_IDS": "none"}},
    ]


@pytest.fixture(scope="module")
def newer_iommu(vm_newer_kernel):
    return harness.boot("iommu", _plan(), timeout=1200, kernel_path=vm_newer_kernel)


def test_it_is_the_newer_kernel(newer_iommu):
    rel = newer_iommu.step("nk-uname")["stdout"].strip()
    major, minor = (int(x) for x in rel.split(".")[:2])
    assert (major, minor) >= (6, 17), rel


def test_iommu_rows_on_the_newer_kernel_and_the_simulator_agree(newer_iommu, tmp_path):
    from tests.conformance.envs import SimEnv
    from tests.conformance.procedures import sim_vs_kernel
    from tests.conformance.table import ROWS, applies
    res = newer_iommu
    e = res.step("nk-conformance")
    root = str(tmp_path / "snap")
    shutil.copytree(os.path.join(res.results_dir, "snap"), root, symlinks=True)
    release = open(os.path.join(root, "proc/sys/kernel/osrelease")).read().strip()
    rows = [r for r in ROWS if applies(r, "iommu", release)]
    real = json.load(open(os.path.join(res.results_dir, "obs.json")))
    assert sorted(real) == sorted(r.id for r in rows), e["stdout"][-3000:]
    # the real kernel agreed with the table and with vfioctl's predictions
    assert e["rc"] == 0, (e["stdout"][-4000:], e["stderr"][-2000:])
    env = SimEnv(root, "iommu")
    assert sim_vs_kernel(env, rows, real) == []
