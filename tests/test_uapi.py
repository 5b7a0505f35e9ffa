"""vfioctl.kernel.uapi against the kernel's own headers, plus pack/unpack and explain().

Header comparison: a C probe is generated from uapi's tables (every ioctl,
constant, struct ``sizeof`` and member ``offsetof``), compiled with gcc against

* the 6.12 UAPI headers (linux-libc-dev from bookworm-backports, fetched by
  ``tests/headers/fetch-headers.sh`` into a cache; ``VFIOCTL_KERNEL_HEADERS``
  may point at any ``usr/include`` instead), with this machine's ``asm/``;
* the same headers with other architectures' ``asm/ioctl.h`` (powerpc, mips,
  sparc, alpha, parisc, arm64, s390x, riscv) - request numbers and ``_IOC_*``
  only, to check :func:`uapi.abi_for_machine`;
* the distro's own ``/usr/include`` (6.1 on bookworm), where the 6.6 cdev
  additions must be *absent* - which checks the ``since`` data.

Under ``CI=true`` a missing gcc or a failed header fetch fails the test;
locally it skips with the reason.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from vfioctl.kernel import base, uapi
from vfioctl.kernel.base import DependentDevice

REPO = Path(__file__).resolve().parent.parent
FETCH = REPO / "tests" / "headers" / "fetch-headers.sh"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the header comparison must run)")
    pytest.skip(reason)


# ---------------------------------------------------------------------------
# probe generation
# ---------------------------------------------------------------------------


def _ver(s: str) -> tuple[int, int]:
    a, b = s.split(".")[:2]
    return int(a), int(b)


def _guard(since: str | None, flag: str | None) -> str | None:
    """C preprocessor condition for a member/constant that is younger than its struct."""
    if flag:
        return f"defined({flag})"
    if since:
        a, b = _ver(since)
        return f"LINUX_VERSION_CODE >= KERNEL_VERSION({a},{b},0)"
    return None


#: struct -> the ioctl macro whose presence means the struct exists in a header.
_LAYOUT_GUARD = {
    "vfio_pci_dependent_device": "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
    **{spec.layout.c_name: spec.name for spec in uapi.IOCTLS.values() if spec.layout},
}
#: union aliases: the member that arrived later than the union's first member.
_ALIAS_SINCE = {("vfio_pci_dependent_device", "devid"): "VFIO_PCI_DEVID_OWNED"}
#: macros that are enum members, not #defines (cannot be #ifdef'd): guard with a macro instead.
_ENUM_CONSTANTS = {"IOMMUFD_CMD_BASE": "IOMMU_DESTROY"}
#: constants compared as unsigned 32-bit values (uapi/vfio.h writes -1 into a __u32).
_U32_CONSTANTS = {"VFIO_PCI_DEVID_NOT_OWNED"}


def probe_source(*, layouts: bool = True) -> str:
    out = [
        "#include <stdio.h>",
        "#include <stddef.h>",
        "#include <linux/version.h>",
        "#include <linux/ioctl.h>",
        "#include <linux/types.h>",
        "#include <linux/vfio.h>",
        "#if __has_include(<linux/iommufd.h>)",
        "#include <linux/iommufd.h>",
        "#endif",
        "#ifndef KERNEL_VERSION",
        "#define KERNEL_VERSION(a,b,c) (((a) << 16) + ((b) << 8) + (c))",
        "#endif",
        "int main(void) {",
        '  printf("version %u\\n", (unsigned)LINUX_VERSION_CODE);',
        '  printf("ioc NONE %u\\nioc WRITE %u\\nioc READ %u\\nioc SIZEBITS %u\\nioc DIRBITS %u\\n",'
        " (unsigned)_IOC_NONE, (unsigned)_IOC_WRITE, (unsigned)_IOC_READ,"
        " (unsigned)_IOC_SIZEBITS, (unsigned)_IOC_DIRBITS);",
        # full _IOC model (VFIO itself only uses _IO): direction bits and size position
        '  printf("iocx IOR %lu\\n", (unsigned long)_IOR(\';\', 0x42, struct vfio_group_status));',
        '  printf("iocx IOW %lu\\n", (unsigned long)_IOW(\';\', 0x42, struct vfio_group_status));',
        '  printf("iocx IOWR %lu\\n", (unsigned long)_IOWR(\';\', 0x42, struct vfio_group_status));',
    ]
    for name, spec in uapi.IOCTLS.items():
        out += [f"#ifdef {name}",
                f'  printf("ioctl {name} %lu\\n", (unsigned long)({name}));',
                "#else", f'  printf("missing ioctl {name}\\n");', "#endif"]
    for name in uapi.CONSTANTS:
        guard = _ENUM_CONSTANTS.get(name, name)
        expr = f"(long long)(__u32)({name})" if name in _U32_CONSTANTS else f"(long long)({name})"
        out += [f"#ifdef {guard}",
                f'  printf("const {name} %lld\\n", {expr});',
                "#else", f'  printf("missing const {name}\\n");', "#endif"]
    if layouts:
        for lay in uapi.LAYOUTS.values():
            s = f"struct {lay.c_name}"
            out.append(f"#ifdef {_LAYOUT_GUARD[lay.c_name]}")
            out.append(f'  printf("sizeof {lay.c_name} %zu\\n", sizeof({s}));')
            members = [(f.name, _guard(f.since, f.flag)) for f in lay.fields]
            members += [(a, f"defined({_ALIAS_SINCE[(lay.c_name, a)]})")
                        for f in lay.fields for a in f.aliases]
            if lay.flex:
                members.append((lay.flex[0], None))
            for m, g in members:
                if g:
                    out.append(f"#if {g}")
                out.append(f'  printf("offsetof {lay.c_name} {m} %zu\\n", offsetof({s}, {m}));')
                if g:
                    out.append("#endif")
            out.append("#endif")
    out += ["  return 0;", "}"]
    return "\n".join(out) + "\n"


def run_probe(tmp_path: Path, includes: list[str], *, layouts: bool = True, tag: str = "p") -> dict:
    src = tmp_path / f"{tag}.c"
    exe = tmp_path / tag
    src.write_text(probe_source(layouts=layouts))
    cmd = ["gcc", "-std=gnu11", "-Wall"]
    cmd += [f"-I{i}" for i in includes] + ["-o", str(exe), str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"probe did not compile with {includes}:\n{proc.stderr}"
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout
    res: dict = {"ioctl": {}, "const": {}, "sizeof": {}, "offsetof": {}, "ioc": {}, "iocx": {},
                 "missing": set()}
    for line in out.splitlines():
        w = line.split()
        if w[0] == "version":
            v = int(w[1])
            res["version"] = (v >> 16, (v >> 8) & 0xFF)
        elif w[0] == "missing":
            res["missing"].add((w[1], w[2]))
        elif w[0] in ("ioctl", "const", "ioc", "iocx", "sizeof"):
            res[w[0]][w[1]] = int(w[2])
        elif w[0] == "offsetof":
            res["offsetof"][(w[1], w[2])] = int(w[3])
    return res


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcc() -> str:
    path = shutil.which("gcc")
    if not path:
        _unavailable("gcc not found: cannot compile the header probe")
    return path


@pytest.fixture(scope="module")
def headers_612(gcc) -> Path:
    env = os.environ.get("VFIOCTL_KERNEL_HEADERS")
    if env:
        inc = Path(env)
    else:
        if not shutil.which("bash"):
            _unavailable("bash not found: cannot run tests/headers/fetch-headers.sh")
        proc = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, timeout=600)
        if proc.returncode != 0 or not proc.stdout.strip():
            _unavailable("could not fetch linux-libc-dev 6.12 headers "
                         f"(tests/headers/fetch-headers.sh): {proc.stderr.strip()[-400:]}")
        inc = Path(proc.stdout.strip().splitlines()[-1])
    if not (inc / "linux" / "vfio.h").is_file():
        _unavailable(f"{inc} has no linux/vfio.h")
    return inc


def _multiarch(gcc: str) -> str:
    out = subprocess.run([gcc, "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    return out or "x86_64-linux-gnu"


def _check_against(res: dict, abi: uapi.IocAbi, *, layouts: bool = True) -> int:
    """Assert ``res`` (one probe run) agrees with uapi; returns how many values were compared."""
    version = res["version"]
    n = 0
    # _IOC encoding
    assert res["ioc"] == {"NONE": abi.none, "WRITE": abi.write, "READ": abi.read,
                          "SIZEBITS": abi.sizebits, "DIRBITS": abi.dirbits}, abi.name
    n += 5
    size = struct.calcsize("=II")  # struct vfio_group_status
    assert res["iocx"] == {"IOR": abi.ior(";", 0x42, size), "IOW": abi.iow(";", 0x42, size),
                           "IOWR": abi.iowr(";", 0x42, size)}, abi.name
    n += 3
    # ioctls
    for name, spec in uapi.IOCTLS.items():
        if ("ioctl", name) in res["missing"]:
            assert version < _ver(spec.since), f"{name} missing from {version} headers (since {spec.since})"
            continue
        assert version >= _ver(spec.since), f"{name} present in {version} headers, since says {spec.since}"
        assert res["ioctl"][name] == spec.request_for(abi), (name, hex(res["ioctl"][name]))
        n += 1
    # constants
    for name, (value, since) in uapi.CONSTANTS.items():
        if ("const", name) in res["missing"]:
            assert version < _ver(since), f"{name} missing from {version} headers (since {since})"
            continue
        assert res["const"][name] == value, name
        n += 1
    if not layouts:
        return n
    # layouts
    for lay in uapi.LAYOUTS.values():
        if lay.c_name not in res["sizeof"]:
            guard = _LAYOUT_GUARD[lay.c_name]
            assert ("ioctl", guard) in res["missing"], lay.c_name
            continue
        present = set()
        for f in lay.fields:
            key = (lay.c_name, f.name)
            if key in res["offsetof"]:
                present.add(f.name)
                assert res["offsetof"][key] == lay.offsets[f.name], key
                n += 1
            for a in f.aliases:
                if (lay.c_name, a) in res["offsetof"]:
                    assert res["offsetof"][(lay.c_name, a)] == lay.offsets[a]
                    n += 1
        if lay.flex:
            assert res["offsetof"][(lay.c_name, lay.flex[0])] == lay.offsets[lay.flex[0]]
            n += 1
        # every member vfioctl sends must exist in any header that has the struct ...
        missing_sent = [f.name for f in lay.fields if not f.ext and f.name not in present
                        and (f.since is None or version >= _ver(f.since))]
        assert not missing_sent, (lay.c_name, missing_sent)
        # ... and sizeof must be exactly the layout restricted to the members present
        assert res["sizeof"][lay.c_name] == lay.size_with(present), lay.c_name
        n += 1
    return n


# ---------------------------------------------------------------------------
# header tests
# ---------------------------------------------------------------------------


def test_matches_612_headers(tmp_path, gcc, headers_612):
    res = run_probe(tmp_path, [str(headers_612), str(headers_612 / _multiarch(gcc))])
    assert res["version"] >= (6, 12), res["version"]
    assert not res["missing"] - {("const", n) for n, (_, s) in uapi.CONSTANTS.items()
                                 if _ver(s) > res["version"]}
    n = _check_against(res, uapi.IOC_ABI)
    # 8 _IOC values, 16 ioctls, constants, ~40 offsets/sizes: make sure nothing was skipped silently
    assert n >= 80, n
    # the numbers the 6.12 guest reported (real-kernel-vm.md §5), on x86_64
    if uapi.IOC_ABI is uapi.IOC_ABI_GENERIC:
        assert res["ioctl"]["VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"] == 0x3B70
        assert res["ioctl"]["VFIO_DEVICE_PCI_HOT_RESET"] == 0x3B71
        assert res["ioctl"]["VFIO_DEVICE_BIND_IOMMUFD"] == 0x3B76
        assert res["ioctl"]["IOMMU_IOAS_ALLOC"] == 0x3B81
    # 6.12 sizes observed on the guest: bind 16, attach 12 (no token / pasid members yet)
    assert res["sizeof"]["vfio_device_bind_iommufd"] == 16
    assert res["sizeof"]["vfio_device_attach_iommufd_pt"] == 12
    assert res["sizeof"]["vfio_pci_hot_reset_info"] == base.HOT_RESET_INFO_HDR
    assert res["sizeof"]["vfio_pci_dependent_device"] == base.DEPENDENT_DEVICE_SIZE


#: Debian multiarch triplet -> a platform.machine() value of that architecture
FOREIGN = {
    "powerpc64le-linux-gnu": "ppc64le",
    "powerpc-linux-gnu": "ppc",
    "mips64el-linux-gnuabi64": "mips64",
    "sparc64-linux-gnu": "sparc64",
    "alpha-linux-gnu": "alpha",
    "hppa-linux-gnu": "parisc",
    "aarch64-linux-gnu": "aarch64",
    "s390x-linux-gnu": "s390x",
    "riscv64-linux-gnu": "riscv64",
}


@pytest.mark.parametrize("triplet", sorted(FOREIGN))
def test_request_numbers_other_architectures(tmp_path, gcc, headers_612, triplet):
    asm = headers_612 / triplet
    if not (asm / "asm" / "ioctl.h").is_file():
        _unavailable(f"{triplet}/asm/ioctl.h not in the fetched headers")
    res = run_probe(tmp_path, [str(headers_612), str(asm)], layouts=False, tag=triplet)
    abi = uapi.abi_for_machine(FOREIGN[triplet])
    _check_against(res, abi, layouts=False)
    if abi is uapi.IOC_ABI_NONZERO_NONE:  # _IOC_NONE = 1 at bit 29
        assert res["ioctl"]["VFIO_GET_API_VERSION"] == (1 << 29) | 0x3B64


def test_distro_headers_lack_cdev_additions(tmp_path, gcc):
    """The distro's /usr/include (6.1 on bookworm): older uapi, ``since`` data must agree."""
    if not Path("/usr/include/linux/vfio.h").is_file():
        _unavailable("no /usr/include/linux/vfio.h (install linux-libc-dev)")
    res = run_probe(tmp_path, [], tag="distro")
    _check_against(res, uapi.IOC_ABI)
    if res["version"] < (6, 6):
        assert ("ioctl", "VFIO_DEVICE_BIND_IOMMUFD") in res["missing"]
        assert res["sizeof"]["vfio_device_info"] in (20, 24)


