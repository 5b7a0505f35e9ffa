"""The simulator's driver core (vfioctl/kernel/sim_drivercore.py): each sysfs
write with the kernel's errno (binding-host-fleet.md A.2-A.8)."""

from __future__ import annotations

import errno as E
import os
import time

import pytest

from vfioctl.kernel.base import DriverCore, KernelError
from vfioctl.kernel.sim import SimKernel
from vfioctl.sysfs import usage
from vfioctl.sysfs.root import Root
from vfioctl.testing import treeops


def _err(fn, *a):
    with pytest.raises(KernelError) as ei:
        fn(*a)
    return ei.value.op, E.errorcode[ei.value.errno]


def _ov(root, bdf):
    with open(os.path.join(root, "sys/bus/pci/devices", bdf, "driver_override")) as f:
        return f.read()


def test_backends_implement_the_driver_core_protocol(build):
    from vfioctl.kernel.real import RealKernel
    root = build("bind-host")
    assert isinstance(SimKernel(root), DriverCore)
    assert isinstance(RealKernel(root), DriverCore)


def test_driver_override_semantics(build):
    root = build("bind-host")
    k = SimKernel(root)
    a = "0000:02:00.0"
    k.write_driver_override(a, "vfio-pci\nrest")
    assert _ov(root, a) == "vfio-pci\n"
    k.write_driver_override(a, "pci-stub\0junk")
    assert _ov(root, a) == "pci-stub\n"
    k.write_driver_override(a, "\n")
    assert _ov(root, a) == "(null)\n"
    k.write_driver_override(a, "")
    assert _ov(root, a) == "(null)\n"
    assert _err(k.write_driver_override, a, "x" * 4095) == ("driver_override", "EINVAL")
    k.write_driver_override(a, "x" * 4094)        # PAGE_SIZE - 2 is accepted
    assert _err(k.write_driver_override, "0000:0f:00.0", "vfio-pci") == (
        "driver_override", "ENOENT")
    # setting the override changes no binding
    assert usage.driver_of(Root(root), a) == "igb"


def test_unbind_errnos(build):
    root = build("bind-host")
    k = SimKernel(root)
    assert _err(k.unbind, "e1000e", "0000:02:00.0") == ("unbind", "ENODEV")   # not bound to it
    assert _err(k.unbind, "nosuchdrv", "0000:02:00.0") == ("unbind", "ENOENT")
    assert _err(k.unbind, "igb", "0000:0f:00.0") == ("unbind", "ENODEV")
    k.unbind("igb", "0000:02:00.0")
    assert usage.driver_of(Root(root), "0000:02:00.0") is None
    assert _err(k.unbind, "igb", "0000:02:00.0") == ("unbind", "ENODEV")


def test_bind_errnos_and_matching(build):
    root = build("bind-host")
    k = SimKernel(root)
    r = Root(root)
    a = "0000:02:00.1"
    assert _err(k.bind, "igb", a) == ("bind", "EBUSY")                  # already bound
    k.unbind("igb", a)
    assert _err(k.bind, "vfio-pci", a) == ("bind", "ENODEV")            # override_only
    assert _err(k.bind, "e1000e", a) == ("bind", "ENODEV")              # id not in table
    k.write_driver_override(a, "vfio-pci")
    assert _err(k.bind, "igb", a) == ("bind", "ENODEV")                 # override excludes
    k.bind("vfio-pci", a)
    assert usage.driver_of(r, a) == "vfio-pci"
    # a bridge: vfio-pci's probe refuses a non-type-0 header
    k.unbind("pcieport", "0000:00:02.0")
    k.write_driver_override("0000:00:02.0", "vfio-pci")
    assert _err(k.bind, "vfio-pci", "0000:00:02.0") == ("bind", "EINVAL")
    # a PF with VFs enabled: EBUSY ("Cannot bind to PF with SR-IOV enabled")
    k.unbind("ixgbe", "0000:05:00.0")
    k.write_driver_override("0000:05:00.0", "vfio-pci")
    assert _err(k.bind, "vfio-pci", "0000:05:00.0") == ("bind", "EBUSY")
    assert _err(k.bind, "vfio-pci", "0000:0f:00.0") == ("bind", "ENODEV")


