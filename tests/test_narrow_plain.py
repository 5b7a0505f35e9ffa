"""Plain text on narrow terminals: with COLUMNS (or a terminal's width) no line
of any command's plain output is wider than it, and nothing is lost: a table
whose essential columns cannot sit side by side becomes one block of
``HEADER  value`` lines per row, long values continued below themselves; only
the optional columns of the documented order are left out (a note says which).
In a pipe without COLUMNS the plain text keeps whole lines, as scripts expect.

Every command with a plain table (and the ones around them) runs through the
real CLI over the demo host, the scenario trees and recorded real-kernel trees."""

from __future__ import annotations

import os
import re

import pytest

from tests.conftest import ROOT, golden, normalize
from vfioctl.present.output import Output, PlainCanvas

WIDTHS = (60, 40)

#: tree -> a function to show/reset-info/check, and an endpoint to bind/unbind
TREES = {
    "demo": ("0000:82:00.0", "0000:82:00.1"),
    "dual-function": ("0000:81:00.0", "0000:81:00.0"),
    "gpu-audio-host-driver": ("0000:01:00.0", "0000:01:00.1"),
    "pcie-switch": ("0000:02:00.1", "0000:02:00.1"),
    "pci-bridge": ("0000:07:01.0", "0000:07:01.0"),
    "sriov": ("0000:3b:02.1", "0000:3b:02.1"),
    "noiommu": ("0000:02:00.0", "0000:02:00.1"),
    "held-group": ("0000:81:00.1", "0000:81:00.1"),
    "bind-host": ("0000:01:00.0", "0000:01:00.0"),
    "rec:qemu-q35-intel-iommu": ("0000:09:00.0", "0000:09:00.0"),
    "rec:qemu-q35-sriov-newer": ("0000:01:10.0", "0000:01:10.2"),
}


@pytest.fixture
def tree(build, recorded, monkeypatch):
    def get(name: str) -> str:
        if name == "demo":
            # the demo's own pci.ids: real names, long enough to need shortening
            root = build("demo")
            monkeypatch.setenv("VFIOCTL_PCI_IDS", os.path.join(root, "usr/share/misc/pci.ids"))
            return root
        return recorded(name[4:]) if name.startswith("rec:") else build(name)
    return get


def _words(text: str) -> set[str]:
    """The words of a text, without a trailing comma or semicolon; a sysfs path
    may be broken after a "/", so its parts count as words."""
    return {w.rstrip(",;") for x in text.split() for w in x.split("/") if w.rstrip(",;")}


def _plain(cli, root, args, width, monkeypatch, fmt="plain"):
    monkeypatch.setenv("COLUMNS", str(width))
    r = cli(["--root", root, "--format", fmt, *args])
    assert r.code in (0, 1, 6, 10, 13), (args, r.code, r.err)   # the verdicts, no error
    over = [ln for ln in r.out.splitlines() if len(ln) > width]
    assert not over, f"{args} at {width} columns:\n" + "\n".join(over)
    return r.out