def test_probe_mentions_every_table_entry():
    src = probe_source()
    for name in uapi.IOCTLS:
        assert f"ioctl {name} " in src
    for name in uapi.CONSTANTS:
        assert f"const {name} " in src
    for lay in uapi.LAYOUTS.values():
        for f in lay.fields:
            assert f"offsetof {lay.c_name} {f.name} " in src


# ---------------------------------------------------------------------------
# encoding and table
# ---------------------------------------------------------------------------


def test_io_encoding_families():
    g, p, h = uapi.IOC_ABI_GENERIC, uapi.IOC_ABI_NONZERO_NONE, uapi.IOC_ABI_PARISC
    assert g.io(";", 100) == 0x3B64
    assert p.io(";", 100) == 0x20003B64
    assert h.io(";", 100) == 0x3B64
    assert g.iowr(";", 1, 8) == (3 << 30) | (8 << 16) | 0x3B01
    assert p.iowr(";", 1, 8) == (6 << 29) | (8 << 16) | 0x3B01
    with pytest.raises(ValueError):
        g.ioc(0, ";", 256, 0)
    with pytest.raises(ValueError):
        p.ioc(p.read, ";", 0, 1 << 13)


@pytest.mark.parametrize("machine,abi", [
    ("x86_64", uapi.IOC_ABI_GENERIC), ("aarch64", uapi.IOC_ABI_GENERIC),
    ("riscv64", uapi.IOC_ABI_GENERIC), ("s390x", uapi.IOC_ABI_GENERIC),
    ("i686", uapi.IOC_ABI_GENERIC), ("armv7l", uapi.IOC_ABI_GENERIC),
    ("loongarch64", uapi.IOC_ABI_GENERIC),
    ("ppc64le", uapi.IOC_ABI_NONZERO_NONE), ("ppc64", uapi.IOC_ABI_NONZERO_NONE),
    ("ppc", uapi.IOC_ABI_NONZERO_NONE), ("mips", uapi.IOC_ABI_NONZERO_NONE),
    ("mips64", uapi.IOC_ABI_NONZERO_NONE), ("sparc64", uapi.IOC_ABI_NONZERO_NONE),
    ("alpha", uapi.IOC_ABI_NONZERO_NONE), ("parisc64", uapi.IOC_ABI_PARISC),
])
def test_abi_for_machine(machine, abi):
    assert uapi.abi_for_machine(machine) is abi


