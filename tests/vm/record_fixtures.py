#!/usr/bin/env python3
"""(Re-)record tests/fixtures/recorded/qemu-q35-{intel-iommu,noiommu}/ from the VM guest.

    python tests/vm/record_fixtures.py [iommu|noiommu|sriov ...]

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
    for m in sys.argv[1:] or [*TARGETS, "sriov"]:
        record_sriov() if m == "sriov" else record(m)
