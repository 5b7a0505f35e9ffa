"""`vfioctl snapshot`: a snapshot of every fixture tree, used as --root, gives the
same documents as the tree itself (directory and tarball); plus the CLI of
completion and watch."""

import json
import os
import shutil

import pytest

from tests.conftest import RECORDED
from vfioctl.testing import scenarios

TREES = sorted(scenarios.SCENARIOS) + ["recorded:" + n for n in sorted(os.listdir(RECORDED))
                                       if (RECORDED / n).is_dir()]


def _tree(build, tmp_path, name):
    if name.startswith("recorded:"):
        dst = tmp_path / "src"
        shutil.copytree(RECORDED / name.split(":", 1)[1], dst, symlinks=True)
        return str(dst)
    return build(name)


def _docs(cli, root, cmds):
    out = {}
    for c in cmds:
        r = cli(["--root", root] + c + ["--json"])
        d = json.loads(r.out.replace(root, "<ROOT>"))
        d.get("host", {}).pop("root", None)
        out[" ".join(c)] = (r.code, d)
    return out


@pytest.mark.parametrize("name", TREES)
@pytest.mark.parametrize("form", ["dir", "tar.gz"])
def test_round_trip(cli, build, tmp_path, name, form):
    src = _tree(build, tmp_path, name)
    out = str(tmp_path / ("snap" if form == "dir" else "snap.tar.gz"))
    r = cli(["--root", src, "snapshot", out, "--json"])
    assert r.code == 0, r.err
    rep = r.json()
    assert rep["out"] == out and rep["report"]["skipped"] == []
    listing = cli(["--root", src, "list", "--json"]).json()
    cmds = [["list"], ["groups"]] + [["show", f["address"]] for f in listing["functions"][:6]]
    assert _docs(cli, out, cmds) == _docs(cli, src, cmds)


def test_snapshot_keeps_udev_names(cli, build, tmp_path):
    src = build("dual-function")
    os.makedirs(os.path.join(src, "run/udev/data"))
    with open(os.path.join(src, "run/udev/data/+pci:0000:81:00.0"), "w") as f:
        f.write("E:ID_VENDOR_FROM_DATABASE=Intel Corporation\nE:ID_MODEL_FROM_DATABASE=82599ES\n")
    assert cli(["--root", src, "snapshot", str(tmp_path / "s")]).code == 0
    d = cli(["--root", str(tmp_path / "s"), "show", "81:00.0", "--json"]).json()
    assert (d["function"]["vendor_name"], d["function"]["device_name"]) == (
        "Intel Corporation", "82599ES")


def test_snapshot_refuses_to_overwrite(cli, build, tmp_path):
    src = build("root-bus")
    out = tmp_path / "s"
    out.mkdir()
    (out / "x").write_text("keep")
    r = cli(["--root", src, "snapshot", str(out)])
    assert r.code == 2 and "already exists" in r.err and (out / "x").exists()
    # --force replaces only a previous vfioctl snapshot (issue 8: no data loss)
    r = cli(["--root", src, "snapshot", str(out), "--force"])
    assert r.code == 2 and "not a vfioctl snapshot" in r.err and (out / "x").exists()
    snap = tmp_path / "snap"
    assert cli(["--root", src, "snapshot", str(snap)]).code == 0
    (snap / "x").write_text("old")
    assert cli(["--root", src, "snapshot", str(snap), "--force"]).code == 0
    assert not (snap / "x").exists() and (snap / "VFIOCTL-SNAPSHOT").is_file()
    assert [p.name for p in tmp_path.iterdir() if ".vfioctl-tmp-" in p.name] == []


def test_snapshot_from_umockdev(cli, tmp_path):
    rec = tmp_path / "r.umockdev"
    rec.write_text(
        "P: /devices/pci0000:00/0000:00:02.0/0000:01:00.0\nE: SUBSYSTEM=pci\n"
        "E: PCI_SLOT_NAME=0000:01:00.0\nE: DRIVER=vfio-pci\n"
        "L: driver=../../../../bus/pci/drivers/vfio-pci\n"
        "L: iommu_group=../../../../kernel/iommu_groups/12\n"
        "A: vendor=0x10de\nA: device=0x2204\nA: class=0x030000\n\n"
        "P: /devices/pci0000:00/0000:00:02.0\nE: SUBSYSTEM=pci\nE: PCI_SLOT_NAME=0000:00:02.0\n"
        "A: vendor=0x8086\nA: device=0x7075\nA: class=0x060400\n\n")
    r = cli(["snapshot", str(tmp_path / "t"), "--from-umockdev", str(rec), "--json"])
    assert r.code == 0, r.err
    d = cli(["--root", str(tmp_path / "t"), "list", "--json"]).json()
    f = {x["address"]: x for x in d["functions"]}["0000:01:00.0"]
    assert (f["driver"], f["iommu_group"], f["parent"]) == ("vfio-pci", 12, "0000:00:02.0")
    r = cli(["snapshot", str(tmp_path / "u"), "--from-umockdev", str(tmp_path / "nope")])
    assert r.code == 4 and "cannot read" in r.err


def test_bad_tarball_root(cli, tmp_path):
    bad = tmp_path / "x.tar.gz"
    bad.write_bytes(b"not a tarball")
    r = cli(["--root", str(bad), "list"])
    assert r.code == 4 and "not a readable snapshot tarball" in r.err


def test_watch_needs_the_live_host(cli, build):
    r = cli(["--root", build("dual-function"), "watch", "--json"])
    assert r.code == 9
    assert json.loads(r.out)["error"]["kind"] == "backend"
    assert cli(["watch", "--count", "0"]).code == 2


def test_completion_command(cli, monkeypatch, tmp_path):
    for sh in ("bash", "zsh", "fish"):
        r = cli(["completion", sh])
        assert r.code == 0 and "__complete" in r.out
    monkeypatch.setenv("SHELL", "/usr/bin/fish")
    assert "complete -c vfioctl" in cli(["completion"]).out
    assert cli(["completion", "tcsh"]).code == 2
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    r = cli(["completion", "bash", "--install"])
    assert r.code == 0
    installed = [p for p in tmp_path.rglob("vfioctl") if p.is_file()]
    assert installed and "__complete" in installed[0].read_text()


def test_global_json_and_misplaced_global_option(cli, build):
    root = build("root-bus")
    assert cli(["--json", "--root", root, "groups"]).json()["command"] == "groups"
    r = cli(["list", "--root", root])
    assert r.code == 2 and "global option" in r.err


def test_install_and_show_completion_flags(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SHELL", "/bin/bash")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    r = cli(["--show-completion"])
    assert r.code == 0 and "__complete" in r.out
    r = cli(["--install-completion"])
    assert r.code == 0 and [p for p in tmp_path.rglob("vfioctl") if p.is_file()]


def test_snapshot_into_an_unwritable_place(cli, build, tmp_path):
    r = cli(["--root", build("root-bus"), "snapshot", str(tmp_path / "no" / "such" / "dir")])
    assert r.code == 4 and "not a writable directory" in r.err and "Traceback" not in r.err


def test_main_restores_the_garbage_collector(cli, build):
    import gc
    assert gc.isenabled()
    cli(["--root", build("root-bus"), "list", "--json"])
    assert gc.isenabled()
