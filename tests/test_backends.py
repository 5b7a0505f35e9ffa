"""Backend selection: real on /, sim elsewhere, --backend, and plug-ins through
the vfioctl.backends entry-point group."""

import pytest

import vfioctl.kernel as kmod
from vfioctl.errors import BackendUnavailable
from vfioctl.kernel.base import KernelBackend
from vfioctl.kernel.sim import SimKernel


def test_default_backend_depends_on_root(tmp_path):
    assert kmod.default_name("/") == "real"
    assert kmod.default_name(str(tmp_path)) == "sim"
    assert kmod.get_backend(None, str(tmp_path)).name == "sim"
    assert kmod.get_backend("real", "/").name == "real"


def test_builtins_implement_the_protocol(tmp_path):
    from vfioctl.kernel.real import RealKernel
    assert isinstance(SimKernel(str(tmp_path)), KernelBackend)
    assert isinstance(RealKernel(str(tmp_path)), KernelBackend)


class _EP:
    def __init__(self, name, obj):
        self.name, self.value, self._obj = name, f"plugin:{name}", obj

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


class RecordingKernel(SimKernel):
    name = "recording"


def test_plugin_backend_through_entry_points(monkeypatch, cli, build):
    monkeypatch.setattr(kmod, "_entry_points", lambda: [_EP("recording", RecordingKernel),
                                                        _EP("broken", ImportError("nope"))])
    assert "recording" in kmod.available()
    root = build("dual-function")
    r = cli(["--root", root, "--backend", "recording", "hot-reset", "81:00.0", "--yes", "--json"])
    assert r.code == 0 and r.json()["backend"] == "recording"
    with pytest.raises(BackendUnavailable) as ei:
        kmod.get_backend("broken", root)
    assert "failed to load" in ei.value.message
    r = cli(["--root", root, "--backend", "nosuch", "hot-reset", "81:00.0", "--yes"])
    assert r.code == 9 and "no backend named 'nosuch'" in r.err and "recording" in r.err