def _json(cli, root, args, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    r = cli(["--root", root, *args, "--json"])
    assert r.code in (0, 1, 6, 10, 13), (args, r.code, r.err)
    return r.json()


@pytest.mark.parametrize("fmt", ["plain", "table"])
@pytest.mark.parametrize("name", sorted(TREES))
def test_every_plain_command_fits_and_loses_nothing(cli, tree, monkeypatch, name, fmt):
    """Plain text, and the tables (rich) too: the same block layout when the
    essential columns cannot sit side by side."""
    root = tree(name)
    dev, ep = TREES[name]
    listing = _json(cli, root, ["list"], monkeypatch)
    groups = _json(cli, root, ["groups"], monkeypatch)
    doctor = _json(cli, root, ["doctor"], monkeypatch)
    show = _json(cli, root, ["show", dev], monkeypatch)
    check = _json(cli, root, ["check", dev], monkeypatch)
    bind = _json(cli, root, ["bind", ep, "--dry-run"], monkeypatch)
    for width in WIDTHS:
        # list: every function, whole, with its driver and group; NAME may be
        # shortened and the optional columns left out, as documented
        out = _plain(cli, root, ["list"], width, monkeypatch, fmt)
        words = _words(out)
        for f in listing["functions"]:
            assert {f["address"], f["driver"] or "-", str(f["iommu_group"] or "-")} <= words
        # groups: every member with its driver, whole; the node; the blockers
        out = _plain(cli, root, ["groups"], width, monkeypatch, fmt)
        words = _words(out)
        for g in groups["groups"]:
            for a in g["members"]:
                assert f"{a}[{g['drivers'].get(a) or 'none'}]" in words, (a, out)
            assert set(g["other_members"]) <= words
            if g["node_present"]:
                assert g["node"] in out
            for b in g["viability_blockers"]:
                assert {b["address"], b["driver"]} <= words
        # doctor: every finding's check, subject and meaning (compact: a
        # device's passing checks share a row, named there)
        out = _plain(cli, root, ["doctor"], width, monkeypatch, fmt)
        words = _words(out)
        for f in doctor["findings"]:
            assert {f["check"], f["subject"]} <= words, f
            if f["status"] != "pass" or f["subject"] == "host":
                assert _words(f["meaning"]) <= _words(out), f
        out = _plain(cli, root, ["doctor", "--verbose"], width, monkeypatch, fmt)
        for f in doctor["findings"]:
            assert _words(f["meaning"]) | _words(f["remedy"] or "") <= _words(out), f
        # show and reset-info: the affected functions and every reason
        plan = show["reset"]
        for cmd in (["show", dev], ["reset-info", dev]):
            out = _plain(cli, root, cmd, width, monkeypatch, fmt)
            words = _words(out)
            assert {a["address"] for a in plan["affected"]} <= words, (cmd, out)
            for v in plan["verdicts"].values():
                for r in v["reasons"]:
                    assert _words(r["message"]) <= words, (cmd, r["message"], out)
        out = _plain(cli, root, ["check", dev], width, monkeypatch, fmt)
        for r in check["resets"][0]["reasons"]:
            assert _words(r["message"]) <= _words(out), r
        # bind --dry-run: the plan's table (every function, its holders and guards)
        out = _plain(cli, root, ["bind", ep, "--dry-run"], width, monkeypatch, fmt)
        words = _words(out)
        for f in bind["plan"]["functions"]:
            assert {f["address"], f["role"], f["action"]} <= words
            assert {g["code"] for g in f["guards"]} <= words
            for h in f["holders"]:
                assert _words(h) <= words
        for g in bind["plan"]["guards"]:
            assert _words(g["message"]) <= words, g


def test_groups_too_wide_for_a_table_become_blocks(cli, tree, monkeypatch):
    """The demo's groups at 60 columns: a node name and a member each stay
    whole, so GROUP NODE VIABLE MEMBERS cannot sit side by side; each group is
    one block, each member on a line of its own when they do not fit on one."""
    root = tree("demo")
    out = _plain(cli, root, ["groups"], 40, monkeypatch)
    block = out.split("GROUP    44\n", 1)[1].split("\n\n", 1)[0]
    assert block.splitlines() == [
        "NODE     /dev/vfio/44",
        "VIABLE   NO: 0000:82:00.1 on",
        "         snd_hda_intel",
        "MEMBERS  0000:82:00.0[vfio-pci],",
        "         0000:82:00.1[snd_hda_intel]",
    ]
    assert out.rstrip().endswith("(narrow terminal: TYPE, HELD BY not\nshown; --json shows everything)")


def test_list_keeps_its_documented_order_then_blocks(cli, tree, monkeypatch):
    """list at 40 columns: NAME shortened, NUMA, CLASS, IDS, HELD BY and HOT
    RESET left out (in that order: test_newcomer), and when ADDRESS NAME DRIVER
    GROUP VFIO still cannot sit side by side, one block per function with the
    full name."""
    root = tree("demo")
    out = _plain(cli, root, ["list"], 40, monkeypatch)
    assert ("(narrow terminal: NUMA, CLASS, IDS, HELD BY, HOT RESET not shown; --json shows "
            "everything)") in " ".join(out.split())
    first = out.split("\n\n", 1)[0].splitlines()
    assert [ln.split()[0] for ln in first if not ln.startswith(" ")] == [
        "ADDRESS", "NAME", "DRIVER", "GROUP", "VFIO"]
    assert "…" not in out
    assert "0000:82:00.1" in out and "GA102 High Definition Audio Controller" in " ".join(
        out.split())


def test_pipe_without_columns_keeps_whole_lines(cli, tree, monkeypatch):
    """No COLUMNS and not a terminal: a script reads whole lines, whatever
    their length (the demo's doctor has lines of about 200 columns)."""
    root = tree("demo")
    monkeypatch.delenv("COLUMNS", raising=False)
    for args in (["doctor"], ["groups"], ["check", "82:00.0"]):
        out = cli(["--root", root, "--format", "plain", *args]).out
        monkeypatch.setenv("COLUMNS", "100000")
        assert cli(["--root", root, "--format", "plain", *args]).out == out
        monkeypatch.delenv("COLUMNS", raising=False)
    assert max(len(ln) for ln in out.splitlines()) > 160


def test_plain_on_a_terminal_takes_its_width(monkeypatch):
    """--format plain on a terminal without COLUMNS fits the terminal's width
    (TIOCGWINSZ), on stdout and on stderr (the plan shown before a prompt)."""
    import fcntl
    import struct
    import termios
    monkeypatch.delenv("COLUMNS", raising=False)
    master, slave = os.openpty()
    try:
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 52, 0, 0))
        with open(slave, "w", closefd=False) as tty, open(os.devnull, "w") as pipe:
            out = Output(fmt="plain", stdout=tty, stderr=tty)
            assert isinstance(out.canvas(), PlainCanvas)
            assert out.canvas().width == 52 and out.diag_canvas().width == 52
            monkeypatch.setenv("COLUMNS", "70")       # COLUMNS wins
            assert out.canvas().width == 70
            monkeypatch.delenv("COLUMNS", raising=False)
            assert Output(fmt="plain", stdout=pipe, stderr=pipe).canvas().width is None
    finally:
        os.close(master)
        os.close(slave)


