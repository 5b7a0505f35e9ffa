"""The host read on demand (vfioctl.sysfs.targeted) gives the same answers as
the full read, for every function of every scenario and recorded tree, and
reads only what one device's answer depends on."""

from __future__ import annotations

import os

import pytest

from tests.conftest import RECORDED
from vfioctl.model import scope as sc
from vfioctl.ops import inspect
from vfioctl.ops.resolve import resolve_device
from vfioctl.present import jsondoc as jd
from vfioctl.sysfs.reader import read_host
from vfioctl.sysfs.targeted import open_host
from vfioctl.testing import scenarios

SCEN = sorted(n for n in scenarios.SCENARIOS)


def _docs(host, fn):
    show = jd.show_doc(inspect.show_report(host, fn))
    info = jd.reset_info_doc(inspect.reset_info_report(host, fn))
    for d in (show, info):
        d.pop("warnings")
    return show, info


def _same_answers(root):
    full = read_host(root, names=True)
    for addr in sorted(full.functions):
        t = open_host(root)
        fn = t.functions.get(addr)
        assert fn is not None, addr
        assert _docs(t, fn) == _docs(full, full.functions[addr]), addr
        # the narrow lookups agree with filtering the full host
        a = addr
        assert [f.address for f in t.functions_on_bus(a.domain, a.bus)] == \
            [f.address for f in full.functions_on_bus(a.domain, a.bus)]
        assert sorted(f.address for f in t.functions_at(a.bus, a.slot, a.function)) == \
            sorted(f.address for f in full.functions_at(a.bus, a.slot, a.function))
        if fn.vfio_dev:
            assert [f.address for f in t.by_vfio_dev(fn.vfio_dev)] == \
                [f.address for f in full.by_vfio_dev(fn.vfio_dev)]
        for text in (str(addr), str(addr)[5:]):
            try:
                want = resolve_device(full, text).address
            except Exception as e:  # an ambiguous short form must stay ambiguous
                with pytest.raises(type(e)):
                    resolve_device(open_host(root), text)
            else:
                assert resolve_device(open_host(root), text).address == want
    # "any at all?" without reading everything, and the same answer
    assert bool(open_host(root).groups) == bool(full.groups)
    assert bool(open_host(root).functions) == bool(full.functions)
    # everything, when asked for everything
    t = open_host(root)
    assert sorted(t.functions) == sorted(full.functions)
    assert sorted(t.groups) == sorted(full.groups)


@pytest.mark.parametrize("scen", SCEN)
def test_same_answers_as_the_full_read(build, scen):
    _same_answers(build(scen))


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDED.iterdir() if p.is_dir()))
def test_same_answers_on_recorded_trees(recorded, name):
    _same_answers(recorded(name))


def test_reads_only_the_answer(build, monkeypatch):
    """show of one device reads its bus, bridge, group and dev_set, not the host."""
    from vfioctl.sysfs import reader
    root = build("pcie-switch")
    full = read_host(root)
    seen: list[str] = []
    orig = reader.Reader._function

    def spy(self, host, devdir, name, *a, **k):
        seen.append(name)
        return orig(self, host, devdir, name, *a, **k)
    monkeypatch.setattr(reader.Reader, "_function", spy)
    groups: list[str] = []
    orig_group = reader.Reader._group

    def spy_group(self, host, gdir, n, num):
        groups.append(n)
        return orig_group(self, host, gdir, n, num)
    monkeypatch.setattr(reader.Reader, "_group", spy_group)
    t = open_host(root)
    fn = resolve_device(t, "0000:02:00.1")
    jd.show_doc(inspect.show_report(t, fn))   # its host summary asks "any group?"
    assert len(groups) < len(full.groups) and len(groups) == len(set(groups))
    plan = sc.plan_reset(t, fn)
    need = {str(fn.address), str(fn.parent)} | {str(a.address) for a in plan.affected} | {
        str(a) for a in full.groups[fn.iommu_group].members} | {
        str(f.address) for f in full.functions_on_bus(fn.address.domain, fn.address.bus)}
    if fn.reset_method is None:
        # show says what a missing reset_method means from the other functions
        # (issue 9): they are read in address order up to the first that has one
        for a in sorted(full.functions):
            need.add(str(a))
            if full.functions[a].reset_method is not None:
                break
    assert set(seen) <= need | {str(full.functions[fn.parent].parent)}
    assert len(seen) < len(full.functions)
    assert len(seen) == len(set(seen))  # each device read once


def test_missing_device_and_group(build):
    root = build("broken")
    t = open_host(root)
    from vfioctl.model.address import PciAddress
    assert t.functions.get(PciAddress.parse("0000:00:09.0")) is None   # dangling
    assert t.groups.get(12345) is None
    f = t.functions.get(PciAddress.parse("0000:00:0a.0"))
    assert f is not None and t.group_of(f).members == (f.address,)
    assert any("iommu_group 77 has no directory" in w for w in t.warnings)
    assert any("class is not a hex number" in w for w in t.warnings)
    assert all(not w.startswith(os.path.realpath(root)) for w in t.warnings)


def test_broken_entries_on_a_bus(build):
    """An unreadable entry is seen by both reads alike, bus by bus."""
    root = build("broken")
    from vfioctl.model.address import PciAddress
    full = read_host(root)
    full.broken = (PciAddress.parse("0000:00:09.0"),)   # what the full read records (issue 8)
    t = open_host(root)
    assert [str(a) for a in t.broken_on({(0, 0)})] == ["0000:00:09.0"]
    assert t.broken_on({(0, 1)}) == [] == full.broken_on({(0, 1)})
    assert full.broken_on({(0, 0)}) == t.broken_on({(0, 0)})
