"""vfioctl(8) and vfioctl-json(5): fresh, complete, and clean under groff.

Needs groff (Debian package groff-base).  The JSON test runs every command
with --json over the demo host and the scenario trees and checks that each
key that comes out, with the JSON type of its value, is documented.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from vfioctl.buildtools import manpage
from vfioctl.testing import scenarios

from conftest import run

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man"
PAGES = ("vfioctl.8", "vfioctl-json.5")
ADDRESS = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


def _plain(roff: str) -> str:
    """The roff source with font escapes and minus signs made plain."""
    t = re.sub(r"\\f[BIRP]", "", roff)
    return t.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")


def _section(roff: str, title: str) -> str:
    m = re.search(rf"^\.SH {re.escape(title)}\n(.*?)(?=^\.SH |\Z)", roff, re.S | re.M)
    assert m, f"no section {title}"
    return m.group(1)


def _subsection(roff: str, title: str) -> str:
    m = re.search(rf'^\.SS "?{re.escape(title)}"?\n(.*?)(?=^\.S[SH] |\Z)', roff, re.S | re.M)
    assert m, f"no subsection {title}"
    return m.group(1)


# ---------------------------------------------------------------------------
# the pages

@pytest.mark.parametrize("page", PAGES)
def test_committed_page_is_fresh(page):
    assert (MAN / page).read_text() == manpage.generate(page), (
        f"man/{page} is stale: run python -m vfioctl.buildtools man man")


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_without_warnings(page):
    groff = shutil.which("groff")
    if not groff:
        pytest.fail("groff is not installed (Debian package groff-base)")
    p = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", str(MAN / page)],
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    p = subprocess.run([groff, "-man", "-Tutf8", "-ww", str(MAN / page)],
                       capture_output=True, text=True, env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert p.stderr == "" and len(p.stdout) > 2000
    # no request leaked into the text
    assert not re.search(r"^\s*\.[A-Z]{2}\b", p.stdout, re.M), "a roff request was printed"


def test_man_lint_if_available():
    man = shutil.which("man")
    if not man:
        pytest.skip("man-db not installed; groff is checked above")
    for page in PAGES:
        p = subprocess.run([man, "--warnings", "-l", str(MAN / page)], capture_output=True,
                           text=True, env={**os.environ, "MANPAGER": "cat", "PAGER": "cat",
                                           "MANWIDTH": "80"})
        assert p.returncode == 0 and p.stderr == "", p.stderr


def test_every_command_and_option_is_documented():
    from test_completions import app_surface
    roff = (MAN / "vfioctl.8").read_text()
    synopsis = _plain(_section(roff, "SYNOPSIS"))
    glob = _plain(_section(roff, "GLOBAL OPTIONS"))
    for cmd, opts in app_surface().items():
        if not cmd:
            for o in opts:
                assert re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", glob), o
            continue
        assert f"vfioctl {cmd}" in synopsis, cmd
        sect = _plain(_subsection(roff, f"vfioctl {cmd}"))
        for o in opts:
            assert re.search(rf"^(?:.*, )?{re.escape(o)}(?![\w-])", sect, re.M), (
                f"vfioctl {cmd} {o} is not documented")


def test_every_argument_and_help_text_is_documented():
    import typer
    from typer._click import Context
    from vfioctl.cli.app import app
    roff = _plain((MAN / "vfioctl.8").read_text())
    top = typer.main.get_command(app)
    ctx = Context(top, info_name="vfioctl", **top.context_settings)
    for name in top.list_commands(ctx):
        sub = top.commands[name]
        sctx = Context(sub, parent=ctx, info_name=name, **sub.context_settings)
        for p in sub.get_params(sctx):
            if p.help and not getattr(p, "hidden", False):
                words = " ".join(p.help.split())[:40]
                assert words in " ".join(roff.split()), (name, p.name)
            if type(p).__name__.endswith("Argument"):
                meta = p.metavar.strip("[]").replace("...", "")
                assert meta in roff


def test_every_exit_code_is_documented():
    from vfioctl.errors import EXIT_CODES
    sect = _section((MAN / "vfioctl.8").read_text(), "EXIT STATUS")
    for code in EXIT_CODES:
        assert re.search(rf"^\.TP\n\\fB{code}\\fR$", sect, re.M), code


def test_required_sections():
    roff = (MAN / "vfioctl.8").read_text()
    assert re.search(r"^\.TH VFIOCTL 8 ", roff, re.M)
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "GLOBAL OPTIONS", "COMMANDS", "EXIT STATUS",
              "ENVIRONMENT", "FILES", "SIDE EFFECTS", "SAFETY", "EXAMPLES", "SEE ALSO"):
        _section(roff, s)
    env = _plain(_section(roff, "ENVIRONMENT"))
    for v in ("VFIOCTL_ROOT", "NO_COLOR", "VFIOCTL_BACKEND", "VFIOCTL_PCI_IDS",
              "VFIOCTL_SIM_FAULTS", "COLUMNS"):
        assert v in env
    files = _plain(_section(roff, "FILES"))
    from vfioctl.sysfs import names, root
    for mod in (root, names):
        for k, v in vars(mod).items():
            if k.isupper() and not k.startswith("_"):
                for x in (v if isinstance(v, tuple) else (v,)):
                    if isinstance(x, str):
                        assert "/" + x in files, k
                        assert manpage.PATH_TEXT.get(k), f"describe {k} in manpage.PATH_TEXT"
    for p in ("/dev/vfio/N", "/dev/vfio/noiommu-N", "/dev/vfio/devices/vfioX", "/dev/iommu",
              "/proc/*/fd", "/run/udev/data", "pci.ids"):
        assert p in files, p
    see = _plain(_section(roff, "SEE ALSO"))
    for ref in ("vfioctl-json (5)", "lspci (8)", "driverctl (8)", "virsh (1)"):
        assert ref in see
    side = _plain(_section(roff, "SIDE EFFECTS"))
    assert "function reset" in side and "bus reset" in side and "--dry-run opens nothing" in side
    safety = _plain(_section(roff, "SAFETY"))
    assert "--yes" in safety and "--json" in safety and "full set" in safety


def test_examples_are_valid_command_lines():
    """Each example parses: options exist (checked by appending --help)."""
    for _, cmd in manpage.EXAMPLES:
        argv = shlex.split(cmd.split("|")[0])
        assert argv[0] == "vfioctl"
        r = run(argv[1:] + ["--help"])
        assert r.code == 0 and "error" not in r.err, (cmd, r.err)


def test_json_page_structure():
    roff = (MAN / "vfioctl-json.5").read_text()
    assert re.search(r"^\.TH VFIOCTL-JSON 5 ", roff, re.M)
    from vfioctl import JSON_SCHEMA
    assert JSON_SCHEMA in _plain(roff)
    versioning = _plain(_section(roff, "VERSIONING"))
    assert "added" in versioning and "renamed" in versioning and "bumps" in versioning
    docs = _plain(_section(roff, "DOCUMENTS"))
    for name in manpage.DOCUMENTS:
        assert re.search(rf'^\.SS "?{re.escape(name)}"?$', _section(roff, "DOCUMENTS"), re.M)
    for name, fields in manpage.OBJECTS.items():
        sect = _plain(_subsection(roff, name))
        for path, _, _ in fields:
            assert re.search(rf"^{re.escape(path)} \(", sect, re.M), (name, path)
    for name, (_, fields) in manpage.DOCUMENTS.items():
        for path, _, _ in fields:
            assert path in docs


def test_every_json_command_has_a_document_type():
    from test_completions import app_surface
    for cmd, opts in app_surface().items():
        if cmd and "--json" in opts:
            assert cmd in manpage.DOCUMENTS, f"document {cmd} --json in manpage.DOCUMENTS"


# ---------------------------------------------------------------------------
# every key printed with --json is documented

def _kind(d: dict) -> str:
    """The document type: "error" for a bare error document; a command's own
    document keeps its type when it carries an error beside its results."""
    return "error" if set(d) == {"schema", "command", "error"} else d["command"]


def _flatten(v, path: str, acc: dict[str, set[str]]) -> None:
    t = {type(None): "null", str: "string", bool: "boolean", int: "integer", float: "number",
         list: "array", dict: "object"}[type(v)]
    acc.setdefault(path, set()).add(t)
    if isinstance(v, dict):
        for k, x in v.items():
            key = "<address>" if ADDRESS.match(k) else k
            _flatten(x, f"{path}.{key}" if path else key, acc)
    elif isinstance(v, list):
        for x in v:
            _flatten(x, path + "[]", acc)


def _commands_for(root_args: list[str], listing: dict, mutate: bool) -> list[list[str]]:
    """Read-only: every function.  Mutating: the first function and the first vfio-bound
    one, in every access mode where the mode changes the document."""
    fns = [f["address"] for f in listing["functions"]]
    vfio = [f["address"] for f in listing["functions"] if f["vfio"]["bound"]]
    cmds = [["list"], ["list", "--vfio"], ["groups"], ["show", "0000:ff:1f.7"],
            ["groups", "999"], ["check"], ["show", "not-an-address"], ["doctor"]]
    if vfio:
        cmds += [["check", *vfio], ["tree", vfio[0]], ["tree", "--vfio", *vfio]]
    cmds.append(["tree"])
    if not mutate:
        for a in fns:
            cmds += [["show", a], ["reset-info", a]]
        return [root_args + c + ["--json"] for c in cmds]
    for a in dict.fromkeys(fns[:1] + vfio[:1]):
        cmds += [["show", a], ["reset-info", a], ["check", a, "--group"],
                 ["reset-info", a, "--kernel", "--dry-run"],
                 ["hot-reset", a, "--dry-run"], ["reset", a, "--dry-run"],
                 ["reset", a, "--yes"]]
        for m in (["--group"], ["--iommufd"]):
            cmds += [["reset-info", a, "--kernel", "--yes", *m], ["hot-reset", a, "--yes", *m]]
    if vfio:
        cmds += [["hot-reset", vfio[0]], ["reset", vfio[0]]]  # not confirmed: refused
    return [root_args + c + ["--json"] for c in cmds]


@pytest.fixture(scope="module")
def json_documents(tmp_path_factory):
    """(argv, document) for every command run; read-only over --demo, mutating over
    private scenario trees (the simulator writes its journal into the tree)."""
    base = tmp_path_factory.mktemp("jsondocs")
    mp = pytest.MonkeyPatch()
    for k in [k for k in os.environ if k.startswith("VFIOCTL_")]:
        mp.delenv(k)
    mp.setenv("VFIOCTL_PCI_IDS", "none")
    mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
    docs = []
    try:
        def collect(argvs, env=None):
            for argv in argvs:
                for e in (env or [{}]):
                    for k, v in e.items():
                        mp.setenv(k, v)
                    r = run(argv)
                    for k in e:
                        mp.delenv(k)
                    assert r.out.strip(), (argv, r.code, r.err)
                    docs.append((argv, json.loads(r.out)))

        demo_list = run(["--demo", "list", "--json"]).json()
        collect(_commands_for(["--demo"], demo_list, mutate=False))
        faults = {"VFIOCTL_SIM_FAULTS": "VFIO_DEVICE_PCI_HOT_RESET=EIO,"
                                        "VFIO_DEVICE_RESET=EAGAIN,"
                                        "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO=EPERM"}
        for name in sorted(scenarios.SCENARIOS):
            root = scenarios.build(name, str(base / name))
            listing = run(["--root", root, "list", "--json"]).json()
            cmds = _commands_for(["--root", root], listing, mutate=True)
            collect(cmds)
            vfio = [f["address"] for f in listing["functions"] if f["vfio"]["bound"]]
            if vfio:  # the kernel failing half-way
                collect([["--root", root, "hot-reset", vfio[0], "--yes", "--json"],
                         ["--root", root, "reset", vfio[0], "--yes", "--json"],
                         ["--root", root, "reset-info", vfio[0], "--kernel", "--yes",
                          "--json"]], [faults])
        # bind / unbind: plan, done, guard refusal, rollback, held unbind, persistence
        bh = str(base / "bind-host")
        collect([["--root", bh] + c + ["--json"] for c in (
            ["bind", "0000:02:00.0", "--scope", "--dry-run"],
            ["bind", "0000:02:00.0", "--scope", "--yes", "--persist"],
            ["bind", "0000:02:00.0", "--yes"],
            ["bind", "0000:01:00.0", "--yes"],
            ["bind", "0000:05:00.0", "--yes", "--force"],
            ["bind", "0000:06:00.0", "--driver", "auto"],
            ["unbind", "0000:02:00.0", "--yes", "--persist"],
            ["unbind", "0000:07:00.0", "--yes"],
            ["unbind", "0000:07:00.0", "--yes", "--force", "--timeout", "0.2"],
            ["unbind", "0000:03:00.0", "--dry-run"])])
        # an SR-IOV PF whose VF is in use, opened with its VF token (legacy path)
        sv = scenarios.build("sriov-slot", str(base / "sriov-token"))
        from vfioctl.kernel.sim import SimKernel
        from vfioctl.model.address import PciAddress
        tok = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        SimKernel(sv).vf_tokens.set(PciAddress.parse("0000:01:00.0"), tok)
        collect([["--root", sv, "hot-reset", "0000:01:00.0", "--legacy", "--vf-token", tok,
                  "--yes", "--json"],
                 ["--root", sv, "reset", "0000:01:10.2", "--legacy", "--vf-token", tok,
                  "--yes", "--json"]])
        # a multi-target hot reset whose second target fails: partly done
        demo = scenarios.build("demo", str(base / "demo-partial"))
        collect([["--root", demo, "hot-reset", "81:00.0", "04:00.0", "--yes", "--json"]],
                [{"VFIOCTL_SIM_FAULTS": "VFIO_DEVICE_PCI_HOT_RESET@0000:04:00.0=EIO"}])
        # snapshot: a directory, a tarball and a umockdev import
        dual = str(base / "dual-function")
        gpu = scenarios.build("gpu-audio-host-driver", str(base / "hook-gpu"))
        for extra in ("", "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
                          "<address domain='0' bus='1' slot='0' function='1'/></source></hostdev>"):
            xml = ("<domain><name>t</name><metadata><r:reset xmlns:r='urn:vfioctl:libvirt:1' "
                   "require='yes'/></metadata><devices><hostdev mode='subsystem' type='pci' "
                   "managed='yes'><source><address domain='0' bus='1' slot='0' function='0'/>"
                   f"</source></hostdev>{extra}</devices></domain>")
            r = run(["--root", gpu, "libvirt-hook", "t", "prepare", "begin", "-", "--json"],
                    stdin=xml)
            docs.append((["libvirt-hook"], json.loads(r.out)))
        collect([["--root", gpu, "libvirt-hook", "t", "started", "begin", "-", "--json"]])
        (base / "textfile").mkdir()
        collect([["--root", dual, "export", "--prometheus", str(base / "textfile" / "v.prom"),
                  "--nfd", str(base / "textfile" / "vfioctl"), "--json"]])
        collect([["--root", dual, "snapshot", str(base / "snap-dir"), "--json"],
                 ["--root", dual, "snapshot", str(base / "snap.tar.gz"), "--json"]])
        um = base / "rec.umockdev"
        um.write_text("P: /devices/pci0000:00/0000:00:02.0\nE: SUBSYSTEM=pci\n"
                      "E: PCI_SLOT_NAME=0000:00:02.0\nA: vendor=0x8086\nA: device=0x1234\n"
                      "A: class=0x030000\n\n")
        collect([["snapshot", str(base / "snap-um"), "--from-umockdev", str(um), "--json"]])
        # watch: JSON lines from an injected event source
        import io
        from vfioctl.ops.watch import Event, run as watch_run
        from vfioctl.present.output import Output
        from vfioctl.present.watch import emitter
        from vfioctl.sysfs.root import Root
        buf = io.StringIO()
        dev = "/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0"
        watch_run([Event("bind", "pci", dev, {"DRIVER": "vfio-pci",
                                              "PCI_SLOT_NAME": "0000:81:00.0", "SEQNUM": "7"}),
                   Event("add", "vfio-dev", dev + "/vfio-dev/vfio0",
                         {"DEVNAME": "/dev/vfio/devices/vfio0"})],
                  Root(dual), emitter(Output(json_mode=True, stdout=buf)))
        for line in buf.getvalue().splitlines():
            docs.append((["watch", "--json"], json.loads(line)))
        collect([["--root", str(base / "missing"), "list", "--json"],
                 ["--backend", "nope", "--root", str(base / "demo"), "reset",
                  "0000:81:00.0", "--yes", "--json"],
                 ["list", "--bogus", "--json"]])
    finally:
        mp.undo()
    return docs


def test_json_runs_cover_every_document_type(json_documents):
    seen = {(_kind(d)) for _, d in json_documents}
    assert seen == set(manpage.DOCUMENTS), set(manpage.DOCUMENTS) ^ seen
    kernel = [d for _, d in json_documents if d.get("command") == "reset-info" and "kernel" in d]
    assert kernel and any(d["kernel"].get("devices") for d in kernel)
    assert any("predicted_info" in d for _, d in json_documents)


def test_every_json_key_is_documented(json_documents):
    from vfioctl import JSON_SCHEMA
    undocumented, wrong_type = set(), set()
    for argv, d in json_documents:
        assert d["schema"] == JSON_SCHEMA
        kind = _kind(d)
        documented = manpage.documented_paths(kind)
        seen: dict[str, set[str]] = {}
        _flatten(d, "", seen)
        for path, types in seen.items():
            if path not in documented:
                undocumented.add(f"{kind}: {path}")
            elif not types <= documented[path]:
                wrong_type.add(f"{kind}: {path} is {sorted(types)}, documented as "
                               f"{sorted(documented[path])}")
    assert not undocumented, "add to manpage.DOCUMENTS/OBJECTS: " + ", ".join(sorted(undocumented))
    assert not wrong_type, "; ".join(sorted(wrong_type))


#: documented fields the runs above never print (why), so that a field that
#: disappears from the output is noticed: (object or document, field).
NOT_OBSERVED = {
    ("ERROR", "problems"): "verification failure after a reset (not simulated)",
    ("reset", "error"): "verification failure after a reset (not simulated)",
    ("ERROR", "missing"): "VFIO nodes not appearing after a bind (the simulator creates "
                          "them at once)",
}


def test_documented_fields_are_printed(json_documents):
    """Every field of every documented object/document appears in some output."""
    owners: dict[str, list[tuple[str, str]]] = {}
    for kind in manpage.DOCUMENTS:
        for path, owner in manpage.path_owners(kind).items():
            owners.setdefault(f"{kind}:{path}", []).append(owner)
    seen_fields: set[tuple[str, str]] = set()
    for _, d in json_documents:
        kind = _kind(d)
        acc: dict[str, set[str]] = {}
        _flatten(d, "", acc)
        for path in acc:
            seen_fields.update(owners.get(f"{kind}:{path}", ()))
    every = {(name, f) for name, fields in manpage.OBJECTS.items() for f, _, _ in fields}
    every |= {(name, f) for name, (_, fields) in manpage.DOCUMENTS.items() for f, _, _ in fields}
    missing = every - seen_fields - set(NOT_OBSERVED)
    stale = set(NOT_OBSERVED) & seen_fields
    assert not stale, f"now printed, remove from NOT_OBSERVED: {sorted(stale)}"
    assert not missing, "documented but never printed: " + ", ".join(
        f"{o}.{f}" for o, f in sorted(missing))


def test_function_objects_match_the_page(json_documents):
    """list prints the FUNCTION fields not marked "show only"; show prints them all.
    A field leaving one of them within schema vfioctl/1 breaks the versioning rule."""
    fields = manpage.OBJECTS["FUNCTION"]
    full = {f for f, _, _ in fields if "." not in f}
    brief = {f for f, _, text in fields if "." not in f and not text.startswith("show only")}
    for argv, d in json_documents:
        if "error" in d:
            continue
        if d.get("command") == "list":
            for fn in d["functions"]:
                assert set(fn) == brief, (argv, sorted(brief ^ set(fn)))
        elif d.get("command") == "show" and "function" in d:
            assert set(d["function"]) == full, (argv, sorted(full ^ set(d["function"])))
