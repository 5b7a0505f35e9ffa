import pytest

from vfioctl.model.address import AddressError, PciAddress


@pytest.mark.parametrize("text,canon", [
    ("0000:81:00.0", "0000:81:00.0"),
    ("81:00.1", "0000:81:00.1"),
    ("0000:00:1F.7", "0000:00:1f.7"),
    ("10000:e0:06.0", "10000:e0:06.0"),   # VMD domains are wider than 4 digits
    (" 0000:03:00.0\n", "0000:03:00.0"),
])
def test_parse_canonical(text, canon):
    assert str(PciAddress.parse(text)) == canon


@pytest.mark.parametrize("bad", ["", "81:00", "0000:81:00.8", "0000:81:20.0", "zz:00.0",
                                 "0000:081:00.0", "vfio3", "0000-81-00.0"])
def test_parse_rejects(bad):
    with pytest.raises(AddressError):
        PciAddress.parse(bad)


def test_devfn_and_ids():
    a = PciAddress.parse("0000:81:03.5")
    assert a.devfn == (3 << 3) | 5
    assert a.bus_id == "0000:81" and a.slot_id == "0000:81:03"


def test_ordering():
    xs = [PciAddress.parse(t) for t in ("0000:81:00.1", "0000:00:02.0", "0000:81:00.0")]
    assert [str(x) for x in sorted(xs)] == ["0000:00:02.0", "0000:81:00.0", "0000:81:00.1"]
