"""The wheel ships the JSON Schema (package data) and the systemd units (data
files), and an installed schema loads through vfioctl.schemas."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_schema_and_units(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                        str(tmp_path), str(ROOT)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = tmp_path.glob("vfioctl-*.whl")
    z = zipfile.ZipFile(whl)
    names = z.namelist()
    assert "vfioctl/schemas/vfioctl-1.schema.json" in names
    assert json.loads(z.read("vfioctl/schemas/vfioctl-1.schema.json"))["$schema"] == \
        "https://json-schema.org/draft/2020-12/schema"
    for unit in ("vfioctl-export.service", "vfioctl-export.timer"):
        (n,) = [n for n in names if n.endswith(f"data/share/vfioctl/systemd/{unit}")]
        assert z.read(n) == (ROOT / "contrib" / "systemd" / unit).read_bytes()
