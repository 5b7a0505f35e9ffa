"""The wheel ships the man pages, completion scripts and demo data."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


DATA_FILES = ("data/share/man/man8/vfioctl.8", "data/share/man/man5/vfioctl-json.5",
              "data/share/bash-completion/completions/vfioctl.bash",
              "data/share/zsh/site-functions/_vfioctl",
              "data/share/fish/vendor_completions.d/vfioctl.fish")


def test_data_files_where_the_readme_says(tmp_path):
    """After either README command ('pip install .' or ./scripts/test, which installs
    editable), the man pages and completions are under <prefix>/share and the
    README's 'man -l .venv/share/man/man8/vfioctl.8' renders."""
    import shutil
    prefix = Path(sys.prefix)
    for want in DATA_FILES:
        p = prefix / want.removeprefix("data/")
        assert p.is_file(), f"{p} is missing: run ./scripts/test (or pip install .)"
    man = shutil.which("man")
    assert man, "man is not installed (Debian package: man-db)"
    r = subprocess.run([man, "-l", str(prefix / "share/man/man8/vfioctl.8")],
                       capture_output=True, text=True, env={"MANPAGER": "cat", "PAGER": "cat",
                                                            "COLUMNS": "80", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0 and "EXIT STATUS" in r.stdout, r.stderr


def test_wheel_contents(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                        "-q", "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = tmp_path.glob("vfioctl-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    for want in DATA_FILES:
        assert any(n.endswith(want) for n in names), want

    assert "vfioctl/data/demo-pci.ids" in names
    # 'vfioctl completion' generates its script at run time: the generator ships
    assert "vfioctl/present/completion.py" in names
    assert any(n.endswith("entry_points.txt") for n in names)
