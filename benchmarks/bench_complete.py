"""Benchmark shell completion of a DEVICE argument on a 4,096-function host.

Times, as the shell sees them (wall clock around a subprocess, median of
--runs runs after one warm-up):

1. the fast path the completion scripts call:
   ``vfioctl __complete vfio-devices --root T 0000:``
2. the whole bash completion: ``bash`` sourcing ``completions/vfioctl.bash``
   and calling ``_vfioctl`` for ``vfioctl --root T hot-reset 0000:<TAB>``
   (and, for scale, the same bash run without the completion call);
3. for reference: ``python -c pass`` with the same interpreter (with and
   without ``site``: an editable install's import finder alone costs tens of
   ms at every start), the fast path without ``site``, and
   ``vfioctl --version`` (the full typer app).

Target: 1 and 2 at most 100 ms.  Usage:

    .venv/bin/python benchmarks/bench_complete.py [--runs 9] [--tree DIR] [-n 4096]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, REPO)

from bigtree import build_big_tree  # noqa: E402

TARGET_MS = 100.0


def vfioctl_exe() -> str:
    cand = os.path.join(os.path.dirname(sys.executable), "vfioctl")
    if os.path.exists(cand):
        return cand
    import shutil
    found = shutil.which("vfioctl")
    if not found:
        sys.exit("vfioctl is not installed next to this interpreter (pip install -e .)")
    return found


def timed(argv: list[str], runs: int, env: dict) -> tuple[list[float], str]:
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       check=True)
        times.append((time.perf_counter() - t0) * 1000)
    return times, out


def bash_line(tree: str, call: bool) -> str:
    script = os.path.join(REPO, "completions", "vfioctl.bash")
    line = f"vfioctl --root {tree} hot-reset 0000:"
    words = ["vfioctl", "--root", tree, "hot-reset", "0000", ":"]
    body = [f"source '{script}'"]
    if call:
        body += [
            "COMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + ")",
            f"COMP_CWORD={len(words) - 1}",
            f"COMP_LINE='{line}'",
            f"COMP_POINT={len(line)}",
            "_vfioctl vfioctl",
            'printf "%s\\n" "${COMPREPLY[@]}"',
        ]
    return "\n".join(body)


def report(name: str, times: list[float], target: float | None = None) -> None:
    med = statistics.median(times)
    verdict = ""
    if target is not None:
        verdict = "  OK" if med <= target else f"  OVER the {target:.0f} ms target"
    print(f"{name:<58} median {med:7.1f} ms   min {min(times):7.1f}   max {max(times):7.1f}"
          f"   (n={len(times)}){verdict}")


def main() -> int:
    ap = argparse.ArgumentParser(description="Benchmark DEVICE completion on a big host.")
    ap.add_argument("--runs", type=int, default=9, help="timed runs per case (>= 7)")
    ap.add_argument("-n", type=int, default=4096, help="functions in the tree")
    ap.add_argument("--tree", help="build (or reuse) the tree here instead of a temp dir")
    a = ap.parse_args()
    runs = max(7, a.runs)
    exe = vfioctl_exe()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VFIOCTL_")}
    env["PATH"] = os.path.dirname(exe) + os.pathsep + env.get("PATH", "")

    tmp = None
    if a.tree:
        tree = a.tree
    else:
        tmp = tempfile.TemporaryDirectory(prefix="vfioctl-bench-")
        tree = os.path.join(tmp.name, "big")
    t0 = time.perf_counter()
    tree = build_big_tree(tree, a.n)
    print(f"tree: {tree} ({a.n} functions, ready in {time.perf_counter() - t0:.1f} s)")
    print(f"vfioctl: {exe}; python {sys.version.split()[0]}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
    print()

    t_fast, out = timed([exe, "__complete", "vfio-devices", "--root", tree, "0000:"], runs, env)
    n_vfio = len(out.splitlines())
    report(f"vfioctl __complete vfio-devices ({n_vfio} candidates)", t_fast, TARGET_MS)
    t_all, _ = timed([exe, "__complete", "devices", "--root", tree], runs, env)
    report("vfioctl __complete devices (every function)", t_all, TARGET_MS)
    t_bash, out = timed(["bash", "--norc", "--noprofile", "-c", bash_line(tree, True)], runs, env)
    report(f"bash _vfioctl for 'hot-reset 0000:<TAB>' ({len(out.splitlines())} replies)",
           t_bash, TARGET_MS)
    t_src, _ = timed(["bash", "--norc", "--noprofile", "-c", bash_line(tree, False)], runs, env)
    report("  of which: bash start + source the script", t_src)
    t_py, _ = timed([sys.executable, "-c", "pass"], runs, env)
    report("reference: python -c pass (this venv's start-up floor)", t_py)
    t_pys, _ = timed([sys.executable, "-S", "-c", "pass"], runs, env)
    report("reference: python -S -c pass (no site, no editable finder)", t_pys)
    code = (f"import sys; sys.path.insert(0, {REPO!r}); from vfioctl.cli.entry import main; "
            f"main(['__complete', 'vfio-devices', '--root', {tree!r}, '0000:'])")
    t_nosite, _ = timed([sys.executable, "-S", "-c", code], runs, env)
    report("reference: the fast path without site (as a regular install)", t_nosite)
    t_ver, _ = timed([exe, "--version"], runs, env)
    report("reference: vfioctl --version (full typer app)", t_ver)
    print()
    ok = statistics.median(t_fast) <= TARGET_MS and statistics.median(t_bash) <= TARGET_MS
    print("result:", "within" if ok else "NOT within", f"the {TARGET_MS:.0f} ms target")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
