"""vfioctl export: the Prometheus textfile and the NFD features file, checked
against the real consumers' rules (binding-host-fleet.md D.1-D.5) and, where
the engine is installed (scripts/test installs Debian's
prometheus-node-exporter), served by node_exporter itself."""

from __future__ import annotations

import calendar
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

from pathlib import Path

import pytest

from conftest import run
from vfioctl.testing import scenarios

SCENARIOS = [s for s in scenarios.SCENARIOS if s != "demo"]

ROOT = Path(__file__).resolve().parent.parent


def _prom_families(text: str):
    from prometheus_client.parser import text_string_to_metric_families
    return {f.name: f for f in text_string_to_metric_families(text)}


def _series(text: str, name: str) -> dict:
    out = {}
    for s in _prom_families(text)[name].samples:
        if s.name == name:
            out[tuple(sorted(s.labels.items()))] = s.value
    return out


def _export(root: str, tmp_path, *extra) -> tuple[str, str]:
    prom = tmp_path / "out" / "vfioctl.prom"
    nfd = tmp_path / "out" / "vfioctl"
    prom.parent.mkdir(exist_ok=True)
    r = run(["--root", root, "export", "--prometheus", str(prom), "--nfd", str(nfd), *extra])
    assert r.code == 0, r.err
    assert sorted(os.listdir(prom.parent)) == ["vfioctl", "vfioctl.prom"]  # no temp files left
    return prom.read_text(), nfd.read_text()


# -- the textfile format -------------------------------------------------------

@pytest.mark.parametrize("name", SCENARIOS)
def test_prometheus_file_follows_the_text_format(name, build, tmp_path):
    text, _ = _export(build(name), tmp_path)
    assert text.endswith("\n") and "\r" not in text
    lines = text.splitlines()
    helps = [ln.split()[2] for ln in lines if ln.startswith("# HELP ")]
    types = [ln.split()[2] for ln in lines if ln.startswith("# TYPE ")]
    assert helps == types and len(set(helps)) == len(helps)          # one HELP+TYPE each
    current = None
    for ln in lines:
        if ln.startswith("# TYPE "):
            current = ln.split()[2]
            continue
        if ln.startswith("#"):
            continue
        metric = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", ln).group(0)
        assert metric == current, f"{metric} outside its family's group"
        # no client timestamp: the value is the last field, nothing after it
        assert re.fullmatch(r'\S+(\{.*\})? (-?[0-9.e+]+|NaN|[+-]Inf)', ln), ln
        assert metric.startswith("vfioctl_")
    fams = _prom_families(text)                                       # parses
    assert all(f.type == "gauge" and f.documentation for f in fams.values())
    assert _series(text, "vfioctl_last_export_success") == {(): 1.0}
    ts = _series(text, "vfioctl_last_export_timestamp_seconds")[()]
    assert abs(ts - time.time()) < 120


def test_metric_values_follow_the_prediction(build, tmp_path):
    text, _ = _export(build("gpu-audio-host-driver"), tmp_path)
    assert _series(text, "vfioctl_iommu_group_viable")[(("iommu_group", "14"),)] == 0
    hot = _series(text, "vfioctl_hot_reset_possible")
    assert hot == {(("address", "0000:01:00.0"), ("mode", "group")): 0.0,
                   (("address", "0000:01:00.0"), ("mode", "iommufd")): 0.0}
    info = _series(text, "vfioctl_pci_function_info")
    labels = [dict(k) for k in info]
    audio = next(d for d in labels if d["address"] == "0000:01:00.1")
    assert audio["driver"] == "snd_hda_intel" and audio["vfio_node"] == "none"
    assert audio["class"] == "0x040300" and audio["iommu_group"] == "14"

    text, _ = _export(build("dual-function"), tmp_path)
    hot = _series(text, "vfioctl_hot_reset_possible")
    assert hot[(("address", "0000:81:00.0"), ("mode", "group"))] == 1
    fr = _series(text, "vfioctl_function_reset_available")
    assert fr[(("address", "0000:81:00.0"),)] == 1


def test_held_function_and_its_reset(build, tmp_path):
    text, nfd = _export(build("held-group"), tmp_path)
    held = _series(text, "vfioctl_vfio_function_held")
    assert 1.0 in held.values()
    busy = [dict(k)["address"] for k, v in held.items() if v == 1]
    hot = _series(text, "vfioctl_hot_reset_possible")
    cap = _series(text, "vfioctl_hot_reset_capable")
    for a in busy:  # a held group refuses the hot reset now ...
        assert hot[(("address", a), ("mode", "group"))] == 0
    # ... which the VM holding it can still do: the capability stays
    assert any(cap[(("address", a),)] == 1 for a in busy)
    # ... but NFD labels describe capabilities, not who uses the device right now
    feats = dict(ln.split("=", 1) for ln in nfd.splitlines() if not ln.startswith("#"))
    assert int(feats["vfioctl.io/hot-reset-capable-devices"]) >= 1


