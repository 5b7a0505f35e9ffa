"""Inspection commands over every scenario tree: golden outputs (plain, table,
JSON) and the documented errors."""

import json

import pytest

from tests.conftest import golden, normalize, pretty
from vfioctl import JSON_SCHEMA

SCEN = ["dual-function", "gpu-audio-host-driver", "root-bus", "pcie-switch", "pci-bridge",
        "sriov", "noiommu", "no-cdev", "held-group", "broken"]

TARGET = {"dual-function": "0000:81:00.0", "gpu-audio-host-driver": "0000:01:00.0",
          "root-bus": "0000:00:05.0", "pcie-switch": "0000:02:00.1", "pci-bridge": "07:01.0",
          "sriov": "0000:3b:02.1", "noiommu": "0000:02:00.0", "no-cdev": "vfio0",
          "held-group": "0000:81:00.1", "broken": "0000:01:00.0"}


@pytest.mark.parametrize("scen", SCEN)
@pytest.mark.parametrize("cmd", ["list", "groups"])
def test_listing_golden(cli, build, scen, cmd):
    root = build(scen)
    for fmt in ("plain", "table"):
        r = cli(["--root", root, "--format", fmt, cmd])
        assert r.code == 0, r.err
        golden(f"{cmd}-{scen}.{fmt}.txt", normalize(r.out, root))
    r = cli(["--root", root, cmd, "--json"])
    assert r.code == 0
    d = r.json()
    assert d["schema"] == JSON_SCHEMA and d["command"] == cmd
    golden(f"{cmd}-{scen}.json", pretty(normalize(r.out, root)))


@pytest.mark.parametrize("scen", SCEN)
@pytest.mark.parametrize("cmd", ["show", "reset-info"])
def test_device_golden(cli, build, scen, cmd):
    root = build(scen)
    r = cli(["--root", root, "--format", "plain", cmd, TARGET[scen]])
    assert r.code in (0, 1), r.err
    golden(f"{cmd}-{scen}.plain.txt", normalize(r.out, root))
    r = cli(["--root", root, cmd, TARGET[scen], "--json"])
    d = r.json()
    assert d["schema"] == JSON_SCHEMA
    golden(f"{cmd}-{scen}.json", pretty(normalize(r.out, root)))


@pytest.mark.parametrize("scen,possible", [
    ("dual-function", True), ("gpu-audio-host-driver", False), ("root-bus", False),
    ("pcie-switch", False), ("pci-bridge", True), ("sriov", False), ("noiommu", False),
    ("no-cdev", True), ("held-group", False)])
def test_reset_info_exit_code_is_the_verdict(cli, build, scen, possible):
    r = cli(["--root", build(scen), "reset-info", TARGET[scen], "--json"])
    assert r.code == (0 if possible else 1)
    assert r.json()["reset"]["possible"] is possible


def test_list_filters(cli, build):
    root = build("gpu-audio-host-driver")
    addrs = lambda r: [f["address"] for f in r.json()["functions"]]  # noqa: E731
    assert addrs(cli(["--root", root, "list", "--vfio", "--json"])) == ["0000:01:00.0"]
    assert addrs(cli(["--root", root, "list", "--group", "14", "--json"])) == [
        "0000:01:00.0", "0000:01:00.1"]
    assert addrs(cli(["--root", root, "list", "--class", "gpu", "--json"])) == ["0000:01:00.0"]
    assert addrs(cli(["--root", root, "list", "--class", "audio", "--json"])) == ["0000:01:00.1"]
    assert addrs(cli(["--root", root, "list", "-c", "gpu", "-c", "audio", "--json"])) == [
        "0000:01:00.0", "0000:01:00.1"]
    assert addrs(cli(["--root", root, "list", "--driver", "snd_hda_intel", "--json"])) == [
        "0000:01:00.1"]
    r = cli(["--root", root, "list", "--class", "toaster"])
    assert r.code == 2 and "unknown class filter" in r.err


