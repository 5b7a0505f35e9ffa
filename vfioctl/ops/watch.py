"""``vfioctl watch``: live udev events for PCI functions and VFIO nodes.

What is watched: the ``pci`` subsystem (a function appearing, going away,
being bound to or unbound from a driver), ``vfio`` (legacy group nodes
``/dev/vfio/N`` and ``/dev/vfio/noiommu-N``, created when the first function
of a group is bound to a VFIO driver and removed with the last) and
``vfio-dev`` (per-function cdevs ``/dev/vfio/devices/vfioX``, Linux 6.1+).
Only the actions ``add``, ``remove``, ``bind``, ``unbind`` and ``change`` are
shown (:data:`ACTIONS`); ``move``/``online``/``offline`` are dropped.

The event source is an abstraction: any iterable of :class:`Event`.
:func:`pyudev_source` is the live one (libudev's netlink monitor, through
pyudev, imported lazily here and nowhere on the fixture path); tests inject a
list.  :func:`describe` turns one event into one record, reading whatever the
event does not carry (the ``driver`` and ``iommu_group`` links) through a
:class:`~vfioctl.sysfs.root.Root`, so it works over fixture trees too.  On
``remove`` the sysfs entry is usually gone already: those fields are then
``null``, never guessed.

Output (:func:`run` hands each record to an ``emit`` callback; the lines are
drawn by :mod:`vfioctl.present.watch`), one line per event, flushed at once:

* human: ``HH:MM:SS ACTION SUBSYSTEM ADDRESS  key=value...``, plain aligned
  text (no rich), e.g.
  ``12:00:01 bind    pci      0000:81:00.0  driver=vfio-pci  group=11``;
* ``--json``: **JSON lines** -- one compact JSON object per line (schema
  ``vfioctl/1``, ``"command": "watch"``), for scripts:
  ``vfioctl watch --json | jq -c 'select(.action == "bind")'``.  Fields:
  ``time`` (ISO 8601, local time with UTC offset, milliseconds), ``action``,
  ``subsystem``, ``address`` (PCI address for ``pci``; group name ``"11"`` /
  ``"noiommu-11"`` for ``vfio``; ``"vfio3"`` for ``vfio-dev``), ``function``
  (the PCI function the event concerns: the address for ``pci``, the parent
  function for ``vfio-dev``, ``null`` for ``vfio``), ``driver``,
  ``iommu_group`` (int), ``node`` (``/dev/vfio/11``...), ``seqnum`` (the
  kernel's SEQNUM, int) and ``sys_path``.  Unknown values are ``null``.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import signal
import threading
from contextlib import contextmanager
from vfioctl.model.record import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from vfioctl import JSON_SCHEMA
from vfioctl.errors import BackendUnavailable, UsageError
from vfioctl.sysfs.root import Root
from vfioctl.model import nodes

#: udev subsystems watched.
SUBSYSTEMS = ("pci", "vfio", "vfio-dev")
#: uevent actions shown (kernel ``kobject_action``: add, remove, change, bind, unbind).
ACTIONS = frozenset({"add", "remove", "bind", "unbind", "change"})

_BDF = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$")
_GROUP = re.compile(r"^(?:noiommu-)?(\d+)$")


@dataclass
class Event:
    """One uevent as udev delivers it.

    ``sys_path`` is the kernel path (``/sys/devices/...``, as libudev's
    ``udev_device_get_syspath``); ``properties`` the event's environment
    (``DRIVER``, ``PCI_SLOT_NAME``, ``DEVNAME``, ``SEQNUM``...).  ``time`` is
    when the event was received (None: now, at :func:`describe` time).
    """

    action: str
    subsystem: str
    sys_path: str
    properties: dict = field(default_factory=dict)
    time: _dt.datetime | None = None


# -- the live source --------------------------------------------------------------

def udevd_running(root: Root) -> bool:
    """Whether systemd-udevd (or eudev) runs: its control socket exists."""
    return os.path.exists(root.join("run/udev/control"))


def pyudev_source(root: Root, *, netlink: str = "udev", stop: Any = None,
                  poll_interval: float = 0.5) -> Iterator[Event]:
    """Events from libudev's netlink monitor for :data:`SUBSYSTEMS`.

    ``netlink`` is ``"udev"`` (events after udev rules ran, with udev's
    properties; needs udevd) or ``"kernel"`` (raw kernel uevents).  ``stop``
    (a callable returning True, or a ``threading.Event``) is checked every
    ``poll_interval`` seconds while no event arrives, ending the iteration.

    Checks are made at call time (not at first ``next()``): raises
    :class:`~vfioctl.errors.BackendUnavailable` when ``root`` is not the live
    ``/`` (events describe the running kernel, not a fixture), when pyudev is
    not installed, when libudev cannot be loaded, or when the netlink socket
    cannot be opened.  pyudev is imported here only.
    """
    if not root.live:
        raise BackendUnavailable(
            f"cannot watch udev events on {root.path}: events come from the running kernel, "
            "not from a fixture or snapshot tree",
            "run 'vfioctl watch' without --root/--demo, on the host whose devices you want to watch")
    if netlink not in ("udev", "kernel"):
        raise UsageError(f"unknown netlink source {netlink!r}", "use 'udev' or 'kernel'")
    try:
        import pyudev  # lazy: only the live watch path needs libudev
    except ImportError as e:
        raise BackendUnavailable(f"pyudev is not importable ({e})",
                                 "install pyudev (pip install pyudev) to use 'vfioctl watch'") from None
    try:
        context = pyudev.Context()
    except (ImportError, OSError) as e:  # pyudev raises ImportError when libudev.so is missing
        raise BackendUnavailable(f"libudev is not available ({e})",
                                 "install libudev (the libudev1 / systemd-libs package)") from None
    try:
        monitor = pyudev.Monitor.from_netlink(context, source=netlink)
        for s in SUBSYSTEMS:
            monitor.filter_by(s)
        monitor.start()
    except (OSError, ValueError) as e:
        msg = getattr(e, "strerror", None) or str(e)
        raise BackendUnavailable(f"cannot open the {netlink} netlink monitor: {msg}",
                                 "run on the host itself (not in a network namespace without "
                                 "uevents), or check that netlink is permitted") from None
    return _pyudev_events(monitor, stop, poll_interval)


def _pyudev_events(monitor, stop, poll_interval: float) -> Iterator[Event]:
    while not _stopped(stop):
        dev = monitor.poll(timeout=poll_interval)
        if dev is None:
            continue
        ev = _from_pyudev(dev)
        if ev is not None:
            yield ev


def _from_pyudev(dev) -> Event | None:
    """A pyudev ``Device`` received from a monitor as an :class:`Event`."""
    now = _dt.datetime.now().astimezone()
    try:
        action = dev.action or ""
        subsystem = dev.subsystem or ""
        props = {k: dev.properties.get(k) for k in dev.properties}
        sys_path = dev.sys_path
    except Exception:  # a device that vanished mid-read: drop the event, never crash
        return None
    if action not in ACTIONS or subsystem not in SUBSYSTEMS:
        return None
    return Event(action, subsystem, sys_path, props, now)


# -- one event -> one record ---------------------------------------------------------

def _rel(sys_path: str) -> str | None:
    """``/sys/devices/...`` as a path relative to the root, or None if not under sys/."""
    rel = os.path.normpath(sys_path.lstrip("/"))
    if rel != "sys" and not rel.startswith("sys/"):
        return None
    return rel


def _link_name(root: Root, rel: str | None, name: str) -> str | None:
    """Basename of the symlink ``<rel>/<name>`` under ``root`` (None if absent)."""
    if rel is None:
        return None
    try:
        return os.path.basename(os.readlink(root.join(f"{rel}/{name}")))
    except OSError:
        return None


def _group_num(s: str | None) -> int | None:
    if s is None:
        return None
    m = _GROUP.match(s)
    return int(m.group(1)) if m else None


def describe(event: Event, root: Root) -> dict:
    """The record printed for ``event`` (the JSON line; see the module doc).

    Reads only the ``driver`` and ``iommu_group`` links of the device (or,
    for ``vfio-dev``, of its PCI function) through ``root``; a missing entry
    (``remove``) gives ``null``.  Never raises for odd events.
    """
    props = event.properties or {}
    sys_path = event.sys_path or ""
    name = os.path.basename(sys_path.rstrip("/"))
    rel = _rel(sys_path)
    function: str | None = None
    fn_rel: str | None = None   # the PCI function's directory, relative to root
    group: int | None = None

    if event.subsystem == "pci":
        slot = props.get("PCI_SLOT_NAME")
        function = slot if slot and _BDF.match(slot) else (name if _BDF.match(name) else None)
        address = function or name or None
        fn_rel = rel
    elif event.subsystem == "vfio-dev":
        # .../<bdf>/vfio-dev/vfioX
        address = name or None
        parent = os.path.dirname(os.path.dirname(sys_path.rstrip("/")))
        pname = os.path.basename(parent)
        if _BDF.match(pname):
            function = pname
            fn_rel = _rel(parent)
    elif event.subsystem == "vfio":
        # /sys/devices/virtual/vfio/<N|noiommu-N>
        address = name or None
        group = _group_num(name)
    else:
        address = name or None

    driver = props.get("DRIVER") or None
    if driver is None and event.action != "unbind":
        # unbind: the kernel sends it after clearing dev->driver; a link still
        # there would belong to a new bind, so do not report it for unbind
        driver = _link_name(root, fn_rel, "driver")
    if group is None:
        group = _group_num(_link_name(root, fn_rel, "iommu_group"))

    node = props.get("DEVNAME") or None
    if node is not None and not node.startswith("/"):
        node = "/dev/" + node  # raw kernel uevents carry DEVNAME without /dev/
    if node is None and address:
        # the kernel's fixed devnode names (drivers/vfio/group.c, vfio_main.c)
        if event.subsystem == "vfio":
            node = nodes.DEV_VFIO + address
        elif event.subsystem == "vfio-dev":
            node = nodes.cdev(address)

    seq = props.get("SEQNUM")
    t = event.time or _dt.datetime.now().astimezone()
    if t.tzinfo is None:
        t = t.astimezone()
    return {
        "schema": JSON_SCHEMA,
        "command": "watch",
        "time": t.isoformat(timespec="milliseconds"),
        "action": event.action,
        "subsystem": event.subsystem,
        "address": address,
        "function": function,
        "driver": driver,
        "iommu_group": group,
        "node": node,
        "seqnum": int(seq) if isinstance(seq, str) and seq.isdigit() else None,
        "sys_path": sys_path or None,
    }


# -- the loop ------------------------------------------------------------------------

def _stopped(stop: Any) -> bool:
    if stop is None:
        return False
    is_set = getattr(stop, "is_set", None)
    return bool(is_set() if is_set is not None else stop())


@contextmanager
def _sigint_deferred():
    """Hold SIGINT while one line is written, so Ctrl-C never cuts a line in half.

    The signal is blocked (not lost): it is delivered, and KeyboardInterrupt
    raised, right after the line is out.  A no-op off the main thread or
    where ``pthread_sigmask`` does not exist.
    """
    ok = hasattr(signal, "pthread_sigmask") and threading.current_thread() is threading.main_thread()
    if ok:
        try:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        except (OSError, ValueError):
            ok = False
    try:
        yield
    finally:
        if ok:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def run(source: Iterable[Event], root: Root, emit: Callable[[dict], None], *,
        count: int | None = None, stop: Any = None) -> int:
    """Hand one record per event of ``source`` to ``emit`` (see the module doc);
    return how many.

    ``count`` ends the loop after that many printed events; ``stop`` (a
    callable returning True, or a ``threading.Event``) is checked before each
    event.  Events whose action is not in :data:`ACTIONS` or whose subsystem
    is not in :data:`SUBSYSTEMS` are skipped (not counted).  ``emit`` runs with
    SIGINT deferred, so each line is written whole; KeyboardInterrupt (Ctrl-C)
    propagates to the caller only between lines, after the source has been closed.
    """
    n = 0
    if count is not None and count <= 0:
        return 0
    it = iter(source)
    try:
        for ev in it:
            if _stopped(stop):
                break
            if ev.action not in ACTIONS or ev.subsystem not in SUBSYSTEMS:
                continue
            rec = describe(ev, root)
            with _sigint_deferred():
                emit(rec)
            n += 1
            if count is not None and n >= count:
                break
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return n


def watch(root: str, *, emit: Callable[[dict], None], warn: Callable[[str], None],
          count: int | None, source: Iterable[Event] | None = None, stop: Any = None) -> int:
    """``vfioctl watch [--json] [--count N]``: udev events until Ctrl-C or N events.

    The live source is built for ``root`` (which must be ``/``); ``source``
    replaces it (tests).  When udevd is not running, raw kernel uevents are
    used instead and ``warn`` is told.  Returns the number of events emitted.
    """
    if count is not None and count < 1:
        raise UsageError(f"--count must be at least 1, not {count}",
                         "omit --count to watch until Ctrl-C")
    r = Root(root)
    if source is None:
        netlink = "udev"
        if r.live and not udevd_running(r):
            netlink = "kernel"
            warn("udevd is not running (no /run/udev/control): showing raw kernel "
                 "uevents, without udev's properties")
        source = pyudev_source(r, netlink=netlink, stop=stop)
    return run(source, r, emit, count=count, stop=stop)


__all__ = ["ACTIONS", "Event", "SUBSYSTEMS", "describe", "pyudev_source", "run",
           "udevd_running", "watch"]
