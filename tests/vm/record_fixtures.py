#!/usr/bin/env python3
"""(Re-)record tests/fixtures/recorded/qemu-q35-{intel-iommu,noiommu}/ from the VM guest.

    python tests/vm/record_fixtures.py [iommu|noiommu|stock|sriov|sriov-newer ...]

Every run rewrites tests/fixtures/recorded/EMPTY-DIRS (the trees' empty
directories, which git does not keep).

Boots the guest (see harness.py), starts holder processes so that the trees
contain ``proc/<pid>/fd`` links, and snapshots ``/`` with
vfioctl.sysfs.snapshot.take_snapshot as root (full 4096-byte ``config``).
The holders:

* iommu:   C's group held the legacy way (container + type1v2 + device fd),
           comm ``qemu-system-x86``; S bound through its cdev to an iommufd,
           comm ``qemu-iommufd``;
* noiommu: C's group held the legacy way (container + noiommu + device fd),
           comm ``qemu-system-x86``.

Then writes tests/fixtures/recorded/README.md's per-recording facts to
``<fixture>/RECORDING.json`` (kernel, QEMU command line, date, holders).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402

TARGETS = {
    "iommu": ("tests/fixtures/recorded/qemu-q35-intel-iommu", [
        {"name": "hold-C", "hold": "@groupdev:C@", "id": "qc", "how": "group", "device": "@bdf:C@",
         "comm": "qemu-system-x86", "check": True},
        {"name": "hold-S", "hold": "@cdev:S@", "id": "qs", "how": "cdev", "comm": "qemu-iommufd", "check": True},
    ]),
    "stock": ("tests/fixtures/recorded/qemu-q35-stock", [
        {"name": "hold-C", "hold": "@groupdev:C@", "id": "qc", "how": "group", "device": "@bdf:C@",
         "comm": "qemu-system-x86", "check": True},
    ]),
    "noiommu": ("tests/fixtures/recorded/qemu-q35-noiommu", [
        {"name": "hold-C", "hold": "@groupdev:C@", "id": "qc", "how": "group", "device": "@bdf:C@",
         "comm": "qemu-system-x86", "check": True},
    ]),
}


SRIOV_HOLD = [{"name": "hold-vf", "hold": "@cdev:P1v0@", "id": "vf", "how": "cdev",
               "comm": "qemu-vf-guest", "check": True}]


def record_sriov() -> dict:
    """qemu-q35-sriov-{vfio,igb}: SRIOV_TOPOLOGY under Debian 13's QEMU, PFs on
    vfio-pci (VFs through vfio_pci.enable_sriov) and on igb; in the vfio tree VF
    P1v0 is held through its cdev by ``qemu-vf-guest``."""
    plan = []
    for variant in ("vfio", "igb"):
        dest = f"tests/fixtures/recorded/qemu-q35-sriov-{variant}"
        plan += [{"name": f"variant-{variant}", "run": ["@PYTHON@", "tests/vm/sriov_guest.py", variant],
                  "check": True}]
        holds = SRIOV_HOLD if variant == "vfio" else []
        plan += holds + [{"name": f"record-{variant}", "record": dest, "check": True}]
        plan += [{"release": "vf"}] if holds else []
    res = harness.boot("iommu", plan, topology=harness.SRIOV_TOPOLOGY, qemu="trixie", bind_ids=(),
                       timeout=900)
    bad = [e for e in res if not e["ok"]]
    if bad:
        raise SystemExit("sriov: steps failed:\n" + "\n".join(f"{e['name']}: {e['stderr']}" for e in bad))
    argv = (res.results_dir / "qemu.cmdline").read_text().strip()
    for variant in ("vfio", "igb"):
        dest = f"tests/fixtures/recorded/qemu-q35-sriov-{variant}"
        out = harness.CHECKOUT / dest
        info = {
            "mode": "iommu", "variant": variant,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "kernel": json.loads((out / "VFIOCTL-SNAPSHOT").read_text())["osrelease"],
            "bzImage": harness.kernel().name,
            "qemu": (harness.qemu_root() / ".vfioctl-ready").read_text().strip(),
            "qemu_cmdline": argv,
            "holders": {e["name"]: {"pid": e["pid"], "comm": e["request"].get("comm"),
                                    "how": e["request"].get("how"), "node": e["request"]["hold"]}
                        for e in res if e["kind"] == "hold"} if variant == "vfio" else {},
            "pfs": json.loads(res.step(f"variant-{variant}")["stdout"]),
            "report": res.step(f"record-{variant}")["report"] | {"dest": dest},
        }
        (out / "RECORDING.json").write_text(json.dumps(info, indent=1) + "\n")
        print(f"sriov-{variant}: recorded {dest}; boot wall {res.wall:.1f} s")
    return info


def record_sriov_newer() -> dict:
    """qemu-q35-sriov-newer: SRIOV_TOPOLOGY on the newer (>= 6.17) kernel, PFs on
    vfio-pci with VFs through vfio_pci.enable_sriov; P1's VF token set (the test
    value test_sriov.TOKEN; the kernel keeps it, sysfs does not show it) and VF
    P1v0 held through its cdev WITH that token by ``qemu-vf-guest``."""
    from test_sriov import SET_TOKEN, TOKEN
    dest = "tests/fixtures/recorded/qemu-q35-sriov-newer"
    kpath = harness.newer_kernel()
    plan = [
        {"name": "variant-vfio", "run": ["@PYTHON@", "tests/vm/sriov_guest.py", "vfio"], "check": True},
        {"name": "set-token", "run": ["@PYTHON@", "-c", SET_TOKEN, "@bdf:P1@", TOKEN], "check": True},
        {"name": "hold-vf", "hold": "@cdev:P1v0@", "id": "vf", "how": "cdev", "comm": "qemu-vf-guest",
         "env": {"VF_TOKEN": TOKEN}, "check": True},
        {"name": "cmd", "sh": "od -An -tx2 -j4 -N2 /sys/bus/pci/devices/@bdf:P1v0@/config"},
        {"name": "record", "record": dest, "check": True},
        {"release": "vf"},
    ]
    res = harness.boot("iommu", plan, topology=harness.SRIOV_TOPOLOGY, qemu="trixie", bind_ids=(),
                       timeout=900, kernel_path=kpath)
    bad = [e for e in res if not e["ok"]]
    if bad:
        raise SystemExit("sriov-newer: steps failed:\n" + "\n".join(f"{e['name']}: {e['stderr']}" for e in bad))
    out = harness.CHECKOUT / dest
    info = {
        "mode": "iommu", "variant": "vfio",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kernel": json.loads((out / "VFIOCTL-SNAPSHOT").read_text())["osrelease"],
        "bzImage": kpath.name,
        "qemu": (harness.qemu_root() / ".vfioctl-ready").read_text().strip(),
        "qemu_cmdline": (res.results_dir / "qemu.cmdline").read_text().strip(),
        "vf_token": "P1's token is tests/vm/test_sriov.py TOKEN (set through VFIO_DEVICE_FEATURE); "
                    "the holder bound VF P1v0 with it (VFIO_DEVICE_BIND_FLAG_TOKEN)",
        "holders": {e["name"]: {"pid": e["pid"], "comm": e["request"].get("comm"),
                                "how": e["request"].get("how"), "node": e["request"]["hold"]}
                    for e in res if e["kind"] == "hold"},
        "vf_command_register": res.step("cmd")["stdout"].strip(),
        "pfs": json.loads(res.step("variant-vfio")["stdout"]),
        "report": res.step("record")["report"] | {"dest": dest},
    }
    (out / "RECORDING.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"sriov-newer: recorded {dest}; boot wall {res.wall:.1f} s")
    return info


def write_empty_dirs() -> None:
    """tests/fixtures/recorded/EMPTY-DIRS: the empty directories of every recorded
    tree (git keeps none; tests/conftest.py makes them again before the tests)."""
    base = harness.CHECKOUT / "tests/fixtures/recorded"
    found = sorted(str(p.relative_to(base)) for p in base.rglob("*")
                   if p.is_dir() and not p.is_symlink() and not any(p.iterdir()))
    (base / "EMPTY-DIRS").write_text("".join(f + "\n" for f in found))
    print(f"EMPTY-DIRS: {len(found)} empty directories")


def record(mode: str) -> dict:
    dest, holds = TARGETS[mode]
    plan = list(holds) + [
        {"name": "record", "record": dest, "check": True},
        {"name": "slots", "sh": "ls -l /sys/bus/pci/slots/*/; grep . /sys/bus/pci/slots/*/*"},
        {"name": "reset_method", "sh": "grep -H . /sys/bus/pci/devices/*/reset_method"},
    ]
    kernel = "stock" if mode == "stock" else "custom"
    res = harness.boot("iommu" if mode == "stock" else mode, plan, kernel=kernel)
    bad = [e for e in res if not e["ok"]]
    if bad:
        raise SystemExit(f"{mode}: steps failed:\n" + "\n".join(f"{e['name']}: {e['stderr']}" for e in bad))
    out = harness.CHECKOUT / dest
    argv = (res.results_dir / "qemu.cmdline").read_text().strip()
    info = {
        "mode": mode,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kernel": res.topology and json.loads((out / "VFIOCTL-SNAPSHOT").read_text())["osrelease"],
        "bzImage": harness.kernel().name if kernel == "custom" else str(harness.stock_kernel().name),
        "qemu_cmdline": argv,
        "holders": {e["name"]: {"pid": e["pid"], "comm": e["request"].get("comm"), "how": e["request"].get("how"),
                                "node": e["request"]["hold"]} for e in res if e["kind"] == "hold"},
        "ids": res.topology.get("ids", {}),
        "report": res.step("record")["report"] | {"dest": dest},
    }
    (out / "RECORDING.json").write_text(json.dumps(info, indent=1) + "\n")
    print(f"{mode}: recorded {dest} ({info['report']['files']} files, {info['report']['links']} links, "
          f"skipped {len(info['report']['skipped'])}); boot wall {res.wall:.1f} s")
    print(res.step("slots")["stdout"])
    print(res.step("reset_method")["stdout"])
    return info


if __name__ == "__main__":
    for m in sys.argv[1:] or [*TARGETS, "sriov", "sriov-newer"]:
        {"sriov": record_sriov, "sriov-newer": record_sriov_newer}.get(m, lambda: record(m))()
    write_empty_dirs()
