#!/usr/bin/env python3
"""(Re-)record tests/fixtures/recorded/qemu-q35-{intel-iommu,noiommu}/ from the VM guest.

    python tests/vm/record_fixtures.py [iommu|noiommu ...]

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
    "noiommu": ("tests/fixtures/recorded/qemu-q35-noiommu", [
        {"name": "hold-C", "hold": "@groupdev:C@", "id": "qc", "how": "group", "device": "@bdf:C@",
         "comm": "qemu-system-x86", "check": True},
    ]),
}


def record(mode: str) -> dict:
    dest, holds = TARGETS[mode]
    plan = list(holds) + [
        {"name": "record", "record": dest, "check": True},
        {"name": "slots", "sh": "ls -l /sys/bus/pci/slots/*/; grep . /sys/bus/pci/slots/*/*"},
        {"name": "reset_method", "sh": "grep -H . /sys/bus/pci/devices/*/reset_method"},
    ]
    res = harness.boot(mode, plan)
    bad = [e for e in res if not e["ok"]]
    if bad:
        raise SystemExit(f"{mode}: steps failed:\n" + "\n".join(f"{e['name']}: {e['stderr']}" for e in bad))
    out = harness.CHECKOUT / dest
    argv = (res.results_dir / "qemu.cmdline").read_text().strip()
    info = {
        "mode": mode,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "kernel": res.topology and json.loads((out / "VFIOCTL-SNAPSHOT").read_text())["osrelease"],
        "bzImage": harness.kernel().name,
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
    for m in sys.argv[1:] or list(TARGETS):
        record(m)
