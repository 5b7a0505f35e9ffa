"""``vfioctl tree``: goldens over every fixture tree and the recorded real-kernel
trees (60 and 120 columns, UTF-8 and ASCII, JSON, DOT), the DOT rendered by
Graphviz without warnings, and the view's promises (pruning, width, ASCII,
colour) checked directly."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import pytest

from tests.conftest import golden, normalize, pretty
from vfioctl import JSON_SCHEMA
from vfioctl.testing import scenarios

#: the reset(s) drawn on each tree (several DEVICEs draw several scopes)
TARGETS = {
    "dual-function": ["0000:81:00.0"], "gpu-audio-host-driver": ["0000:01:00.0"],
    "root-bus": ["0000:00:05.0"], "pcie-switch": ["0000:02:00.1", "0000:04:00.0"],
    "pci-bridge": ["07:01.0"], "sriov": ["0000:3b:02.1"], "noiommu": ["0000:02:00.0"],
    "no-cdev": ["vfio0"], "held-group": ["0000:81:00.1"], "broken": ["0000:01:00.0"],
    "demo": ["0000:82:00.0"], "qemu-q35": ["0000:04:01.0", "0000:09:00.0"],
    "qemu-q35-noiommu": ["0000:01:00.0"],
    "bind-host": ["0000:01:00.0", "0000:05:10.0"], "qemu-q35-bind": ["0000:0b:00.0"],
    "sriov-slot": ["0000:01:00.0"],      # the PF's slot reset also hits its VFs (issue 13)
    # recorded from the real kernel (tests/fixtures/recorded)
    "rec:qemu-q35-intel-iommu": ["0000:09:00.0", "0000:02:00.0", "0000:04:01.0"],
    "rec:qemu-q35-noiommu": ["0000:01:00.0"],
    # a PF's slot reset: its VFs are reset too, and the kernel's INFO omits them
    "rec:qemu-q35-sriov-vfio": ["0000:01:00.0"],
    # 7.3.4: bus-wide pciehp slot: the VFs are in slot 1, a VF's reset is a slot reset
    "rec:qemu-q35-sriov-newer": ["0000:01:10.0"],
}
TREES = sorted(TARGETS)
ADDR = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")


@pytest.fixture(autouse=True)
def _utf8_locale(monkeypatch):
    """A UTF-8 locale unless a test says otherwise, whatever the CI runner has."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_CTYPE", raising=False)


def test_every_fixture_tree_has_a_golden():
    assert {t for t in TREES if not t.startswith("rec:")} == set(scenarios.SCENARIOS)


@pytest.fixture
def tree_root(build, recorded):
    def get(name: str) -> str:
        return recorded(name[4:]) if name.startswith("rec:") else build(name)
    return get


def _text(cli, root, args, width, lang, monkeypatch):
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.setenv("LANG", lang)
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_CTYPE", raising=False)
    r = cli(["--root", root, "tree", *args])
    assert r.code == 0, r.err
    return r.out


@pytest.mark.parametrize("name", TREES)
def test_tree_golden(cli, tree_root, monkeypatch, name):
    root = tree_root(name)
    slug = name.replace("rec:", "recorded-")
    args = ["--all", *TARGETS[name]]
    for width in (60, 120):
        for lang, enc in (("C.UTF-8", "utf8"), ("C", "ascii")):
            out = _text(cli, root, args, width, lang, monkeypatch)
            golden(f"tree-{slug}.{width}.{enc}.txt", normalize(out, root))
            lines = out.splitlines()
            # fits the width; an address is never broken across lines
            assert max(len(ln) for ln in lines) <= width, name
            if enc == "ascii":
                assert out.isascii()
            else:
                assert "├── " in out or "└── " in out
    # every function of the host appears, whole, in the unfiltered tree
    r0 = r = cli(["--root", root, "list", "--json"])
    addrs = {f["address"] for f in r.json()["functions"]}
    assert addrs <= set(ADDR.findall(out)), addrs - set(ADDR.findall(out))

    r = cli(["--root", root, "tree", *args, "--json"])
    assert r.code == 0, r.err
    d = r.json()
    assert d["schema"] == JSON_SCHEMA and d["command"] == "tree"
    golden(f"tree-{slug}.json", pretty(normalize(r.out, root)))
    # every function is drawn in the slot the planner gives it
    assert _slot_disagreements(d, r0.json()) == []
    r = cli(["--root", root, "tree", *args, "--dot"])
    assert r.code == 0, r.err
    golden(f"tree-{slug}.dot", normalize(r.out, root))
    _renders(r.out)


