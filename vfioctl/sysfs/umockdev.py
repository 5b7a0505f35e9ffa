"""Import a umockdev device record (``umockdev-record`` output) as a fixture root.

People attach ``umockdev-record /sys/bus/pci/devices/0000:81:00.0 > dev.umockdev``
output to bug reports; :func:`import_umockdev` turns it into a tree that
``--root`` (and :func:`~vfioctl.sysfs.reader.read_host`) reads like any other
fixture.

The format, as umockdev writes and loads it (martinpitt/umockdev,
``src/umockdev-record.vala`` ``record_device()``/``write_attr()`` and
``src/umockdev.vala`` ``add_from_string()``/``record_parse_line()``):

* one paragraph per device, paragraphs separated by a blank line; the device
  itself comes first, then its ancestors (``parent()``: the nearest directory
  with both ``uevent`` and ``subsystem``, so ``/devices/pci0000:00`` itself is
  never recorded);
* ``P: /devices/...`` -- the device path below ``/sys``; must be the first
  line of a paragraph;
* ``N: devname[=HEX]`` -- device node without ``/dev/`` (contents in hex for
  some USB nodes); ``S: link`` -- a ``/dev`` symlink (ignored, as umockdev does);
* ``E: KEY=VALUE`` -- a udev property (``udevadm info --query=all`` lines,
  minus ``DEVPATH``, ``UDEV_LOG``, ``USEC_INITIALIZED`` and the link priority
  ``L: <n>``);
* ``A: name=value`` -- a text attribute, escaped with ``g_strescape()``
  (``\\n``, ``\\\\``, ``\\"``, ``\\t``..., octal ``\\NNN`` for other bytes
  outside printable ASCII) and read back with ``g_strcompress()``; recent
  versions keep the trailing newline (``A: vendor=0x8086\\n``), old ones
  chomped it;
* ``H: name=HEX`` -- a binary attribute (valid UTF-8 is written as ``A:``),
  upper-case hex, two digits per byte; ``config`` is always ``H:``;
* ``L: name=target`` -- a symlink attribute, ``readlink()`` verbatim
  (``L: driver=../../../bus/pci/drivers/vfio-pci``,
  ``L: iommu_group=../../../kernel/iommu_groups/11``);
* attribute names may hold one ``/`` (``power/control``, ``msi_irqs/35``).

Newer ``udevadm info`` prints more one-letter fields (``M:`` sysname, ``R:``,
``U:`` subsystem, ``T:``, ``D:``, ``I:``, ``J:``, ``Q:``, ``V:``, ``W:``,
``G:``, ``C:``); they carry nothing that is not also in ``E:`` lines or the
path, and are ignored without a note.

What is written (the layout of :mod:`vfioctl.testing.builder`):

* ``sys/devices/<path>/`` with each ``A:``/``H:`` attribute as a file, each
  ``L:`` as the same relative symlink, and ``uevent`` from the kernel's
  ``E:`` properties;
* PCI functions (``SUBSYSTEM=pci``): ``subsystem`` link,
  ``sys/bus/pci/devices/<bdf>`` link, ``sys/bus/pci/drivers/<drv>/<bdf>``
  link, ``sys/kernel/iommu_groups/N/devices/<bdf>`` link (no ``type`` file:
  a record does not carry the group type, so it stays unknown), and the
  udev names (every ``E: ID_*`` property, among them
  ``ID_VENDOR_FROM_DATABASE``/``ID_MODEL_FROM_DATABASE``) as ``E:KEY=VALUE``
  lines in ``run/udev/data/+pci:<bdf>`` where :mod:`vfioctl.sysfs.names`
  finds them;
* other subsystems: ``sys/class/<subsystem>/<name>`` links (``vfio`` group
  devices, ``vfio-dev`` cdevs, ``iommu`` units...); a PCI function's
  ``L: iommu=.../iommu/<unit>`` link (made by the kernel only for devices
  behind an IOMMU unit) also lists ``<unit>`` in ``sys/class/iommu``;
* ``N:`` nodes as **empty regular files** under ``dev/`` (never device nodes).

Not in a record, so not in the tree: PCI slots (``sys/bus/pci/slots``, not
devices; hotplug-slot resets cannot be predicted), IOMMU group types and
members that were not recorded, ``/proc`` holders, module parameters.

A record is untrusted input: paths with ``..``, absolute link targets and
links that would leave the tree are refused (noted in ``skipped``), files are
never written through a symlink.  Malformed lines are skipped with a note;
nothing in the text makes the import raise.
"""

