"""bind / unbind: the JSON document and the table/plain views of
:class:`vfioctl.ops.bind.BindResult` (and of :class:`~vfioctl.ops.bind.BindPlan`,
the view the confirmation shows).

Registered in :data:`vfioctl.present.RENDERERS`: ``bind_doc`` builds the
``vfioctl/1`` document, ``render_bind`` draws that very document on a canvas
(rich table on a TTY, aligned plain text otherwise), so the human view and
``--json`` never disagree.  The plan is drawn once: on stderr with the
confirmation when the command acted, in the report otherwise (dry run,
refusal, nothing to do).
"""

from __future__ import annotations

from vfioctl.present.jsondoc import doc
from vfioctl.present.output import Canvas, Col


def guard_doc(g) -> dict:
    return {"code": g.code, "address": g.address, "message": g.message,
            "remedy": g.remedy, "forced": g.forced}


def move_doc(m) -> dict:
    return {"address": m.address, "role": m.role, "action": m.action,
            "driver_now": m.driver_now, "driver_after": m.driver_after,
            "driver_override_now": m.override_now, "why": m.why,
            "iommu_group": m.iommu_group, "class": m.class_name,
            "holders": list(m.holders), "guards": [guard_doc(g) for g in m.guards]}


def consequence_doc(c) -> dict:
    return {"target": c.target, "iommu_group": c.iommu_group,
            "group_viable_now": c.viable_now, "group_viable_after": c.viable_after,
            "hot_reset": {"kind": c.hot_reset_kind, "possible_now": list(c.possible_now),
                          "possible_after": list(c.possible_after),
                          "reasons_after": [dict(r.to_json(), mode=m)
                                            for m, r in c.reasons_after]}}


def plan_body(p) -> dict:
    """The BIND_PLAN object (vfioctl-json(5))."""
    return {"targets": p.targets, "driver": p.driver,
            "driver_choice": p.driver_choice, "scope": p.scope,
            "functions": [move_doc(m) for m in p.moves],
            "guards": [guard_doc(g) for g in p.guards],
            "refused": bool(p.blocking),
            "consequences": [consequence_doc(c) for c in p.consequences],
            "notes": list(p.notes)}


def step_doc(s) -> dict:
    d = {"op": s.op, "target": s.target, "value": s.value, "result": s.result}
    if s.detail:
        d["detail"] = s.detail
    return d


def bind_doc(r) -> dict:
    """The ``bind``/``unbind`` document (see vfioctl-json(5)); ``error`` when the
    command fails (a guard, a failed step), so the one document on stdout
    carries the exit status like every failing command's."""
    body = {"plan": plan_body(r.plan), "dry_run": r.dry_run, "backend": r.backend,
            "result": r.result, "steps": [step_doc(s) for s in r.steps],
            "rollback": [step_doc(s) for s in r.rollback], "moved": list(r.moved),
            "nodes": [dict(n) for n in r.nodes], "persisted": list(r.persisted),
            "state_file": r.state_file, "failure": r.failure, "warnings": list(r.warnings)}
    if r.error is not None:
        if r.result == "refused":
            body["refusal"] = r.error.to_json()
        body["error"] = r.error.to_json()
    return doc(r.plan.command, **body)


def plan_doc(p) -> dict:
    """A :class:`~vfioctl.ops.bind.BindPlan` alone (what the confirmation shows)."""
    return doc(p.command, plan=plan_body(p))


def render_plan_doc(d: dict, c: Canvas) -> None:
    render_plan(d["plan"], c, d["command"])


def render_bind(d: dict, c: Canvas) -> None:
    """The report; the plan only when it was not shown with the confirmation."""
    render(d, c, plan=d["result"] in ("dry-run", "refused", "nothing-to-do"))


def _s(v) -> str:
    return "-" if v is None or v == "" else str(v)


