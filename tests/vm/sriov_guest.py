"""Guest side of the SR-IOV boots: put the igb PFs in a known state.

Runs inside the QEMU guest (stdlib only, root), as a ``run`` step::

    @PYTHON@ tests/vm/sriov_guest.py vfio P1 P2 P3     # variant (a)
    @PYTHON@ tests/vm/sriov_guest.py igb  P1 P2 P3     # variant (b)
    @PYTHON@ tests/vm/sriov_guest.py none P1 P2 P3     # no VFs, PFs on vfio-pci

* ``vfio``: PF on vfio-pci, ``/sys/module/vfio_pci/parameters/enable_sriov``
  set to Y, 2 VFs through ``sriov_numvfs``; vfio-pci captures the VFs
  (driver_override) and binds them.
* ``igb``: PF on the in-kernel igb driver, 2 VFs through ``sriov_numvfs``
  (they come up on igbvf), then each VF handed to vfio-pci.
* ``none``: VFs removed, PF on vfio-pci.

Arguments after the variant are PF addresses or SRIOV_TOPOLOGY ids (chains
from $VFIOCTL_VM_CHAINS as JSON, else the built-in ones).  Prints one JSON
document: every PF and VF with its driver, group and vfio-dev.
"""

from __future__ import annotations

import json
import os
import sys
import time

PCI = "/sys/bus/pci/devices"
CHAINS = {"P1": "02.0/00.0", "P2": "03.0/00.0", "P3": "04.0"}
NUMVFS = 2


def _w(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _r(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _driver(bdf: str) -> str | None:
    try:
        return os.path.basename(os.readlink(f"{PCI}/{bdf}/driver"))
    except OSError:
        return None


def _chain(bdf: str) -> str:
    parts = os.path.realpath(f"{PCI}/{bdf}").split("/")
    return "/".join(p.split(":", 2)[-1] for p in parts if p.count(":") == 2 and "." in p)


def resolve(ident: str) -> str:
    if ident.count(":") == 2:
        return ident
    chain = CHAINS[ident]
    for bdf in os.listdir(PCI):
        if _chain(bdf) == chain:
            return bdf
    raise SystemExit(f"{ident}: no function at chain {chain}")


def vfs(pf: str) -> list[str]:
    out = []
    for n in sorted(os.listdir(f"{PCI}/{pf}")):
        if n.startswith("virtfn"):
            out.append((int(n[6:]), os.path.basename(os.readlink(f"{PCI}/{pf}/{n}"))))
    return [b for _, b in sorted(out)]


def bind(bdf: str, driver: str) -> None:
    cur = _driver(bdf)
    if cur == driver:
        return
    if cur is not None:
        _w(f"{PCI}/{bdf}/driver/unbind", bdf)
    _w(f"{PCI}/{bdf}/driver_override", driver)
    _w("/sys/bus/pci/drivers_probe", bdf)
    for _ in range(100):
        if _driver(bdf) == driver:
            return
        time.sleep(0.05)
    raise SystemExit(f"{bdf}: did not bind to {driver} (driver: {_driver(bdf)})")


def set_numvfs(pf: str, n: int) -> None:
    if int(_r(f"{PCI}/{pf}/sriov_numvfs") or 0) == n:
        return
    if n and int(_r(f"{PCI}/{pf}/sriov_numvfs") or 0):
        _w(f"{PCI}/{pf}/sriov_numvfs", "0")
    _w(f"{PCI}/{pf}/sriov_numvfs", str(n))


def variant(kind: str, pfs: list[str]) -> dict:
    param = "/sys/module/vfio_pci/parameters/enable_sriov"
    for pf in pfs:
        set_numvfs(pf, 0)
        if kind in ("vfio", "none"):
            bind(pf, "vfio-pci")
            if kind == "vfio":
                if os.path.exists(param):
                    _w(param, "Y")
                set_numvfs(pf, NUMVFS)
                for vf in vfs(pf):
                    bind(vf, "vfio-pci")
        elif kind == "igb":
            bind(pf, "igb")
            set_numvfs(pf, NUMVFS)
            for vf in vfs(pf):
                bind(vf, "vfio-pci")
        else:
            raise SystemExit(f"unknown variant {kind!r}")
    return state(pfs)


def state(pfs: list[str]) -> dict:
    def one(bdf):
        g = os.path.join(PCI, bdf, "iommu_group")
        vd = [n for n in os.listdir(f"{PCI}/{bdf}/vfio-dev")] if os.path.isdir(f"{PCI}/{bdf}/vfio-dev") else []
        return {"bdf": bdf, "chain": _chain(bdf), "driver": _driver(bdf),
                "group": os.path.basename(os.readlink(g)) if os.path.islink(g) else None,
                "vfio_dev": vd[0] if vd else None, "reset_method": _r(f"{PCI}/{bdf}/reset_method")}
    return {"enable_sriov": _r("/sys/module/vfio_pci/parameters/enable_sriov"),
            "pfs": [dict(one(pf), numvfs=_r(f"{PCI}/{pf}/sriov_numvfs"),
                         vfs=[one(v) for v in vfs(pf)]) for pf in pfs]}


if __name__ == "__main__":
    if os.environ.get("VFIOCTL_VM_CHAINS"):
        CHAINS.update(json.loads(os.environ["VFIOCTL_VM_CHAINS"]))
    kind, ids = sys.argv[1], sys.argv[2:] or list(CHAINS)
    print(json.dumps(variant(kind, [resolve(i) for i in ids]), indent=1))
