"""libvirt's virt-host-validate beside vfioctl doctor: parse its lines and
compare verdicts (used on this machine and inside the VM guests).

virt-host-validate (Debian libvirt-clients; tools/virt-host-validate-common.c
virHostValidateIOMMU, binding-host-fleet.md §C.1) prints lines such as::

  QEMU: Checking for device assignment IOMMU support      : WARN (Unknown if ...)

Its IOMMU checks run at WARN level, so a failed check shows WARN.  Every line
about device assignment, IOMMU or VFIO must map to a doctor check here; an
unmapped one fails the comparison (so a new libvirt line cannot slip by).
"""

from __future__ import annotations

import re
import shutil
import subprocess

LINE = re.compile(r"^\s*(?P<hv>\w+): (?P<what>.*?)\s*: (?P<status>PASS|WARN|FAIL|NOTE|SKIP)"
                  r"(?: \((?P<msg>.*)\))?\s*$")

#: virt-host-validate check text -> doctor check id
MAPPING = {
    "Checking for device assignment IOMMU support": "iommu-firmware",
    "Checking if IOMMU is enabled by kernel": "iommu-kernel",
}
RELEVANT = re.compile(r"IOMMU|VFIO|device assignment", re.I)


def parse(text: str) -> list[dict]:
    out = []
    for ln in text.splitlines():
        m = LINE.match(ln)
        if m:
            out.append(m.groupdict())
    return out


def relevant(lines: list[dict]) -> list[dict]:
    return [ln for ln in lines if ln["hv"] == "QEMU" and RELEVANT.search(ln["what"])]


def find_binary() -> str | None:
    return shutil.which("virt-host-validate")


def run_local() -> tuple[int, str]:
    p = subprocess.run([find_binary(), "qemu"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    return p.returncode, p.stdout


def compare(vhv_text: str, doctor_doc: dict) -> list[str]:
    """Problems (empty = agreement): for every device-assignment line
    virt-host-validate printed, doctor's finding must exist and agree (PASS <->
    pass; WARN/FAIL <-> warn, fail or cannot-tell), and doctor must say more (a
    remedy for a non-pass, evidence always)."""
    problems = []
    lines = relevant(parse(vhv_text))
    if not lines:
        problems.append("virt-host-validate printed no device-assignment line:\n" + vhv_text)
    by_id = {(f["check"], f["subject"]): f for f in doctor_doc["findings"]}
    for ln in lines:
        cid = MAPPING.get(ln["what"])
        if cid is None:
            problems.append(f"unmapped virt-host-validate line: {ln['what']!r}")
            continue
        f = by_id.get((cid, "host"))
        if f is None:
            problems.append(f"doctor has no {cid} finding for {ln['what']!r}")
            continue
        agree = (f["status"] == "pass") == (ln["status"] == "PASS")
        if not agree:
            problems.append(f"{ln['what']}: virt-host-validate {ln['status']} ({ln['msg']}), "
                            f"doctor {cid} {f['status']}: {f['meaning']}")
        if not f["evidence"]:
            problems.append(f"doctor {cid} shows no evidence")
        if f["status"] != "pass" and not f["remedy"]:
            problems.append(f"doctor {cid} gives no remedy where virt-host-validate says "
                            f"{ln['status']}")
    return problems
