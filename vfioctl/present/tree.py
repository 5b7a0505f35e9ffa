"""``vfioctl tree``: the report's JSON document, its text view and its Graphviz view.

Registered in :data:`vfioctl.present.RENDERERS` like every report:
:func:`tree_doc` (report -> the ``--json`` document) and :func:`render_tree`
(document -> a :class:`~vfioctl.present.output.Canvas`: the table canvas on a
terminal or with ``--format table``, colour as every command has it; the plain
canvas in a pipe or with ``--format plain``).  :func:`render_dot` is the third
format (``tree --dot``).  The text and DOT views draw the very document
``--json`` prints, so the three can never disagree.

Text: UTF-8 box drawing, or ASCII when the output cannot show it
(:func:`use_unicode`); lines fit the canvas's width (long names are shortened
first, with an ellipsis; then the details move to continuation lines, a role
too long to sit beside its address with them, a detail too long for a line of
its own broken between its words; addresses are never broken).  Every string
of the document goes through :func:`vfioctl.model.text.safe` before the text
and DOT views draw it (names and comms come from files a stranger may write);
the JSON keeps the exact text.
"""

from __future__ import annotations

import os
import textwrap

from vfioctl.model.text import safe
from vfioctl.present import jsondoc as jd

# ---------------------------------------------------------------------------
# the document


def _mark(m) -> dict:
    return {"scope": m.scope, "target": m.target, "hit": m.hit, "in_dev_set": m.in_dev_set,
            "blocks": m.blocks, "held_by": [jd.holder(h) for h in m.held_by],
            "reset_point": m.reset_point, "also_reset": m.also_reset}


def _node(host, n) -> dict:
    d = {"type": n.type, "name": n.name, "role": n.role, "matched": n.matched,
         "function": jd.function(host, n.function, brief=True) if n.function else None,
         "hotplug_slot": None, "root_complex": None}
    if n.slot is not None:
        s = n.slot
        d["hotplug_slot"] = {"name": s.name, "address": s.address, "hotplug": s.hotplug,
                             "module": s.module, "reset_capable": s.reset_capable}
    if n.type == "root-complex":
        dom, _, bus = n.name[3:].partition(":")
        d["root_complex"] = {"domain": dom, "root_bus": f"{dom}:{bus}"}
    d["marks"] = [_mark(m) for m in n.marks]
    d["children"] = [_node(host, c) for c in n.children]
    return d


def tree_doc(t) -> dict:
    """The ``tree`` document of a :class:`vfioctl.ops.reports.TreeReport`."""
    host = t.host
    return jd.doc("tree", host=jd.host_summary(host),
                  roots=[_node(host, r) for r in t.roots],
                  resets=[jd.plan(host, p) for p in t.plans],
                  hidden_root_complexes=list(t.hidden_roots),
                  filtered=t.filtered, warnings=list(host.warnings))


# ---------------------------------------------------------------------------
# output decisions

#: what Python's C-locale coercion (PEP 538) puts in LC_CTYPE when it finds the
#: C or POSIX locale; the terminal has not been told anything about UTF-8
_COERCED = ("C.UTF-8", "C.utf8", "UTF-8")


def use_unicode(stream, env=None, *, ascii_only: bool = False) -> bool:
    """UTF-8 box drawing unless ``--ascii``, a locale that is not UTF-8
    (``LC_ALL``, else ``LC_CTYPE``, else ``LANG``; a C locale that Python
    coerced counts as C), or an output stream whose encoding is not UTF-8."""
    if ascii_only:
        return False
    env = os.environ if env is None else env
    if (not env.get("LC_ALL") and env.get("LC_CTYPE") in _COERCED
            and env.get("LANG", "C") in ("", "C", "POSIX")):
        return False    # Python set LC_CTYPE itself (PEP 538): the locale is C
    loc = next((env[k] for k in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(k)), "")
    if loc:
        low = loc.lower().replace("-", "")
        if "utf8" not in low:
            return False
    enc = getattr(stream, "encoding", None)
    if enc and enc.lower().replace("-", "").replace("_", "") != "utf8":
        return False
    return True


