"""Hostile trees for the fleet commands (issue 12): ``export`` and
``libvirt-hook`` read the host only through the confined Root API, so a link
planted anywhere in the tree never leads them outside the root, a FIFO never
blocks them, and the only files written are the destinations given."""

from __future__ import annotations

import io
import os
import sys

import pytest

from .conftest import DEV, check, run
from .test_hostile import FILES, PLACES, _plant, _replace

DOMAIN = ("<domain><name>t</name><metadata><r:reset xmlns:r='urn:vfioctl:libvirt:1' "
          "require='yes'/></metadata><devices><hostdev mode='subsystem' type='pci' "
          "managed='yes'><source><address domain='0' bus='0x81' slot='0' function='0'/>"
          "</source></hostdev></devices></domain>")


def _export(root, d):
    return run(["--root", root, "export", "--prometheus", str(d / "v.prom"),
                "--nfd", str(d / "vfioctl"), "--json"])


def _written(r, root, d):
    """Writes went only to the destinations (and their temporary twins)."""
    for ev, p in r.touched:
        if ev in ("open-w", "os.rename", "os.replace", "os.remove"):
            assert os.path.dirname(p) == str(d), (ev, p)


@pytest.mark.parametrize("target", ("OUTSIDE", "/proc", "LOOP"))
@pytest.mark.parametrize("place", PLACES)
def test_export_of_a_hostile_tree_stays_inside(tree, outside, tmp_path, place, target):
    root = tree("held-group")
    _plant(root, place, target, outside)
    d = tmp_path / "out"
    d.mkdir()
    r = _export(root, d)
    check(r, root=root, outside=outside, json_mode=True, codes=(0, 3, 4),
          allowed=(str(d),))
    _written(r, root, d)
    prom = (d / "v.prom").read_text()
    if r.code == 0:
        assert "vfioctl_last_export_success 1" in prom
        assert r.json()["success"] is True
    else:   # the host could not be read: the scrapers are told, nothing stale kept
        assert "vfioctl_last_export_success 0" in prom
        assert "vfioctl_pci_function_info" not in prom


@pytest.mark.parametrize("kind", ("fifo", "huge", "dir"))
@pytest.mark.parametrize("rel", FILES)
def test_export_never_blocks_on_odd_files(tree, tmp_path, rel, kind):
    root = tree("held-group")
    _replace(root, rel, kind)
    d = tmp_path / "out"
    d.mkdir()
    r = _export(root, d)
    check(r, root=root, outside=None, json_mode=True, codes=(0, 3, 4), allowed=(str(d),))
    _written(r, root, d)


def _hook(root, monkeypatch, xml=DOMAIN):
    monkeypatch.setattr(sys, "stdin", io.StringIO(xml))
    return run(["--root", root, "libvirt-hook", "t", "prepare", "begin", "-", "--json"])


@pytest.mark.parametrize("target", ("OUTSIDE", "/proc", "LOOP"))
@pytest.mark.parametrize("place", PLACES)
def test_libvirt_hook_on_a_hostile_tree_stays_inside_and_writes_nothing(
        tree, outside, monkeypatch, place, target):
    root = tree("held-group")
    _plant(root, place, target, outside)
    r = _hook(root, monkeypatch)
    check(r, root=root, outside=outside, json_mode=True, codes=(0, 1, 3, 4))
    assert not [t for t in r.touched if t[0] != "open" and t[0] not in
                ("os.listdir", "os.scandir")], r.touched
    if r.code in (0, 1):
        assert r.json()["decision"] == ("allow" if r.code == 0 else "refuse")


@pytest.mark.parametrize("rel", (f"{DEV}/config", f"{DEV}/reset_method", "proc/4242/comm",
                                 f"{DEV}/driver_override"))
def test_libvirt_hook_never_blocks_on_a_fifo(tree, monkeypatch, rel):
    root = tree("held-group")
    _replace(root, rel, "fifo")
    r = _hook(root, monkeypatch)
    check(r, root=root, outside=None, json_mode=True, codes=(0, 1, 3, 4))


def test_hostile_domain_xml_is_refused_cleanly(tree, monkeypatch):
    """An entity bomb, an external entity naming a host file: a usage error, the
    file never opened."""
    root = tree("held-group")
    bomb = ("<?xml version='1.0'?><!DOCTYPE d [<!ENTITY a 'aaaaaaaaaa'>"
            + "".join(f"<!ENTITY {c} '&{p};&{p};&{p};&{p};&{p};&{p};&{p};&{p};&{p};&{p};'>"
                      for p, c in zip("abcdefg", "bcdefgh"))
            + "]><domain><name>&h;</name></domain>")
    xxe = ("<?xml version='1.0'?><!DOCTYPE d [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
           "<domain><name>&x;</name></domain>")
    for xml in (bomb, xxe):
        r = _hook(root, monkeypatch, xml)
        check(r, root=root, outside=None, json_mode=True, codes=(0, 2))
        assert not any(p == "/etc/passwd" for _, p in r.touched)
