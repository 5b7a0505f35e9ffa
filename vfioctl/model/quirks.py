"""Devices with known reset problems (pure data).

AMD GPUs whose reset is fixed by gnif/vendor-reset (084881c,
``udev/99-vendor-reset.rules`` and ``src/device-db.h``); vendor 0x1002.
With the module loaded the kernel offers ``device_specific`` first, and the
project's udev rule makes it the *only* method (binding-host-fleet.md §C.9).
A newer rules file (033fb45) also lists 0x73FF (Navi 23) with no entry in
the module's device table; it is left out here.
"""

from __future__ import annotations

AMD = 0x1002

VENDOR_RESET_FAMILIES: dict[str, tuple[int, ...]] = {
    "Polaris10": (0x67C0, 0x67C1, 0x67C2, 0x67C4, 0x67C7, 0x67D0, 0x67DF, 0x67C8, 0x67C9,
                  0x67CA, 0x67CC, 0x67CF, 0x6FDF),
    "Polaris11": (0x67E0, 0x67E3, 0x67E8, 0x67EB, 0x67EF, 0x67FF, 0x67E1, 0x67E7, 0x67E9),
    "Polaris12": (0x6980, 0x6981, 0x6985, 0x6986, 0x6987, 0x6995, 0x6997, 0x699F),
    "Vega10": (0x6860, 0x6861, 0x6862, 0x6863, 0x6864, 0x6867, 0x6868, 0x6869, 0x686A,
               0x686B, 0x686C, 0x686D, 0x686E, 0x686F, 0x687F),
    "Vega20": (0x66A0, 0x66A1, 0x66A2, 0x66A3, 0x66A4, 0x66A7, 0x66AF),
    "Navi10": (0x7310, 0x7312, 0x7318, 0x7319, 0x731A, 0x731B, 0x731E, 0x731F),
    "Navi14": (0x7340, 0x7341, 0x7347, 0x734F),
    "Navi12": (0x7360, 0x7362),
    "Arcturus": (0x738C,),
}

#: (vendor, device) -> family
VENDOR_RESET_IDS: dict[tuple[int, int], str] = {
    (AMD, d): fam for fam, ids in VENDOR_RESET_FAMILIES.items() for d in ids}


def vendor_reset_family(vendor: int | None, device: int | None) -> str | None:
    if vendor is None or device is None:
        return None
    return VENDOR_RESET_IDS.get((vendor, device))