# ---------------------------------------------------------------------------
# text

class Glyphs:
    def __init__(self, unicode: bool):
        if unicode:
            self.tee, self.last, self.bar, self.gap = "├── ", "└── ", "│   ", "    "
            self.hit, self.bad, self.reset, self.target, self.ell = "●", "✗", "⟲", "◀", "…"
            self.dash = "—"
        else:
            self.tee, self.last, self.bar, self.gap = "|-- ", "`-- ", "|   ", "    "
            self.hit, self.bad, self.reset, self.target, self.ell = "*", "X", "@", "<-", "..."
            self.dash = "-"


ROLE_LABELS = {
    "host-bridge": "host bridge", "root-port": "root port",
    "switch-upstream-port": "switch upstream port",
    "switch-downstream-port": "switch downstream port",
    "pcie-to-pci-bridge": "PCIe-to-PCI bridge", "pci-to-pcie-bridge": "PCI-to-PCIe bridge",
    "rc-integrated-endpoint": "RC-integrated endpoint",
    "rc-event-collector": "RC event collector", "vf": "VF", "bridge": "bridge",
    "pci-bridge": "PCI bridge",
}

#: a name is shortened to keep its line whole only while this much of it stays
MIN_NAME = 20


def short_name(f: dict, labelled: bool = False) -> str:
    """The device name; else the vendor and, unless a role label says it, the class."""
    if f.get("device_name"):
        return f["device_name"]
    if labelled:
        return f.get("vendor_name") or ""
    parts = [f.get("vendor_name"), f.get("class_name")]
    return " ".join(x for x in parts if x and x != "?") or f.get("class_name") or "?"


def ellipsize(text: str, n: int, ell: str) -> str:
    if len(text) <= n:
        return text
    if n <= len(ell):
        return ell[:n]
    return text[:n - len(ell)].rstrip() + ell


def _vfio(f: dict) -> str | None:
    """The VFIO node kind of a bound function: group node and/or cdev."""
    v = f["vfio"]
    if not v["bound"]:
        return None
    parts = []
    if v["group_node"]:
        parts.append("noiommu group" if v["noiommu"] else "group")
    if v["cdev_node"]:
        parts.append(f"cdev {v['vfio_dev']}")
    elif v["vfio_dev"] and not v["noiommu"]:
        parts.append("no cdev")
    return "vfio: " + (", ".join(parts) or "bound")


def _holders(hs) -> str:
    return ", ".join(f"{h['comm']}({h['pid']})" for h in hs)


def _mark_tokens(n: dict, resets: list[dict], g: Glyphs) -> list[tuple[str, str]]:
    many = len(resets) > 1
    out: list[tuple[str, str]] = []
    for m in n["marks"]:
        tag = f"#{m['scope'] + 1} " if many else ""
        p = resets[m["scope"]]
        if m["reset_point"] == "bus":
            out.append((f"{tag}{g.reset} RESET bus {p['bus']} and below", "reset"))
        elif m["reset_point"] == "slot":
            out.append((f"{tag}{g.reset} SLOT RESET", "reset"))
        if m["target"]:
            extra = "" if p["kind"] else " (no hot reset)"
            out.append((f"{tag}{g.target} TARGET{extra}", "target"))
            tag = ""
        if m["hit"] and m.get("also_reset"):
            # the kernel resets it without listing (or checking) it
            if m["held_by"]:
                out.append((f"{tag}{g.bad} hit too, held", "bad"))
            else:
                out.append((f"{tag}{g.hit} hit too", "ok"))
            continue
        if m["hit"]:
            if not m["blocks"]:
                if not m["target"]:
                    out.append((f"{tag}{g.hit} hit", "ok"))
                continue
            if m["in_dev_set"] is False:
                out.append((f"{tag}{g.bad} hit, NOT in dev_set", "bad"))
                tag = ""
            if m["held_by"]:
                out.append((f"{tag}{g.bad} hit while held", "bad"))
    return out