def test_table_covers_the_brief():
    want = {"VFIO_GET_API_VERSION", "VFIO_CHECK_EXTENSION", "VFIO_SET_IOMMU",
            "VFIO_GROUP_GET_STATUS", "VFIO_GROUP_SET_CONTAINER", "VFIO_GROUP_UNSET_CONTAINER",
            "VFIO_GROUP_GET_DEVICE_FD", "VFIO_DEVICE_GET_INFO", "VFIO_DEVICE_RESET",
            "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "VFIO_DEVICE_PCI_HOT_RESET",
            "VFIO_DEVICE_FEATURE", "VFIO_DEVICE_BIND_IOMMUFD", "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
            "VFIO_DEVICE_DETACH_IOMMUFD_PT", "IOMMU_DESTROY", "IOMMU_IOAS_ALLOC"}
    assert set(uapi.IOCTLS) == want
    for spec in uapi.IOCTLS.values():
        assert spec.type == ";"
        assert (100 <= spec.nr < 0x80) == spec.name.startswith("VFIO_")
        assert (spec.layout is not None) == (spec.arg == uapi.ARG_STRUCT)
        if spec.layout:
            assert spec.layout.minsz <= spec.layout.size
    assert uapi.IOCTLS["VFIO_GROUP_GET_DEVICE_FD"].returns == uapi.RET_FD
    assert uapi.IOCTLS["VFIO_GROUP_SET_CONTAINER"].arg == uapi.ARG_INT_PTR
    assert uapi.IOCTLS["VFIO_CHECK_EXTENSION"].arg == uapi.ARG_INT
    assert [s.name for s in uapi.IOCTLS.values() if s.error_readback] == [
        "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"]


