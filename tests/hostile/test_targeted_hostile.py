"""Hostile trees against the host read on demand (issue 14: vfioctl/sysfs/targeted.py).

``show``, ``check`` and ``reset-info`` read one device's neighbourhood through
their own lookups: ``class/vfio-dev/<name>`` for a ``vfioX`` argument, a PF's
``virtfnN`` links, a bridge's own directory for its children, the slots'
``address`` files, one ``iommu_groups/<n>``.  Each of those places, turned
into a link out of the root (or a loop), must neither be followed outside nor
crash: the audit hook of conftest.py sees every open/list."""

from __future__ import annotations

import os

import pytest

from .conftest import DEV, check, run, tmp_leftovers
from .test_hostile import _plant

BRIDGE = "sys/devices/pci0000:80/0000:80:01.0"
PLACES = (
    "sys/class/vfio-dev/vfio0",            # by_vfio_dev: the class link names the device
    "sys/class/vfio-dev/vfio1",
    f"{DEV}/virtfn0",                      # a PF's VF links
    f"{BRIDGE}/0000:81:00.1",              # an entry of the bridge's own directory
    "sys/bus/pci/devices/0000:81:00.1",    # a neighbour on the reset bus
    "sys/bus/pci/slots/1",                 # the slot directory (address read first)
    "sys/kernel/iommu_groups/11/devices",  # the one group read
)
TARGETS = ("OUTSIDE", "/sys/bus/pci/devices", "../../../../../../../../OUTSIDE_REL", "LOOP")
COMMANDS = (["show", "vfio0", "--json"], ["show", "81:00.0", "--json"],
            ["check", "81:00.0", "--json"], ["reset-info", "81:00.0", "--json"])


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: "-".join(c[:2]))
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("place", PLACES)
def test_targeted_readers_never_leave_the_root(tree, outside, place, target, cmd):
    root = tree("held-group")
    if place.endswith("virtfn0"):
        # make 81:00.0 a PF, so the virtfn links are looked at
        with open(os.path.join(root, DEV, "sriov_totalvfs"), "w") as f:
            f.write("2\n")
    _plant(root, place, target, outside)
    before = tmp_leftovers()
    r = run(["--root", root] + cmd)
    check(r, root=root, outside=outside, json_mode=True, codes=(0, 1, 3, 4, 10), before=before)


def test_targeted_host_is_what_show_uses(tree, outside, monkeypatch):
    """The cases above exercise the on-demand host, not the full read."""
    import vfioctl.sysfs.reader as reader
    root = tree("held-group")

    def refuse(*a, **k):
        raise AssertionError("show read the whole host")
    monkeypatch.setattr(reader, "read_host", refuse)
    for cmd in COMMANDS[:3]:
        r = run(["--root", root] + cmd)
        check(r, root=root, outside=outside, json_mode=True, codes=(0, 1, 10))
