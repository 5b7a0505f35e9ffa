"""Metric families -> Prometheus text exposition format 0.0.4.

As node_exporter's textfile collector parses it (binding-host-fleet.md D.1,
D.2): UTF-8, ``\\n`` line ends and a final ``\\n``; one ``# HELP`` and one
``# TYPE`` line per family before its samples; each family contiguous;
label values escape ``\\``, ``"`` and newline; HELP escapes ``\\`` and
newline; **no sample timestamps** (the textfile collector rejects the whole
file if any sample has one).
"""

from __future__ import annotations

import math
import re

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def render(families) -> str:
    """Families (``vfioctl.ops.export.MetricFamily``) -> exposition text."""
    out: list[str] = []
    seen: set[str] = set()
    for fam in families:
        if not NAME_RE.match(fam.name) or fam.name in seen:
            raise ValueError(f"bad or repeated metric name {fam.name!r}")
        seen.add(fam.name)
        out.append(f"# HELP {fam.name} {escape_help(fam.help)}")
        out.append(f"# TYPE {fam.name} {fam.type}")
        keys: set = set()
        for s in fam.samples:
            for k, _ in s.labels:
                if not LABEL_RE.match(k) or k.startswith("__"):
                    raise ValueError(f"bad label name {k!r} in {fam.name}")
            if s.labels in keys:
                raise ValueError(f"duplicate series in {fam.name}: {s.labels}")
            keys.add(s.labels)
            lab = ",".join(f'{k}="{escape_label(v)}"' for k, v in s.labels)
            out.append(f"{fam.name}{{{lab}}} {format_value(s.value)}" if lab
                       else f"{fam.name} {format_value(s.value)}")
    return "\n".join(out) + "\n"
