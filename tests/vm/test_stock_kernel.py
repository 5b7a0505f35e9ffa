"""Debian's own kernel judges vfioctl (issue 13): linux-image-*-amd64 from trixie.

VFIO, vfio-pci and 9p are modules (loaded by /init from the initramfs), and the
kernel has no IOMMUFD: no /dev/iommu, no /dev/vfio/devices, vfio-dev entries
without a ``dev`` attribute.  The legacy group path must work exactly as on
the custom 6.12, vfioctl must say "no cdev" and fall back to the group mode,
and the scenario table's intel-iommu rows of the group path (kind
``iommu-stock``) must give the same answers here, on the simulator over this
guest's snapshot too.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

import harness

N = {"VFIOCTL_PCI_IDS": "none"}


@pytest.fixture(scope="module")
def stock(vm_initramfs):
    from conftest import _require_selected
    _require_selected("stock")
    try:
        harness.stock_kernel()
    except harness.VMError as e:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"no stock kernel: {e}", pytrace=False)
        pytest.skip(f"no stock kernel here: {str(e)[:1000]}")
    return harness.boot("iommu", [
        {"name": "st-ls", "sh": "uname -r; ls /dev/vfio; ls -d /dev/vfio/devices /dev/iommu 2>&1; "
                                "[ -e /sys/class/vfio-dev/vfio0/dev ] && echo cdev-devt || echo no-cdev-devt"},
        {"name": "st-snap", "record": "@RESULTS@/snap"},
        {"name": "st-list", "cli": ["list", "--json"], "env": N},
        {"name": "st-ri-A", "cli": ["reset-info", "@bdf:A@", "--json"], "env": N},
        {"name": "st-hr-A", "cli": ["hot-reset", "@bdf:A@", "--yes", "--json"], "env": N},
        {"name": "st-hr-A-iommufd", "cli": ["hot-reset", "@bdf:A@", "--iommufd", "--yes",
                                            "--json"], "env": N},
        {"name": "st-conformance", "timeout": 900,
         "run": ["@PYTHON@", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                 "tests/conformance/guest_real_kernel.py"],
         "env": {"VFIOCTL_CONFORMANCE": "iommu-stock", "VFIOCTL_OBS_OUT": "@RESULTS@/obs.json",
                 "VFIOCTL_PCI_IDS": "none"}},
    ], kernel="stock", timeout=1200)


def _json(e):
    assert e["stdout"], (e["rc"], e["stderr"][-2000:])
    return json.loads(e["stdout"])


def test_a_distribution_kernel_without_iommufd(stock):
    out = stock.step("st-ls")["stdout"]
    assert "+deb" in out.splitlines()[0]
    assert out.count("No such file") == 2 and out.split()[-1] == "no-cdev-devt"
    d = _json(stock.step("st-list"))
    a = {f["address"]: f for f in d["functions"]}[stock.bdf("A")]
    assert a["vfio"]["bound"] and a["vfio"]["group_node"] == f"/dev/vfio/{stock.group('A')}"
    assert a["vfio"]["cdev_node"] is None


def test_vfioctl_uses_the_group_path_and_says_why(stock):
    plan = _json(stock.step("st-ri-A"))["reset"]
    assert plan["default_mode"] == "group"
    assert plan["verdicts"]["iommufd"]["available"] is False
    e = stock.step("st-hr-A")
    assert e["rc"] == 0, e["stderr"][-2000:]
    assert _json(e)["results"][0]["mode"] == "group"
    e = stock.step("st-hr-A-iommufd")
    assert e["rc"] == 1 and "/dev/iommu" in _json(e)["error"]["message"]


def test_table_on_the_stock_kernel_and_the_simulator_agree(stock, tmp_path):
    from tests.conformance.envs import SimEnv
    from tests.conformance.procedures import sim_vs_kernel
    from tests.conformance.table import ROWS, applies
    e = stock.step("st-conformance")
    real = json.load(open(os.path.join(stock.results_dir, "obs.json")))
    root = str(tmp_path / "snap")
    shutil.copytree(os.path.join(stock.results_dir, "snap"), root, symlinks=True)
    release = open(os.path.join(root, "proc/sys/kernel/osrelease")).read().strip()
    rows = [r for r in ROWS if applies(r, "iommu-stock", release)]
    assert sorted(real) == sorted(r.id for r in rows) and len(rows) > 15
    assert e["rc"] == 0, (e["stdout"][-4000:], e["stderr"][-2000:])
    env = SimEnv(root, "iommu-stock")
    assert sim_vs_kernel(env, rows, real) == []