def render_plan(p: dict, c: Canvas, command: str) -> None:
    rows, styles = [], []
    for f in p["functions"]:
        guards = ", ".join(g["code"] + (" (forced)" if g["forced"] else "") for g in f["guards"])
        arrow = (f"{_s(f['driver_now'])} -> {_s(f['driver_after'])}" if f["action"] in
                 ("bind", "unbind") else f"{_s(f['driver_now'])} (stays)")
        if command == "unbind" and f["action"] == "unbind" and f["driver_after"] is None:
            arrow = f"{_s(f['driver_now'])} -> kernel's choice"
        rows.append([f["address"], f["role"], _s(f["iommu_group"]), f["action"], arrow,
                     ", ".join(f["holders"]) or "-", guards or "-"])
        styles.append("bad" if any(not g["forced"] for g in f["guards"]) else
                      ("ok" if f["action"] in ("bind", "unbind") else "dim"))
    title = (f"{command} {' '.join(p['targets'])}"
             + (f" to {p['driver']} ({p['driver_choice']})" if p.get("driver") else ""))
    c.table(["FUNCTION", "ROLE", "GROUP", "ACTION", Col("DRIVER NOW -> AFTER", wrap=True),
             Col("HELD BY", wrap=True), Col("GUARDS", wrap=True)],
            rows, styles, title=title)
    for g in p["guards"]:
        c.bullet(f"{g['code']}: {g['message']}" + (" [forced]" if g["forced"] else ""),
                 "warn" if g["forced"] else "bad")
        if not g["forced"]:
            c.line(f"      fix: {g['remedy']}")
    for k in p.get("consequences", []):
        hr = k["hot_reset"]
        now = " or ".join(hr["possible_now"]) or "not possible"
        after = " or ".join(hr["possible_after"]) or "not possible"
        viable = {True: "viable", False: "NOT viable", None: "no group"}
        c.line(f"after: {k['target']}: group {_s(k['iommu_group'])} "
               f"{viable[k['group_viable_now']]} -> {viable[k['group_viable_after']]}; "
               f"hot reset ({hr['kind'] or 'none'}) {now} -> {after}",
               "ok" if hr["possible_after"] else None)
        if not hr["possible_after"]:
            seen = set()
            for r in hr["reasons_after"]:
                if r["message"] not in seen:
                    seen.add(r["message"])
                    c.bullet(f"still: {r['message']}" + (f"  (fix: {r['remedy']})"
                                                         if r.get("remedy") else ""))
    for n in p.get("notes", []):
        c.line(f"note: {n}", "dim")


def _step(s: dict) -> str:
    v = f" {s['value']!r}" if s["value"] not in ("", s["target"]) else (
        " ''" if s["value"] == "" and s["op"] == "driver_override" else "")
    d = f"  ({s['detail']})" if s.get("detail") else ""
    return f"{s['op']} {s['target']}{v}: {s['result']}{d}"


def render(d: dict, c: Canvas, plan: bool = True) -> None:
    cmd = d["command"]
    if d.get("plan") and plan:
        render_plan(d["plan"], c, cmd)
    if d["result"] == "refused":
        return
    if d["steps"]:
        c.line("dry run: the steps:" if d["dry_run"] else "steps:")
        for s in d["steps"]:
            c.bullet(_step(s), "bad" if s["result"] not in ("ok", "dry-run") else None)
    if d["rollback"]:
        c.line("rollback:")
        for s in d["rollback"]:
            c.bullet(_step(s), "bad" if s["result"] not in ("ok", "dry-run") else None)
    for n in d["nodes"]:
        if n["present"] is not None:
            c.line(f"  {n['node']}: {'present' if n['present'] else 'MISSING'}",
                   None if n["present"] else "bad")
    for p in d["persisted"]:
        c.line(f"persisted: {p}" if cmd == "bind" else f"removed: {p}")
    for w in d["warnings"]:
        c.line(f"warning: {w}", "warn")
    r = d["result"]
    sim = " (simulated)" if d.get("backend") == "sim" else ""
    if r == "done":
        c.line(f"{cmd}: done{sim}, {len(d['moved'])} function(s) moved"
               + (f"; original drivers recorded in {d['state_file']}" if cmd == "bind"
                  and d["state_file"] else ""), "ok")
    elif r == "nothing-to-do":
        c.line(f"{cmd}: nothing to do", "ok")
    elif r == "rolled-back":
        c.line(f"{cmd}: FAILED{sim}, rolled back: every function is on its original driver", "bad")
    elif r == "rollback-incomplete":
        c.line(f"{cmd}: FAILED{sim} and the rollback did not complete: check the steps above", "bad")
    elif r == "incomplete":
        c.line(f"{cmd}: stopped{sim}: {len(d['moved'])} function(s) done before the failure", "bad")
