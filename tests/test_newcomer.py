"""Issue 9 (a newcomer's first hour) and issue 8 items 5-6 for the acting
commands: narrow terminals, one meaning per option, simulation said out loud,
a host without VFIO, consistent answers, what lspci/driverctl users expect,
partial results and the output channel."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT, golden, normalize
from vfioctl.testing.builder import TreeBuilder


def journal(root):
    p = os.path.join(root, ".vfioctl-sim", "journal.jsonl")
    return [json.loads(x) for x in open(p)] if os.path.exists(p) else []


def resets(root):
    return [e for e in journal(root) if e["op"] == "VFIO_DEVICE_PCI_HOT_RESET"
            and isinstance(e["result"], dict)]


def vfioctl(args, *, env=None, **kw):
    """Run vfioctl as a separate process (for real stdout/stderr file descriptors)."""
    e = dict(os.environ, VFIOCTL_PCI_IDS="none", NO_COLOR="1")
    e.pop("COLUMNS", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "vfioctl", *args], env=e, cwd=ROOT, **kw)


# -- 2. narrow terminals ---------------------------------------------------------

ADDR = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")


@pytest.mark.parametrize("width", [60, 80, 200])
@pytest.mark.parametrize("fmt", ["plain", "table"])
@pytest.mark.parametrize("cmd", ["list", "groups"])
def test_narrow_terminal_goldens(cli, build, monkeypatch, width, fmt, cmd):
    root = build("demo")
    monkeypatch.setenv("COLUMNS", str(width))
    # the demo's own pci.ids: real names, long enough to need shortening
    monkeypatch.setenv("VFIOCTL_PCI_IDS", os.path.join(root, "usr/share/misc/pci.ids"))
    r = cli(["--root", root, "--format", fmt, cmd])
    assert r.code == 0, r.err
    golden(f"narrow-{cmd}-demo-{width}.{fmt}.txt", normalize(r.out, root))
    listing = cli(["--root", root, "list", "--json"]).json()
    # every address is printed whole: never broken inside the token
    whole = set(ADDR.findall(r.out))
    for f in listing["functions"]:
        if cmd == "list":
            assert f["address"] in whole
    if width < 200:
        # plain text and tables fit COLUMNS (tests/test_narrow_plain.py: every command)
        assert all(len(line) <= width for line in r.out.splitlines()), r.out
    if cmd == "list":
        if width < 200:
            assert "…" in r.out, "NAME shrinks with an ellipsis on narrow terminals"
        if width == 60:
            assert "narrow terminal:" in r.out
            assert all(len(line.rstrip()) <= width for line in r.out.splitlines()), r.out
        if width == 200:
            assert "narrow terminal:" not in r.out
            header = r.out.strip().splitlines()[0]
            for col in ("CLASS", "NUMA", "IDS", "HELD BY", "HOT RESET"):
                assert col in header


def test_optional_columns_drop_in_order(cli, build, monkeypatch):
    root = build("demo")
    monkeypatch.setenv("VFIOCTL_PCI_IDS", os.path.join(root, "usr/share/misc/pci.ids"))
    seen = []
    for width in (200, 150, 120, 100, 80, 60):
        monkeypatch.setenv("COLUMNS", str(width))
        head = cli(["--root", root, "--format", "plain", "list"]).out.splitlines()[0]
        seen.append([c for c in ("NUMA", "CLASS", "IDS", "HELD BY", "HOT RESET")
                     if c not in head])
    # each narrower width hides a superset, in the documented order
    order = ["NUMA", "CLASS", "IDS", "HELD BY", "HOT RESET"]
    for hidden in seen:
        assert hidden == order[:len(hidden)], seen
    assert seen[0] == [] and seen[-1] == order


# -- 3. one meaning per option ---------------------------------------------------

def test_legacy_mode_and_group_targets(cli, build):
    root = build("demo")
    d = cli(["--root", root, "check", "81:00.0", "--legacy", "--json"]).json()
    assert d["resets"][0]["mode"] == "group" and d["possible"]
    # the old name of the access mode is gone from check: no second meaning
    r = cli(["--root", root, "check", "--group", "42"])
    assert r.code == 2 and "No such option: --group" in r.err
    r = cli(["--root", root, "check", "42"])
    assert r.code == 2 and "'42' is not a PCI address" in r.err and "group:42" in r.err
    # group:N: every function of the group (one reset: same dev_set)
    d = cli(["--root", root, "check", "group:42", "--json"]).json()
    assert [e["target"] for e in d["resets"]] == ["0000:81:00.0"]
    assert d["resets"][0]["covers"] == ["0000:81:00.1"]
    r = cli(["--root", root, "show", "group:42"])
    assert r.code == 2 and "holds 2 functions" in r.err
    assert cli(["--root", root, "show", "group:21", "--json"]).json()["function"][
        "address"] == "0000:04:00.0"
    r = cli(["--root", root, "check", "group:999"])
    assert r.code == 3 and "no IOMMU group 999" in r.err
    # hot-reset takes a group too; --group is kept hidden there as the old name of --legacy
    r = cli(["--root", root, "hot-reset", "group:42", "--group", "--dry-run", "--json"])
    assert r.code == 0 and r.json()["results"][0]["mode"] == "group"
    assert "--group" not in cli(["hot-reset", "--help"]).out
    assert "--legacy" in cli(["hot-reset", "--help"]).out


# -- 4. simulation is never mistaken for reality ---------------------------------

def test_simulated_actions_say_so(cli, build):
    root = build("demo")
    r = cli(["--root", root, "hot-reset", "81:00.0", "--yes"])
    assert r.code == 0, r.err
    assert "slot reset done (simulated)" in r.out
    assert "(simulated)" in r.err          # the progress lines
    r = cli(["--root", root, "reset", "81:00.0", "--yes"])
    assert r.code == 0 and "function reset done (simulated)" in r.out
    d = cli(["--root", root, "hot-reset", "81:00.0", "--yes", "--json"]).json()
    assert d["simulated"] is True and d["backend"] == "sim"


def test_real_backend_on_a_fixture_is_refused_up_front(cli, build):
    root = build("dual-function")
    for cmd in (["hot-reset", "81:00.0", "--yes"], ["reset", "81:00.0", "--yes"],
                ["reset-info", "81:00.0", "--kernel", "--yes"]):
        r = cli(["--root", root, "--backend", "real", *cmd])
        assert r.code == 9, (cmd, r.err)
        assert f"{root} is not a live host: its VFIO nodes are plain files" in r.err
        assert "ENOTTY" not in r.err
    assert journal(root) == []


# -- 5. a host without VFIO explains itself --------------------------------------

def test_host_without_vfio(cli, tmp_path):
    b = TreeBuilder(str(tmp_path / "novfio"), iommu_units=(), iommufd=False,
                    noiommu_param=None, meta={"scenario": "no-vfio"})
    b.fn("0000:00:00.0", None, vendor=0x8086, device=0x29C0, cls=0x060000, pcie=None)
    b.fn("0000:00:02.0", None, vendor=0x8086, device=0x10FB, cls=0x020000, driver="ixgbe",
         pcie=None)
    root = b.write()
    os.unlink(os.path.join(root, "dev/vfio/vfio"))
    for cmd in (["list"], ["groups"], ["show", "00:02.0"]):
        r = cli(["--root", root, *cmd])
        assert r.code == 0, (cmd, r.err)
        notes = [x for x in r.out.splitlines() if x.startswith("note:")]
        assert len(notes) == 1 and "no IOMMU groups" in notes[0], (cmd, r.out)
        assert "'vfioctl doctor'" in notes[0]
        d = cli(["--root", root, *cmd, "--json"]).json()
        assert "no IOMMU groups" in d["host"]["vfio_hint"]


def test_footer_reads_without_contradiction(cli, build):
    out = cli(["--root", build("demo"), "list"]).out
    foot = out.strip().splitlines()[-1]
    assert "IOMMU on" not in out and "noiommu mode on" not in out
    assert "IOMMU units present" in foot
    assert "vfio's unsafe noiommu mode enabled (for devices without an IOMMU)" in foot


# -- 8. consistent answers ---------------------------------------------------------

def test_missing_group_filter_is_not_found_everywhere(cli, build):
    root = build("demo")
    for cmd in (["list", "-g", "999"], ["groups", "999"], ["check", "group:999"]):
        r = cli(["--root", root, *cmd])
        assert r.code == 3 and "no IOMMU group 999" in r.err, cmd
    r = cli(["--root", root, "list", "-d", "nosuchdriver"])
    assert r.code == 3
    r = cli(["--root", root, "list", "-d", "ixgbe"])     # exists nowhere, not bound: 3 too
    assert r.code == 3
    r = cli(["--root", root, "list", "-d", "snd_hda_intel", "-g", "46"])   # matches nothing
    assert r.code == 0


def test_every_printed_class_name_is_a_filter(cli, build):
    root = build("demo")
    d = cli(["--root", root, "list", "--json"]).json()
    for name in {f["class_name"] for f in d["functions"]}:
        r = cli(["--root", root, "list", "-c", name, "--json"])
        assert r.code == 0, (name, r.err)
        assert {f["class_name"] for f in r.json()["functions"]} == {name}


def test_json_applies_or_is_refused(cli):
    r = cli(["--json", "completion", "bash"])
    assert r.code == 2 and json.loads(r.out)["error"]["kind"] == "usage"
    assert "#" not in r.out


def test_reset_info_kernel_dry_run_gives_the_reason(cli, build):
    root = build("demo")
    r = cli(["--root", root, "reset-info", "82:00.1", "--kernel", "--dry-run"])
    assert "not asked: 0000:82:00.1 is not bound to vfio-pci" in r.out
    d = cli(["--root", root, "reset-info", "82:00.1", "--kernel", "--dry-run", "--json"]).json()
    assert d["kernel"]["step"] == "preflight" and "not bound" in d["kernel"]["explanation"]


def test_no_preflight_on_a_device_without_a_group_is_a_usage_error(cli, tmp_path):
    b = TreeBuilder(str(tmp_path / "nogroup"))
    b.root_port("0000:00:01.0", 0x01, group=1)
    b.fn("0000:01:00.0", "0000:00:01.0", vendor=0x8086, device=0x10FB, cls=0x020000,
         driver="vfio-pci", group=None)
    root = b.write()
    r = cli(["--root", root, "hot-reset", "01:00.0", "--no-preflight", "--yes"])
    assert r.code == 2 and "has no IOMMU group" in r.err, r.err
    assert journal(root) == []


def test_check_says_a_target_is_covered(cli, build):
    root = build("demo")
    r = cli(["--root", root, "check", "81:00.0", "81:00.1"])
    assert r.code == 0
    assert "covers 0000:81:00.1 (same dev_set: one reset does both)" in r.out


def test_groups_table_shows_member_drivers(cli, build):
    root = build("demo")
    plain = cli(["--root", root, "--format", "plain", "groups", "44"]).out
    table = cli(["--root", root, "--format", "table", "groups", "44"]).out
    for text in (plain, table):
        assert "0000:82:00.1[snd_hda_intel]" in text and "0000:82:00.0[vfio-pci]" in text


def test_table_in_a_pipe_has_no_colour_unless_forced():
    r = vfioctl(["--demo", "--format", "table", "list"], env={"NO_COLOR": ""},
                capture_output=True, text=True)
    assert r.returncode == 0 and "\x1b[" not in r.stdout
    r = vfioctl(["--demo", "--format", "table", "list"],
                env={"FORCE_COLOR": "1", "NO_COLOR": ""}, capture_output=True, text=True)
    assert "\x1b[" in r.stdout
    env = {"FORCE_COLOR": "1", "NO_COLOR": "1"}
    r = vfioctl(["--demo", "--format", "table", "list"], env=env, capture_output=True,
                text=True)
    assert "\x1b[3" not in r.stdout         # NO_COLOR: no colours


def test_missing_group_node_is_the_first_refusal(cli, tmp_path):
    b = TreeBuilder(str(tmp_path / "nonode"))
    b.root_port("0000:00:01.0", 0x01, group=1, slot="1")
    b.fn("0000:01:00.0", "0000:00:01.0", vendor=0x8086, device=0x10FB, cls=0x020000,
         driver="vfio-pci", group=11, flr=True)
    root = b.write()
    os.unlink(os.path.join(root, "dev/vfio/11"))
    d = cli(["--root", root, "reset-info", "01:00.0", "--json"]).json()
    v = d["reset"]["verdicts"]["group"]
    assert v["expected"] == {"step": "open group", "errno": "ENOENT"}
    assert v["reasons"][0]["step"] == "open group" and "does not exist" in v["reasons"][0][
        "message"]


def test_words_mended(cli, build):
    root = build("demo")
    help_ = cli(["--help"]).out
    cmds = help_.split("Commands:")[1]
    assert "..." not in cmds                      # no help text cut with "..."
    for cmd in ("show", "reset-info", "reset"):
        usage = cli([cmd, "--help"]).out.splitlines()[0]
        assert "{DEVICE}" not in usage and usage.endswith(" DEVICE"), usage
    for cmd in ("hot-reset", "check"):
        usage = cli([cmd, "--help"]).out.splitlines()[0]
        assert usage.endswith(" DEVICE...") and "[DEVICE...]" not in usage, usage
    out = cli(["--root", root, "reset-info", "04:00.0"]).out
    assert "A hot reset hits 1 function:" in out and "function(s)" not in out
    show = cli(["--root", root, "show", "81:00.0"]).out.splitlines()
    assert not any(x.strip().startswith("name:") for x in show)   # the header has it
    dry = cli(["--root", root, "hot-reset", "81:00.0", "--legacy", "--dry-run"]).out
    assert "VFIO_SET_IOMMU 3   (VFIO_TYPE1v2_IOMMU)" in dry
    assert "1 group fd)" in dry
    groups = cli(["--root", root, "groups", "90"]).out
    assert "unknown (noiommu)" in groups
    assert "the kernel's word for a noiommu group" in cli(["--root", root, "show",
                                                            "85:00.0"]).out
    r = cli(["--root", build("gpu-audio-host-driver"), "reset", "01:00.1", "--yes"])
    assert "ADDRESS" not in r.err and "01:00.1 vfio-pci" in r.err


# -- 9. what lspci and driverctl users expect -------------------------------------

def test_class_modules_numa_boot_vga(cli, build):
    root = build("demo")
    out = cli(["--root", root, "list"]).out
    head = out.splitlines()[0]
    assert "CLASS" in head and "NUMA" in head
    vga = [x for x in out.splitlines() if x.startswith("0000:07:00.0")][0]
    assert "display*" in vga
    assert "* boot_vga: the firmware's console GPU" in out
    hidden = cli(["--root", root, "list", "--hide", "class"]).out.splitlines()[0]
    assert "CLASS" not in hidden
    assert cli(["--root", root, "list", "--hide", "bogus"]).code == 2
    d = cli(["--root", root, "show", "07:00.0", "--json"]).json()["function"]
    assert d["boot_vga"] is True and d["numa_node"] == 0 and d["modules"] == ["ast"]
    d = cli(["--root", root, "show", "05:00.2", "--json"]).json()["function"]
    assert d["modules"] == ["mlx5_core"]
    s = cli(["--root", root, "show", "82:00.1"]).out
    assert "kernel modules:          snd_hda_intel" in s
    lst = cli(["--root", root, "list", "--json"]).json()["functions"]
    gpu = [f for f in lst if f["address"] == "0000:82:00.0"][0]
    assert gpu["boot_vga"] is False and gpu["numa_node"] == 1


def test_reset_method_absent_is_explained(cli, tmp_path):
    def tree(name, release, with_other):
        b = TreeBuilder(str(tmp_path / name), meta={"osrelease": release})
        b.root_port("0000:00:01.0", 0x01, group=1, reset_method="bus" if with_other else None)
        b.fn("0000:01:00.0", "0000:00:01.0", vendor=0x8086, device=0x10FB, cls=0x020000,
             driver="vfio-pci", group=11)
        return b.write()
    note = lambda root: cli(["--root", root, "show", "01:00.0", "--json"]).json()[  # noqa: E731
        "function"]["reset_method_note"]
    assert "found no reset method" in note(tree("a", "6.12.0", True))
    assert "other functions have reset_method" in note(tree("b", "5.4.0", True))
    assert "5.4.0 predates reset_method" in note(tree("c", "5.4.0", False))
    assert "kernel 6.12.0 has reset_method" in note(tree("d", "6.12.0", False))
    out = cli(["--root", tree("e", "5.10.1", False), "show", "01:00.0"]).out
    assert "reset_method:            absent: kernel 5.10.1 predates reset_method" in out


# -- issue 8 item 6: partial results ----------------------------------------------

FAULT = {"VFIOCTL_SIM_FAULTS": "VFIO_DEVICE_PCI_HOT_RESET@0000:04:00.0=EIO"}


def test_partial_hot_reset_is_reported(cli, build, monkeypatch):
    root = build("demo")
    monkeypatch.setenv(*next(iter(FAULT.items())))
    r = cli(["--root", root, "hot-reset", "81:00.0", "04:00.0", "85:00.0", "--yes", "--json"])
    assert r.code == 11, r.err
    d = r.json()
    assert d["status"] == "partial"
    assert d["done"] == ["0000:81:00.0"] and d["failed"] == ["0000:04:00.0"]
    assert d["not_attempted"] == ["0000:85:00.0"]
    assert [x["result"] for x in d["results"]] == ["reset", "error", "not-attempted"]
    assert d["results"][1]["error"]["errno"] == "EIO"
    assert d["error"]["kind"] == "partial" and d["error"]["exit_code"] == 11
    assert len(resets(root)) == 1
    r = cli(["--root", root, "hot-reset", "81:00.0", "04:00.0", "--yes"])
    assert r.code == 11
    assert "0000:81:00.0: slot reset done (simulated)" in r.out
    assert "0000:04:00.0: FAILED (simulated)" in r.out and "partly done: 1 of 2 resets" in r.out
    assert "hot reset partly done: 0000:81:00.0 reset; 0000:04:00.0 failed" in r.err


def test_first_target_failing_is_not_partial(cli, build, monkeypatch):
    root = build("demo")
    monkeypatch.setenv(*next(iter(FAULT.items())))
    r = cli(["--root", root, "hot-reset", "04:00.0", "81:00.0", "--yes", "--json"])
    assert r.code == 7, r.err
    d = r.json()
    assert d["status"] == "failed" and d["done"] == [] and d["not_attempted"] == ["0000:81:00.0"]
    assert resets(root) == []


# -- issue 8 item 5: the output channel of an acting command -----------------------

@pytest.mark.parametrize("how", ["closed", "reader-gone", "dev-full"])
def test_broken_stdout_refused_before_acting(build, how):
    root = build("dual-function")
    args = ["--root", root, "hot-reset", "81:00.0", "--yes", "--json"]
    if how == "closed":
        r = vfioctl(args, stdout=None, stderr=subprocess.PIPE, text=True,
                    preexec_fn=lambda: os.close(1))
    elif how == "dev-full":
        with open("/dev/full", "w") as full:
            r = vfioctl(args, stdout=full, stderr=subprocess.PIPE, text=True)
    else:
        rd, wr = os.pipe()
        os.close(rd)
        try:
            r = vfioctl(args, stdout=wr, stderr=subprocess.PIPE, text=True)
        finally:
            os.close(wr)
    assert r.returncode == 6, r.stderr
    assert "nothing was done" in r.stderr and "Traceback" not in r.stderr
    assert resets(root) == [] and journal(root) == []


def test_output_failing_after_acting_does_not_hide_it(build, monkeypatch):
    """stdout accepts the check (not a file) but fails on write: exit 12, the
    action named on stderr."""
    import io
    from contextlib import redirect_stderr, redirect_stdout
    from vfioctl.cli.entry import main
    from vfioctl.cli import interact
    monkeypatch.setattr(interact, "_silence_stdout", lambda: None)

    class Full(io.StringIO):
        def write(self, s):
            raise OSError(28, "No space left on device")

    root = build("dual-function")
    err = io.StringIO()
    with redirect_stdout(Full()), redirect_stderr(err):
        code = main(["--root", root, "hot-reset", "81:00.0", "--yes"])
    assert code == 12
    assert ("hot reset (simulated): done 0000:81:00.0, but the result could not be written "
            "to stdout (No space left on device)") in err.getvalue()
    assert len(resets(root)) == 1


# -- 7. man pages ------------------------------------------------------------------

def test_exit_status_sentences_are_whole():
    page = (ROOT / "man" / "vfioctl.8").read_text()
    sect = page.split(".SH EXIT STATUS", 1)[1].split(".SH ", 1)[0]
    texts = [x for x in sect.splitlines() if x and not x.startswith((".", "\\fB"))]
    assert texts and all(not re.search(r",? or\.", t) for t in texts), texts
    assert "hot-reset/reset refused before opening anything" in sect
    assert re.search(r"\\fB11\\fR\nPartly done", sect) and re.search(r"\\fB12\\fR\nDone, but", sect)


# -- 1. streams: the result on stdout; the plan before acting, progress, prompts on stderr

def test_acting_commands_agree_on_streams(cli, build):
    root = build("demo")
    hr = cli(["--root", root, "hot-reset", "81:00.0", "--yes"])
    rs = cli(["--root", root, "reset", "81:00.0", "--yes"])
    for r, plan_line in ((hr, "Hot reset of 0000:81:00.0"), (rs, "function reset of 0000:81:00.0")):
        assert r.code == 0, r.err
        assert plan_line in r.err and plan_line not in r.out
        assert "done (simulated)" in r.out
    # a dry run's plan is its result: stdout
    d = cli(["--root", root, "hot-reset", "81:00.0", "--dry-run"])
    assert "Hot reset of 0000:81:00.0" in d.out and d.err == ""
