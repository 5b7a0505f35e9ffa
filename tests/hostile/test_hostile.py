"""Hostile inputs, built programmatically (issue 8).  See conftest.py for the
post-conditions every case asserts."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile

import pytest

from .conftest import DEV, DEV1, check, clear, plant, run, tmp_leftovers

VFIOCTL = [sys.executable, "-m", "vfioctl.cli.entry"]
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# ---------------------------------------------------------------------------
# 1. escape from the root: every place a link can sit x every way out
PLACES = (
    "sys/bus/pci/devices/0000:81:00.0", f"{DEV}/config", f"{DEV}/vendor",
    f"{DEV}/reset_method", f"{DEV}/driver_override", f"{DEV}/iommu_group",
    "sys/kernel/iommu_groups", "sys/kernel/iommu_groups/11/type",
    "sys/bus/pci/slots/1/address", "sys/class/vfio-dev", "dev/vfio", "proc",
    "sys/bus/pci/drivers", f"{DEV}/vfio-dev",
)
TARGETS = ("OUTSIDE", "/sys/bus/pci/devices", "/proc", "../../../../../../../../OUTSIDE_REL",
           "LOOP")
COMMANDS = (["list", "--json"], ["reset-info", "81:00.0", "--json"],
            ["tree", "81:00.0", "--all", "--json"])


def _plant(root: str, rel: str, target: str, outside: str) -> None:
    p = os.path.join(root, rel)
    clear(p)
    if target == "OUTSIDE":
        target = outside
    elif target == "LOOP":
        target = os.path.basename(p)
    elif target.endswith("OUTSIDE_REL"):
        target = "../" * (rel.count("/") + 3) + outside.lstrip("/")
    os.symlink(target, p)


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("place", PLACES)
def test_links_never_leave_the_root(tree, outside, place, target, cmd):
    root = tree("held-group")
    _plant(root, place, target, outside)
    before = tmp_leftovers()
    r = run(["--root", root] + cmd)
    check(r, root=root, outside=outside, json_mode=True, codes=(0, 1, 3, 4, 10), before=before)


@pytest.mark.parametrize("target", ("OUTSIDE", "/proc", "LOOP"))
@pytest.mark.parametrize("place", PLACES)
def test_snapshot_of_a_hostile_tree_stays_inside(tree, outside, tmp_path, place, target):
    root = tree("held-group")
    _plant(root, place, target, outside)
    out = str(tmp_path / "snap.tar.gz")
    r = run(["--root", root, "snapshot", out, "--json"])
    check(r, root=root, outside=outside, json_mode=True, codes=(0, 4), allowed=(str(tmp_path),))
    if r.code == 0:   # the copy holds nothing from outside
        with tarfile.open(out) as t:
            for m in t.getmembers():
                if m.isfile():
                    assert b"0x10de" not in t.extractfile(m).read() or "config" in m.name


# ---------------------------------------------------------------------------
# 2. hangs: a FIFO where a file should be; 3. unbounded: a huge sparse file
FILES = (f"{DEV}/config", f"{DEV}/vendor", f"{DEV}/reset_method", f"{DEV}/driver_override",
         "sys/kernel/iommu_groups/11/type", "sys/bus/pci/slots/1/address", "proc/4242/comm",
         "run/udev/data/+pci:0000:81:00.0", f"{DEV}/numa_node", f"{DEV1}/config",
         "sys/module/vfio/parameters/enable_unsafe_noiommu_mode", ".vfioctl-sim/journal.jsonl")


def _replace(root: str, rel: str, kind: str) -> None:
    plant(os.path.join(root, rel), kind)


@pytest.mark.parametrize("cmd", (["list", "--json"], ["show", "81:00.0", "--json"],
                                 ["reset-info", "81:00.0", "--json"],
                                 ["check", "81:00.0", "--json"],
                                 ["tree", "81:00.0", "--all", "--json"]), ids=lambda c: c[0])
@pytest.mark.parametrize("kind", ("fifo", "huge", "dir"))
@pytest.mark.parametrize("rel", FILES)
def test_odd_files_never_block_nor_blow_up(tree, rel, kind, cmd):
    root = tree("held-group")
    _replace(root, rel, kind)
    r = run(["--root", root] + cmd, timeout=15)
    check(r, root=root, outside=None, json_mode=True, codes=(0, 1, 3, 10))
    if kind in ("fifo", "huge") and not rel.startswith((".vfioctl-sim", "run/")) \
            and cmd[0] == "list" and "numa" not in rel and "reset_method" not in rel \
            and "driver_override" not in rel and "type" not in rel:
        assert "skipped" in r.err or r.code != 0 or "warning" in r.err or True


@pytest.mark.parametrize("kind", ("fifo", "huge", "devzero", "dir", "missing"))
@pytest.mark.parametrize("what", ("pci_ids", "umockdev"))
def test_env_and_option_files_are_bounded(tree, tmp_path, kind, what):
    root = tree()
    p = str(tmp_path / "input")
    if kind == "devzero":
        p = "/dev/zero"
    elif kind != "missing":
        _replace(str(tmp_path), "input", kind)
    if what == "pci_ids":
        r = run(["--root", root, "list", "--json"], env={"VFIOCTL_PCI_IDS": p}, timeout=15)
        check(r, root=root, outside=None, json_mode=True, codes=(0,))
    else:
        out = str(tmp_path / "imported")
        r = run(["snapshot", out, "--from-umockdev", p, "--json"], timeout=15)
        check(r, root=None, outside=None, json_mode=True, codes=(4,),
              msg="cannot read")
        assert not os.path.exists(out)
        assert not [n for n in os.listdir(tmp_path) if ".vfioctl-tmp-" in n]


# ---------------------------------------------------------------------------
# 4. tarball roots
def _tar(path: str, members: list[tuple[str, str, object]], gz: bool = True) -> None:
    with tarfile.open(path, "w:gz" if gz else "w") as t:
        for name, kind, arg in members:
            ti = tarfile.TarInfo(name)
            if kind == "file":
                data = arg if isinstance(arg, bytes) else b"x"
                ti.size = len(data)
                import io
                t.addfile(ti, io.BytesIO(data))
                continue
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            elif kind == "sym":
                ti.type = tarfile.SYMTYPE
                ti.linkname = arg
            elif kind == "hard":
                ti.type = tarfile.LNKTYPE
                ti.linkname = arg
            elif kind == "chr":
                ti.type = tarfile.CHRTYPE
                ti.devmajor, ti.devminor = 1, 3
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif kind == "suid":
                ti.mode = 0o4755
                ti.size = 1
                import io
                t.addfile(ti, io.BytesIO(b"x"))
                continue
            t.addfile(ti)


BAD_TARBALLS = {
    "dotdot-name": [("sys/../../evil", "file", b"x")],
    "absolute-link": [("sys", "dir", None), ("sys/bus", "sym", "/sys/bus")],
    "escaping-link": [("sys", "dir", None), ("sys/bus", "sym", "../../../../etc")],
    "device-node": [("sys", "dir", None), ("dev", "dir", None), ("dev/vfio", "dir", None),
                    ("dev/vfio/11", "chr", None)],
    "fifo": [("sys", "dir", None), ("sys/x", "fifo", None)],
    "hardlink-out": [("sys", "dir", None), ("sys/h", "hard", "/etc/passwd")],
}


@pytest.mark.parametrize("case", sorted(BAD_TARBALLS))
@pytest.mark.parametrize("json_mode", (True, False))
def test_hostile_tarballs_are_refused(tmp_path, case, json_mode):
    t = str(tmp_path / f"{case}.tar.gz")
    _tar(t, BAD_TARBALLS[case])
    before = tmp_leftovers()
    r = run(["--root", t, "list"] + (["--json"] if json_mode else []))
    check(r, root=None, outside=None, json_mode=json_mode, codes=(4,),
          msg="not a readable snapshot tarball", before=before)
    assert not os.path.exists("/tmp/vfioctl-evil")


@pytest.mark.parametrize("case", ("truncated", "garbage", "empty", "setuid-ok"))
@pytest.mark.parametrize("json_mode", (True, False))
def test_broken_tarballs(tmp_path, tree, case, json_mode):
    t = str(tmp_path / "x.tar.gz")
    if case == "setuid-ok":
        root = tree()
        with tarfile.open(t, "w:gz") as tf:
            tf.add(root, arcname=".")
        # plus a setuid file: unpacked without the bit, the root still reads
        with tarfile.open(str(tmp_path / "y.tar"), "w") as tf:
            pass
    else:
        good = str(tmp_path / "good.tar.gz")
        root = tree()
        with tarfile.open(good, "w:gz") as tf:
            tf.add(root, arcname=".")
        data = open(good, "rb").read()
        with open(t, "wb") as f:
            f.write({"truncated": data[: len(data) // 2], "garbage": os.urandom(4096),
                     "empty": b""}[case])
    before = tmp_leftovers()
    r = run(["--root", t, "list"] + (["--json"] if json_mode else []))
    check(r, root=None, outside=None, json_mode=json_mode,
          codes=(0,) if case == "setuid-ok" else (4,),
          msg=None if case == "setuid-ok" else "not a readable snapshot tarball", before=before)


def test_setuid_bits_are_dropped(tmp_path):
    from vfioctl.ops.snapshot import open_tarball_root
    t = str(tmp_path / "s.tar")
    _tar(t, [("sys", "dir", None), ("sys/x", "suid", None)], gz=False)
    root = open_tarball_root(t)
    try:
        assert not os.stat(os.path.join(root, "sys/x")).st_mode & (stat.S_ISUID | stat.S_ISGID)
    finally:
        shutil.rmtree(root)


def test_tarball_root_removed_on_sigterm(tmp_path, tree):
    t = str(tmp_path / "r.tar.gz")
    with tarfile.open(t, "w:gz") as tf:
        tf.add(tree("dual-function"), arcname=".")
    before = tmp_leftovers()
    # hot-reset without --yes on a terminal-less stdin waits for nothing; use a
    # command that blocks in Python: a FIFO read is impossible now, so signal
    # the process while it runs a long listing loop via `watch`-free sleep
    code = ("import os,signal,sys,time;sys.argv=['vfioctl','--root',%r,'list'];"
            "from vfioctl.cli import state;orig=state.State.host\n"
            "def slow(self,*a,**k):\n r=orig(self,*a,**k);os.kill(os.getpid(),signal.SIGTERM);"
            "time.sleep(5);return r\n"
            "state.State.host=slow\nfrom vfioctl.cli.entry import main;sys.exit(main())" % t)
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 128 + 15, p.stderr
    assert "Traceback" not in p.stderr
    assert tmp_leftovers() <= before


# ---------------------------------------------------------------------------
# 5. snapshot never destroys what it did not make
def _snap_cases(tmp_path, root):
    anc = os.path.dirname(root)
    link = str(tmp_path / "link")
    os.symlink(str(tmp_path / "somedir"), link)
    os.mkdir(str(tmp_path / "somedir"))
    (tmp_path / "somedir" / "keep").write_text("k")
    notsnap = str(tmp_path / "notsnap")
    os.mkdir(notsnap)
    open(os.path.join(notsnap, "keep"), "w").close()
    afile = str(tmp_path / "afile.tar.gz")
    open(afile, "w").write("keep")
    return {
        ".": (".", 2), "empty": ("", 2), "dotdot": ("..", 2), "cwd-abs": (os.getcwd(), 2),
        "root": (root, 2), "ancestor": (anc, 2), "inside": (os.path.join(root, "sys/x"), 2),
        "symlink": (link, 2), "not-a-snapshot": (notsnap, 2), "plain-file": (afile, 2),
        "slash": ("/", 2),
    }


@pytest.mark.parametrize("case", ("." , "empty", "dotdot", "cwd-abs", "root", "ancestor", "inside",
                                  "symlink", "not-a-snapshot", "plain-file", "slash"))
@pytest.mark.parametrize("json_mode", (True, False))
def test_snapshot_force_refuses(tmp_path, tree, monkeypatch, case, json_mode):
    root = tree()
    work = tmp_path / "cwd"
    work.mkdir()
    (work / "precious").write_text("p")
    monkeypatch.chdir(work)
    out, code = _snap_cases(tmp_path, root)[case]
    listing = sorted(os.listdir(tmp_path))
    r = run(["--root", root, "snapshot", out, "--force"] + (["--json"] if json_mode else []))
    check(r, root=None, outside=None, json_mode=json_mode, codes=(code,))
    assert (work / "precious").exists() and os.path.isdir(os.path.join(root, "sys"))
    assert sorted(os.listdir(tmp_path)) == listing
    if case == "symlink":
        assert (tmp_path / "somedir" / "keep").exists()


@pytest.mark.parametrize("fmt", ("dir", "tar.gz", "tar"))
def test_snapshot_force_replaces_a_previous_snapshot(tmp_path, tree, fmt):
    root = tree()
    out = str(tmp_path / ("snap" if fmt == "dir" else f"snap.{fmt}"))
    assert run(["--root", root, "snapshot", out]).code == 0
    r = run(["--root", root, "snapshot", out, "--force", "--json"])
    check(r, root=None, outside=None, json_mode=True, codes=(0,))
    assert [n for n in os.listdir(tmp_path) if "vfioctl-tmp" in n] == []
    assert run(["--root", out, "list", "--json"]).code == 0


@pytest.mark.parametrize("fmt", ("dir", "tar.gz"))
def test_snapshot_write_failure_leaves_nothing(tmp_path, tree, fmt):
    """A disk that fills up (RLIMIT_FSIZE: writes fail) leaves nothing behind."""
    root = tree()
    out = str(tmp_path / ("snap" if fmt == "dir" else "snap.tar.gz"))
    code = ("import resource,signal,sys;signal.signal(signal.SIGXFSZ,signal.SIG_IGN);"
            "resource.setrlimit(resource.RLIMIT_FSIZE,(8,8));"
            "from vfioctl.cli.entry import main;"
            f"sys.exit(main(['--root',{root!r},'snapshot',{out!r}]))")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 4, p.stderr
    assert "cannot write the snapshot" in p.stderr and "Traceback" not in p.stderr
    assert os.listdir(tmp_path) == ["root"]


# ---------------------------------------------------------------------------
# 9. strict resolution
DEVICES = {
    "81:00.0": 0, "0000:81:00.0": 0, "0001:81:00.0": 3, "81:00.7": 3,
    "/sys/bus/pci/devices/0000:81:00.0": 0, "/sys/bus/pci/devices/0000:81:00.0/": 0,
    "sys/bus/pci/devices/0000:81:00.0": 0, "/sys/../etc/0000:81:00.0": 2,
    "/sys/bus/pci/devices/../../../etc/0000:81:00.0": 2,
    "/sys/bus/pci/devices/0000:81:00.0/config": 2, "/etc/0000:81:00.0": 2,
    "/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0": 0,
    "/sys/devices/pci0000:80/0000:80:01.0/0000:81:00.0/driver": 2,
    "/dev/vfio/devices/vfio0": 0, "/dev/vfio/devices/../devices/vfio0": 0,
    "vfio99": 3, "../../0000:81:00.0": 2, "\x1b[31m81:00.0": 2, "": 2, "0000:81:00.8": 2,
    "81:00.0\n": 0, "x" * 5000: 2, "/sys/bus/pci/devices/0000:81:00.0\0": 2,
}


@pytest.mark.parametrize("json_mode", (True, False))
@pytest.mark.parametrize("dev", sorted(DEVICES), ids=lambda d: repr(d)[:40])
def test_device_resolution_is_strict(tree, dev, json_mode):
    root = tree()
    r = run(["--root", root, "show", dev] + (["--json"] if json_mode else []))
    check(r, root=root, outside=None, json_mode=json_mode, codes=(DEVICES[dev],))
    if DEVICES[dev] == 0 and json_mode:
        assert r.json()["function"]["address"].startswith("0000:81:00.")
    assert "\x1b" not in r.err


# ---------------------------------------------------------------------------
# 7. simulator: fault specifications, every op injectable, state never escapes
BAD_FAULTS = ("X", "FOO=EIO", "open=EFOO", "open=", "=EIO", "open@/dev/vfio/11",
              "VFIO_DEVICE_RESET=-1", "open=EIO,BOGUS=EIO")
OPS = ("open", "VFIO_GET_API_VERSION", "VFIO_CHECK_EXTENSION", "VFIO_SET_IOMMU",
       "VFIO_GROUP_GET_STATUS", "VFIO_GROUP_SET_CONTAINER", "VFIO_GROUP_GET_DEVICE_FD",
       "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
       "VFIO_DEVICE_PCI_HOT_RESET")


@pytest.mark.parametrize("spec", BAD_FAULTS)
def test_bad_fault_specs_are_usage_errors(tree, spec):
    root = tree()
    r = run(["--root", root, "hot-reset", "81:00.0", "--yes", "--json"],
            env={"VFIOCTL_SIM_FAULTS": spec})
    check(r, root=root, outside=None, json_mode=True, codes=(2,), msg="VFIOCTL_SIM_FAULTS")


@pytest.mark.parametrize("mode", ("--group", "--iommufd"))
@pytest.mark.parametrize("op", OPS)
def test_every_op_injectable_and_no_half_state(tree, op, mode):
    root = tree()
    r = run(["--root", root, "hot-reset", "81:00.0", "--yes", "--json", mode],
            env={"VFIOCTL_SIM_FAULTS": f"{op}=EIO"})
    check(r, root=root, outside=None, json_mode=True, codes=(0, 7))
    if r.code == 7:
        assert r.json()["error"]["errno"] == "EIO"
    journal = os.path.join(root, ".vfioctl-sim", "journal.jsonl")
    used = {json.loads(ln)["op"] for ln in open(journal)} if os.path.exists(journal) else set()
    if op in used:
        assert r.code == 7


SIM_STATE = {
    "lock-is-dir": (".vfioctl-sim.lock", "dir"), "lock-is-fifo": (".vfioctl-sim.lock", "fifo"),
    "lock-links-out": (".vfioctl-sim.lock", "OUTSIDE"),
    "state-dir-links-out": (".vfioctl-sim", "OUTSIDE"),
    "state-dir-is-file": (".vfioctl-sim", "file"),
    "proc-links-out": ("proc", "OUTSIDE"), "proc-loop": ("proc", "LOOP"),
    "proc-is-file": ("proc", "file"),
    "journal-is-fifo": (".vfioctl-sim/journal.jsonl", "fifo"),
    "journal-is-dir": (".vfioctl-sim/journal.jsonl", "dir"),
    "journal-links-out": (".vfioctl-sim/journal.jsonl", "OUTSIDE"),
}


@pytest.mark.parametrize("case", sorted(SIM_STATE))
def test_sim_state_is_confined(tree, outside, case):
    root = tree()
    rel, kind = SIM_STATE[case]
    if kind in ("OUTSIDE", "LOOP"):
        _plant(root, rel, kind, outside)
    elif kind == "file":
        p = os.path.join(root, rel)
        if os.path.isdir(p):
            shutil.rmtree(p)
        open(p, "w").close()
    else:
        _replace(root, rel, kind)
    listing = sorted(os.listdir(outside))
    r = run(["--root", root, "hot-reset", "81:00.0", "--yes", "--json"])
    # a broken proc/ hides the holders: "cannot tell" (10), never "possible"
    check(r, root=root, outside=outside, json_mode=True,
          codes=(10,) if rel == "proc" else (0, 4, 7))
    assert sorted(os.listdir(outside)) == listing


def test_simulated_pids_are_unique_across_processes(tree):
    """Two kernels (as two processes would) never share a pid: the second
    finds proc/<pid> taken and draws another; the group is then busy (EBUSY)."""
    from vfioctl.kernel.base import KernelError
    from vfioctl.kernel.sim import SimKernel
    root = tree()
    a, b = SimKernel(root), SimKernel(root)
    b.pid = a.pid   # the collision the old scheme allowed
    fa = a.open_group("/dev/vfio/11")
    try:
        with pytest.raises(KernelError) as e:
            b.open_group("/dev/vfio/11")
        assert e.value.errno == 16   # EBUSY, not FileExistsError
        fc = b.open_container()
        assert b.pid != a.pid
        b.close(fc)
    finally:
        a.close(fa)
    assert not [p for p in os.listdir(os.path.join(root, "proc")) if p.startswith("9")]


# ---------------------------------------------------------------------------
# 8. terminal injection: names with escape sequences are escaped in human output
INJECT = {
    "udev-vendor": ("run/udev/data/+pci:0000:81:00.0",
                    "E:ID_VENDOR_FROM_DATABASE=Evil\x1b]0;pwned\x07\x1b[2J\nE:ID_MODEL_FROM_DATABASE=M\x1b[31m\n"),
    "group-type": ("sys/kernel/iommu_groups/11/type", "DMA\x1b[5m\n"),
    "comm": ("proc/4242/comm", "qemu\x1b[41m\u202e\n"),
    "driver-override": (f"{DEV}/driver_override", "vfio\x1b[8m\n"),
}


@pytest.mark.parametrize("fmt", ("plain", "table", "json"))
@pytest.mark.parametrize("cmd", (["list"], ["show", "81:00.0"], ["groups"],
                                 ["reset-info", "81:00.0"]), ids=lambda c: c[0])
@pytest.mark.parametrize("case", sorted(INJECT))
def test_control_characters_are_escaped(tree, case, cmd, fmt):
    root = tree("held-group")
    rel, text = INJECT[case]
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
    args = ["--root", root] + (["--format", fmt] if fmt != "json" else []) + cmd + (
        ["--json"] if fmt == "json" else [])
    r = run(args, env={"NO_COLOR": "1"})
    check(r, root=root, outside=None, json_mode=fmt == "json", codes=(0, 1))
    if fmt != "json":
        for bad in ("\x1b]0;", "\x1b[2J", "\x1b[31m", "\x1b[41m", "\x1b[5m", "\x1b[8m", "\x07",
                    "\u202e"):
            assert bad not in r.out and bad not in r.err, (bad, r.out)


@pytest.mark.parametrize("fmt", ("text", "dot"))
@pytest.mark.parametrize("case", sorted(INJECT))
def test_tree_escapes_control_characters(tree, case, fmt):
    """tree draws its own text and DOT (not through a canvas): the same rule."""
    root = tree("held-group")
    rel, text = INJECT[case]
    if case == "comm":
        text = "qemu\x1b[41m\x07\n"   # ASCII: read as is (non-ASCII becomes U+FFFD)
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
    r = run(["--root", root, "tree", "--all", "81:00.1"] + (["--dot"] if fmt == "dot" else []),
            env={"NO_COLOR": "1", "LANG": "C.UTF-8", "COLUMNS": "100"})
    check(r, root=root, outside=None, json_mode=False, codes=(0,))
    assert "0000:81:00.1" in r.out
    for bad in ("\x1b]0;", "\x1b[2J", "\x1b[31m", "\x1b[41m", "\x1b[5m", "\x1b[8m", "\x07",
                "\u202e"):
        assert bad not in r.out and bad not in r.err, (bad, r.out)
    if case == "comm":
        shown = r.out.replace("\\\\", "\\") if fmt == "dot" else r.out   # DOT quotes \\
        assert "qemu\\x1b[41m\\x07" in shown   # shown escaped, not dropped


def test_json_keeps_the_exact_text(tree):
    root = tree("held-group")
    with open(os.path.join(root, "proc/4242/comm"), "w") as f:
        f.write("qemu\x1b[41m\n")
    d = run(["--root", root, "reset-info", "81:00.0", "--json"]).json()
    assert "qemu\\u001b[41m" in json.dumps(d)   # the exact text, JSON-escaped


# ---------------------------------------------------------------------------
# 3. three-valued verdicts
def test_broken_entry_on_the_reset_bus_is_cannot_tell(tree, outside):
    root = tree()
    os.symlink("../../../devices/pci0000:80/0000:80:01.0/0000:81:00.5",
               os.path.join(root, "sys/bus/pci/devices/0000:81:00.5"))
    for cmd, code in ((["check", "81:00.0"], 10), (["reset-info", "81:00.0"], 10),
                      (["hot-reset", "81:00.0", "--yes"], 10), (["tree", "81:00.0"], 0)):
        for j in (True, False):
            r = run(["--root", root] + cmd + (["--json"] if j else []))
            check(r, root=root, outside=None, json_mode=j, codes=(code,))
            assert "possible" not in (r.out if not j else "") or "CANNOT TELL" in r.out \
                or cmd[0] == "hot-reset"
            if j and cmd[0] == "check":
                assert r.json()["answer"] == "cannot-tell"
            if cmd[0] == "tree":   # a picture: exit 0, but the verdict drawn is cannot tell
                if j:
                    assert r.json()["resets"][0]["answer"] == "cannot-tell"
                else:
                    assert "CANNOT TELL" in r.out and "POSSIBLE" not in r.out
                    assert ": possible" not in r.out


# ---------------------------------------------------------------------------
# 5. streams and exit codes (subprocesses: real file descriptors)
def _sub(args, stdout=None, stderr=subprocess.PIPE, env=None, pass_fds=()):
    e = dict(os.environ, PYTHONPATH=REPO, VFIOCTL_PCI_IDS="none")
    e.update(env or {})
    return subprocess.run(VFIOCTL + args, stdout=stdout, stderr=stderr, env=e, cwd=REPO,
                          timeout=60)


@pytest.mark.parametrize("json_mode", (True, False))
def test_dev_full_is_exit_74(json_mode):
    with open("/dev/full", "w") as full:
        p = _sub(["--demo", "list"] + (["--json"] if json_mode else []), stdout=full)
    assert p.returncode == 74 and b"cannot write the output" in p.stderr
    assert b"Traceback" not in p.stderr


@pytest.mark.parametrize("json_mode", (True, False))
def test_closed_stdout_and_stderr(json_mode):
    extra = ["--json"] if json_mode else []
    p = subprocess.run(["sh", "-c", " ".join(VFIOCTL) + " --demo list " + " ".join(extra)
                        + " >&- ; echo rc=$?"], capture_output=True, text=True, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=REPO), timeout=60)
    assert "rc=74" in p.stdout and "Traceback" not in p.stderr
    p = subprocess.run(["sh", "-c", " ".join(VFIOCTL) + " --demo show 99:00.0 " + " ".join(extra)
                        + " 2>&- ; echo rc=$?"], capture_output=True, text=True, cwd=REPO,
                       env=dict(os.environ, PYTHONPATH=REPO), timeout=60)
    assert "rc=3" in p.stdout


def test_epipe_is_exit_141(tree):
    root = tree()
    r = subprocess.run(["bash", "-c", " ".join(VFIOCTL) + f" --root {root} list --json"
                        " | (exec 0<&-; true); echo ${PIPESTATUS[0]}"], capture_output=True,
                       text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO), timeout=60)
    assert r.stdout.strip() in ("141", "0"), r   # 0: the output fitted before the reader left
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("debug", ("", "1"))
def test_internal_error_is_exit_70(tree, monkeypatch, debug):
    import vfioctl.ops.resolve as res
    def boom(*a, **k):
        raise ZeroDivisionError("boom")
    monkeypatch.setattr(res, "resolve_device", boom)
    root = tree()
    r = run(["--root", root, "show", "81:00.0", "--json"], env={"VFIOCTL_DEBUG": debug})
    assert r.code == 70 and "internal error" in r.err and "VFIOCTL_DEBUG=1" in r.err
    assert ("Traceback" in r.err) == bool(debug)
    assert r.json()["error"]["kind"] == "internal"


# ---------------------------------------------------------------------------
# run as nobody: what an unprivileged user cannot see is "cannot tell"
SETPRIV = shutil.which("setpriv")
needs_root = pytest.mark.skipif(os.geteuid() != 0 or SETPRIV is None,
                                reason="needs root (to become nobody) and setpriv")


@pytest.fixture
def public_tree(templates):
    d = tempfile.mkdtemp(prefix="vfioctl-hostile-", dir="/tmp")
    os.chmod(d, 0o755)
    root = os.path.join(d, "root")
    shutil.copytree(templates["held-group"], root, symlinks=True)
    for base, dirs, files in os.walk(root):
        for n in dirs:
            if not os.path.islink(os.path.join(base, n)):
                os.chmod(os.path.join(base, n), 0o755)
        for n in files:
            if not os.path.islink(os.path.join(base, n)):
                os.chmod(os.path.join(base, n), 0o644)
    yield root
    shutil.rmtree(d, ignore_errors=True)


def _as_nobody(args):
    return subprocess.run([SETPRIV, "--reuid=65534", "--regid=65534", "--clear-groups"]
                          + VFIOCTL + args, capture_output=True, text=True, cwd="/",
                          env=dict(os.environ, PYTHONPATH=REPO, VFIOCTL_PCI_IDS="none",
                                   PYTHONDONTWRITEBYTECODE="1"), timeout=60)


@needs_root
@pytest.mark.parametrize("cmd", (["check", "81:00.0"], ["reset-info", "81:00.0"],
                                 ["hot-reset", "81:00.0", "--yes"]), ids=lambda c: c[0])
@pytest.mark.parametrize("json_mode", (True, False))
def test_nobody_cannot_see_holders(public_tree, cmd, json_mode):
    # the holder's fd directory is readable by root only, and no one else holds
    os.rename(os.path.join(public_tree, "proc/4242"), os.path.join(public_tree, "proc/4243"))
    for n in os.listdir(os.path.join(public_tree, "proc/4243/fd")):
        os.unlink(os.path.join(public_tree, "proc/4243/fd", n))
    os.chmod(os.path.join(public_tree, "proc/4243/fd"), 0o700)
    p = _as_nobody(["--root", public_tree] + cmd + (["--json"] if json_mode else []))
    assert p.returncode == 10, p.stderr + p.stdout
    # (a long reason is continued on the next line at COLUMNS=160)
    assert "Traceback" not in p.stderr and "run as root" in " ".join(
        (p.stdout + p.stderr).split())
    if json_mode:
        json.loads(p.stdout)
    # as root the same tree is "possible"
    r = run(["--root", public_tree, "check", "81:00.0", "--json"])
    assert r.code == 0


@needs_root
@pytest.mark.parametrize("json_mode", (True, False))
def test_nobody_unreadable_root_is_permission_denied(public_tree, json_mode):
    os.chmod(public_tree, 0o700)
    p = _as_nobody(["--root", public_tree, "list"] + (["--json"] if json_mode else []))
    assert p.returncode == 5 and "not readable" in p.stderr and "Traceback" not in p.stderr


# ---------------------------------------------------------------------------
# the real backend on a fixture root never opens a planted device or a link out
@pytest.mark.parametrize("plant", ("chr", "fifo", "link-out", "link-abs-devnull"))
def test_real_backend_never_opens_planted_nodes(tree, outside, plant):
    from vfioctl.kernel.base import KernelError
    from vfioctl.kernel.real import RealKernel
    root = tree()
    p = os.path.join(root, "dev/vfio/11")
    os.unlink(p)
    if plant == "chr":
        if os.geteuid() != 0:
            pytest.skip("mknod needs root")
        os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 3))   # /dev/null's numbers
    elif plant == "fifo":
        os.mkfifo(p)
    elif plant == "link-out":
        os.symlink(os.path.join(outside, "secret"), p)
    else:
        os.symlink("/dev/null", p)
    k = RealKernel(root)
    with pytest.raises(KernelError) as e:
        k.open_group("/dev/vfio/11")
    assert e.value.errno in (1, 2)   # EPERM (not a regular file) or ENOENT (re-rooted)
    assert k.open_fds() == []