def _node_tokens(n: dict, g: Glyphs):
    """(head, head style, label tokens, name, detail tokens)."""
    if n["type"] == "root-complex":
        rc = n["root_complex"]
        return n["name"], "head", [], "", [(f"root complex, domain {rc['domain']}", "dim")]
    if n["type"] == "slot":
        s = n["hotplug_slot"]
        how = ("hotplug, slot reset" if s["reset_capable"] else
               "hotplug, no reset_slot" if s["hotplug"] else "no hotplug")
        if s["module"]:
            how += f", {s['module']}"
        return f"slot {s['name']}", "head", [], "", [(f"({how})", "dim")]
    f = n["function"]
    label = ROLE_LABELS.get(n["role"] or "")
    details = [(f["driver"] or "no driver", "dim"),
               (f"grp {f['iommu_group']}" if f["iommu_group"] is not None else "no group", "dim")]
    v = _vfio(f)
    if v:
        details.append((v, "dim"))
    if f["holders"]:
        details.append((f"held by {_holders(f['holders'])}", "bad"))
    style = "addr" if n["matched"] else "dim"
    return (f["address"], style, [(label, "dim")] if label else [],
            short_name(f, bool(label)), details)


SEP = "  "


def _fit(prefix: str, cont: str, n: dict, resets, g: Glyphs, width: int | None):
    """The lines of one node: lists of (text, style) segments."""
    head, hstyle, labels, name, details = _node_tokens(n, g)
    marks = _mark_tokens(n, resets, g)
    tail = details + marks
    first = [(prefix, "tree"), (head, hstyle)]
    for t, s in labels:
        first += [(SEP, None), (t, s)]
    if width is not None and sum(len(t) for t, _ in first) > width:
        # not even the role fits beside the address: it goes below, with the rest
        first, marks = first[:2], labels + marks

    def length(segs):
        return sum(len(t) for t, _ in segs)

    def one_line(nm):
        segs = list(first)
        if nm:
            segs += [(SEP, None), (nm, None)]
        for t, s in tail:
            segs += [(SEP, None), (t, s)]
        return segs

    segs = one_line(name)
    if width is None or length(segs) <= width:
        return [segs]
    room = width - (length(segs) - len(name))
    if name and room >= min(MIN_NAME, len(name) - 1):
        return [one_line(ellipsize(name, room, g.ell))]
    # two or more lines: the name shortened on the first, the rest wrapped below
    line = list(first)
    if name:
        room = width - length(first) - len(SEP)
        if room >= 4:
            line += [(SEP, None), (ellipsize(name, room, g.ell), None)]
    lines = [line]
    cur: list = [(cont, "tree")]
    chunks = []
    for t, s in marks + details:    # what the reset does first
        room = width - len(cont) - len(SEP)
        # a chunk too long for a line of its own is broken between its words
        chunks += ([(x, s) for x in textwrap.wrap(t, room, break_long_words=False,
                                                  break_on_hyphens=False)]
                   if len(t) > room > 0 else [(t, s)])
    for t, s in chunks:
        if len(cur) > 1 and length(cur) + len(SEP) + len(t) > width:
            lines.append(cur)
            cur = [(cont, "tree")]
        cur += [(SEP, None), (t, s)]
    if len(cur) > 1:
        lines.append(cur)
    return lines


def _wrap(text: str, width: int | None, indent: str, style: str | None,
          first: str | None = None) -> list:
    first = indent if first is None else first
    if width is None or width <= len(indent) + 10:
        return [[(first + text, style)]]
    w = textwrap.TextWrapper(width=width, initial_indent=first, subsequent_indent=indent,
                             break_long_words=False, break_on_hyphens=False)
    return [[(ln, style)] for ln in (w.wrap(text) or [first])]


def _safe_doc(v):
    """The document with every string made :func:`safe` (for the human views)."""
    if isinstance(v, str):
        return safe(v)
    if isinstance(v, list):
        return [_safe_doc(x) for x in v]
    if isinstance(v, dict):
        return {k: _safe_doc(x) for k, x in v.items()}
    return v


