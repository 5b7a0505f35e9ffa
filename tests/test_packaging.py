"""The wheel ships the man pages, completion scripts and demo data."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_contents(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = tmp_path.glob("vfioctl-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for want in ("data/share/man/man8/vfioctl.8", "data/share/man/man5/vfioctl-json.5",
                 "data/share/bash-completion/completions/vfioctl.bash",
                 "data/share/zsh/site-functions/_vfioctl",
                 "data/share/fish/vendor_completions.d/vfioctl.fish"):
        assert any(n.endswith(want) for n in names), want
    assert "vfioctl/data/demo-pci.ids" in names
    assert any(n.endswith("entry_points.txt") for n in names)