def _dot() -> str:
    path = shutil.which("dot")
    if not path:
        pytest.fail("dot is not installed (Debian package graphviz; ./scripts/test installs it)")
    return path


def _renders(dot_text: str) -> str:
    p = subprocess.run([_dot(), "-Tsvg"], input=dot_text, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    assert "<svg" in p.stdout
    return p.stdout


def _nodes(n):
    yield n
    for c in n["children"]:
        yield from _nodes(c)


def _by_name(d):
    return {n["name"]: n for r in d["roots"] for n in _nodes(r)}


# -- the "done when": vfioctl --demo tree 0000:82:00.0 -------------------

def test_demo_rtx3090_text(cli, monkeypatch):
    monkeypatch.setenv("LANG", "C.UTF-8")
    for width in ("60", "120"):
        monkeypatch.setenv("COLUMNS", width)
        r = cli(["--demo", "tree", "0000:82:00.0"])
        assert r.code == 0, r.err
        out = r.out
        # the bus reset at the root port, the target, and the audio function
        # that blocks it, marked differently
        bridge = out[out.index("0000:80:02.0"):]
        assert "⟲ RESET bus 0000:82 and below" in bridge.split("0000:82:00.0")[0]
        gpu = out[out.index("0000:82:00.0"):out.index("0000:82:00.1")]
        assert "◀ TARGET" in gpu and "✗" not in gpu
        audio = out[out.index("0000:82:00.1"):].split("0000:80:03.0")[0]
        assert "✗ hit, NOT in dev_set" in audio and "snd_hda_intel" in audio
        # why it is refused, per access mode, in the footer
        assert "legacy groups: refused" in out and "iommufd (cdev): refused" in out
        assert "group 44 is not viable: 0000:82:00.1 is bound to" in " ".join(out.split())
        assert "NOT possible" in out
        # only socket 1 is drawn; socket 0 is named as hidden
        assert "0000:03:00.0" not in out and "pci0000:00" in out


def test_demo_rtx3090_json(cli):
    r = cli(["--demo", "tree", "0000:82:00.0", "--json"])
    d = r.json()
    [p] = d["resets"]
    assert p["kind"] == "bus" and p["bridge"] == "0000:80:02.0" and not p["possible"]
    assert {a["address"] for a in p["affected"]} == {"0000:82:00.0", "0000:82:00.1"}
    nodes = _by_name(d)
    assert nodes["0000:80:02.0"]["marks"] == [
        {"scope": 0, "target": False, "hit": False, "in_dev_set": None, "blocks": False,
         "held_by": [], "reset_point": "bus", "also_reset": False}]
    gpu, audio = nodes["0000:82:00.0"], nodes["0000:82:00.1"]
    assert gpu["marks"][0]["target"] and not gpu["marks"][0]["blocks"]
    assert audio["marks"][0]["blocks"] and audio["marks"][0]["in_dev_set"] is False
    # the same function object as list prints
    lst = {f["address"]: f for f in cli(["--demo", "list", "--json"]).json()["functions"]}
    assert gpu["function"] == lst["0000:82:00.0"]
    assert gpu["role"] == "endpoint" and nodes["0000:80:02.0"]["role"] == "root-port"
    assert d["hidden_root_complexes"] == ["pci0000:00"]
    assert list(nodes) [0] == "pci0000:80"


def test_demo_rtx3090_dot_renders(cli, tmp_path):
    r = cli(["--demo", "tree", "0000:82:00.0", "--dot"])
    assert r.code == 0, r.err
    svg = _renders(r.out)
    assert "cluster_group_44" in svg and "RESET bus 0000:82 and below" in svg
    assert "NOT in dev_set" in svg and "NOT possible" in svg


def test_readme_picture_is_fresh(cli, monkeypatch):
    """docs/tree-demo.svg is what `dot -Tsvg` draws from the current tool (compared
    by the text it shows, so that another graphviz version's layout does not matter),
    with the demo's names (its own pci.ids, inside the demo root)."""
    import os
    from tests.conftest import ROOT
    monkeypatch.delenv("VFIOCTL_PCI_IDS")
    r = cli(["--demo", "tree", "0000:82:00.0", "--dot"])
    svg = _renders(r.out)
    path = ROOT / "docs" / "tree-demo.svg"
    if os.environ.get("VFIOCTL_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(svg)
    texts = lambda s: sorted(re.findall(r"<text[^>]*>([^<]*)</text>", s))  # noqa: E731
    assert texts(svg) and texts(path.read_text()) == texts(svg), \
        "docs/tree-demo.svg is stale: regenerate with VFIOCTL_UPDATE_GOLDEN=1"
    assert "GA102 [GeForce RTX 3090]" in texts(svg)


# -- structure ---------------------------------------------------------------

def test_hierarchy_levels(cli):
    d = cli(["--demo", "tree", "--json"]).json()
    assert [r["name"] for r in d["roots"]] == ["pci0000:00", "pci0000:80"]
    n = _by_name(d)
    # root port -> slot 2 -> switch upstream -> downstream -> slot 10 -> GPU + audio
    assert [c["name"] for c in n["0000:00:02.0"]["children"]] == ["2"]
    slot2 = n["0000:00:02.0"]["children"][0]
    assert slot2["type"] == "slot" and slot2["hotplug_slot"]["reset_capable"]
    assert slot2["children"][0]["role"] == "switch-upstream-port"
    assert [c["role"] for c in n["0000:01:00.0"]["children"]] == [
        "switch-downstream-port", "switch-downstream-port"]
    assert [c["name"] for c in n["10"]["children"]] == ["0000:03:00.0", "0000:03:00.1"]
    # VFs below their PF, not beside it
    assert [c["name"] for c in n["0000:05:00.0"]["children"]] == [
        f"0000:05:00.{i}" for i in range(2, 6)]
    assert all(c["role"] == "vf" for c in n["0000:05:00.0"]["children"])
    assert [c["name"] for c in n["0000:00:03.0"]["children"]] == ["0000:05:00.0", "0000:05:00.1"]
    # the PCIe-to-PCI bridge and the conventional devices behind it
    assert n["0000:83:00.0"]["role"] == "pcie-to-pci-bridge"
    assert n["0000:00:01.0"]["role"] == "rc-integrated-endpoint"
    assert n["0000:80:00.0"]["role"] == "host-bridge"


def test_filters_keep_the_path_to_the_root(cli):
    d = cli(["--demo", "tree", "--class", "nvme", "--json"]).json()
    assert d["filtered"]
    n = _by_name(d)
    assert [k for k, v in n.items() if v["matched"]] == ["0000:04:00.0"]
    assert set(n) == {"pci0000:00", "0000:00:02.0", "2", "0000:01:00.0", "0000:02:01.0",
                      "0000:04:00.0"}
    d = cli(["--demo", "tree", "--vfio", "--json"]).json()
    n = _by_name(d)
    matched = {k for k, v in n.items() if v["matched"]}
    lst = {f["address"] for f in cli(["--demo", "list", "--vfio", "--json"]).json()["functions"]}
    assert matched == lst
    assert "0000:82:00.1" not in n and "0000:00:1f.4" not in n
    # a VF's path goes through its PF
    assert "0000:05:00.0" in n and not n["0000:05:00.0"]["matched"]


def test_filter_keeps_the_scope_of_a_device(cli):
    """--vfio with DEVICE: the blocking snd_hda_intel function is still drawn."""
    d = cli(["--demo", "tree", "--vfio", "0000:82:00.0", "--json"]).json()
    n = _by_name(d)
    assert not n["0000:82:00.1"]["matched"] and n["0000:82:00.1"]["marks"][0]["blocks"]


def test_several_devices_several_scopes(cli, monkeypatch):
    monkeypatch.setenv("LANG", "C.UTF-8")
    r = cli(["--demo", "tree", "03:00.0", "0000:05:00.3", "0000:00:01.0"])
    out = r.out
    assert "#1 ⟲ SLOT RESET" in out and "#2 ⟲ RESET bus 0000:05 and below" in out
    assert "#3 ◀ TARGET (no hot reset)" in out
    assert "#1 ✗ hit while held" in out
    assert out.count("Hot reset of ") == 3
    d = cli(["--demo", "tree", "03:00.0", "0000:05:00.3", "--json"]).json()
    assert [p["target"] for p in d["resets"]] == ["0000:03:00.0", "0000:05:00.3"]
    assert _by_name(d)["10"]["marks"][0]["reset_point"] == "slot"


def test_same_device_twice_is_one_scope(cli):
    d = cli(["--demo", "tree", "82:00.0", "0000:82:00.0", "vfio10", "--json"]).json()
    assert len(d["resets"]) == 1


def test_bad_input(cli):
    r = cli(["--demo", "tree", "99:00.0"])
    assert r.code == 3 and r.err.startswith("vfioctl: error:") and "Traceback" not in r.err
    r = cli(["--demo", "tree", "--dot", "--json"])
    assert r.code == 2 and "--dot and --json cannot be combined" in r.err and r.json()["error"]
    # one meaning per option: --format is the global auto|table|plain, nothing else
    r = cli(["--demo", "tree", "--format", "dot"])
    assert r.code == 2 and "--format is a global option" in r.err
    r = cli(["--demo", "--format", "dot", "tree"])
    assert r.code == 2 and "--format must be auto, table or plain" in r.err
    r = cli(["--demo", "tree", "--class", "toaster"])
    assert r.code == 2 and "unknown class" in r.err
    r = cli(["--demo", "tree", "--json", "99:00.0"])
    assert r.code == 3 and r.json()["error"]
    r = cli(["--demo", "tree", "group:999"])
    assert r.code == 3 and "no IOMMU group 999" in r.err


def test_group_target(cli):
    """group:N draws the reset of every function of the group."""
    d = cli(["--demo", "tree", "group:44", "--json"]).json()
    assert [p["target"] for p in d["resets"]] == ["0000:82:00.0", "0000:82:00.1"]


# -- output decisions ---------------------------------------------------------

class _Stream(io.StringIO):
    def __init__(self, encoding=None, tty=False):
        super().__init__()
        self._enc, self._tty = encoding, tty

    @property
    def encoding(self):
        return self._enc

    def isatty(self):
        return self._tty


@pytest.mark.parametrize("env,enc,ascii_only,expect", [
    ({"LANG": "en_US.UTF-8"}, "utf-8", False, True),
    ({"LANG": "C.utf8"}, None, False, True),
    ({"LANG": "C"}, "utf-8", False, False),            # Python coerces C to UTF-8; the tty is not
    ({"LANG": "C", "LC_CTYPE": "C.UTF-8"}, "utf-8", False, False),  # ... by setting LC_CTYPE
    ({"LC_CTYPE": "C.UTF-8"}, "utf-8", False, False),  # no locale at all: coerced too
    ({"LANG": "en_US.UTF-8", "LC_CTYPE": "C.UTF-8"}, "utf-8", False, True),
    ({"LANG": "POSIX"}, None, False, False),
    ({"LANG": "en_US.UTF-8", "LC_ALL": "C"}, "utf-8", False, False),
    ({"LANG": "C", "LC_CTYPE": "de_DE.UTF-8"}, "utf-8", False, True),
    ({"LANG": "de_DE.ISO-8859-1"}, "iso8859-1", False, False),
    ({}, "utf-8", False, True),
    ({}, "ANSI_X3.4-1968", False, False),              # the stream cannot encode it
    ({"LANG": "en_US.UTF-8"}, "ascii", False, False),
    ({"LANG": "en_US.UTF-8"}, "utf-8", True, False),  # --ascii
])
def test_use_unicode(env, enc, ascii_only, expect):
    from vfioctl.present.tree import use_unicode
    assert use_unicode(_Stream(enc), env, ascii_only=ascii_only) is expect


def test_colour_as_every_command_has_it(cli, monkeypatch):
    """The global --format decides, as for every command: the table canvas
    colours on a terminal (or with FORCE_COLOR), never colours under NO_COLOR;
    the plain canvas never does.  Colour changes no character of the text."""
    monkeypatch.setenv("COLUMNS", "120")
    plain = cli(["--demo", "--format", "plain", "tree", "0000:82:00.0"]).out
    monkeypatch.delenv("NO_COLOR")
    assert "\x1b[" not in cli(["--demo", "--format", "table", "tree", "0000:82:00.0"]).out
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = cli(["--demo", "--format", "table", "tree", "0000:82:00.0"]).out
    assert "\x1b[1;31m" in coloured          # the blocking function in bold red
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain
    assert "\x1b[" not in cli(["--demo", "--format", "plain", "tree", "0000:82:00.0"]).out
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[3" not in cli(["--demo", "--format", "table", "tree", "0000:82:00.0"]).out


def test_text_is_the_same_on_both_canvases(cli):
    """render_tree draws the same characters on the plain and the table canvas."""
    from vfioctl.present.output import PlainCanvas, RichCanvas
    from vfioctl.present.tree import render_text, render_tree
    d = cli(["--demo", "tree", "0000:03:00.0", "0000:82:00.0", "--json"]).json()
    want = render_text(d, width=100, unicode=True)
    for canvas in (PlainCanvas, RichCanvas):
        buf = _Stream("utf-8")
        render_tree(d, canvas(buf, width=100))
        assert buf.getvalue() == want, canvas
    buf = _Stream("utf-8")
    render_tree(d, PlainCanvas(buf, width=100), ascii_only=True)
    assert buf.getvalue() == render_text(d, width=100, unicode=False)


def test_width_decision(cli, monkeypatch):
    """The canvas's width: COLUMNS; no limit in a pipe without it."""
    from vfioctl.present.tree import render_text
    d = cli(["--demo", "tree", "--json"]).json()
    monkeypatch.delenv("COLUMNS", raising=False)
    out = cli(["--demo", "tree"]).out
    assert out == render_text(d, width=None) and max(map(len, out.splitlines())) > 100
    monkeypatch.setenv("COLUMNS", "60")
    assert max(map(len, cli(["--demo", "tree"]).out.splitlines())) <= 60


def test_names_shortened_before_anything_else():
    from vfioctl.present.tree import ellipsize
    assert ellipsize("GA102 High Definition Audio Controller", 20, "…") == "GA102 High Definiti…"
    assert ellipsize("short", 20, "…") == "short"


def test_non_ascii_names_in_ascii_mode(cli, build, monkeypatch):
    """A name from the udev database/pci.ids with non-ASCII letters stays ASCII."""
    from vfioctl.present.tree import render_text
    d = cli(["--demo", "tree", "0000:82:00.0", "--json"]).json()
    n = _by_name(d)["0000:82:00.0"]
    n["function"]["device_name"] = "Größe™ GPU"
    out = render_text(d, width=80, unicode=False)
    assert out.isascii() and "Gr??e? GPU" in out


def test_c_locale_draws_ascii_in_a_real_process():
    """LANG=C in a real interpreter: Python coerces the locale to C.UTF-8
    (PEP 538) and its stdout accepts UTF-8, but the terminal was told C."""
    import os
    import sys
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.update(LANG="C", NO_COLOR="1", COLUMNS="60")
    p = subprocess.run([sys.executable, "-m", "vfioctl", "--demo", "tree", "0000:82:00.0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.isascii() and "`-- 0000:82:00.1" in p.stdout
    env["LANG"] = "C.UTF-8"
    p = subprocess.run([sys.executable, "-m", "vfioctl", "--demo", "tree", "0000:82:00.0"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert "└── 0000:82:00.1" in p.stdout


def test_ops_returns_data_from_a_host_built_by_hand():
    """The operation is pure over the model: a hand-built host, no sysfs; a
    PF/VF link loop (impossible in sysfs, possible in a hostile tree) places
    each function once instead of recursing forever."""
    from vfioctl.model.address import PciAddress as A
    from vfioctl.model.host import Host, PciFunction
    from vfioctl.ops.tree import build_tree
    rp = PciFunction(A.parse("0000:00:01.0"), "devices/pci0000:00/0000:00:01.0",
                     root_bus="pci0000:00", header_type=1, secondary_bus=1,
                     driver="pcieport")
    a = PciFunction(A.parse("0000:01:00.0"), "devices/pci0000:00/0000:00:01.0/0000:01:00.0",
                    parent=rp.address, physfn=A.parse("0000:01:00.1"),
                    virtfns=(A.parse("0000:01:00.1"),))
    b = PciFunction(A.parse("0000:01:00.1"), "devices/pci0000:00/0000:00:01.0/0000:01:00.1",
                    parent=rp.address, physfn=a.address, virtfns=(a.address,))
    host = Host(root="/nowhere", functions={f.address: f for f in (rp, a, b)})
    t = build_tree(host, [a])
    names = [n.name for r in t.roots for n in _walk(r)]
    assert names == ["pci0000:00", "0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]
    assert t.plans[0].target is a
    t = build_tree(host, driver="none", classes=None)     # a filter: paths still found
    assert [n.name for r in t.roots for n in _walk(r)] == names
    assert t.roots[0].children[0].role == "bridge"   # config space not read: cannot tell


def _walk(n):
    yield n
    for c in n.children:
        yield from _walk(c)


def test_roles_without_config_space_match_the_real_kernel(cli, recorded):
    """Not root: config space reads stop at 64 bytes and the PCIe port type is
    unknown.  Over the recorded real-kernel tree cut down so, every pcieport
    bridge gets the role its full config space gives; nothing else is guessed."""
    import os
    root = recorded("qemu-q35-intel-iommu")
    full = _by_name(cli(["--root", root, "tree", "--json"]).json())
    cut = 0
    for dirpath, _, files in os.walk(os.path.join(root, "sys", "devices")):
        if "config" in files:
            p = os.path.join(dirpath, "config")
            with open(p, "r+b") as f:
                f.truncate(64)
            cut += 1
    assert cut >= 20
    short = _by_name(cli(["--root", root, "tree", "--json"]).json())
    assert set(short) == set(full)
    ports = [k for k, n in full.items() if n["function"] and n["function"]["driver"] == "pcieport"]
    assert len(ports) >= 8
    for k in ports:
        assert short[k]["role"] == full[k]["role"], k
    assert {full[k]["role"] for k in ports} == {
        "root-port", "switch-upstream-port", "switch-downstream-port"}
    # what cannot be told stays unknown: endpoints and the unbound PCIe-to-PCI bridge
    assert full["0000:03:00.0"]["role"] == "pcie-to-pci-bridge"
    assert short["0000:03:00.0"]["role"] == "bridge"
    assert {short[k]["role"] for k in short if short[k]["function"]
            and not short[k]["function"]["driver"] == "pcieport"} <= {
        "host-bridge", "bridge", "function", "vf"}


def test_readme_text_example_is_fresh(cli, monkeypatch):
    """The README's tree example is the tool's output (80 columns, the demo's names)."""
    from tests.conftest import ROOT
    monkeypatch.delenv("VFIOCTL_PCI_IDS")
    monkeypatch.setenv("COLUMNS", "80")
    out = cli(["--demo", "tree", "0000:82:00.0"]).out
    readme = (ROOT / "README.md").read_text()
    head = "$ vfioctl --demo tree 0000:82:00.0          # an 80-column terminal\n"
    assert head in readme
    block = readme.split(head, 1)[1].split("```", 1)[0]
    assert block == out, "README.md's tree example is stale: paste the tool's output"


def test_hostile_text_is_escaped_in_text_and_dot(cli):
    """A device name or process name with terminal escapes, a newline or a bidi
    override is shown escaped (the JSON keeps it exact); the DOT still renders."""
    from vfioctl.present.tree import render_dot, render_text
    d = cli(["--demo", "tree", "0000:03:00.0", "--json"]).json()
    n = _by_name(d)["0000:03:00.0"]
    n["function"]["device_name"] = "GPU\x1b]0;pwned\x07\x1b[2J\u202egnp.exe"
    n["function"]["holders"][0]["comm"] = 'qemu"\nrm -rf'
    d["resets"][0]["verdicts"]["group"]["reasons"][0]["message"] += "\x1b[31m\r"
    for unicode in (True, False):
        out = render_text(d, width=100, unicode=unicode)
        assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
        assert "\r" not in out
        assert "GPU\\x1b]0;pwned\\x07\\x1b[2J" in out and 'qemu"\\x0arm -rf' in out
    dot = render_dot(d)
    assert "\x1b" not in dot and "\u202e" not in dot
    svg = _renders(dot)
    assert "pwned" in svg


def test_tree_marks_vfs_the_kernel_does_not_list(cli, recorded):
    """Recorded on 6.12 + QEMU igb: a slot reset of PF 01:00.0 resets its VFs
    01:10.0/.2 (their command registers drop), yet the kernel's INFO lists only
    the PF.  The tree marks both VFs as hit (never as blocking: the kernel does
    not check them) and names the one another process holds."""
    root = recorded("qemu-q35-sriov-vfio")
    d = cli(["--root", root, "tree", "0000:01:00.0", "--json"]).json()
    marks = {}

    def walk(n):
        if n["function"]:
            marks[n["function"]["address"]] = n["marks"]
        for c in n["children"]:
            walk(c)
    for r in d["roots"]:
        walk(r)
    for vf in ("0000:01:10.0", "0000:01:10.2"):
        (m,) = marks[vf]
        assert m["hit"] and m["also_reset"] and not m["blocks"], m
    assert [h["comm"] for h in marks["0000:01:10.0"][0]["held_by"]] == ["qemu-vf-guest"]
    assert marks["0000:01:10.2"][0]["held_by"] == []
    # the kernel's own scope is untouched: the PF alone, as INFO says
    assert [a["address"] for a in d["resets"][0]["affected"]] == ["0000:01:00.0"]
    assert not any(m["also_reset"] for m in marks["0000:01:00.0"])
    out = cli(["--root", root, "tree", "0000:01:00.0"]).out
    assert "✗ hit too, held" in out and "● hit too" in out
    assert "also hits 2 VF(s) the kernel does not list: 0000:01:10.0, 0000:01:10.2" in out


# -- the tree's slots are the planner's (model.topology.slot_of) -----------------

def _slot_disagreements(d, listing):
    """Functions drawn in another slot than ``slot_of`` gives them (the ``slot``
    of list --json).  A VF drawn below its PF is not asked: it hangs where its
    PF is (on 6.12 a VF at device 0x10 is in no slot, though its PF is)."""
    slot_of = {f["address"]: f["slot"] for f in listing["functions"]}
    bad = []

    def walk(n, slot, below_pf=False):
        if n["type"] == "slot":
            slot = n["hotplug_slot"]["name"]
        if n["type"] == "function":
            a = n["name"]
            if not below_pf and slot != slot_of[a]:
                bad.append((a, slot, slot_of[a]))
            for c in n["children"]:
                walk(c, None, (c["function"] or {}).get("physfn") == a)
            return
        for c in n["children"]:
            walk(c, slot)
    for r in d["roots"]:
        walk(r, None)
    return bad


def _without_pf(root: str, pf: str) -> str:
    """The recorded tree with PF ``pf`` gone (unreadable, or removed while the
    snapshot was taken): its VFs have no PF to be drawn below."""
    import os
    link = os.path.join(root, "sys/bus/pci/devices", pf)
    target = os.path.realpath(link)
    assert target.startswith(os.path.join(root, "sys/devices/")), target
    os.unlink(link)
    shutil.rmtree(target)
    return root


@pytest.mark.parametrize("pf_gone", [False, True], ids=["pf", "pf-gone"])
def test_bus_wide_slot_holds_the_vfs_on_its_bus(cli, recorded, monkeypatch, pf_gone):
    """Recorded on 7.3.4 (bus-wide pciehp slots): VFs 01:10.0/.2 are in slot 1
    of their bus, and a reset of VF 01:10.0 is a slot reset of slot 1.  The tree
    draws them in that slot, with the slot's reset mark, also when their PF is
    not there to draw them below (the tree once asked for the slot of device
    0x10 and drew the VFs beside the slot, the reset point missing)."""
    root = recorded("qemu-q35-sriov-newer")
    if pf_gone:
        _without_pf(root, "0000:01:00.0")
    listing = cli(["--root", root, "list", "--json"]).json()
    assert {f["address"]: f["slot"] for f in listing["functions"]
            if f["address"].startswith("0000:01:")} == (
        {"0000:01:10.0": "1", "0000:01:10.2": "1"} | ({} if pf_gone else {"0000:01:00.0": "1"}))
    r = cli(["--root", root, "tree", "0000:01:10.0", "--json"])
    assert r.code == 0, r.err
    d = r.json()
    assert d["resets"][0]["kind"] == "slot" and d["resets"][0]["slot"] == "1"
    assert _slot_disagreements(d, listing) == []
    nodes = _by_name(d)
    slot = nodes["1"]
    assert slot["type"] == "slot"
    assert [m["reset_point"] for m in slot["marks"]] == ["slot"]
    inside = {n["name"] for n in _nodes(slot) if n["type"] == "function"}
    assert {"0000:01:10.0", "0000:01:10.2"} <= inside
    # the root port is not the reset point
    assert not any(m["reset_point"] for m in nodes["0000:00:02.0"]["marks"])

    monkeypatch.setenv("COLUMNS", "120")
    out = cli(["--root", root, "--format", "plain", "tree", "0000:01:10.0"]).out
    lines = out.splitlines()
    (s,) = [i for i, ln in enumerate(lines) if "slot 1 " in ln]
    assert "SLOT RESET" in lines[s]
    col = lines[s].index("slot 1")
    for vf in ("0000:01:10.0", "0000:01:10.2"):
        (i,) = [i for i, ln in enumerate(lines) if vf + "  VF" in ln]
        # below the slot line, deeper than it, nothing shallower in between
        assert i > s and lines[i].index(vf) > col
        assert all(len(ln) - len(ln.lstrip("│├└─ ")) > col for ln in lines[s + 1:i]), out


@pytest.mark.parametrize("pf_gone", [False, True], ids=["pf", "pf-gone"])
def test_per_device_slots_on_older_kernels_draw_as_before(cli, recorded, pf_gone):
    """The same topology recorded on 6.12 (per-device slots): VFs at device 0x10
    are not in slot 1 (a reset of VF 01:10.0 is a bus reset at the root port).
    With their PF they are drawn below it, in its slot, as always; without it,
    beside the slot, which then holds nothing and is not drawn."""
    if True:
        root = recorded("qemu-q35-sriov-vfio")
        if pf_gone:
            _without_pf(root, "0000:01:00.0")
        listing = cli(["--root", root, "list", "--json"]).json()
        d = cli(["--root", root, "tree", "0000:01:10.0", "--json"]).json()
        assert d["resets"][0]["kind"] == "bus"
        nodes = _by_name(d)
        assert [m["reset_point"] for m in nodes["0000:00:02.0"]["marks"]] == ["bus"]
        port = [c["name"] for c in nodes["0000:00:02.0"]["children"]]
        if pf_gone:
            assert port == ["0000:01:10.0", "0000:01:10.2"] and "1" not in nodes
            assert _slot_disagreements(d, listing) == []
        else:
            assert port == ["1"]
            assert [c["name"] for c in nodes["0000:01:00.0"]["children"]] == [
                "0000:01:10.0", "0000:01:10.2"]
