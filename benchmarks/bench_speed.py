#!/usr/bin/env python3
"""Every speed figure of issue 14, as ratios and medians.  A script, not a test.

1. ``vfioctl --root T list --json`` against
   ``lspci -A linux-sysfs -O sysfs.path=T/sys/bus/pci -D -k -nn`` on the
   4,096- and 40,960-function trees (target: at most 0.80x), and vfioctl's
   peak RSS on 40,960 (target: at most 100 MiB);
2. ``show``, ``reset-info`` and ``check`` of one device on the 4,096 tree:
   median (target: at most 100 ms) and ratio to the same command on a
   30-function tree (target: at most 1.30x);
3. the holder scan (``Reader._holders``) against a bare ``scandir`` +
   ``readlink`` loop over a ``proc`` tree of 2,000 processes and 100,000 fds
   (target: at most 1.20x);
4. the floor under (1), as fractions of lspci: the interpreter, typer's
   import, a bare confined scan of the files ``list`` reads
   (``floor_scan.py``) and the JSON encoding of ``list``'s document alone
   (``floor_json.py``).

Commands compared with each other are alternated within one run (the machine
is shared: compare ratios, not absolute times across runs); every figure is
printed with the command line, the machine's cores and the load average.
vfioctl runs as a user gets it: a regular (non-editable) install in a venv
under the benchmark directory, refreshed from this checkout.

    python benchmarks/bench_speed.py [--runs N] [--big-runs N] [--skip-40960]

Trees are cached in ``$VFIOCTL_BENCH_DIR`` (default ``$TMPDIR/vfioctl-bench``).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(HERE)
sys.path.insert(0, CHECKOUT)
sys.path.insert(0, HERE)

from bigtree import build_big_tree, build_proc_tree  # noqa: E402

DEVICE = "0000:01:00.0"   # an endpoint function below a root port, in both trees


def load() -> str:
    return "load %.2f" % os.getloadavg()[0]


def run_once(argv: list[str], env: dict | None = None) -> tuple[float, int, float]:
    """(wall seconds, peak RSS in KiB, CPU seconds user+sys) of one run;
    stdout discarded."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in (0, 1):   # reset-info/check answer 1 for "not possible"
        raise SystemExit(f"{shlex.join(argv)} failed ({p.returncode}): {err[-500:]}")
    return wall, ru.ru_maxrss, ru.ru_utime + ru.ru_stime


def alternate(cmds: dict[str, list[str]], runs: int, env: dict | None = None
              ) -> dict[str, tuple[list[float], int, list[float]]]:
    """Run each command ``runs`` times, alternating: (wall times, max RSS,
    CPU times) per name."""
    for argv in cmds.values():        # warm the page cache and the bytecode
        run_once(argv, env)
    out: dict[str, tuple[list[float], int, list[float]]] = {k: ([], 0, []) for k in cmds}
    for _ in range(runs):
        for k, argv in cmds.items():
            w, rss, cpu = run_once(argv, env)
            ts, m, cs = out[k]
            ts.append(w)
            cs.append(cpu)
            out[k] = (ts, max(m, rss), cs)
    return out


def installed_vfioctl(base: str) -> str:
    venv = os.path.join(base, "venv")
    exe = os.path.join(venv, "bin", "vfioctl")
    pip = os.path.join(venv, "bin", "pip")
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([pip, "install", "-q", CHECKOUT], check=True)
    else:
        subprocess.run([pip, "install", "-q", "--no-deps", "--force-reinstall", CHECKOUT],
                       check=True, stdout=subprocess.DEVNULL)
    return exe


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def ms(x: float) -> str:
    return f"{x * 1000:8.1f} ms"


