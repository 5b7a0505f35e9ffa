"""PCI function addresses (``DDDD:BB:DD.F``), parsed strictly.

The kernel names PCI functions ``%04x:%02x:%02x.%d`` (``pci_name()``); users
also type the short ``BB:DD.F`` form (lspci's default), which means domain 0.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_FULL = re.compile(r"^([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-1]?[0-9a-fA-F])\.([0-7])$")
_SHORT = re.compile(r"^([0-9a-fA-F]{2}):([0-1]?[0-9a-fA-F])\.([0-7])$")


class AddressError(ValueError):
    """Text that is not a PCI function address."""


class PciAddress(NamedTuple):
    """Immutable, ordered and hashed as the tuple (domain, bus, slot, function)
    (a tuple: hashing and comparing run in C, and addresses are dictionary
    keys everywhere)."""

    domain: int
    bus: int
    slot: int
    function: int

    @classmethod
    def parse(cls, text: str) -> "PciAddress":
        """Parse ``0000:81:00.0`` or ``81:00.0``; raise :class:`AddressError`."""
        return _parse(text)

    @classmethod
    def _parse(cls, text: str) -> "PciAddress":
        t = text.strip()
        m = _FULL.match(t)
        if m:
            dom, bus, dev, fn = (int(g, 16) for g in m.groups())
        else:
            m = _SHORT.match(t)
            if not m:
                raise AddressError(text)
            dom = 0
            bus, dev, fn = (int(g, 16) for g in m.groups())
        if dev > 0x1F:
            raise AddressError(text)
        return cls(dom, bus, dev, fn)

    @classmethod
    def try_parse(cls, text: str) -> "PciAddress | None":
        try:
            return cls.parse(text)
        except AddressError:
            return None

    @property
    def devfn(self) -> int:
        return (self.slot << 3) | self.function

    @property
    def bus_id(self) -> str:
        """``DDDD:BB`` as the kernel names a bus (``pci_bus`` device name)."""
        return f"{self.domain:04x}:{self.bus:02x}"

    @property
    def slot_id(self) -> str:
        """``DDDD:BB:DD`` as ``/sys/bus/pci/slots/*/address`` shows it."""
        return f"{self.domain:04x}:{self.bus:02x}:{self.slot:02x}"

    def __str__(self) -> str:
        return _text(self)


@lru_cache(maxsize=65536)
def _parse(text: str) -> PciAddress:
    # sysfs names the same function many times (device, group member, parent)
    return PciAddress._parse(text)


@lru_cache(maxsize=65536)
def _text(a: PciAddress) -> str:
    return f"{a.domain:04x}:{a.bus:02x}:{a.slot:02x}.{a.function:x}"