def test_groups_viability_names_blockers(cli, build):
    d = cli(["--root", build("gpu-audio-host-driver"), "groups", "14", "--json"]).json()
    (g,) = d["groups"]
    assert g["viable"] is False
    assert g["viability_blockers"] == [{"address": "0000:01:00.1", "driver": "snd_hda_intel"}]


def test_held_group_shows_holder(cli, build):
    d = cli(["--root", build("held-group"), "list", "--vfio", "--json"]).json()
    assert {h["pid"] for f in d["functions"] for h in f["holders"]} == {4242}


@pytest.mark.parametrize("spelling", ["0000:81:00.0", "81:00.0", "vfio0",
                                      "/dev/vfio/devices/vfio0",
                                      "/sys/bus/pci/devices/0000:81:00.0",
                                      "/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0/"])
def test_device_spellings(cli, build, spelling):
    r = cli(["--root", build("dual-function"), "show", spelling, "--json"])
    assert r.code == 0 and r.json()["function"]["address"] == "0000:81:00.0"


ERRORS = [
    (["show", "0000:99:00.0"], 3, "no PCI function 0000:99:00.0"),
    (["show", "nonsense"], 2, "is not a PCI address"),
    (["show", "0000:81:00.9"], 2, "is not a PCI address"),
    (["show", "vfio77"], 3, "no device has the vfio cdev vfio77"),
    (["groups", "999"], 3, "no IOMMU group 999"),
    (["list", "--bogus"], 2, "No such option"),
    (["--format", "fancy", "list"], 2, "--format must be"),
    (["hot-reset"], 2, "needs at least one DEVICE"),
]


@pytest.mark.parametrize("args,code,text", ERRORS)
def test_errors_are_two_lines_and_a_code(cli, build, args, code, text):
    root = build("dual-function")
    r = cli(["--root", root] + args)
    assert r.code == code
    lines = r.err.strip().splitlines()
    assert len(lines) == 2, r.err
    assert lines[0].startswith("vfioctl: error: ") and text in lines[0]
    assert lines[1].startswith("vfioctl: hint: ")
    assert "Traceback" not in r.err


@pytest.mark.parametrize("args,code", [(a, c) for a, c, _ in ERRORS])
def test_errors_with_json_print_one_error_document(cli, build, args, code):
    r = cli(["--root", build("dual-function")] + args + ["--json"])
    assert r.code == code
    d = json.loads(r.out)
    assert d["schema"] == JSON_SCHEMA and d["error"]["exit_code"] == code
    assert d["error"]["message"] and d["error"]["hint"]


def test_root_without_sys(cli, tmp_path):
    r = cli(["--root", str(tmp_path), "list"])
    assert r.code == 4 and "has no sys/ directory" in r.err
    r = cli(["--root", str(tmp_path / "nope"), "list", "--json"])
    assert r.code == 4 and json.loads(r.out)["error"]["kind"] == "host"


def test_root_from_environment(cli, build, monkeypatch):
    monkeypatch.setenv("VFIOCTL_ROOT", build("root-bus"))
    d = cli(["list", "--json"]).json()
    assert [f["address"] for f in d["functions"]] == ["0000:00:00.0", "0000:00:05.0"]


def test_broken_tree_warns_on_stderr_and_quiet_silences(cli, build):
    root = build("broken")
    r = cli(["--root", root, "list", "--json"])
    assert r.code == 0 and "warning:" in r.err and json.loads(r.out)["warnings"]
    r = cli(["--root", root, "-q", "list"])
    assert r.code == 0 and r.err == ""


def test_demo(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    d = cli(["--demo", "list", "--json"]).json()
    assert len(d["functions"]) > 25
    assert cli(["--demo", "--root", "/x", "list"]).code == 2
    assert cli(["--demo", "reset-info", "81:00.0"]).code == 0


def test_version_and_help(cli):
    assert cli(["--version"]).out.startswith("vfioctl ")
    r = cli([])
    assert r.code == 0 and "reset-info" in r.out