def test_layout_minima_and_sizes():
    L = uapi.LAYOUTS
    assert (L["vfio_device_bind_iommufd"].size, L["vfio_device_bind_iommufd"].full_size) == (16, 24)
    assert L["vfio_device_bind_iommufd"].minsz == 16
    assert (L["vfio_device_attach_iommufd_pt"].size, L["vfio_device_attach_iommufd_pt"].minsz) == (12, 12)
    assert (L["vfio_device_detach_iommufd_pt"].size, L["vfio_device_detach_iommufd_pt"].minsz) == (8, 8)
    assert (L["vfio_device_info"].size, L["vfio_device_info"].minsz) == (24, 16)
    assert L["vfio_group_status"].size == 8
    assert L["iommu_ioas_alloc"].size == 12 and L["iommu_destroy"].size == 8
    assert L["vfio_pci_dependent_device"].offsets == {
        "group_id": 0, "devid": 0, "segment": 4, "bus": 6, "devfn": 7}
    # size_with: 6.1's vfio_device_info had no pad member
    assert L["vfio_device_info"].size_with(
        ["argsz", "flags", "num_regions", "num_irqs", "cap_offset"]) == 20
    with pytest.raises(TypeError):
        L["vfio_group_status"].pack(bogus=1)


# ---------------------------------------------------------------------------
# pack / unpack
# ---------------------------------------------------------------------------


