"""Human views of the acting commands (check, hot-reset, reset), of the
confirmation request and of progress lines.

Document and result lines go to stdout (the :class:`Canvas` given); the
confirmation request and progress are drawn by the CLI on stderr.  With the
simulated backend every line that reports an action says "simulated".
"""

from __future__ import annotations

from vfioctl.present.human import render_plan, step_line
from vfioctl.present.output import Canvas


def _n(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _sim(d: dict) -> str:
    return " (simulated)" if d.get("simulated") else ""


def render_check(d: dict, c: Canvas) -> None:
    for e in d["resets"]:
        covers = (f"; covers {', '.join(e['covers'])} (same dev_set: one reset does both)"
                  if e.get("covers") else "")
        if e["possible"]:
            c.line(f"{e['target']}: hot reset possible ({e['mode']} mode, {e['kind']} reset, "
                   f"affects {', '.join(e['affected'])}){covers}", "ok")
        else:
            modes = sorted({r["mode"] for r in e["reasons"]}) or [e["mode"]]
            verdict = ("CANNOT TELL whether a hot reset is possible"
                       if e.get("answer") == "cannot-tell" else "hot reset NOT possible")
            c.line(f"{e['target']}: {verdict} ({' or '.join(modes)} mode){covers}", "bad")
            for r in e["reasons"]:
                c.bullet(f"{r['mode']}: {r['message']} [{r['errno'] or 'refused'} at "
                         f"{r['step']}]", "bad")
            for f in dict.fromkeys(r["remedy"] for r in e["reasons"] if r.get("remedy")):
                c.line(f"  fix: {f}")


def render_hot_reset(d: dict, c: Canvas) -> None:
    sim = _sim(d)
    if d["dry_run"]:
        for rs in d["resets"]:
            render_plan(rs["plan"], c)
            c.line(f"  mode: {rs['mode']}")
    for r in d["results"]:
        if r["result"] == "dry-run":
            c.line(f"dry run{sim}: the steps for {r['target']} ({r['mode']}):")
            for s in r["steps"]:
                c.bullet(step_line(s))
        elif r["result"] == "reset":
            c.line(f"{r['target']}: {r['kind']} reset done{sim} ({r['mode']} mode), "
                   f"{_n(len(r['affected']), 'function')} reset: {', '.join(r['affected'])}", "ok")
        elif r["result"] == "error":
            c.line(f"{r['target']}: FAILED{sim} ({r['mode']} mode): {r['error']['message']}",
                   "bad")
        else:
            c.line(f"{r['target']}: not attempted (an earlier target failed)", "warn")
    if d.get("status") == "partial":
        c.line(f"partly done: {len(d['done'])} of {_n(len(d['results']), 'reset')} done", "bad")


def render_function_reset(d: dict, c: Canvas) -> None:
    sim = _sim(d)
    if d["dry_run"]:
        c.line(f"dry run{sim}: the steps for {d['target']} ({d['mode']}):")
        for s in d["steps"]:
            c.bullet(step_line(s))
    else:
        c.line(f"{d['target']}: function reset done{sim} ({d['mode']} mode)", "ok")


def render_confirm(req, c: Canvas) -> None:
    """What is about to happen (drawn on stderr before the question)."""
    from vfioctl.present import jsondoc as jd
    if req.report is not None:          # bind/unbind: the plan with guards and consequence
        from vfioctl.present import renderers
        to_json, human = renderers(req.report)
        human(to_json(req.report), c)
    for p, m in req.plans:
        render_plan(jd.plan(req.host, p), c)
        c.line(f"  mode: {m}")
    for n in req.notes:
        c.line(n)


def question(req) -> str:
    """The prompt: says "simulated" with the simulated backend."""
    return (f"[simulated] {req.question}" if req.simulated else req.question) + " [y/N] "


def progress_line(p) -> str:
    sim = " (simulated)" if p.simulated else ""
    if p.event == "start":
        return f"{p.target}: {p.kind or 'hot'} reset{sim} ({p.mode} mode)..."
    if p.event == "done":
        return f"{p.target}: done{sim}"
    return f"{p.target}: failed{sim}: {p.message}"
