"""vfioctl watch: udev events described over fixture trees, with an injected source."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import os
import shutil
import signal
import threading

import pytest

from vfioctl.cli.state import State
from vfioctl.errors import EXIT_BACKEND, BackendUnavailable, UsageError
from vfioctl.ops import watch
from vfioctl.ops.watch import Event, describe, pyudev_source, run as watch_run, watch as watch_op
from vfioctl.present.watch import emitter, human_line
from vfioctl.present.output import Output
from vfioctl.sysfs.root import Root
from vfioctl.testing import scenarios

T0 = dt.datetime(2025, 1, 1, 12, 0, 1, tzinfo=dt.timezone.utc)
RP = "/sys/devices/pci0000:80/0000:80:01.0"
F0 = f"{RP}/0000:81:00.0"
F1 = f"{RP}/0000:81:00.1"


@pytest.fixture
def root(tmp_path) -> Root:
    return Root(scenarios.build("dual-function", str(tmp_path / "df")))


def run(source, root, out, *, json_mode, **kw):
    """The loop with the CLI's emitter (JSON lines or human lines)."""
    out.json_mode = json_mode
    return watch_run(source, root, emitter(out), **kw)


def watch_command(st, *, json_mode, count, out, source=None):
    out.json_mode = json_mode
    return watch_op(st.root_path(), emit=emitter(out), warn=out.warn, count=count, source=source)


def ev(action, subsystem, sys_path, time=T0, **props) -> Event:
    return Event(action, subsystem, sys_path, props, time)


def out_buf(json_mode=False):
    buf = io.StringIO()
    return Output(json_mode=json_mode, fmt="plain", stdout=buf, stderr=io.StringIO()), buf


# -- describe: pci ----------------------------------------------------------------------

def test_pci_bind_from_properties(root):
    r = describe(ev("bind", "pci", F0, DRIVER="vfio-pci", PCI_SLOT_NAME="0000:81:00.0",
                    SEQNUM="4711"), root)
    assert r["schema"] == "vfioctl/1" and r["command"] == "watch"
    assert (r["action"], r["subsystem"], r["address"], r["function"]) == \
        ("bind", "pci", "0000:81:00.0", "0000:81:00.0")
    assert r["driver"] == "vfio-pci" and r["iommu_group"] == 11
    assert r["node"] is None and r["seqnum"] == 4711 and r["sys_path"] == F0
    assert r["time"] == "2025-01-01T12:00:01.000+00:00"


def test_pci_driver_and_address_read_through_root(root):
    # no DRIVER / PCI_SLOT_NAME: driver link read under the root, address from the path
    r = describe(ev("add", "pci", F1), root)
    assert r["address"] == "0000:81:00.1" and r["driver"] == "vfio-pci" and r["iommu_group"] == 11


def test_pci_unbind_has_no_driver(root):
    # the kernel sends unbind after clearing the driver: a link that is still (or
    # again) there is not the driver that was unbound
    r = describe(ev("unbind", "pci", F0, PCI_SLOT_NAME="0000:81:00.0"), root)
    assert r["driver"] is None and r["iommu_group"] == 11


def test_pci_bind_other_driver(root):
    r = describe(ev("bind", "pci", F1, DRIVER="ixgbe"), root)
    assert r["driver"] == "ixgbe"


def test_pci_remove_entry_gone(root):
    shutil.rmtree(root.join(F1.lstrip("/")))
    r = describe(ev("remove", "pci", F1, PCI_SLOT_NAME="0000:81:00.1"), root)
    assert r["address"] == "0000:81:00.1"
    assert r["driver"] is None and r["iommu_group"] is None and r["node"] is None


def test_pci_remove_never_existed(root):
    r = describe(ev("remove", "pci", "/sys/devices/pci0000:80/0000:80:07.0/0000:99:00.0"), root)
    assert r["address"] == "0000:99:00.0" and r["driver"] is None and r["iommu_group"] is None


def test_odd_events_do_not_crash(root):
    for e in (ev("add", "pci", ""), ev("add", "pci", "/not/sys/x"),
              ev("change", "pci", "/sys/../../etc"), Event("add", "vfio", "/sys/devices/virtual/vfio/x")):
        r = describe(e, root)
        assert r["driver"] is None and r["iommu_group"] is None


# -- describe: vfio, vfio-dev -----------------------------------------------------------

def test_vfio_group_add(root):
    r = describe(ev("add", "vfio", "/sys/devices/virtual/vfio/11", DEVNAME="/dev/vfio/11",
                    MAJOR="243", MINOR="11"), root)
    assert (r["address"], r["function"], r["iommu_group"], r["node"]) == \
        ("11", None, 11, "/dev/vfio/11")