def test_group_status_and_set_container():
    buf = uapi.pack_group_status()
    assert isinstance(buf, bytearray) and bytes(buf) == struct.pack("=II", 8, 0)
    struct.pack_into("=I", buf, 4, base.VFIO_GROUP_FLAGS_VIABLE | base.VFIO_GROUP_FLAGS_CONTAINER_SET)
    assert uapi.unpack_group_status(buf) == 3
    arg = uapi.pack_set_container(7)
    assert isinstance(arg, bytearray) and struct.unpack("=i", arg) == (7,)


def test_device_name():
    buf = uapi.pack_device_name("0000:01:00.0")
    assert isinstance(buf, bytearray) and bytes(buf) == b"0000:01:00.0\0"
    with pytest.raises(ValueError):
        uapi.pack_device_name("bad\0name")


def test_device_info_round_trip():
    buf = uapi.pack_device_info()
    assert len(buf) == 24 and struct.unpack_from("=I", buf)[0] == 24
    struct.pack_into("=IIII", buf, 4, base.VFIO_DEVICE_FLAGS_PCI | base.VFIO_DEVICE_FLAGS_RESET,
                     9, 5, 0)
    info = uapi.unpack_device_info(buf)
    assert info == base.DeviceInfo(flags=3, num_regions=9, num_irqs=5) and info.reset