def test_drivers_probe_succeeds_even_when_nothing_binds(build):
    root = build("bind-host")
    k = SimKernel(root)
    r = Root(root)
    a = "0000:05:00.0"
    k.write_driver_override(a, "vfio-pci")
    k.unbind("ixgbe", a)
    k.drivers_probe(a)                       # the probe fails (EBUSY), the write does not
    assert usage.driver_of(r, a) is None
    k.write_driver_override(a, "")           # back to the id tables: ixgbe matches
    k.drivers_probe(a)
    assert usage.driver_of(r, a) == "ixgbe"
    k.write_driver_override(a, "not_loaded_drv")
    k.unbind("ixgbe", a)
    k.drivers_probe(a)                       # the override names no registered driver
    assert usage.driver_of(r, a) is None
    assert _err(k.drivers_probe, "0000:0f:00.0") == ("drivers_probe", "ENODEV")


def test_vfio_nodes_appear_and_go_with_the_kernel_numbering(build):
    root = build("bind-host")
    k = SimKernel(root)
    r = Root(root)
    assert sorted(os.listdir(r.join("sys/class/vfio-dev"))) == ["vfio0"]  # 07:00.0
    for a in ("0000:02:00.0", "0000:02:00.1"):
        k.write_driver_override(a, "vfio-pci")
        k.unbind("igb", a)
        k.drivers_probe(a)
    d0 = os.listdir(os.path.join(usage.devdir(r, "0000:02:00.0"), "vfio-dev"))
    d1 = os.listdir(os.path.join(usage.devdir(r, "0000:02:00.1"), "vfio-dev"))
    assert (d0, d1) == (["vfio1"], ["vfio2"])                           # lowest free index
    assert {"21", "22"} <= set(os.listdir(r.join("dev/vfio")))
    assert {"vfio1", "vfio2"} <= set(os.listdir(r.join("dev/vfio/devices")))
    assert os.path.islink(r.join("sys/class/vfio/21"))
    with open(os.path.join(usage.devdir(r, "0000:02:00.0"), "vfio-dev/vfio1/dev")) as f:
        assert f.read().strip() == "511:1"
    k.unbind("vfio-pci", "0000:02:00.0")
    assert "21" not in os.listdir(r.join("dev/vfio"))
    assert "vfio1" not in os.listdir(r.join("dev/vfio/devices"))
    assert not os.path.lexists(r.join("sys/class/vfio/21"))
    # the freed index is reused first
    k.drivers_probe("0000:02:00.0")
    assert os.listdir(os.path.join(usage.devdir(r, "0000:02:00.0"), "vfio-dev")) == ["vfio1"]


def test_unbind_of_a_held_vfio_device_blocks_bounded(build):
    root = build("bind-host")
    k = SimKernel(root)
    r = Root(root)
    a = "0000:07:00.0"                        # vfio-pci, /dev/vfio/71 held by qemu (4242)
    t = time.monotonic()
    with pytest.raises(KernelError) as ei:
        k.unbind("vfio-pci", a, 0.3)
    assert E.errorcode[ei.value.errno] == "ETIMEDOUT"
    assert "qemu-system-x86 (pid 4242)" in ei.value.detail
    assert time.monotonic() - t < 3
    # the device and its cdev went first, the group node and driver link stay (A.8)
    assert not os.path.exists(r.join("dev/vfio/devices/vfio0"))
    assert os.path.exists(r.join("dev/vfio/71"))
    assert usage.driver_of(r, a) == "vfio-pci"
    # a second unbind while it is pending: ENODEV
    assert _err(k.unbind, "vfio-pci", a, 0.1) == ("unbind", "ENODEV")
    # the holder lets go: the pending unbind completes at the next call
    import shutil
    shutil.rmtree(r.join("proc/4242"))
    k.drivers_probe("0000:02:00.0")
    assert usage.driver_of(r, a) is None
    assert not os.path.exists(r.join("dev/vfio/71"))


