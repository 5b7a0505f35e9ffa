#!/usr/bin/env python3
"""The cost of encoding ``list --json``'s document alone, the part of the floor
under ``list`` that a bare scan leaves out: vfioctl reads the tree and builds
the document (not timed), then Python's C JSON encoder turns it into text
(timed, the median of 5).  Run by bench_speed.py with the installed vfioctl's
interpreter; prints one number, milliseconds:

    python benchmarks/floor_json.py TREE
"""

import json
import statistics
import sys
import time


def main(tree: str) -> int:
    from vfioctl.ops import inspect
    from vfioctl.present.jsondoc import list_doc, materialize
    from vfioctl.sysfs.reader import read_host

    host = read_host(tree, names=True, holders=True, brief=True, full_config=False)
    doc = materialize(list_doc(inspect.list_report(host, inspect.list_functions(host))))
    times = []
    for _ in range(5):
        t = time.perf_counter()
        json.dumps(doc, separators=(",", ":"))
        times.append(time.perf_counter() - t)
    print(f"{statistics.median(times) * 1000:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