def test_hot_reset_info_pack():
    for cap in (0, 1, 2, 200):
        buf = uapi.pack_hot_reset_info(cap)
        assert isinstance(buf, bytearray) and len(buf) == 12 + 8 * cap
        assert struct.unpack_from("=III", buf) == (12 + 8 * cap, 0, 0)
    with pytest.raises(ValueError):
        uapi.pack_hot_reset_info(-1)


def _fill(buf: bytearray, flags: int, entries: list[tuple[int, int, int, int]], count=None):
    struct.pack_into("=II", buf, 4, flags, len(entries) if count is None else count)
    for i, (ident, seg, bus, devfn) in enumerate(entries):
        struct.pack_into("=IHBB", buf, 12 + 8 * i, ident, seg, bus, devfn)


def test_hot_reset_info_legacy_group_ids():
    # real-kernel-vm.md §5, legacy A: flags=0 count=2: 01:00.0 group 10, 01:00.1 group 10
    buf = uapi.pack_hot_reset_info(2)
    _fill(buf, 0, [(10, 0, 1, 0x00), (10, 0, 1, 0x01)])
    flags, count, devs = uapi.unpack_hot_reset_info(buf)
    assert (flags, count) == (0, 2)
    assert devs == [DependentDevice(0, 1, 0, 10), DependentDevice(0, 1, 1, 10)]
    assert [d.address for d in devs] == ["0000:01:00.0", "0000:01:00.1"]
    info = base.HotResetInfo(flags, tuple(devs))
    assert not info.dev_id and not info.dev_id_owned


def test_hot_reset_info_enospc_header_only():
    # ENOSPC: the kernel writes count into the 12-byte header, flags stay 0 (observed)
    buf = uapi.pack_hot_reset_info(0)
    _fill(buf, 0, [], count=2)
    assert uapi.hot_reset_info_count(buf) == 2
    assert uapi.unpack_hot_reset_info(buf) == (0, 2, [])
    # too little room for count: entries are not decoded (they were never written)
    buf = uapi.pack_hot_reset_info(1)
    _fill(buf, 0, [(99, 0, 1, 0)], count=3)
    assert uapi.unpack_hot_reset_info(buf) == (0, 3, [])


def test_hot_reset_info_dev_id_owned_and_not_owned():
    F = base.VFIO_PCI_HOT_RESET_FLAG_DEV_ID | base.VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED
    buf = uapi.pack_hot_reset_info(2)
    _fill(buf, F, [(1, 0, 1, 0x00), (base.VFIO_PCI_DEVID_OWNED, 0, 1, 0x01)])
    flags, _, devs = uapi.unpack_hot_reset_info(buf)
    info = base.HotResetInfo(flags, tuple(devs))
    assert flags == 0x3 and info.dev_id and info.dev_id_owned
    assert [d.ident for d in devs] == [1, 0]
    # B unbound from vfio-pci: flags=0x1, devid = NOT_OWNED (-1 as __u32)
    buf = uapi.pack_hot_reset_info(2)
    struct.pack_into("=II", buf, 4, base.VFIO_PCI_HOT_RESET_FLAG_DEV_ID, 2)
    struct.pack_into("=IHBB", buf, 12, 1, 0, 1, 0)
    struct.pack_into("=iHBB", buf, 20, -1, 0, 1, 1)  # as the kernel writes it
    flags, _, devs = uapi.unpack_hot_reset_info(buf)
    info = base.HotResetInfo(flags, tuple(devs))
    assert info.dev_id and not info.dev_id_owned
    assert devs[1].ident == base.VFIO_PCI_DEVID_NOT_OWNED == 0xFFFFFFFF
    assert uapi.CONSTANTS["VFIO_PCI_DEVID_NOT_OWNED"][0] == 0xFFFFFFFF


def test_hot_reset_info_segment_and_devfn():
    buf = uapi.pack_hot_reset_info(1)
    _fill(buf, 0, [(42, 0x10, 0x81, (0x1F << 3) | 7)])
    (_, _, [d]) = uapi.unpack_hot_reset_info(buf)
    assert d.address == "0010:81:1f.7" and d.ident == 42


def test_hot_reset_pack():
    buf = uapi.pack_hot_reset([5, 9, 11])
    assert isinstance(buf, bytearray) and len(buf) == 24
    assert struct.unpack("=III3i", buf) == (24, 0, 3, 5, 9, 11)
    empty = uapi.pack_hot_reset([])  # cdev mode: zero-length array
    assert bytes(empty) == struct.pack("=III", 12, 0, 0)


