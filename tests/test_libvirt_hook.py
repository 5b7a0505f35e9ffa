"""contrib/libvirt/hooks/qemu.d/vfioctl, run exactly as libvirtd runs a qemu
hook: HOOK DOMAIN OPERATION SUB-OPERATION EXTRA, the domain XML on standard
input, a small environment (LC_ALL=C, PATH), the exit status deciding and
standard error being what libvirt shows ("Hook script execution failed: ...").
The fixture root comes through VFIOCTL_ROOT (never the host: libvirtd passes no
such variable, so installed hooks read /)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vfioctl.testing.builder import TreeBuilder

ROOT = Path(__file__).resolve().parent.parent
HOOK = ROOT / "contrib" / "libvirt" / "hooks" / "qemu.d" / "vfioctl"
TEMPLATE = (Path(__file__).parent / "libvirt" / "tenant.xml").read_text()
OPT_IN = ('<vfioctl:reset xmlns:vfioctl="urn:vfioctl:libvirt:1" require="yes"/>')
BIN = str(Path(sys.executable).parent)



def hostdev(addr: str, managed: bool = True, alias: int = 0) -> str:
    dom, bus, rest = addr.split(":")
    slot, fn = rest.split(".")
    return (f"<hostdev mode='subsystem' type='pci' managed='{'yes' if managed else 'no'}'>"
            f"<driver name='vfio'/><source><address domain='0x{dom}' bus='0x{bus}' "
            f"slot='0x{slot}' function='0x{fn}'/></source><alias name='hostdev{alias}'/>"
            f"<address type='pci' domain='0x0000' bus='0x0{5 + alias}' slot='0x00' "
            f"function='0x0'/></hostdev>")


def domain_xml(addrs, opt_in=True, managed=True) -> str:
    return (TEMPLATE.replace("@OPTIN@", OPT_IN if opt_in else "")
            .replace("@HOSTDEVS@", "\n    ".join(hostdev(a, managed, i)
                                                 for i, a in enumerate(addrs))))


def call(root: str, xml: str, op: str = "prepare", sub: str = "begin", name="tenant-a"):
    env = {"LC_ALL": "C", "PATH": f"{BIN}:/usr/sbin:/usr/bin:/sbin:/bin",
           "VFIOCTL_ROOT": root, "VFIOCTL_PCI_IDS": "none"}
    return subprocess.run([str(HOOK), name, op, sub, "-"], input=xml, capture_output=True,
                          text=True, env=env, timeout=120)


def test_hook_is_an_executable_script():
    assert os.access(HOOK, os.X_OK)
    assert HOOK.read_text().startswith("#!/bin/sh\n")


def test_refuses_a_gpu_whose_audio_function_stays_with_the_host(build):
    """GPU with only a bus reset, its audio function on snd_hda_intel and not
    in the domain: neither a function reset nor a hot reset QEMU could do."""
    root = build("gpu-audio-host-driver")
    r = call(root, domain_xml(["0000:01:00.0"]))
    assert r.returncode == 1
    msg = r.stderr.strip()
    assert "\n" not in msg and msg.startswith("vfioctl: domain 'tenant-a' requires PCI reset")
    assert "0000:01:00.0 cannot be reset" in msg
    assert "only method is 'bus'" in msg                       # why no function reset
    assert "0000:01:00.1 (driver snd_hda_intel)" in msg         # why no hot reset
    assert "remedy: assign the other functions" in msg and "0000:01:00.1" in msg
    assert "Traceback" not in r.stderr


def test_allows_it_once_the_domain_takes_the_whole_device(build):
    root = build("gpu-audio-host-driver")
    r = call(root, domain_xml(["0000:01:00.0", "0000:01:00.1"]))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


def test_unmanaged_hostdevs_are_judged_as_they_are(build):
    """managed='no': libvirt will not bind the audio function, so it stays on
    snd_hda_intel and the group is not viable."""
    root = build("gpu-audio-host-driver")
    r = call(root, domain_xml(["0000:01:00.0", "0000:01:00.1"], managed=False))
    assert r.returncode == 1 and "snd_hda_intel" in r.stderr


def test_function_reset_is_enough(build):
    root = build("dual-function")                # FLR on both ports
    assert call(root, domain_xml(["0000:81:00.0"])).returncode == 0


def test_domains_that_do_not_opt_in_pass(build):
    root = build("gpu-audio-host-driver")
    r = call(root, domain_xml(["0000:01:00.0"], opt_in=False))
    assert r.returncode == 0 and r.stderr == ""


@pytest.mark.parametrize("op,sub", [("start", "begin"), ("started", "begin"),
                                    ("stopped", "end"), ("release", "end"),
                                    ("reconnect", "begin"), ("attach", "begin")])
def test_other_operations_pass(build, op, sub):
    root = build("gpu-audio-host-driver")
    r = call(root, domain_xml(["0000:01:00.0"]), op=op, sub=sub)
    assert r.returncode == 0 and r.stderr == ""


def test_another_vm_holding_a_group_in_scope_refuses(tmp_path):
    """Two GPUs behind one bridge, in separate groups, only bus resets; the
    second is in use by another VM: the reset of the first would hit it."""
    b = TreeBuilder(str(tmp_path / "two-gpus"))
    b.fn("0000:00:00.0", None, vendor=0x8086, device=0x29C0, cls=0x060000, group=0, pcie=None)
    b.root_port("0000:00:01.0", 0x01, group=1)
    for i, g in ((0, 14), (1, 15)):
        b.fn(f"0000:01:00.{i}", "0000:00:01.0", vendor=0x10DE, device=0x2204, cls=0x030000,
             driver="vfio-pci", group=g, multifunction=True, reset_method="bus")
    b.hold("/dev/vfio/15", 5151, "qemu-system-x86")
    root = b.write()
    r = call(root, domain_xml(["0000:01:00.0"]))
    assert r.returncode == 1
    assert "group 15 is open in another process: qemu-system-x86 (pid 5151)" in r.stderr
    assert "QEMU can only reset functions of groups it owns" in r.stderr


def test_cannot_tell_is_said_and_refused(build):
    """root-bus: 00:05.0 has no reset_method and sits on a root bus (no hot
    reset).  vfioctl says it cannot tell, and the opted-in domain is refused
    rather than started on a guess."""
    r = call(build("root-bus"), domain_xml(["0000:00:05.0"]))
    assert r.returncode == 1
    assert "cannot tell whether it has a function reset" in r.stderr
    assert "ENODEV" in r.stderr or "root bus" in r.stderr


def test_a_group_shared_with_an_unassigned_vfio_function_is_owned(build):
    """no-cdev: 01:00.1 (no reset_method) shares group 10 with 01:00.0, bound to
    vfio-pci but not in the domain.  QEMU opens group 10 for 01:00.1, so it owns
    it and the kernel accepts the hot reset: allowed."""
    r = call(build("no-cdev"), domain_xml(["0000:01:00.1"]))
    assert r.returncode == 0, r.stderr


def test_a_hostdev_missing_from_the_host_refuses(build):
    r = call(build("dual-function"), domain_xml(["0000:42:00.0"]))
    assert r.returncode == 1 and "does not exist on this host" in r.stderr


def test_bad_input_is_a_clear_refusal(build):
    root = build("dual-function")
    r = call(root, "<domain><name>x</name>")
    assert r.returncode == 2 and r.stderr.startswith("vfioctl: error: the domain XML") \
        and "Traceback" not in r.stderr
    r = call(root, "<network/>")
    assert r.returncode == 2 and "not a <domain>" in r.stderr


def test_virsh_metadata_form_opts_in(build):
    """`virsh metadata DOM urn:vfioctl:libvirt:1 --key vfioctl --set '<reset require="yes"/>'`
    stores the element with the key as prefix; any prefix works."""
    root = build("gpu-audio-host-driver")
    xml = domain_xml(["0000:01:00.0"], opt_in=False).replace(
        "</metadata>", '<x:reset xmlns:x="urn:vfioctl:libvirt:1" require="yes"/></metadata>')
    assert call(root, xml).returncode == 1
    xml = xml.replace('require="yes"', 'require="no"')
    assert call(root, xml).returncode == 0


def test_json_decision(build, cli):
    root = build("gpu-audio-host-driver")
    r = cli(["--root", root, "libvirt-hook", "tenant-a", "prepare", "begin", "-", "--json"],
            stdin=domain_xml(["0000:01:00.0"]))
    assert r.code == 1
    d = r.json()
    assert d["decision"] == "refuse" and d["opted_in"] is True
    (hd,) = d["hostdevs"]
    assert hd["address"] == "0000:01:00.0" and hd["resettable"] is False
    assert hd["function_reset"] is False and hd["hot_reset"] is False and hd["managed"] is True


def test_the_hook_never_writes(build):
    """Reads only: the fixture tree is byte-for-byte the same afterwards."""
    root = build("gpu-audio-host-driver")

    def tree():
        out = {}
        for d, _, files in os.walk(root):
            for f in files:
                p = os.path.join(d, f)
                out[p] = os.path.islink(p) or open(p, "rb").read()
        return out
    before = tree()
    call(root, domain_xml(["0000:01:00.0", "0000:01:00.1"]))
    call(root, domain_xml(["0000:01:00.0"]))
    assert tree() == before