def test_host_driver_probe_is_refused_while_a_vfio_user_owns_the_group(build):
    root = build("dual-function")
    k = SimKernel(root)
    holder = SimKernel(root, comm="qemu")
    holder.open_group("/dev/vfio/11")
    try:
        treeops.unbind(root, "0000:81:00.1")          # as if unbound before the VM started
        with open(os.path.join(root, ".vfioctl-sim-drivers"), "w"):
            pass
        os.makedirs(os.path.join(root, "sys/bus/pci/drivers/ixgbe"))
        os.makedirs(os.path.join(root, ".vfioctl-sim"), exist_ok=True)
        with open(os.path.join(root, ".vfioctl-sim/drivers.json"), "w") as f:
            f.write('{"ixgbe": ["8086:10fb"]}')
        assert _err(k.bind, "ixgbe", "0000:81:00.1") == ("bind", "EBUSY")
    finally:
        holder.close_all()
    k.bind("ixgbe", "0000:81:00.1")                    # the group is free again
    assert usage.driver_of(Root(root), "0000:81:00.1") == "ixgbe"


def test_noiommu_bind_creates_and_removes_a_fake_group(build):
    root = build("noiommu")
    k = SimKernel(root)
    r = Root(root)
    a = "0000:02:00.1"                                  # e1000e, no IOMMU group
    groups = set(os.listdir(r.join("sys/kernel/iommu_groups")))
    k.write_driver_override(a, "vfio-pci")
    k.unbind("e1000e", a)
    k.drivers_probe(a)
    assert usage.driver_of(r, a) == "vfio-pci"
    new = set(os.listdir(r.join("sys/kernel/iommu_groups"))) - groups
    assert new == {"3"}                                 # lowest free group number
    assert os.path.exists(r.join("dev/vfio/noiommu-3"))
    assert not os.path.exists(os.path.join(usage.devdir(r, a), "vfio-dev",
                                           os.listdir(os.path.join(usage.devdir(r, a),
                                                                   "vfio-dev"))[0], "dev"))
    k.unbind("vfio-pci", a)
    assert not os.path.exists(r.join("dev/vfio/noiommu-3"))
    assert "3" not in os.listdir(r.join("sys/kernel/iommu_groups"))


def test_noiommu_mode_off_refuses_a_device_without_group(build):
    root = build("noiommu")
    with open(os.path.join(root, "sys/module/vfio/parameters/enable_unsafe_noiommu_mode"),
              "w") as f:
        f.write("N\n")
    k = SimKernel(root)
    k.unbind("e1000e", "0000:02:00.1")
    k.write_driver_override("0000:02:00.1", "vfio-pci")
    assert _err(k.bind, "vfio-pci", "0000:02:00.1") == ("bind", "EINVAL")


def test_fault_injection_on_driver_core_writes(build):
    root = build("bind-host")
    k = SimKernel(root, faults={"drivers_probe@0000:02:00.1": "EIO", "bind": "EAGAIN"})
    k.drivers_probe("0000:02:00.0")
    assert _err(k.drivers_probe, "0000:02:00.1") == ("drivers_probe", "EIO")
    assert _err(k.bind, "igb", "0000:02:00.0") == ("bind", "EAGAIN")


def test_real_backend_refuses_to_write_a_fixture(build):
    from vfioctl.errors import BackendUnavailable
    from vfioctl.kernel.real import RealKernel
    root = build("bind-host")
    k = RealKernel(root)
    before = _ov(root, "0000:02:00.0")
    for call in (lambda: k.write_driver_override("0000:02:00.0", "vfio-pci"),
                 lambda: k.unbind("igb", "0000:02:00.0"),
                 lambda: k.bind("igb", "0000:02:00.0"),
                 lambda: k.drivers_probe("0000:02:00.0")):
        with pytest.raises(BackendUnavailable):
            call()
    assert _ov(root, "0000:02:00.0") == before
    assert usage.driver_of(Root(root), "0000:02:00.0") == "igb"