def test_bind_iommufd():
    buf = uapi.pack_bind_iommufd(4)
    assert isinstance(buf, bytearray)
    assert struct.unpack("=IIiI", buf) == (16, 0, 4, 0)  # argsz 16, flags 0
    struct.pack_into("=I", buf, 12, 7)
    assert uapi.unpack_bind_iommufd(buf) == 7


def test_iommufd_structs():
    assert struct.unpack("=III", uapi.pack_attach_iommufd_pt(2)) == (12, 0, 2)
    buf = uapi.pack_attach_iommufd_pt(2)
    struct.pack_into("=I", buf, 8, 3)
    assert uapi.unpack_attach_iommufd_pt(buf) == 3
    assert struct.unpack("=II", uapi.pack_detach_iommufd_pt()) == (8, 0)
    assert struct.unpack("=II", uapi.pack_iommu_destroy(5)) == (8, 5)
    buf = uapi.pack_ioas_alloc()
    assert struct.unpack("=III", buf) == (12, 0, 0)
    struct.pack_into("=I", buf, 8, 2)
    assert uapi.unpack_ioas_alloc(buf) == 2


# ---------------------------------------------------------------------------
# explain()
# ---------------------------------------------------------------------------

#: Every errno the references list for these operations (kernel-vfio.md §3-§5,
#: real-kernel-vm.md §5).
DOCUMENTED = {
    "VFIO_DEVICE_PCI_HOT_RESET": ["EINVAL", "ENODEV", "EBADF", "EBUSY", "EAGAIN", "ENOTTY",
                                  "EFAULT", "ENOMEM"],
    "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO": ["EINVAL", "ENODEV", "ERANGE", "ENOSPC", "EPERM",
                                           "EAGAIN", "EFAULT", "ENOMEM", "ENOTTY"],
    "VFIO_DEVICE_GET_INFO": ["EINVAL", "ENOTTY", "EFAULT"],
    "VFIO_DEVICE_RESET": ["EINVAL", "EAGAIN", "ENOTTY"],
    "VFIO_DEVICE_BIND_IOMMUFD": ["EINVAL", "EBUSY", "EBADF", "EBADFD", "EPERM", "ENODEV",
                                 "EACCES", "EAGAIN", "ENOTTY"],
    "VFIO_DEVICE_ATTACH_IOMMUFD_PT": ["EINVAL", "EBUSY", "ENOTTY"],
    "VFIO_DEVICE_DETACH_IOMMUFD_PT": ["EINVAL", "ENOTTY"],
    "VFIO_GROUP_GET_DEVICE_FD": ["EINVAL", "ENODEV", "EACCES", "EAGAIN", "EPERM"],
    "VFIO_GROUP_SET_CONTAINER": ["EINVAL", "EBADF", "EBADFD", "EPERM"],
    "VFIO_GROUP_GET_STATUS": ["ENODEV"],
    "VFIO_SET_IOMMU": ["EINVAL", "EPERM"],
    "IOMMU_DESTROY": ["ENOENT", "EINVAL"],
    "IOMMU_IOAS_ALLOC": ["EINVAL", "E2BIG"],
    uapi.OPEN_GROUP: ["EBUSY", "EPERM", "ENODEV", "ENOENT", "EACCES"],
    uapi.OPEN_CDEV: ["ENODEV", "ENOENT", "EACCES"],
    uapi.OPEN_IOMMUFD: ["ENOENT", "EACCES"],
    uapi.OPEN_CONTAINER: ["ENOENT", "EACCES"],
}


@pytest.mark.parametrize("op,name", [(op, n) for op, ns in DOCUMENTED.items() for n in ns])
def test_explain_covers_documented_errnos(op, name):
    text = uapi.explain(op, getattr(errno, name))
    assert text, (op, name)
    assert uapi.explain(op, name) == text  # errno names are accepted too


