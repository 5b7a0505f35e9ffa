"""``vfioctl snapshot``: record a host (or import a umockdev record) as a root."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile

from vfioctl.errors import HostError, UsageError
from vfioctl.present import jsondoc as jd

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


def is_tarball(path: str) -> bool:
    return path.endswith(TAR_SUFFIXES)


def snapshot(st, out_path: str, *, from_umockdev: str | None, force: bool) -> dict:
    out_path = os.path.abspath(out_path)
    if os.path.lexists(out_path) and not force:
        if not (os.path.isdir(out_path) and not os.listdir(out_path)):
            raise UsageError(f"{out_path} already exists", "choose another OUT or pass --force")
    parent = os.path.dirname(out_path)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise HostError(f"cannot write {out_path}: {parent} is not a writable directory",
                        "choose OUT inside an existing directory you can write")
    tar = is_tarball(out_path)
    work = tempfile.mkdtemp(prefix="vfioctl-snapshot-") if tar else None
    dest = os.path.join(work, "root") if tar else out_path
    try:
        if not tar and os.path.lexists(out_path) and force:
            shutil.rmtree(out_path) if os.path.isdir(out_path) else os.unlink(out_path)
        if from_umockdev:
            from vfioctl.sysfs.umockdev import import_umockdev_file
            try:
                report = import_umockdev_file(from_umockdev, dest)
            except OSError as e:
                raise HostError(f"cannot read {from_umockdev}: {e.strerror}",
                                "give the path of a umockdev-record file") from None
            report.setdefault("files", sum(len(f) for _, _, f in os.walk(dest)))
            report.setdefault("links", 0)
            report.setdefault("skipped", [])
        else:
            from vfioctl.sysfs.snapshot import take_snapshot
            src = st.root_path()
            if not os.path.isdir(os.path.join(src, "sys")):
                raise HostError(f"root {src} has no sys/ directory",
                                "pass --root DIR naming a directory that holds sys/")
            try:
                report = take_snapshot(src, dest)
            except OSError as e:
                raise HostError(f"cannot write the snapshot to {out_path}: {e.strerror}",
                                "check the free space and permissions of OUT's directory") from None
        if tar:
            mode = "w:gz" if out_path.endswith((".gz", ".tgz")) else "w"
            tmp_tar = out_path + ".part"
            with tarfile.open(tmp_tar, mode) as t:
                t.add(dest, arcname=".")
            os.replace(tmp_tar, out_path)
    finally:
        if work:
            shutil.rmtree(work, ignore_errors=True)
    report = dict(report, dest=None)
    return jd.doc("snapshot", out=out_path, tarball=tar,
                  source=("umockdev:" + os.path.abspath(from_umockdev)) if from_umockdev
                  else st.root_path(), report=report)


def open_tarball_root(path: str) -> tuple[str, str]:
    """Extract a snapshot tarball to a private directory: (root, tempdir)."""
    tmp = tempfile.mkdtemp(prefix="vfioctl-root-")
    try:
        with tarfile.open(path) as t:
            try:
                t.extractall(tmp, filter="tar")   # no absolute paths, no escapes
            except TypeError:  # Python without extraction filters
                for m in t.getmembers():
                    if m.name.startswith("/") or ".." in m.name.split("/"):
                        raise tarfile.TarError(f"unsafe member {m.name}")
                t.extractall(tmp)
    except (tarfile.TarError, OSError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise HostError(f"cannot read snapshot tarball {path}: {e}",
                        "give a tarball written by 'vfioctl snapshot OUT.tar.gz'") from None
    return tmp, tmp