def test_vfio_group_kernel_devname_and_remove(root):
    r = describe(ev("add", "vfio", "/sys/devices/virtual/vfio/11", DEVNAME="vfio/11"), root)
    assert r["node"] == "/dev/vfio/11"
    shutil.rmtree(root.join("sys/devices/virtual/vfio/11"))
    r = describe(ev("remove", "vfio", "/sys/devices/virtual/vfio/11"), root)
    assert r["iommu_group"] == 11 and r["node"] == "/dev/vfio/11"  # from the kernel's name


def test_vfio_noiommu_group(root):
    r = describe(ev("add", "vfio", "/sys/devices/virtual/vfio/noiommu-3",
                    DEVNAME="/dev/vfio/noiommu-3"), root)
    assert r["address"] == "noiommu-3" and r["iommu_group"] == 3
    assert r["node"] == "/dev/vfio/noiommu-3"


def test_vfio_dev_add(root):
    r = describe(ev("add", "vfio-dev", f"{F1}/vfio-dev/vfio3",
                    DEVNAME="/dev/vfio/devices/vfio3"), root)
    assert (r["address"], r["function"]) == ("vfio3", "0000:81:00.1")
    assert r["driver"] == "vfio-pci" and r["iommu_group"] == 11
    assert r["node"] == "/dev/vfio/devices/vfio3"


def test_vfio_dev_remove_function_gone(root):
    shutil.rmtree(root.join(F1.lstrip("/")))
    r = describe(ev("remove", "vfio-dev", f"{F1}/vfio-dev/vfio3"), root)
    assert r["function"] == "0000:81:00.1" and r["driver"] is None and r["iommu_group"] is None
    assert r["node"] == "/dev/vfio/devices/vfio3"


# -- run: output ------------------------------------------------------------------------

def test_human_lines(root):
    events = [
        ev("bind", "pci", F0, DRIVER="vfio-pci", PCI_SLOT_NAME="0000:81:00.0"),
        ev("add", "vfio", "/sys/devices/virtual/vfio/11", DEVNAME="/dev/vfio/11"),
        ev("add", "vfio-dev", f"{F0}/vfio-dev/vfio3", DEVNAME="/dev/vfio/devices/vfio3"),
        ev("unbind", "pci", "/sys/devices/pci0000:80/0000:80:07.0/0000:99:00.0"),
    ]
    out, buf = out_buf()
    assert run(events, root, out, json_mode=False) == 4
    lines = buf.getvalue().splitlines()
    hms = T0.astimezone().strftime("%H:%M:%S")  # shown in local time
    assert lines == [
        f"{hms} bind    pci      0000:81:00.0  driver=vfio-pci  group=11",
        f"{hms} add     vfio     11            group=11  node=/dev/vfio/11",
        f"{hms} add     vfio-dev vfio3         function=0000:81:00.0  driver=vfio-pci  group=11"
        "  node=/dev/vfio/devices/vfio3",
        f"{hms} unbind  pci      0000:99:00.0",
    ]


def test_json_lines(root):
    events = [ev("bind", "pci", F0, DRIVER="vfio-pci"),
              ev("add", "vfio", "/sys/devices/virtual/vfio/11", DEVNAME="/dev/vfio/11"),
              ev("remove", "vfio-dev", f"{F0}/vfio-dev/vfio0")]
    out, buf = out_buf(json_mode=True)
    run(events, root, out, json_mode=True)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 3
    docs = [json.loads(line) for line in lines]  # each line is one complete document
    assert all(d["schema"] == "vfioctl/1" and d["command"] == "watch" for d in docs)
    assert [d["action"] for d in docs] == ["bind", "add", "remove"]
    assert set(docs[0]) == {"schema", "command", "time", "action", "subsystem", "address",
                            "function", "driver", "iommu_group", "node", "seqnum", "sys_path"}
    dt.datetime.fromisoformat(docs[0]["time"])


def test_flush_after_each_line(root):
    class Spy(io.StringIO):
        flushes = 0

        def flush(self):
            Spy.flushes += 1
            super().flush()

    for json_mode in (False, True):
        Spy.flushes = 0
        buf = Spy()
        out = Output(json_mode=json_mode, fmt="plain", stdout=buf)
        run([ev("bind", "pci", F0)] * 3, root, out, json_mode=json_mode)
        assert Spy.flushes >= 3


def test_count_stops_and_closes_source(root):
    closed = []

    def endless():
        try:
            for i in itertools.count():
                yield ev("change", "pci", F0, SEQNUM=str(i))
        finally:
            closed.append(True)

    out, buf = out_buf(json_mode=True)
    assert run(endless(), root, out, json_mode=True, count=3) == 3
    assert [json.loads(x)["seqnum"] for x in buf.getvalue().splitlines()] == [0, 1, 2]
    assert closed == [True]


