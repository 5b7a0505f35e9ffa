#!/usr/bin/env python3
"""Benchmark: `vfioctl --root T list --json` vs lspci on a 4,096-function tree.

Prints the median wall time of each (several runs, subprocesses, warm page
cache) and the ratio vfioctl/lspci.  Target: <= 1.0x.  lspci runs as

    lspci -A linux-sysfs -O sysfs.path=T/sys/bus/pci -D -k -nn

(`-A linux-sysfs` matters: without it lspci silently falls back to
/proc/bus/pci and lists the real host).  vfioctl is measured as a regular
install (a venv under the benchmark directory), names resolved from pci.ids
as lspci -nn does.  This is a script that prints
figures, not a test: run `python benchmarks/bench_list.py [N] [RUNS]`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bigtree import build_big_tree  # noqa: E402


def median_wall(argv, runs, env=None):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        times.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({p.returncode}): {p.stderr.decode()[-500:]}")
    return statistics.median(times)


def installed_vfioctl(base: str) -> str:
    """vfioctl as a user gets it (README: a regular, non-editable install), in a
    venv cached under the benchmark directory and refreshed from this checkout.
    A development venv's editable install adds an import finder to every start."""
    venv = os.path.join(base, "venv")
    exe = os.path.join(venv, "bin", "vfioctl")
    checkout = os.path.dirname(HERE)
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", checkout], check=True)
    else:
        subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "--no-deps",
                        "--force-reinstall", checkout], check=True)
    return exe


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 9
    base = os.environ.get("VFIOCTL_BENCH_DIR") or os.path.join(tempfile.gettempdir(),
                                                              "vfioctl-bench")
    tree = build_big_tree(os.path.join(base, f"bigtree-{n}"), n)
    vfioctl = installed_vfioctl(base)
    lspci = shutil.which("lspci")
    env = dict(os.environ)  # names from pci.ids, as lspci -nn resolves them too
    argv_v = [vfioctl, "--root", tree, "list", "--json"]
    for _ in range(2):  # warm the page cache and the bytecode
        subprocess.run(argv_v, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    tv = median_wall(argv_v, runs, env)
    print(f"tree: {tree} ({n} functions)")
    print(f"vfioctl --root T list --json           median {tv * 1000:8.1f} ms over {runs} runs")
    if lspci is None:
        print("lspci: not installed (apt-get install pciutils) - no ratio")
        return 0
    argv_l = [lspci, "-A", "linux-sysfs", "-O", f"sysfs.path={tree}/sys/bus/pci", "-D", "-k", "-nn"]
    subprocess.run(argv_l, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tl = median_wall(argv_l, runs)
    print(f"lspci -A linux-sysfs ... -D -k -nn     median {tl * 1000:8.1f} ms over {runs} runs")
    print(f"ratio vfioctl/lspci: {tv / tl:.2f}x (target <= 1.00x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