def render_lines(d: dict, *, width: int | None = None, unicode: bool = True) -> list:
    """The text view as lines of (text, style) segments."""
    d = _safe_doc(d)
    g = Glyphs(unicode)
    resets = d["resets"]
    lines: list = []

    def rec(n: dict, prefix: str, cont: str) -> None:
        kids = n["children"]
        own_cont = cont + (g.bar[:2] if kids else "  ")
        lines.extend(_fit(prefix, own_cont, n, resets, g, width))
        for i, c in enumerate(kids):
            last = i == len(kids) - 1
            rec(c, cont + (g.last if last else g.tee), cont + (g.gap if last else g.bar))

    for r in d["roots"]:
        rec(r, "", "")
    if not d["roots"]:
        lines.append([("no PCI function matches", "dim")])
    if d["hidden_root_complexes"]:
        hid = d["hidden_root_complexes"]
        lines += _wrap(f"({len(hid)} other root complex(es) not shown: {', '.join(hid)}; "
                       "--all shows them)", width, " ", "dim", "")
    for i, p in enumerate(resets):
        lines.append([])
        lines += _footer(p, i if len(resets) > 1 else None, width, g)
    if resets:
        lines.append([])
        lines += _wrap(f"{g.target} target   {g.reset} reset point   {g.hit} hit, in the "
                       f"dev_set   {g.bad} hit and blocking (outside the dev_set, or held)"
                       + ("   hit too: reset, though the kernel's INFO does not list it"
                          if any(p.get("also_reset") for p in resets) else ""),
                       width, "  ", "dim", "")
    return lines


def _footer(p: dict, idx: int | None, width, g: Glyphs) -> list:
    tag = f"#{idx + 1} " if idx is not None else ""
    out: list = []
    if p["kind"] == "slot":
        how = f"slot reset of slot {p['slot']}"
    elif p["kind"] == "bus":
        how = f"bus reset of {p['bus']} through {p['bridge']}"
    else:
        how = "no hot reset"
    out += _wrap(f"{tag}Hot reset of {p['target']}: {how}", width, "  ", "head", "")
    if p["kind"]:
        aff = p["affected"]
        outside = sum(1 for a in aff if not a["in_dev_set"])
        held = sum(1 for a in aff if a["holders"])
        extra = [f"{outside} outside the dev_set"] if outside else []
        extra += [f"{held} held"] if held else []
        out += _wrap(f"hits {len(aff)} function(s)" + (f" ({', '.join(extra)})" if extra else "")
                     + f"; dev_set {p['dev_set']['key'] or '(target not on vfio-pci)'}",
                     width, "    ", None, "  ")
        also = p.get("also_reset") or []
        if also:
            held_too = [c["address"] for c in also if c["holders"]]
            out += _wrap(f"also hits {len(also)} VF(s) the kernel does not list: "
                         + ", ".join(c["address"] for c in also)
                         + (f" ({', '.join(held_too)} held)" if held_too else ""),
                         width, "    ", "bad" if held_too else None, "  ")
    else:
        out += _wrap(p["why"], width, "    ", None, "  ")
    for mode, v in p["verdicts"].items():
        label = "legacy groups" if mode == "group" else "iommufd (cdev)"
        if v["possible"]:
            extra = (f"opens {', '.join(v['groups_to_open'])}" if mode == "group"
                     else f"binds {', '.join(v['devices_to_bind'])}")
            out += _wrap(f"{label}: possible ({extra})", width, "    ", "ok", "  ")
            continue
        state = "unavailable" if not v["available"] else "refused"
        exp = v["expected"]
        ans = f"the kernel would answer {exp['errno']}" if exp["errno"] else "vfioctl stops"
        if v.get("answer") == "cannot-tell":     # issue 8: never "possible" unseen
            said = f"cannot tell {g.dash} vfioctl could not see everything it depends on"
        else:
            said = f"{state} {g.dash} {ans} at {exp['step']}"
        out += _wrap(f"{label}: {said}", width, "    ", "bad", "  ")
        for r in v["reasons"]:
            out += _wrap(r["message"], width, "      ", None, "    - ")
    said = ("POSSIBLE" if p["possible"] else "CANNOT TELL (see the cannot-tell reasons)"
            if p.get("answer") == "cannot-tell" else "NOT possible")
    out += _wrap(f"verdict: hot reset of {p['target']} {said}"
                 + (f" (default mode: {p['default_mode']})" if p["possible"] else ""),
                 width, "    ", "ok" if p["possible"] else "bad", "  ")
    return out


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")


