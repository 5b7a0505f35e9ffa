"""Decode the parts of PCI config space vfioctl needs.

Input is the bytes of ``/sys/bus/pci/devices/<bdf>/config``.  As non-root the
kernel returns only the first 64 bytes (``pci_read_config`` in
drivers/pci/pci-sysfs.c caps unprivileged reads at the standard header), so
capability-derived facts are *unknown* then, never guessed.

Offsets: PCI Local Bus spec 3.0 §6.1 (header), PCIe base spec 7.5.3 (PCIe
capability), PCI PM spec 1.2 §3.2 (PMCSR), PCI Advanced Features ECN.
"""

from __future__ import annotations

from typing import NamedTuple

from vfioctl.model.host import PCIE_PORT_TYPES, ResetCaps

CAP_ID_PM = 0x01
CAP_ID_EXP = 0x10
CAP_ID_AF = 0x13
STATUS_CAP_LIST = 0x10


class Header(NamedTuple):   # made once per function: a tuple is the cheapest record
    vendor: int
    device: int
    revision: int
    class_code: int
    header_type: int
    subsystem_vendor: int | None
    subsystem_device: int | None
    secondary_bus: int | None
    subordinate_bus: int | None


def _u16(b: bytes, o: int) -> int:
    return b[o] | (b[o + 1] << 8)


def _u32(b: bytes, o: int) -> int:
    return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)


def parse_header(cfg: bytes) -> Header | None:
    """Decode the standard 64-byte header; None if too short or all-ones."""
    if len(cfg) < 64:
        return None
    vendor = _u16(cfg, 0)
    if vendor in (0xFFFF, 0x0000):
        return None
    htype = cfg[0x0E] & 0x7F
    sv = sd = sec = sub = None
    if htype == 0:
        sv, sd = _u16(cfg, 0x2C), _u16(cfg, 0x2E)
    elif htype == 1:
        sec, sub = cfg[0x19], cfg[0x1A]
    return Header(vendor=vendor, device=_u16(cfg, 2), revision=cfg[8],
                  class_code=cfg[9] | (cfg[10] << 8) | (cfg[11] << 16),
                  header_type=htype, subsystem_vendor=sv, subsystem_device=sd,
                  secondary_bus=sec, subordinate_bus=sub)


def parse_caps(cfg: bytes) -> ResetCaps:
    """Walk the standard capability list for FLR / PM / PCIe facts.

    Returns all-None (unknown) when only the 64-byte header is available.
    """
    if len(cfg) <= 64:
        return ResetCaps()
    status = _u16(cfg, 6)
    flr = af = pm = ptype = hpc = None
    found_exp = found_af = found_pm = False
    if status & STATUS_CAP_LIST:
        ptr = cfg[0x34] & 0xFC
        seen = set()
        while ptr and ptr not in seen and ptr + 2 <= len(cfg):
            seen.add(ptr)
            cid = cfg[ptr]
            if cid == CAP_ID_EXP and ptr + 0x18 <= len(cfg):
                found_exp = True
                pcie_caps = _u16(cfg, ptr + 2)
                ptype = PCIE_PORT_TYPES.get((pcie_caps >> 4) & 0xF, "other")
                devcap = _u32(cfg, ptr + 4)
                flr = bool(devcap & (1 << 28))
                if pcie_caps & (1 << 8):  # slot implemented
                    sltcap = _u32(cfg, ptr + 0x14)
                    hpc = bool(sltcap & (1 << 6))
            elif cid == CAP_ID_AF and ptr + 4 <= len(cfg):
                found_af = True
                af = bool(cfg[ptr + 3] & 0x02) and bool(cfg[ptr + 3] & 0x01)
            elif cid == CAP_ID_PM and ptr + 6 <= len(cfg):
                found_pm = True
                pmcsr = _u16(cfg, ptr + 4)
                pm = not bool(pmcsr & 0x08)  # NoSoftRst- means D3hot->D0 resets
            ptr = cfg[ptr + 1] & 0xFC
    return ResetCaps(
        flr=flr if found_exp else False,
        af_flr=af if found_af else False,
        pm_reset=pm if found_pm else False,
        pcie_type=ptype,
        hotplug_capable=hpc,
    )
