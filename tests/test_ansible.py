"""The Ansible collection (ansible_collections/vfioctl/vfio) run by ansible-core
itself: a real playbook against localhost (connection local) whose modules run
vfioctl on fixture roots given through VFIOCTL_ROOT; resets go through the
kernel simulator, whose journal shows what really happened.  Never /."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


BIN = Path(sys.executable).parent
PLAYBOOK = ROOT / "ansible_collections" / "vfioctl" / "vfio" / "playbooks" / \
    "reset_between_tenants.yml"
pytestmark = pytest.mark.skipif(not (BIN / "ansible-playbook").exists(),
                                reason="ansible-core is not installed (pip install -e '.[test]')")


def playbook(tmp_path, root: str, devices: list[str], *extra: str, playbook=PLAYBOOK):
    assert os.path.realpath(root) != "/"  # never against this machine
    inv = tmp_path / "inventory.ini"
    inv.write_text(f"[gpu_hosts]\nlocalhost ansible_connection=local "
                   f"ansible_python_interpreter={sys.executable}\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT), VFIOCTL_ROOT=root,
               VFIOCTL_PCI_IDS="none", ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
               ANSIBLE_REMOTE_TMP=str(tmp_path / "rtmp"), ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_CALLBACK_RESULT_FORMAT="json", ANSIBLE_DEPRECATION_WARNINGS="0",
               PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inv), str(playbook),
           "-e", json.dumps({"target": "gpu_hosts", "use_become": False,
                             "tenant_devices": devices, "reset_results_dir": str(results)}),
           *extra]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    res = results / "localhost.json"
    return r, (json.loads(res.read_text()) if res.exists() else None)


def journal(root: str) -> list[dict]:
    p = Path(root) / ".vfioctl-sim" / "journal.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines()] if p.exists() else []


def test_collection_metadata():
    import yaml
    g = yaml.safe_load((ROOT / "ansible_collections/vfioctl/vfio/galaxy.yml").read_text())
    assert (g["namespace"], g["name"]) == ("vfioctl", "vfio")


@pytest.mark.parametrize("module", ["hot_reset", "vfioctl_facts"])
def test_module_documentation_parses(module):
    r = subprocess.run([str(BIN / "ansible-doc"), "--json", f"vfioctl.vfio.{module}"],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT)))
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)[f"vfioctl.vfio.{module}"]["doc"]
    assert doc["attributes"]["check_mode"]["support"] == "full"


def test_facts_and_check_mode_change_nothing(build, tmp_path):
    root = build("dual-function")
    r, res = playbook(tmp_path, root, ["0000:81:00.0"], "--check", "-v")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "failed=0" in r.stdout
    assert journal(root) == []        # --dry-run: nothing opened, nothing reset
    assert res is None                # check mode: the controller file is not written either
    facts, rest = r.stdout.split("TASK [Every device to reset", 1)
    assert facts.split("TASK [Gather the VFIO view of the host]", 1)[1].lstrip("* \n") \
        .startswith("ok: [localhost]")
    hot = rest.split("TASK [Hot reset]", 1)[1].split("TASK [", 1)[0]
    # Ansible's check-mode convention: changed says the reset would be done
    assert hot.lstrip("* \n").startswith("changed: [localhost]"), hot
    assert '"dry_run": true' in hot and '"VFIO_DEVICE_PCI_HOT_RESET"' in hot


def test_a_real_run_resets_through_the_simulator(build, tmp_path):
    root = build("dual-function")
    r, res = playbook(tmp_path, root, ["0000:81:00.0"], "-v")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert res == {"host": "localhost", "ok": True, "changed": True, "dry_run": False,
                   "affected": ["0000:81:00.0", "0000:81:00.1"], "verification": []}
    ops = [(e["op"], e.get("result")) for e in journal(root)]
    assert ("VFIO_DEVICE_PCI_HOT_RESET", 0) in ops or any(
        op == "VFIO_DEVICE_PCI_HOT_RESET" for op, _ in ops), ops


def test_a_refused_reset_fails_the_task_with_the_reason(build, tmp_path):
    root = build("gpu-audio-host-driver")
    r, res = playbook(tmp_path, root, ["0000:01:00.0"])
    assert r.returncode == 2                       # the host failed
    assert res["ok"] is False and res["rc"] == 1
    assert "group 14 is not viable: 0000:01:00.1 is bound to snd_hda_intel" in res["msg"]
    assert "'vfioctl reset-info 0000:01:00.0' lists every reason" in res["msg"]  # vfioctl's hint
    assert res["error"]["kind"] == "not-possible" and res["error"]["exit_code"] == 1
    assert "group 14 is not viable" in r.stdout                        # shown by ansible
    assert not any(e["op"] == "VFIO_DEVICE_PCI_HOT_RESET" for e in journal(root))


def test_a_held_group_is_refused_between_tenants(build, tmp_path):
    """The tenant's VM still runs (pid 4242 holds group 11): refused, EBUSY named."""
    root = build("held-group")
    r, res = playbook(tmp_path, root, ["0000:81:00.0"])
    assert r.returncode == 2 and res["ok"] is False
    assert "qemu-system-x86 (pid 4242)" in res["msg"]


def test_facts_module_output(build, tmp_path):
    root = build("gpu-audio-host-driver")
    pb = tmp_path / "facts.yml"
    pb.write_text("""
- hosts: gpu_hosts
  gather_facts: false
  tasks:
    - vfioctl.vfio.vfioctl_facts:
    - ansible.builtin.copy:
        dest: "{{ reset_results_dir }}/facts.json"
        content: "{{ ansible_facts.vfioctl | to_json }}"
""")
    r, _ = playbook(tmp_path, root, [], playbook=pb)
    assert r.returncode == 0, r.stdout[-3000:]
    facts = json.loads((tmp_path / "results" / "facts.json").read_text())
    assert facts["schema"] == "vfioctl/1"
    assert [f["address"] for f in facts["functions"]] == [
        "0000:00:00.0", "0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]
    g14 = next(g for g in facts["groups"] if g["iommu_group"] == 14)
    assert g14["viable"] is False


def test_a_missing_vfioctl_fails_cleanly(build, tmp_path):
    pb = tmp_path / "missing.yml"
    pb.write_text("""
- hosts: gpu_hosts
  gather_facts: false
  tasks:
    - vfioctl.vfio.hot_reset:
        devices: ["0000:81:00.0"]
        executable: /nonexistent/vfioctl
""")
    r, _ = playbook(tmp_path, build("dual-function"), [], playbook=pb)
    assert r.returncode == 2 and "Traceback" not in r.stdout