def render_text(d: dict, *, width: int | None = None, unicode: bool = True) -> str:
    out = "".join("".join(t for t, _ in ln).rstrip() + "\n"
                  for ln in render_lines(d, width=width, unicode=unicode))
    return out if unicode else _ascii(out)


def render_tree(d: dict, c, *, ascii_only: bool = False) -> None:
    """The text view on a canvas: as wide as the canvas (no limit in a pipe
    without COLUMNS), ASCII unless the canvas's stream and locale take UTF-8."""
    unicode = use_unicode(getattr(c, "stream", None), ascii_only=ascii_only)
    for ln in render_lines(d, width=getattr(c, "width", None), unicode=unicode):
        c.segments([(t if unicode else _ascii(t), st) for t, st in ln])


# ---------------------------------------------------------------------------
# Graphviz

def _q(s: str) -> str:
    """A DOT double-quoted string (``\\n`` / ``\\l`` added by the caller)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lbl(lines: list[str], just: str = "\\n") -> str:
    esc = [ln.replace("\\", "\\\\").replace('"', '\\"') for ln in lines]
    return '"' + just.join(esc) + (just if just == "\\l" else "") + '"'


def _dot_id(n: dict) -> str:
    if n["type"] == "slot":
        return _q(f"slot:{n['hotplug_slot']['name']}:{n['hotplug_slot']['address']}")
    return _q(n["name"])


FILL_HIT, FILL_BAD, FILL_RESET, LINE_RESET = "#c8e6c9", "#ffcdd2", "#ffe0b2", "#e65100"


def render_dot(d: dict) -> str:
    """Graphviz: IOMMU groups as clusters, the reset scope(s) highlighted, the
    verdicts as the graph's label."""
    d = _safe_doc(d)
    resets = d["resets"]
    many = len(resets) > 1
    nodes: list[tuple[dict, int | None]] = []     # (node, its group)
    edges: list[tuple[dict, dict]] = []

    def rec(n: dict, parent: dict | None) -> None:
        grp = n["function"]["iommu_group"] if n["function"] else None
        nodes.append((n, grp))
        if parent is not None:
            edges.append((parent, n))
        for c in n["children"]:
            rec(c, n)

    for r in d["roots"]:
        rec(r, None)
    in_scope: set[str] = set()
    for n, _ in nodes:
        if any(m["hit"] or m["reset_point"] for m in n["marks"]):
            in_scope.add(_dot_id(n))

    out = ["digraph vfioctl_tree {",
           '  graph [rankdir=LR, fontname="Helvetica", fontsize=10, nodesep=0.15, '
           'ranksep=0.35, labelloc=b, labeljust=l];',
           '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica", '
           'fontsize=9];',
           '  edge [color="#607d8b", arrowsize=0.6];']

    def node_stmt(n: dict) -> str:
        tag = lambda m: f"#{m['scope'] + 1} " if many else ""  # noqa: E731
        if n["type"] == "root-complex":
            lines = [n["name"], f"root complex, domain {n['root_complex']['domain']}"]
            attrs = {"shape": "box3d", "style": "filled", "fillcolor": "#eceff1"}
        elif n["type"] == "slot":
            s = n["hotplug_slot"]
            lines = [f"slot {s['name']} ({s['address']})",
                     "hotplug, slot reset" if s["reset_capable"] else
                     "hotplug, no reset_slot" if s["hotplug"] else "no hotplug"]
            attrs = {"shape": "folder", "style": "filled", "fillcolor": "#f5f5f5"}
        else:
            f = n["function"]
            lines = [f["address"] + (f"  [{ROLE_LABELS[n['role']]}]"
                                     if n["role"] in ROLE_LABELS else ""),
                     ellipsize(short_name(f, n["role"] in ROLE_LABELS), 40, "...")]
            lines = [ln for ln in lines if ln]
            det = f["driver"] or "no driver"
            v = _vfio(f)
            lines.append(det + (f", {v}" if v else ""))
            if f["holders"]:
                lines.append("held by " + _holders(f["holders"]))
            attrs = {}
            if not n["matched"]:
                attrs["fontcolor"] = "#78909c"
        for m in n["marks"]:
            if m["reset_point"]:
                lines.append(f"{tag(m)}RESET " + (f"bus {resets[m['scope']]['bus']} and below"
                                                  if m["reset_point"] == "bus" else "slot"))
                attrs.update(fillcolor=FILL_RESET, color=LINE_RESET, penwidth="2.5")
            if m["target"]:
                lines.append(f"{tag(m)}TARGET")
                attrs.update(peripheries="2", penwidth="2")
            if m["hit"] and m.get("also_reset"):
                held = bool(m["held_by"])
                lines.append(f"{tag(m)}hit too" + (", held" if held else "")
                             + " (not in the kernel's list)")
                if held:
                    attrs.update(fillcolor=FILL_BAD, color="#c62828", fontcolor="#b71c1c")
                elif attrs.get("fillcolor", "white") == "white":
                    attrs["fillcolor"] = FILL_HIT
            elif m["hit"] and m["blocks"]:
                why = []
                if m["in_dev_set"] is False:
                    why.append("NOT in dev_set")
                if m["held_by"]:
                    why.append("held")
                lines.append(f"{tag(m)}hit: " + ", ".join(why))
                attrs.update(fillcolor=FILL_BAD, color="#c62828", fontcolor="#b71c1c")
            elif m["hit"]:
                if "fillcolor" not in attrs or attrs["fillcolor"] == "white":
                    attrs["fillcolor"] = FILL_HIT
                if not m["target"]:
                    lines.append(f"{tag(m)}hit")
        a = "".join(f", {k}={_q(v)}" for k, v in attrs.items())
        return f"  {_dot_id(n)} [label={_lbl(lines)}{a}];"

    groups: dict[int, list[dict]] = {}
    loose = []
    for n, grp in nodes:
        (groups.setdefault(grp, []) if grp is not None else loose).append(n)
    for n in loose:
        out.append(node_stmt(n))
    noiommu = {}
    for n, grp in nodes:
        if grp is not None and n["function"]["vfio"]["noiommu"]:
            noiommu[grp] = True
    for grp in sorted(groups):
        label = f"noiommu group {grp}" if noiommu.get(grp) else f"IOMMU group {grp}"
        out.append(f"  subgraph {_q(f'cluster_group_{grp}')} {{")
        out.append(f'    label={_q(label)}; style="dashed,rounded"; color="#90a4ae"; '
                   'fontsize=9; fontcolor="#546e7a";')
        for n in groups[grp]:
            out.append("  " + node_stmt(n))
        out.append("  }")
    for a, b in edges:
        hot = _dot_id(b) in in_scope and _dot_id(a) in in_scope
        style = f' [color="{LINE_RESET}", penwidth=2]' if hot else ""
        out.append(f"  {_dot_id(a)} -> {_dot_id(b)}{style};")
    foot: list[str] = []
    for i, p in enumerate(resets):
        if foot:
            foot.append("")
        foot += ["".join(t for t, _ in ln)
                 for ln in _footer(p, i if many else None, 100, Glyphs(False))]
    if d["hidden_root_complexes"]:
        foot += ["", "not shown: " + ", ".join(d["hidden_root_complexes"]) + " (--all)"]
    if resets:
        foot += ["", "orange: the bridge or slot that is reset; double border: the target; "
                     "dashed boxes: IOMMU groups",
                 "green: hit, in the dev_set; red: hit and blocking (outside the dev_set, "
                 "or held)"]
    if foot:
        out.append("  label=" + _lbl(foot, "\\l") + ";")
    out.append("}")
    return "\n".join(out) + "\n"