def test_uninteresting_events_skipped_and_not_counted(root):
    events = [ev("move", "pci", F0), ev("add", "usb", "/sys/devices/usb1"),
              ev("online", "pci", F0), ev("bind", "pci", F0), ev("add", "pci", F1)]
    out, buf = out_buf(json_mode=True)
    assert run(events, root, out, json_mode=True, count=1) == 1
    assert json.loads(buf.getvalue())["action"] == "bind"


def test_stop_event(root):
    stop = threading.Event()

    def src():
        yield ev("bind", "pci", F0)
        stop.set()
        yield ev("unbind", "pci", F0)

    out, buf = out_buf()
    assert run(src(), root, out, json_mode=False, stop=stop) == 1
    assert run([ev("bind", "pci", F0)], root, out, json_mode=False, stop=lambda: True) == 0


def test_keyboard_interrupt_between_events(root):
    def src():
        yield ev("bind", "pci", F0)
        raise KeyboardInterrupt

    out, buf = out_buf()
    with pytest.raises(KeyboardInterrupt):
        run(src(), root, out, json_mode=False)
    assert buf.getvalue().count("\n") == 1 and buf.getvalue().endswith("group=11\n")


@pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no pthread_sigmask")
def test_ctrl_c_during_a_write_does_not_cut_the_line(root):
    class Interrupting(io.StringIO):
        def write(self, s):
            half = len(s) // 2
            super().write(s[:half])
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the line
            return half + super().write(s[half:])

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")
    buf = Interrupting()
    out = Output(fmt="plain", stdout=buf)
    with pytest.raises(KeyboardInterrupt):
        run([ev("bind", "pci", F0, DRIVER="vfio-pci")] * 2, root, out, json_mode=False)
    assert buf.getvalue().count("\n") == 1 and buf.getvalue().endswith("group=11\n")


def test_human_line_unknown_time():
    rec = {"time": None, "action": "add", "subsystem": "pci", "address": None}
    assert human_line(rec).startswith("??:??:?? add     pci      ?")


# -- the command function -----------------------------------------------------------------

def test_watch_command_injected_source(root):
    out, buf = out_buf(json_mode=True)
    st = State(root=root.path)
    n = watch_command(st, json_mode=True, count=2, out=out,
                      source=[ev("bind", "pci", F0), ev("bind", "pci", F1), ev("bind", "pci", F0)])
    assert n == 2 and len(buf.getvalue().splitlines()) == 2


def test_watch_command_bad_count(root):
    out, _ = out_buf()
    with pytest.raises(UsageError):
        watch_command(State(root=root.path), json_mode=False, count=0, out=out, source=[])


def test_live_source_refused_on_fixture_root(root):
    with pytest.raises(BackendUnavailable) as ei:
        pyudev_source(root)
    e = ei.value
    assert e.code == EXIT_BACKEND and "fixture" in e.message and "--root" in e.hint
    out, _ = out_buf()
    with pytest.raises(BackendUnavailable):
        watch_command(State(root=root.path), json_mode=False, count=1, out=out)
    with pytest.raises(BackendUnavailable):
        watch_command(State(demo=True), json_mode=False, count=1, out=out)


def test_live_source_without_pyudev(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_pyudev(name, *a, **kw):
        if name == "pyudev":
            raise ImportError("No module named 'pyudev'")
        return real_import(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_pyudev)
    with pytest.raises(BackendUnavailable) as ei:
        pyudev_source(Root("/"))
    assert "pyudev" in ei.value.message and ei.value.hint


def test_real_pyudev_monitor_constructs():
    """On this machine: libudev's netlink monitor can be built (never waits for events)."""
    pyudev = pytest.importorskip("pyudev")
    try:
        ctx = pyudev.Context()
    except Exception as e:  # libudev missing
        pytest.skip(f"pyudev.Context() failed, libudev unavailable here: {e}")
    try:
        mon = pyudev.Monitor.from_netlink(ctx)
    except OSError as e:
        # e.g. a sandbox without netlink: our source must say so as BackendUnavailable
        with pytest.raises(BackendUnavailable):
            pyudev_source(Root("/"))
        pytest.skip(f"netlink monitor not permitted here: {e}")
    for s in watch.SUBSYSTEMS:
        mon.filter_by(s)
    mon.start()
    mon.poll(timeout=0)  # non-blocking: returns at once (None, or an event that really came)
    # our source: built eagerly, ends at once when stop is already set
    src = pyudev_source(Root("/"), stop=lambda: True)
    assert list(src) == []