def test_explain_key_meanings():
    hr = "VFIO_DEVICE_PCI_HOT_RESET"
    assert "dev_set" in uapi.explain(hr, errno.EINVAL)
    assert "ownership" in uapi.explain(hr, errno.EINVAL)
    assert "fd array" in uapi.explain(hr, errno.EINVAL)
    assert "root bus" in uapi.explain(hr, errno.ENODEV)
    assert "reset ran" in uapi.explain(hr, errno.ENOTTY)
    assert "already open" in uapi.explain(uapi.OPEN_GROUP, errno.EBUSY)
    assert "cdev" in uapi.explain(uapi.OPEN_GROUP, errno.EBUSY)
    assert "needed count" in uapi.explain("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", errno.ENOSPC)
    # a specific meaning wins over the generic ioctl one
    assert uapi.explain(hr, errno.ENOTTY) != uapi.explain("VFIO_DEVICE_GET_INFO", errno.ENOTTY)


@pytest.mark.parametrize("node,kind", [
    ("/dev/vfio/vfio", uapi.OPEN_CONTAINER), ("/dev/iommu", uapi.OPEN_IOMMUFD),
    ("/dev/vfio/12", uapi.OPEN_GROUP), ("/dev/vfio/noiommu-0", uapi.OPEN_GROUP),
    ("/dev/vfio/devices/vfio3", uapi.OPEN_CDEV), ("/dev/char/511:0", uapi.OPEN_CDEV),
    ("/dev/null", uapi.OPEN), ("/tmp/x", uapi.OPEN),
])
def test_open_op_for(node, kind):
    assert uapi.open_op_for(node) == kind


def test_explain_open_by_target():
    """KernelError.op is "open" (base.py); the target picks the node kind."""
    assert uapi.explain("open", errno.EBUSY, "/dev/vfio/12") == uapi.explain(uapi.OPEN_GROUP, errno.EBUSY)
    assert uapi.explain("open", errno.ENOENT, "/dev/iommu") == uapi.explain(uapi.OPEN_IOMMUFD, errno.ENOENT)
    assert uapi.explain("open", errno.ENOENT, "/dev/vfio/devices/vfio0") == uapi.explain(
        uapi.OPEN_CDEV, errno.ENOENT)
    assert uapi.explain("open", errno.ENOENT) == "the node does not exist"
    assert uapi.explain("open", errno.EBUSY) is None  # no target: nothing specific to say
    assert uapi.explain("open", errno.EACCES, "/dev/vfio/vfio")  # container row
    assert uapi.explain("open", errno.EACCES, "/elsewhere") == "no permission to open the node"
    assert uapi.meaning("open", "EPERM", "/dev/vfio/noiommu-1").op == uapi.OPEN_GROUP


def test_explain_unknowns():
    assert uapi.explain("VFIO_DEVICE_RESET", errno.EXDEV) is None
    assert uapi.explain("no such op", errno.EINVAL) is None
    assert uapi.explain(uapi.OPEN_GROUP, errno.ENOENT)
    assert uapi.explain("open", errno.ENOENT)
    with pytest.raises(ValueError):
        uapi.explain("VFIO_DEVICE_RESET", "ENOTANERRNO")


def test_errno_table_is_well_formed():
    known = set(uapi.IOCTLS) | set(uapi.OPEN_OPS) | {uapi.OPEN, uapi.ANY_IOCTL}
    seen = set()
    for m in uapi.ERRNO_MEANINGS:
        assert m.op in known, m.op
        assert (m.op, m.errno) not in seen, (m.op, m.errname)
        seen.add((m.op, m.errno))
        assert m.text and m.source and m.errname.startswith("E")
    observed = {(m.op, m.errname) for m in uapi.ERRNO_MEANINGS if m.observed}
    # the refusals seen on the 6.12 guest (real-kernel-vm.md §5)
    assert {("VFIO_DEVICE_PCI_HOT_RESET", "EINVAL"), ("VFIO_DEVICE_PCI_HOT_RESET", "ENODEV"),
            ("VFIO_DEVICE_PCI_HOT_RESET", "EBADF"), ("VFIO_DEVICE_PCI_HOT_RESET", "ENOTTY"),
            ("VFIO_DEVICE_GET_PCI_HOT_RESET_INFO", "ENOSPC"),
            ("VFIO_DEVICE_BIND_IOMMUFD", "EPERM")} <= observed


def test_module_has_no_third_party_imports():
    src = Path(uapi.__file__).read_text() + Path(uapi.__file__).with_name("real.py").read_text()
    for mod in ("rich", "typer", "pyudev"):
        assert not re.search(rf"^\s*(import|from)\s+{mod}\b", src, re.M), mod
