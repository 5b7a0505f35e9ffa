"""Shared fixtures: scenario trees built per test, and an in-process CLI runner."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vfioctl.testing import scenarios  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
RECORDED = Path(__file__).parent / "fixtures" / "recorded"
UPDATE = os.environ.get("VFIOCTL_UPDATE_GOLDEN") == "1"


@pytest.fixture(autouse=True)
def _deterministic_env(monkeypatch):
    monkeypatch.setenv("VFIOCTL_PCI_IDS", "none")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.delenv("VFIOCTL_ROOT", raising=False)
    monkeypatch.delenv("VFIOCTL_BACKEND", raising=False)
    monkeypatch.delenv("VFIOCTL_SIM_FAULTS", raising=False)


@pytest.fixture
def build(tmp_path):
    """build(name) -> path of a freshly written scenario tree."""
    def _build(name: str) -> str:
        return scenarios.build(name, str(tmp_path / name))
    return _build


@pytest.fixture
def recorded(tmp_path):
    """recorded(name) -> a private copy of a tree recorded from a real kernel."""
    def _copy(name: str) -> str:
        src = RECORDED / name
        if not src.is_dir():
            pytest.fail(f"recorded fixture {name} is missing from {RECORDED}")
        dst = tmp_path / f"rec-{name}"
        shutil.copytree(src, dst, symlinks=True)
        return str(dst)
    return _copy


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def run(args: list[str], *, stdin: str = "") -> Result:
    """Run the CLI in-process (as `vfioctl ARGS`)."""
    from vfioctl.cli.entry import main
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = main(args)
    finally:
        sys.stdin = old_stdin
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli():
    return run


def normalize(text: str, root: str) -> str:
    text = text.replace(os.path.realpath(root), "<ROOT>").replace(root, "<ROOT>")
    return re.sub(r"/tmp/[^\s\"']*?/(?=[a-z-]+/)", "<TMP>/", text)


def pretty(json_text: str) -> str:
    """Golden JSON is stored indented (stdout is compact when not a TTY)."""
    return json.dumps(json.loads(json_text), indent=2) + "\n"


def golden(name: str, text: str) -> None:
    """Compare with tests/golden/NAME (write it with VFIOCTL_UPDATE_GOLDEN=1)."""
    path = GOLDEN / name
    if UPDATE or not path.exists():
        if not UPDATE and os.environ.get("CI") == "true":
            pytest.fail(f"golden file {name} is missing (run with VFIOCTL_UPDATE_GOLDEN=1)")
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"golden file {name} was missing and has been written; review it")
    assert text == path.read_text(), f"output differs from tests/golden/{name}"


def _restore_empty_recorded_dirs() -> None:
    """git keeps no empty directories, but a recorded tree needs the ones the
    kernel had (an empty ``vfio-dev/vfioN`` on the stock kernel, an iommu
    class entry): ``tests/fixtures/recorded/EMPTY-DIRS`` lists them (written
    with ``find . -type d -empty``) and they are made again before any test
    reads a recorded tree, so a fresh clone sees what the guest recorded."""
    base = Path(__file__).parent / "fixtures" / "recorded"
    listing = base / "EMPTY-DIRS"
    if not listing.is_file():
        return
    for line in listing.read_text().splitlines():
        rel = line.strip()
        if rel and not rel.startswith("/") and ".." not in rel.split("/"):
            (base / rel).mkdir(parents=True, exist_ok=True)


_restore_empty_recorded_dirs()