from __future__ import annotations

import os
import re
import shutil

from vfioctl.errors import UsageError
from vfioctl.sysfs.names import UDEV_DATA
from vfioctl.sysfs.root import (
    CLASS_IOMMU, CLASS_VFIO, CLASS_VFIO_DEV, IOMMU_GROUPS, PCI_DEVICES, PCI_DRIVERS, Root,
)

_BDF = re.compile(r"^[0-9a-f]{4,8}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
_KEYVAL = re.compile(r"^([EAHL]): ([^=]+)=(.*)$")
_VAL = re.compile(r"^([PS]): (.*)$")
_NODE = re.compile(r"^N: ([^=]+)(?:=([0-9A-Fa-f]*))?$")
_LINK_PRIO = re.compile(r"^L: -?\d+$")
#: one-letter ``udevadm info`` fields umockdev-record passes through but does not use
_UDEVADM_ONLY = frozenset("MRUTDIJQVWGCB")
_NAME = re.compile(r"^[A-Za-z0-9_.:+@-]+$")
#: properties that are udev's own (database), not the kernel's uevent
_UDEV_ONLY_PROPS = ("ID_", "TAGS", "CURRENT_TAGS", "DEVLINKS", "USEC_INITIALIZED", ".")
_ESCAPES = {ord("b"): 0x08, ord("f"): 0x0C, ord("n"): 0x0A, ord("r"): 0x0D,
            ord("t"): 0x09, ord("v"): 0x0B}


def strcompress(s: str) -> bytes:
    """GLib's ``g_strcompress()``: undo ``g_strescape()`` (``A:`` values)."""
    b = s.encode("utf-8", "surrogateescape")
    out = bytearray()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c != 0x5C or i + 1 >= n:       # not a backslash (or a lone trailing one)
            out.append(c)
            i += 1
            continue
        d = b[i + 1]
        if 0x30 <= d <= 0x37:              # \NNN octal, 1-3 digits
            j, v = i + 1, 0
            while j < n and j < i + 4 and 0x30 <= b[j] <= 0x37:
                v = v * 8 + (b[j] - 0x30)
                j += 1
            out.append(v & 0xFF)
            i = j
        else:
            out.append(_ESCAPES.get(d, d))  # \n \t ...; \\ \" and others: the char
            i += 2
    return bytes(out)


def _safe_rel(path: str) -> str | None:
    """``a/b/c`` with no empty, ``.`` or ``..`` parts and no NUL; else None."""
    if not path or "\0" in path or path.startswith("/"):
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    return path


class _Device:
    __slots__ = ("lineno", "devpath", "props", "attrs", "links", "node")

    def __init__(self, lineno: int, devpath: str):
        self.lineno = lineno
        self.devpath = devpath               # "devices/pci0000:00/0000:00:01.0" (no /sys/)
        self.props: dict[str, str] = {}
        self.attrs: list[tuple[int, str, bytes]] = []   # lineno, name, value
        self.links: list[tuple[int, str, str]] = []     # lineno, name, target
        self.node: str | None = None


class _Importer:
    def __init__(self, dest: str):
        self.root = Root(dest)
        self.real = os.path.realpath(self.root.path)
        self.skipped: list[str] = []
        self.devices = 0
        self.seen: set[str] = set()

    def skip(self, where: str, why: str) -> None:
        self.skipped.append(f"{where}: {why}")

    # -- parsing --
    def parse(self, text: str) -> list[_Device]:
        devs: list[_Device] = []
        cur: _Device | None = None
        orphan = False   # inside a paragraph that did not start with P:
        # "\n" only, as umockdev does: E: values may hold other line separators raw
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.rstrip("\r")
            where = f"line {lineno}"
            if not line.strip():
                cur, orphan = None, False
                continue
            if cur is None:
                if orphan:
                    continue
                m = _VAL.match(line)
                if not m or m.group(1) != "P":
                    self.skip(where, f"a device must start with a 'P: /devices/...' line, not "
                                     f"{line[:60]!r}; paragraph skipped")
                    orphan = True
                    continue
                path = m.group(2).strip()
                rel = _safe_rel(path.lstrip("/")) if path.startswith("/devices/") else None
                if rel is None:
                    self.skip(where, f"device path {path[:80]!r} is not a /devices/... path; "
                                     "paragraph skipped")
                    orphan = True
                    continue
                cur = _Device(lineno, rel)
                devs.append(cur)
                continue
            self._line(cur, lineno, line)
        return devs

    def _line(self, dev: _Device, lineno: int, line: str) -> None:
        where = f"line {lineno}"
        m = _KEYVAL.match(line)
        if m:
            kind, key, val = m.groups()
            if kind == "E":
                dev.props[key] = val
            elif kind == "A":
                dev.attrs.append((lineno, key, strcompress(val)))
            elif kind == "H":
                try:
                    if len(val) % 2:
                        raise ValueError
                    dev.attrs.append((lineno, key, bytes.fromhex(val)))
                except ValueError:
                    self.skip(where, f"H: {key}: not an even-length hex string; attribute skipped")
            else:
                dev.links.append((lineno, key, val))
            return
        if _LINK_PRIO.match(line):
            return          # udevadm's devlink priority (umockdev-record drops it too)
        m = _VAL.match(line)
        if m:
            if m.group(1) == "P":
                self.skip(where, "a second P: line inside one device (missing blank line?); ignored")
            return          # S: /dev symlink, ignored like umockdev does
        m = _NODE.match(line)
        if m:
            dev.node = m.group(1).strip()
            return
        if len(line) >= 2 and line[1] == ":" and line[0] in _UDEVADM_ONLY:
            return
        self.skip(where, f"not a umockdev record line: {line[:60]!r}")

    # -- writing --
    def _inside(self, real_path: str) -> bool:
        return real_path == self.real or real_path.startswith(self.real + os.sep)

    def _dir(self, rel: str) -> str | None:
        """Create directory ``rel`` (under the root); None if it would leave the tree."""
        p = self.root.join(rel) if rel else self.root.path
        try:
            os.makedirs(p, exist_ok=True)
        except OSError:
            return None
        want = os.path.join(self.real, rel) if rel else self.real
        if not os.path.isdir(p) or os.path.realpath(p) != want:
            return None     # a symlink somewhere on the way
        return p

    def write_file(self, rel: str, data: bytes) -> bool:
        d = self._dir(os.path.dirname(rel))
        if d is None:
            return False
        p = os.path.join(d, os.path.basename(rel))
        try:
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0),
                         0o644)
        except OSError:
            return False
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return True

    def link(self, rel: str, target: str) -> str | None:
        """Symlink ``rel`` -> ``target`` (relative, must stay in ``sys/``).

        Returns None when made, else why not."""
        if not _sysfs_link_target(target):
            return "not a relative sysfs link (../ first, then names)"
        resolved = os.path.normpath(os.path.join(self.real, os.path.dirname(rel), target))
        if not (resolved + os.sep).startswith(os.path.join(self.real, "sys") + os.sep):
            return "leads out of sys/"
        d = self._dir(os.path.dirname(rel))
        if d is None:
            return "its directory is a link or cannot be created"
        p = os.path.join(d, os.path.basename(rel))
        if os.path.lexists(p):
            if not os.path.islink(p):
                return "a file or directory of that name exists"
            os.unlink(p)
        try:
            os.symlink(target, p)
        except OSError as e:
            return e.strerror or str(e)
        return None

    def link_abs(self, rel: str, target_rel: str) -> str | None:
        """Relative symlink ``rel`` -> ``target_rel`` (both relative to the root)."""
        rel_target = os.path.relpath(self.root.join(target_rel), self.root.join(os.path.dirname(rel)))
        return self.link(rel, rel_target)

    def device(self, dev: _Device) -> None:
        where = f"line {dev.lineno} ({'/' + dev.devpath})"
        if dev.devpath in self.seen:
            self.skip(where, "device recorded twice; the second record is ignored")
            return
        self.seen.add(dev.devpath)
        drel = f"sys/{dev.devpath}"
        if self._dir(drel) is None:
            self.skip(where, "its directory cannot be created inside the tree; device skipped")
            return
        self.devices += 1
        name = os.path.basename(dev.devpath)
        subsystem = dev.props.get("SUBSYSTEM")
        if subsystem is None and "PCI_SLOT_NAME" in dev.props:
            subsystem = "pci"   # only PCI functions carry PCI_SLOT_NAME
        if subsystem is not None and not (_NAME.match(subsystem) and subsystem not in (".", "..")):
            self.skip(where, f"odd SUBSYSTEM {subsystem[:40]!r}; not linked into class/")
            subsystem = ""
        if subsystem is None:
            self.skip(where, "no E: SUBSYSTEM= line; attributes written, not linked into bus/ "
                             "or class/")

        # links first: an attribute "x/y" after a link "x" must not write through it
        links: dict[str, str] = {}
        for lineno, key, target in dev.links:
            a = _safe_rel(key)
            if a is None or a == "subsystem":
                self.skip(f"line {lineno}", f"link name {key[:60]!r} refused")
                continue
            links[a] = target
            if a in ("driver", "iommu_group") and subsystem == "pci":
                continue    # written below, canonical if the recorded one is unusable
            why = self.link(f"{drel}/{a}", target)
            if why:
                self.skip(f"line {lineno}", f"link {a} -> {target[:80]!r} not created: {why}")

        for lineno, key, val in dev.attrs:
            a = _safe_rel(key)
            if a is None or a in ("uevent", "subsystem"):
                self.skip(f"line {lineno}", f"attribute name {key[:60]!r} refused")
            elif a in links or os.path.dirname(a) in links:
                self.skip(f"line {lineno}", f"attribute {a!r} would be written into the link "
                                            f"{a.split('/')[0]!r}; refused")
            elif not self.write_file(f"{drel}/{a}", val):
                self.skip(f"line {lineno}", f"attribute {a!r} cannot be written (a directory or "
                                            "link there?)")

        uevent = []
        for k, v in dev.props.items():
            if k.startswith(_UDEV_ONLY_PROPS):
                continue
            if k == "DEVNAME" and v.startswith("/dev/"):
                v = v[5:]
            uevent.append(f"{k}={v}\n")
        if uevent:
            self.write_file(f"{drel}/uevent", "".join(uevent).encode("utf-8", "surrogateescape"))

        if dev.node is not None:
            n = _safe_rel(dev.node)
            if n is None or not self.write_file(f"dev/{n}", b""):
                self.skip(where, f"device node {dev.node[:60]!r} refused")

        if subsystem == "pci":
            self.pci(dev, drel, name, links, where)
        elif subsystem:
            cls = {"vfio": CLASS_VFIO, "vfio-dev": CLASS_VFIO_DEV}.get(subsystem,
                                                                     f"sys/class/{subsystem}")
            self._dir(cls)
            if not _NAME.match(name) or self.link_abs(f"{cls}/{name}", drel):
                self.skip(where, f"cannot link {cls}/{name}")

    @staticmethod
    def _leads_to(drel: str, target: str, want_rel: str) -> bool:
        """Whether link ``target`` inside directory ``drel`` names ``want_rel``."""
        return os.path.normpath(os.path.join(drel, target)) == want_rel

    def pci(self, dev: _Device, drel: str, name: str, links: dict[str, str], where: str) -> None:
        if not _BDF.match(name):
            self.skip(where, f"SUBSYSTEM=pci but {name[:40]!r} is not a PCI address; "
                             "not linked into bus/pci")
            return
        self.link_abs(f"{drel}/subsystem", "sys/bus/pci")
        self.link_abs(f"{PCI_DEVICES}/{name}", drel)
        if "driver" in links:
            drv = os.path.basename(links["driver"].rstrip("/"))
            if _NAME.match(drv) and drv not in (".", ".."):
                self._dir(f"{PCI_DRIVERS}/{drv}")
                if not self._leads_to(drel, links["driver"], f"{PCI_DRIVERS}/{drv}") or \
                        self.link(f"{drel}/driver", links["driver"]):
                    self.skip(where, f"driver link {links['driver'][:80]!r} does not lead to "
                                     f"{PCI_DRIVERS}/{drv}; rewritten")
                    self.link_abs(f"{drel}/driver", f"{PCI_DRIVERS}/{drv}")
                self.link_abs(f"{PCI_DRIVERS}/{drv}/{name}", drel)
            else:
                self.skip(where, f"driver link {links['driver'][:80]!r}: no driver name; skipped")
        if "iommu_group" in links:
            g = os.path.basename(links["iommu_group"].rstrip("/"))
            if g.isdigit():
                self._dir(f"{IOMMU_GROUPS}/{g}/devices")
                if not self._leads_to(drel, links["iommu_group"], f"{IOMMU_GROUPS}/{g}") or \
                        self.link(f"{drel}/iommu_group", links["iommu_group"]):
                    self.skip(where, f"iommu_group link {links['iommu_group'][:80]!r} does not "
                                     f"lead to {IOMMU_GROUPS}/{g}; rewritten")
                    self.link_abs(f"{drel}/iommu_group", f"{IOMMU_GROUPS}/{g}")
                self.link_abs(f"{IOMMU_GROUPS}/{g}/devices/{name}", drel)
            else:
                self.skip(where, f"iommu_group link {links['iommu_group'][:80]!r}: "
                                 "not a group number; skipped")
        if "iommu" in links and os.path.islink(self.root.join(f"{drel}/iommu")):
            # the kernel links <dev>/iommu only for a device behind an IOMMU unit
            # (iommu_device_link): the unit exists, so list it in class/iommu
            unit = os.path.basename(links["iommu"].rstrip("/"))
            target = os.path.normpath(os.path.join(drel, links["iommu"]))
            if _NAME.match(unit) and self._dir(target) is not None:
                self.link_abs(f"{CLASS_IOMMU}/{unit}", target)
        names = [f"E:{k}={v}\n" for k, v in dev.props.items() if k.startswith("ID_")]
        if names:
            self.write_file(f"{UDEV_DATA}/+pci:{name}",
                            "".join(names).encode("utf-8", "surrogateescape"))