def test_records_never_exceed_even_a_tiny_width():
    """Below any sensible width the blocks still fit: a value too long for the
    room beside the headers goes below its header, a word longer than the line
    is cut across lines (moved, not lost)."""
    import io
    for width in (60, 30, 20, 12):
        s = io.StringIO()
        c = PlainCanvas(s, width=width)
        from vfioctl.present.output import Col
        c.table(["AFFECTED FUNCTION", Col("MEMBERS", wrap=True)],
                [["0000:82:00.1", "0000:82:00.0[vfio-pci], 0000:82:00.1[snd_hda_intel]"]])
        c.bullet("every function in the reset scope must be bound to vfio-pci")
        lines = s.getvalue().splitlines()
        assert all(len(ln) <= width for ln in lines), (width, lines)
        joined = "".join(ln.strip() for ln in lines)
        assert "0000:82:00.1[snd_hda_intel]" in joined.replace(",", ", ").replace(" ", "") or \
            "0000:82:00.1[snd_hda_intel]" in joined


@pytest.mark.parametrize("name", ["demo", "pcie-switch", "rec:qemu-q35-intel-iommu",
                                  "rec:qemu-q35-sriov-newer"])
def test_tree_fits_40_columns(cli, tree, monkeypatch, name):
    """tree at 40 columns (deep switches): a role too long to sit beside its
    address goes below it, with the details, and a detail too long for a line
    of its own is broken between its words.  Only a single word wider than the
    room left by the indentation (a holder's comm(pid) five levels down) may
    pass the width; every address is still there, whole."""
    root = tree(name)
    dev = TREES[name][0]
    monkeypatch.setenv("LANG", "C.UTF-8")
    listing = _json(cli, root, ["list"], monkeypatch)
    monkeypatch.setenv("COLUMNS", "40")
    out = cli(["--root", root, "--format", "plain", "tree", "--all", dev]).out
    for ln in out.splitlines():
        if len(ln) > 40:
            assert len(ln.lstrip("│├└─ ").split()) == 1, ln
    assert {f["address"] for f in listing["functions"]} <= set(
        re.findall(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", out))
    # the roles are still said, continued below when they do not fit beside
    monkeypatch.setenv("COLUMNS", "200")
    wide = cli(["--root", root, "--format", "plain", "tree", "--all", dev]).out
    for role in ("switch downstream port", "switch upstream port", "PCIe-to-PCI bridge"):
        words = " ".join(w for w in out.split() if w.strip("│├└─"))   # no tree glyphs
        assert wide.count(role) == words.count(role), role