def test_label_values_are_escaped():
    from prometheus_client.parser import text_string_to_metric_families
    from vfioctl.ops.export import MetricFamily
    from vfioctl.present.prometheus import render
    f = MetricFamily("vfioctl_test_info", 'help with \\ and\nnewline')
    f.add(1, driver='we"ird\\dri\nver', address="x")
    text = render([f])
    assert text.count("\n") == 3
    fam = list(text_string_to_metric_families(text))[0]
    assert fam.samples[0].labels["driver"] == 'we"ird\\dri\nver'
    assert fam.documentation == 'help with \\ and\nnewline'


def test_bounded_cardinality(build, tmp_path):
    """One series per function (per mode), group or check: no pids, no free text."""
    root = build("held-group")
    text, _ = _export(root, tmp_path)
    fams = _prom_families(text)
    nfun = len(_series(text, "vfioctl_pci_function_info"))
    for name, fam in fams.items():
        keys = {k for s in fam.samples for k in s.labels}
        assert not keys & {"pid", "comm", "message", "reason"}, name
        if name == "vfioctl_doctor_findings":
            # one series per doctor check and status: the checks are a fixed set
            # of the code (about 20), whatever the number of devices
            assert keys == {"check", "status"}
            checks = {s.labels["check"] for s in fam.samples}
            assert len(fam.samples) == 4 * len(checks) and len(checks) <= 32
            continue
        assert len(fam.samples) <= 2 * nfun + 1, name


def test_failed_export_says_so_and_keeps_no_stale_series(tmp_path):
    out = tmp_path / "prom"
    out.mkdir()
    (out / "vfioctl.prom").write_text("vfioctl_pci_functions 7\n")
    r = run(["--root", str(tmp_path / "no-such-root"), "export", "--prometheus",
             str(out / "vfioctl.prom")])
    assert r.code == 4 and "error:" in r.err
    text = (out / "vfioctl.prom").read_text()
    assert _series(text, "vfioctl_last_export_success") == {(): 0.0}
    assert "vfioctl_pci_functions" not in text
    assert os.listdir(out) == ["vfioctl.prom"]


def test_export_usage_errors(build, tmp_path):
    root = build("dual-function")
    r = run(["--root", root, "export"])
    assert r.code == 2 and "--prometheus" in r.err
    r = run(["--root", root, "export", "--prometheus", str(tmp_path / "nodir" / "x.prom")])
    assert r.code == 4 and "mkdir -p" in r.err
    r = run(["--root", root, "export", "--prometheus", str(tmp_path)])
    assert r.code == 2
    r = run(["--root", root, "export", "--json", "--nfd", "-"])
    assert r.code == 2
    r = run(["--root", root, "export", "--nfd", str(tmp_path / ".hidden")])
    assert r.code == 2 and "dot" in r.err
    r = run(["--root", root, "export", "--prometheus", str(tmp_path / "vfioctl.txt")])
    assert r.code == 0 and "reads only files ending in .prom" in r.err


def test_atomic_replace_never_follows_a_planted_link(tmp_path):
    from vfioctl.present import atomicfile
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    d = tmp_path / "d"
    d.mkdir()
    os.symlink(victim, d / f".x.prom.{os.getpid()}.tmp")
    atomicfile.replace(str(d / "x.prom"), "a 1\n")
    assert victim.read_text() == "keep\n"
    assert (d / "x.prom").read_text() == "a 1\n" and not (d / "x.prom").is_symlink()
    assert sorted(os.listdir(d)) == ["x.prom"]


# -- NFD -----------------------------------------------------------------------

NFD_NAME = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/"
                      r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
NFD_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def parse_nfd(text: str, now: float) -> dict[str, str]:
    """NFD's local source (source/local/local.go parseFeatureFile), restated:
    trimmed lines, '#' comments with '# +' directives, expiry applying to every
    following line, no-label to the next one, key[=value] split at the first '='."""
    labels, expiry, no_label = {}, None, False
    for raw in text.split("\n"):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if line.startswith("# +"):
                key, _, val = line[3:].partition("=")
                if key == "expiry-time":
                    expiry = calendar.timegm(time.strptime(val, "%Y-%m-%dT%H:%M:%SZ"))
                elif key == "no-label":
                    no_label = True
                else:
                    raise AssertionError(f"unknown directive {line}")
            continue
        k, sep, v = line.partition("=")
        if not sep:
            v = "true"
        if expiry is not None and expiry < now:
            no_label = False
            continue
        if not no_label:
            labels[k] = v
        no_label = False
    return labels