def bench_list(vfioctl: str, tree: str, n: int, runs: int, results: list) -> None:
    lspci = shutil.which("lspci")
    v = [vfioctl, "--root", tree, "list", "--json"]
    cmds = {"vfioctl": v}
    if lspci:
        cmds["lspci"] = [lspci, "-A", "linux-sysfs", "-O", f"sysfs.path={tree}/sys/bus/pci",
                         "-D", "-k", "-nn"]
    r = alternate(cmds, runs)
    print(f"list on {n} functions ({runs} alternated runs each, {load()})")
    for k, argv in cmds.items():
        ts, rss, cs = r[k]
        print(f"  {k:<8} median {ms(statistics.median(ts))} (CPU {ms(statistics.median(cs))})"
              f"  peak RSS {rss / 1024:6.1f} MiB   $ {shlex.join(argv)}")
    if lspci:
        ratio = statistics.median(r["vfioctl"][0]) / statistics.median(r["lspci"][0])
        paired = statistics.median(a / b for a, b in zip(r["vfioctl"][0], r["lspci"][0]))
        cpu = statistics.median(r["vfioctl"][2]) / statistics.median(r["lspci"][2])
        print(f"  ratio vfioctl/lspci {ratio:.2f}x (median of paired ratios {paired:.2f}x;"
              f" CPU time {cpu:.2f}x)  target <= 0.80x: {verdict(ratio <= 0.80)}")
        results.append((f"list --json / lspci, {n} functions", f"{ratio:.2f}x", ratio <= 0.80))
    else:
        print("  lspci is not installed (apt-get install pciutils): no ratio")
    if n >= 40960:
        rss = r["vfioctl"][1] / 1024
        print(f"  vfioctl peak RSS {rss:.1f} MiB  target <= 100 MiB: {verdict(rss <= 100)}")
        results.append((f"list --json peak RSS, {n} functions", f"{rss:.1f} MiB", rss <= 100))
    print()


def bench_floor(vfioctl: str, tree: str, n: int, runs: int) -> None:
    """What a Python program pays before vfioctl's own work, as fractions of
    lspci on the same tree: the interpreter, typer's import, and a bare
    confined scan of the files list reads (benchmarks/floor_scan.py)."""
    lspci = shutil.which("lspci")
    if not lspci:
        return
    py = os.path.join(os.path.dirname(vfioctl), "python")
    cmds = {
        "lspci": [lspci, "-A", "linux-sysfs", "-O", f"sysfs.path={tree}/sys/bus/pci",
                  "-D", "-k", "-nn"],
        "python": [py, "-c", "pass"],
        "+typer": [py, "-c", "import typer"],
        "scan": [py, os.path.join(HERE, "floor_scan.py"), tree],
        "vfioctl": [vfioctl, "--root", tree, "list", "--json"],
    }
    r = alternate(cmds, runs)
    base = statistics.median(r["lspci"][0])
    print(f"the floor under list on {n} functions ({runs} alternated runs each, {load()}):"
          " fractions of lspci")
    for k, argv in cmds.items():
        m = statistics.median(r[k][0])
        print(f"  {k:<8} median {ms(m)}  {m / base:5.2f}x   $ {shlex.join(argv)}")
    start = statistics.median(r["+typer"][0])
    scan = statistics.median(r["scan"][0]) - statistics.median(r["python"][0])
    enc = float(subprocess.run([py, os.path.join(HERE, "floor_json.py"), tree], check=True,
                               capture_output=True, text=True).stdout) / 1000
    print(f"  encode   median {ms(enc)}  {enc / base:5.2f}x   (json.dumps of list's document "
          "alone, in-process: benchmarks/floor_json.py)")
    floor = (start + scan + enc) / base
    print(f"  interpreter + typer import + bare scan + JSON encoding = {floor:.2f}x of lspci, "
          "before groups, slots, drivers, names, holders and building the model and document "
          f"(the target leaves {0.80 - floor:+.2f}x for them)")
    print()


def bench_device(vfioctl: str, big: str, small: str, runs: int, results: list) -> None:
    print(f"one device ({DEVICE}) on 4096 vs 30 functions ({runs} alternated runs each, "
          f"{load()})")
    for cmd in ("show", "reset-info", "check"):
        cmds = {t: [vfioctl, "--root", tree, cmd, DEVICE, "--json"]
                for t, tree in (("4096", big), ("30", small))}
        r = alternate(cmds, runs)
        m_big, m_small = (statistics.median(r[t][0]) for t in ("4096", "30"))
        ratio = m_big / m_small
        c_big, c_small = (statistics.median(r[t][2]) for t in ("4096", "30"))
        ok_abs, ok_ratio = m_big <= 0.100, ratio <= 1.30
        print(f"  {cmd:<10} 4096: median {ms(m_big)} (target <= 100 ms: {verdict(ok_abs)});"
              f"  30: median {ms(m_small)};  ratio {ratio:.2f}x (target <= 1.30x: "
              f"{verdict(ok_ratio)}; CPU {ms(c_big)} vs {ms(c_small)}, {c_big / c_small:.2f}x)"
              f"   $ {shlex.join(cmds['4096'])}")
        results.append((f"{cmd} median, 4096 functions", f"{m_big * 1000:.1f} ms", ok_abs))
        results.append((f"{cmd} 4096 / 30 functions", f"{ratio:.2f}x", ok_ratio))
    print()


