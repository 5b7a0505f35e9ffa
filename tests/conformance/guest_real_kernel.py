"""The scenario table against the REAL kernel.

Runs only inside the QEMU guest of tests/vm (VFIOCTL_CONFORMANCE=iommu|noiommu|
sriov-vfio|sriov-igb is set there; rows also filtered by the running kernel's release); the file name keeps it out of the normal collection.  Every
observation is written to $VFIOCTL_OBS_OUT so the host can compare it with
the simulator's observation over the snapshot of the same guest.
"""

import json
import os

import pytest

from tests.conformance.envs import RealEnv
from tests.conformance.procedures import judge, run_row
from tests.conformance.table import ROWS, applies

KIND = os.environ.get("VFIOCTL_CONFORMANCE")
OBS: dict = {}


@pytest.mark.parametrize("row", [r for r in ROWS if applies(r, KIND, os.uname().release)],
                         ids=lambda r: r.id)
def test_row(row):
    env = RealEnv(KIND)
    obs = run_row(env, row)
    OBS[row.id] = obs
    assert judge(env, row, obs) == []


def teardown_module(module):
    out = os.environ.get("VFIOCTL_OBS_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(OBS, f, indent=1)