def _sysfs_link_target(target: str) -> bool:
    """A sysfs-shaped relative link: ``../`` parts first, then plain names only."""
    if not target or target.startswith("/") or "\0" in target:
        return False
    parts = target.rstrip("/").split("/")
    i = 0
    while i < len(parts) and parts[i] == "..":
        i += 1
    rest = parts[i:]
    return bool(rest) and all(p not in ("", ".", "..") for p in rest)


def _line_of(note: str) -> int:
    m = re.match(r"line (\d+)", note)
    return int(m.group(1)) if m else 0


def import_umockdev(text: str, dest: str | os.PathLike, *, overwrite: bool = False) -> dict:
    """Write the devices of a umockdev record ``text`` as a fixture root ``dest``.

    ``dest`` must not exist or be an empty directory, unless ``overwrite``
    (then it is removed first); otherwise :class:`~vfioctl.errors.UsageError`.
    Returns ``{"devices": n, "skipped": ["line N: reason", ...]}``; bad lines
    and refused paths are reported there, never raised.  See the module doc
    for the format and the layout written.
    """
    dst = os.fspath(dest)
    if os.path.lexists(dst):
        empty_dir = os.path.isdir(dst) and not os.path.islink(dst) and not os.listdir(dst)
        if not empty_dir:
            if not overwrite:
                raise UsageError(f"{dst} exists and is not empty",
                                 "name a new directory (or remove this one first)")
            if os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst)
            else:
                os.unlink(dst)
    os.makedirs(dst, exist_ok=True)
    imp = _Importer(dst)
    for d in (PCI_DEVICES, PCI_DRIVERS, IOMMU_GROUPS, CLASS_VFIO, CLASS_VFIO_DEV):
        imp._dir(d)
    for dev in imp.parse(text):
        imp.device(dev)
    return {"devices": imp.devices, "skipped": sorted(imp.skipped, key=_line_of)}


def import_umockdev_file(path: str | os.PathLike, dest: str | os.PathLike, *,
                         overwrite: bool = False) -> dict:
    """:func:`import_umockdev` of a file (``-`` is not special); decoding errors are
    kept as surrogates, so a binary byte never aborts the import."""
    from vfioctl.sysfs.root import read_file
    data = read_file(os.fspath(path), "umockdev")   # regular, bounded, non-blocking
    if data is None:
        raise FileNotFoundError(2, "No such file or directory", os.fspath(path))
    text = data.decode("utf-8", "surrogateescape")
    return import_umockdev(text, dest, overwrite=overwrite)
