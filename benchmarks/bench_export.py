#!/usr/bin/env python3
"""Benchmark: `vfioctl export --prometheus --nfd` on a 4,096-function tree.

Prints the series and families written, the file sizes and the median wall
time of a whole run (a subprocess, as the systemd timer runs it; warm page
cache), plus the in-process time spent building the data.  This is a script
that prints figures, not a test: `python benchmarks/bench_export.py [N] [RUNS]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from bigtree import build_big_tree  # noqa: E402


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    base = os.path.join(tempfile.gettempdir(), "vfioctl-bench")
    root = build_big_tree(os.path.join(base, f"tree-{n}"), n)
    out = tempfile.mkdtemp(prefix="vfioctl-export-")
    prom, nfd = os.path.join(out, "vfioctl.prom"), os.path.join(out, "vfioctl")
    exe = os.path.join(os.path.dirname(sys.executable), "vfioctl")
    argv = [exe, "--quiet", "--root", root, "export", "--prometheus", prom, "--nfd", nfd,
            "--json"]
    env = dict(os.environ, VFIOCTL_PCI_IDS="none")
    times, doc = [], None
    for _ in range(runs):
        t = time.perf_counter()
        p = subprocess.run(argv, capture_output=True, text=True, env=env)
        times.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"export failed ({p.returncode}): {p.stderr[-500:]}")
        doc = json.loads(p.stdout)
    fams: dict[str, int] = {}
    with open(prom) as f:
        for line in f:
            if not line.startswith("#"):
                name = line.split("{", 1)[0].split(" ", 1)[0]
                fams[name] = fams.get(name, 0) + 1
    print(f"functions: {n}")
    print(f"series: {doc['prometheus']['series']} in {doc['prometheus']['families']} families "
          f"({os.path.getsize(prom)} bytes); NFD features: {doc['nfd']['features']} "
          f"({os.path.getsize(nfd)} bytes)")
    for name, count in sorted(fams.items(), key=lambda x: -x[1]):
        print(f"  {name}: {count}")
    print(f"export wall time: median {statistics.median(times):.3f} s over {runs} runs "
          f"(min {min(times):.3f}, max {max(times):.3f}); in-process read+build "
          f"{doc['duration_seconds']:.3f} s (last run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
