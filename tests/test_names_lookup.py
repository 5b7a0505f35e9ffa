"""lookup_name (one vendor/device pair, for a host read on demand) finds
exactly what parse_pci_ids finds."""

import os
import re

import pytest

from vfioctl.sysfs.names import lookup_name, lookup_pci_ids

SYNTHETIC = b"""# comment
0001  First vendor
\t0002  Dev two
\t\t1234 5678  Subsystem (not a device line)
# a comment inside
\t0003  Dev three
1af4  Red Hat, Inc.
\t0002  Other vendor's two
\t1000  Virtio network device

C 00  Unclassified device
\t00  Non-VGA
"""


def _check(data: bytes) -> int:
    end = data.find(b"\nC ")
    end = len(data) if end < 0 else end
    vendors = {int(m.group(1), 16) for m in re.finditer(rb"\n([0-9a-f]{4})  ", data[:end])}
    table = lookup_pci_ids(data, vendors)
    devices = {d for (_, d) in table if d is not None} | {0x0004, 0x5678}
    n = 0
    for v in vendors:
        for d in devices:
            assert lookup_name(data, v, d, end) == (table.get((v, None)), table.get((v, d)))
            n += 1
        assert lookup_name(data, v, None) == (table.get((v, None)), None)
    assert lookup_name(data, 0xBEEF, 0x0002) == (None, None)
    return n


def test_synthetic_pci_ids():
    assert _check(b"\n" + SYNTHETIC) > 0
    assert lookup_name(b"\n" + SYNTHETIC, 0x0001, 0x0003) == ("First vendor", "Dev three")
    assert lookup_name(b"\n" + SYNTHETIC, 0x0001, 0x1000) == ("First vendor", None)


@pytest.mark.skipif(not os.path.isfile("/usr/share/misc/pci.ids"), reason="no pci.ids")
def test_the_real_pci_ids():
    with open("/usr/share/misc/pci.ids", "rb") as f:
        data = f.read()
    end = data.find(b"\nC ")
    vendors = {int(m.group(1), 16) for m in re.finditer(rb"\n([0-9a-f]{4})  ", data[:end])}
    table = lookup_pci_ids(data, vendors)
    for k, ((v, d), name) in enumerate(table.items()):
        if d is not None and k % 37 == 0:   # a sample: every entry takes ~20 s
            assert lookup_name(data, v, d, end) == (table[(v, None)], name)