def bench_holders(tree: str, runs: int, results: list) -> None:
    """In-process, alternated: the reader's scan and a bare loop, same tree."""
    from vfioctl.model.host import Host
    from vfioctl.sysfs.reader import Reader
    from vfioctl.sysfs.root import Root

    root = Root(tree)
    proc = os.path.join(tree, "proc")

    def scan():
        h = Host(root=root.path)
        r = Reader(root)
        r._nodes(h)
        r._holders(h)
        return h

    def bare():
        n = 0
        for p in os.scandir(proc):
            if p.name.isdigit():
                try:
                    for f in os.scandir(p.path + "/fd"):
                        try:
                            os.readlink(f.path)
                            n += 1
                        except OSError:
                            pass
                except OSError:
                    pass
        return n

    held = sum(len(v) for v in (scan().holders or {}).values())
    nfd = bare()
    a, b = [], []
    for _ in range(runs):
        t = time.perf_counter()
        scan()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        bare()
        b.append(time.perf_counter() - t)
    ratio = statistics.median(a) / statistics.median(b)
    print(f"holder scan over {nfd} fd links of {len(os.listdir(proc)) - 2} processes "
          f"({runs} alternated runs, in-process, {load()})")
    print(f"  Reader._holders  median {ms(statistics.median(a))}  ({held} holders found)")
    print(f"  bare loop        median {ms(statistics.median(b))}  "
          "(os.scandir(proc) -> os.scandir(pid/fd) -> os.readlink)")
    print(f"  ratio {ratio:.2f}x  target <= 1.20x: {verdict(ratio <= 1.20)}"
          f"   $ {shlex.join([sys.executable, *sys.argv])}")
    results.append(("holder scan / bare loop", f"{ratio:.2f}x", ratio <= 1.20))
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=11, help="alternated runs (4,096 and below)")
    ap.add_argument("--big-runs", type=int, default=5, help="alternated runs on 40,960")
    ap.add_argument("--skip-40960", action="store_true", help="skip the 40,960 tree")
    a = ap.parse_args()
    base = os.environ.get("VFIOCTL_BENCH_DIR") or os.path.join(tempfile.gettempdir(),
                                                              "vfioctl-bench")
    os.makedirs(base, exist_ok=True)
    t0 = time.perf_counter()
    small = build_big_tree(os.path.join(base, "bigtree-30"), 30)
    big = build_big_tree(os.path.join(base, "bigtree-4096"), 4096)
    huge = None if a.skip_40960 else build_big_tree(os.path.join(base, "bigtree-40960"), 40960)
    proct = build_proc_tree(os.path.join(base, "proctree-2000"), 2000, 100_000)
    vfioctl = installed_vfioctl(base)
    ver = subprocess.run([vfioctl, "--version"], capture_output=True, text=True).stdout.strip()
    lspci = shutil.which("lspci")
    lver = subprocess.run([lspci, "--version"], capture_output=True, text=True).stdout.strip() \
        if lspci else "no lspci"
    print(f"machine: {os.cpu_count()} cores, {os.uname().machine}, Linux {os.uname().release}; "
          f"{load()} at start; python {sys.version.split()[0]}; {ver}; {lver}")
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"trees under {base} (ready in {time.perf_counter() - t0:.1f} s); vfioctl: {vfioctl}")
    print()
    results: list[tuple[str, str, bool]] = []
    bench_list(vfioctl, big, 4096, a.runs, results)
    bench_floor(vfioctl, big, 4096, a.runs)
    if huge:
        bench_list(vfioctl, huge, 40960, a.big_runs, results)
    bench_device(vfioctl, big, small, a.runs + 4, results)
    bench_holders(proct, a.runs, results)
    print(f"summary ({os.cpu_count()} cores, {load()} at the end):")
    for name, fig, ok in results:
        print(f"  {name:<42} {fig:>10}  {verdict(ok)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
