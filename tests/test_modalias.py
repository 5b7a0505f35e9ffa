"""modules.alias: which kernel modules could drive a function (as lspci -k)."""

from __future__ import annotations

import os

from vfioctl.sysfs.modalias import ModAlias, kernel_release
from vfioctl.sysfs.root import Root

ALIASES = """\
# Aliases extracted from modules themselves.
alias pci:v000010DEd*sv*sd*bc03sc*i* nouveau
alias pci:v000010DEd*sv*sd*bc03sc00i00 nvidiafb
alias pci:v*d*sv*sd*bc03sc00i00 vgacon_dummy
alias pci:v000010DEd*sv*sd*bc03sc*i* nouveau
alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e
alias pci:v00008086d0000154[BC]sv*sd*bc*sc*i* i40e
alias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core
alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci
alias pci:v000010DEd0000220?sv*sd*bc*sc*i* spare
alias usb:v*p*d*dc*dsc*dp*ic09isc*ip*in* usbcore
alias symbol:foo bar
"""

GPU = "pci:v000010DEd00002204sv00001458sd00004043bc03sc00i00"


def _tree(tmp_path, release="6.12.0-test", text=ALIASES):
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/osrelease").write_text(release + "\n")
    d = tmp_path / "lib/modules" / release
    d.mkdir(parents=True)
    (d / "modules.alias").write_text(text)
    return Root(tmp_path)


def test_file_order_deduplicated_fnmatch(tmp_path):
    a = ModAlias.load(_tree(tmp_path))
    assert a is not None and a.release == "6.12.0-test"
    assert a.modules_for(GPU) == ["nouveau", "nvidiafb", "vgacon_dummy", "spare"]
    assert a.modules_for("pci:v00008086d0000154Csv00008086sd00000000bc02sc00i00") == ["i40e"]
    assert a.modules_for("pci:v00008086d0000154Dsv00008086sd00000000bc02sc00i00") == []
    assert a.modules_for("pci:v00008086d000010D3sv00008086sd0000A01Fbc02sc00i00") == ["e1000e"]
    assert a.modules_for("") == [] and a.modules_for("usb:v1234") == []


def test_vfio_variants(tmp_path):
    a = ModAlias.load(_tree(tmp_path))
    mlx = "pci:v000015B3d0000101Esv000015B3sd00000047bc02sc00i00"
    assert a.modules_for(mlx) == ["mlx5_core"]
    assert a.vfio_variants_for(mlx) == ["mlx5_vfio_pci"]
    assert a.vfio_variants_for(GPU) == []


def test_absent_and_odd_files(tmp_path):
    assert ModAlias.load(Root(tmp_path)) is None          # no osrelease, not live
    r = _tree(tmp_path)
    os.unlink(tmp_path / "lib/modules/6.12.0-test/modules.alias")
    os.mkfifo(tmp_path / "lib/modules/6.12.0-test/modules.alias")
    assert ModAlias.load(r) is None                        # a FIFO: skipped, no hang
    assert kernel_release(r) == "6.12.0-test"


def test_release_cannot_escape(tmp_path):
    r = _tree(tmp_path, release="6.1")
    (tmp_path / "proc/sys/kernel/osrelease").write_text("../../etc\n")
    assert ModAlias.load(r) is None
