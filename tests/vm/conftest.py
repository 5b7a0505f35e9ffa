"""pytest glue for the real-kernel VM stage (see tests/vm/README.md).

* Every test under tests/vm/ is marked ``vm``; any test marked ``vm`` is
  skipped when ``VFIOCTL_SKIP_VM=1``.
* The kernels are built (or found in the cache) lazily, once per session, by
  the ``vm_kernel`` (custom 6.12) and ``vm_newer_kernel`` (>= 6.17) fixtures
  (tests/vm/setup.sh); ``VFIOCTL_VM_KERNELS=custom,stock,newer`` picks which
  kernels run (default: all three).
* Outside CI, a kernel/QEMU that cannot be prepared skips the vm tests with
  the reason.  With ``CI=true`` it is an error: the stage never skips
  silently (only the explicit VFIOCTL_SKIP_VM=1 skips, and says so).

Fixtures:
  vm_kernel  -> Path of the custom 6.12 bzImage
  vm_newer_kernel -> Path of the newer (>= 6.17) bzImage
  vm_boot    -> harness.boot (kernel guaranteed), call as vm_boot("iommu", plan)
  vm_shared  -> vm_shared(mode) boots ONCE per session and mode with every plan
                fragment registered through harness.register(...) and returns
                the cached BootResult; use .fragment(key) for your entries
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

_VM_DIR = Path(__file__).resolve().parent


def _skip_requested() -> bool:
    return os.environ.get("VFIOCTL_SKIP_VM", "").strip().lower() in ("1", "true", "yes")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_collection_modifyitems(config, items):
    for item in items:
        try:
            under_vm = Path(str(item.fspath)).resolve().is_relative_to(_VM_DIR)
        except (OSError, ValueError):
            under_vm = False
        if under_vm and not item.get_closest_marker("vm"):
            item.add_marker(pytest.mark.vm)
    if _skip_requested():
        skip = pytest.mark.skip(reason="real-kernel VM stage skipped (VFIOCTL_SKIP_VM=1)")
        for item in items:
            if item.get_closest_marker("vm"):
                item.add_marker(skip)


def pytest_report_header(config):
    if _skip_requested():
        return "vfioctl VM stage: SKIPPED by VFIOCTL_SKIP_VM=1" + (" (CI=true!)" if _in_ci() else "")
    try:
        kernels = ",".join(harness.selected_kernels())
    except harness.VMError as e:
        kernels = f"invalid: {e}"
    return (f"vfioctl VM stage: enabled (kernels {kernels}; cache {harness.cache_dir()}, "
            f"CI={'yes' if _in_ci() else 'no'})")


def _unavailable(what: str, e: Exception):
    if _in_ci():
        pytest.fail(f"VM stage cannot run in CI: {what}: {e}", pytrace=False)
    pytest.skip(f"VM stage unavailable here (set CI=true to make this an error): {what}: "
                f"{str(e)[:2000]}")


def _require_selected(kernel: str) -> None:
    try:
        sel = harness.selected_kernels()
    except harness.VMError as e:
        pytest.fail(str(e), pytrace=False)
    if kernel not in sel:
        pytest.skip(f"the {kernel} kernel is not selected (VFIOCTL_VM_KERNELS={','.join(sel)})")


@pytest.fixture(scope="session")
def vm_initramfs():
    try:
        return harness.initramfs()
    except harness.VMError as e:
        _unavailable("initramfs", e)


@pytest.fixture(scope="session")
def vm_kernel(vm_initramfs):
    """The custom 6.12 kernel (tests/vm/setup.sh), built or found once per session."""
    _require_selected("custom")
    try:
        return harness.kernel()
    except harness.VMError as e:
        _unavailable("custom 6.12 kernel", e)


@pytest.fixture(scope="session")
def vm_newer_kernel(vm_initramfs):
    """The newer (>= 6.17, linux-source-7.3) kernel, built or found once per session
    (setup.sh; ~6 min cold on 2 cores).  With CI=true a kernel that cannot be built
    fails the tests; without CI they skip with the reason."""
    _require_selected("newer")
    try:
        return harness.newer_kernel()
    except harness.VMError as e:
        _unavailable("newer (>= 6.17) kernel", e)


@pytest.fixture(scope="session")
def vm_boot(vm_kernel):
    return harness.boot


@pytest.fixture(scope="session")
def vm_shared(vm_kernel):
    cache: dict = {}

    def get(mode: str) -> harness.BootResult:
        if mode not in cache:
            try:
                cache[mode] = harness.boot(mode, harness.shared_plan(mode), timeout=1200)
            except harness.VMError as e:
                cache[mode] = e
        r = cache[mode]
        if isinstance(r, Exception):
            raise r
        return r

    return get