@pytest.mark.parametrize("name", SCENARIOS)
def test_nfd_file_follows_nfd_rules(name, build, tmp_path):
    _, text = _export(build(name), tmp_path)
    assert len(text.encode()) <= 65536
    labels = parse_nfd(text, time.time())
    assert labels, "no labels"
    for k, v in labels.items():
        m = NFD_NAME.match(k)
        assert m and len(m.group(1)) <= 253 and len(m.group(5)) <= 63, k
        assert not (m.group(1) == "kubernetes.io" or m.group(1).endswith(".kubernetes.io"))
        assert NFD_VALUE.match(v) and len(v) <= 63, v
    assert "vfioctl.io/schema-version" not in labels  # +no-label
    # the expiry directive comes first, so every feature expires with a dead timer
    assert parse_nfd(text, time.time() + 7200) == {}


def test_nfd_labels_are_stable_while_vms_come_and_go(build, tmp_path):
    """Only capabilities: a process opening a group must not change a label."""
    from vfioctl.testing import treeops  # noqa: F401
    root = build("dual-function")
    _, before = _export(root, tmp_path)
    from vfioctl.sysfs.reader import read_host
    from vfioctl.ops.export import nfd_features
    host = read_host(root)
    from vfioctl.model.host import Holder
    g = host.groups[11]
    host.holders = {g.node: (Holder(4242, "qemu-system-x86", g.node),)}
    held = {f.name: f.value for f in nfd_features(host)}
    assert held == {k: v for k, v in (ln.split("=", 1) for ln in before.splitlines()
                                      if not ln.startswith("#"))}


def test_nfd_renderer_refuses_what_nfd_would_reject():
    from vfioctl.ops.export import Feature
    from vfioctl.present.nfd import render
    for bad in (Feature("unprefixed", "1"), Feature("kubernetes.io/x", "1"),
                Feature("vfioctl.io/" + "x" * 64, "1"), Feature("vfioctl.io/x", "a b"),
                Feature("vfioctl.io/x", "v" * 64), Feature("vfioctl.io/-x", "1")):
        with pytest.raises(ValueError):
            render([bad], expires=0)


# -- node_exporter, the real engine --------------------------------------------

NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(textdir) -> str:
    port = _free_port()
    proc = subprocess.Popen(
        [NODE_EXPORTER, f"--web.listen-address=127.0.0.1:{port}",
         "--collector.disable-defaults", "--collector.textfile",
         f"--collector.textfile.directory={textdir}", "--web.disable-exporter-metrics"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return r.read().decode()
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError("node_exporter did not serve: "
                                         + (proc.stderr.read().decode() if proc.poll() else ""))
                time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.skipif(NODE_EXPORTER is None, reason="prometheus-node-exporter is not installed "
                    "(scripts/test installs it)")
@pytest.mark.parametrize("name", ["demo-like", "held-group", "sriov", "noiommu"])
def test_node_exporter_serves_the_metrics(name, build, tmp_path):
    from vfioctl.testing.demo import demo_root
    root = demo_root() if name == "demo-like" else build(name)
    text, _ = _export(root, tmp_path)
    served = _scrape(tmp_path / "out")
    scraped = _prom_families(served)
    assert scraped["node_textfile_scrape_error"].samples[0].value == 0, served
    for fam, mine in _prom_families(text).items():
        assert fam in scraped, f"{fam} not served"
        assert {tuple(sorted(s.labels.items())): s.value for s in scraped[fam].samples} == \
            {tuple(sorted(s.labels.items())): s.value for s in mine.samples}
    mtimes = [s for s in scraped["node_textfile_mtime_seconds"].samples]
    assert [s.labels["file"].endswith("vfioctl.prom") for s in mtimes] == [True]


@pytest.mark.skipif(NODE_EXPORTER is None, reason="prometheus-node-exporter is not installed")
def test_node_exporter_rejects_timestamps_so_we_never_write_them(tmp_path):
    """The control: the same engine flags a file with a client timestamp."""
    d = tmp_path / "bad"
    d.mkdir()
    (d / "x.prom").write_text("# HELP x_y a\n# TYPE x_y gauge\nx_y 1 1700000000000\n")
    served = _prom_families(_scrape(d))
    assert served["node_textfile_scrape_error"].samples[0].value == 1


# -- promtool (Debian's prometheus package) ------------------------------------

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed "
                                    "(scripts/test installs Debian's prometheus)")


@needs_promtool
@pytest.mark.parametrize("name", SCENARIOS)
def test_promtool_check_metrics(name, build, tmp_path):
    """Parse plus promlint (help text, base units, _total only on counters...)."""
    text, _ = _export(build(name), tmp_path)
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "", r.stdout + r.stderr


@needs_promtool
def test_promtool_lints_a_bad_file():
    """The control: promtool does flag a lint problem (exit 3)."""
    r = subprocess.run([PROMTOOL, "check", "metrics"], input="# HELP x_ms a\n# TYPE x_ms gauge\n"
                       "x_ms 1\n", capture_output=True, text=True, timeout=60)
    assert r.returncode == 3


def test_alert_rules_file_matches_the_man_page():
    from vfioctl.buildtools.fleetman import ALERT_RULES
    assert (ROOT / "contrib" / "prometheus" / "vfioctl.rules.yml").read_text() == ALERT_RULES


@needs_promtool
def test_alert_rules_are_valid_and_fire():
    for args in (["check", "rules", "contrib/prometheus/vfioctl.rules.yml"],
                 ["test", "rules", "tests/prometheus/vfioctl.rules.test.yml"]):
        r = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120,
                           cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr


@needs_promtool
def test_alert_rules_use_only_exported_families():
    from vfioctl.buildtools.fleetman import ALERT_RULES
    from vfioctl.ops.export import FAMILIES, LABELS, PREFIX
    used = set(re.findall(r"\bvfioctl_[a-z_]+", ALERT_RULES))
    assert used <= {PREFIX + f for f in FAMILIES}, used
    for fam in ("hot_reset_capable", "function_reset_available", "iommu_group_viable"):
        assert fam in LABELS


# -- doctor findings -------------------------------------------------------------

def test_doctor_findings_plug_in_by_check_and_status(build, tmp_path, monkeypatch):
    """The export takes any findings with check/subject/status (vfioctl.ops.doctor's
    Finding); counted per check and status, every status present, subjects never
    in labels.  A stand-in module exercises the interface."""
    import sys
    import types
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class F:
        check: str
        subject: str
        status: str

    calls = []

    def doctor(host, root):
        calls.append(root)
        return types.SimpleNamespace(findings=[
            F("iommu-kernel", "host", "pass"), F("reset-method", "0000:81:00.0", "fail"),
            F("reset-method", "0000:81:00.1", "fail"), F("holders", "0000:81:00.0", "cannot-tell")])
    fake = types.ModuleType("vfioctl.ops.doctor")
    fake.doctor = doctor
    monkeypatch.setitem(sys.modules, "vfioctl.ops.doctor", fake)
    root = build("dual-function")
    text, _ = _export(root, tmp_path)
    assert calls and os.path.realpath(calls[0]) == os.path.realpath(root)
    got = _series(text, "vfioctl_doctor_findings")
    assert got[(("check", "reset-method"), ("status", "fail"))] == 2
    assert got[(("check", "reset-method"), ("status", "pass"))] == 0
    assert got[(("check", "holders"), ("status", "cannot-tell"))] == 1
    assert len(got) == 3 * 4
    assert "subject" not in text


def test_real_doctor_findings_are_exported(build, tmp_path, cli):
    """The real vfioctl doctor: the family counts exactly what 'vfioctl doctor
    --json' finds on the same root, per check and status."""
    from collections import Counter
    root = build("dual-function")
    text, _ = _export(root, tmp_path)
    got = _series(text, "vfioctl_doctor_findings")
    r = cli(["--root", root, "doctor", "--json"])
    want = Counter((f["check"], f["status"]) for f in json.loads(r.out)["findings"])
    assert want and sum(got.values()) == sum(want.values())
    for (check, status), n in want.items():
        assert got[(("check", check), ("status", status))] == n
    for (labels), n in got.items():
        d = dict(labels)
        assert n == want.get((d["check"], d["status"]), 0)


def test_cannot_tell_has_no_sample(build):
    """Not root: some processes' fds unreadable.  Whether a group is held is then
    unknown, so no hot_reset_possible / vfio_function_held sample is guessed; the
    capability (which ignores holders) is still known."""
    from vfioctl.ops.export import metric_families
    from vfioctl.present.prometheus import render
    from vfioctl.sysfs.reader import read_host
    host = read_host(build("dual-function"))
    host.holders_unreadable = 3
    text = render(metric_families(host))
    assert "vfioctl_hot_reset_possible{" not in text
    assert "vfioctl_vfio_function_held{" not in text
    assert _series(text, "vfioctl_hot_reset_capable")[(("address", "0000:81:00.0"),)] == 1
