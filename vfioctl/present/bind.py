"""bind / unbind reports: the JSON document and its table/plain rendering.

``document`` turns an :class:`vfioctl.ops.bind.BindResult` (or a plan, for a
refusal) into the ``vfioctl/1`` document; ``render`` draws that document on
a canvas (rich table on a TTY, aligned plain text otherwise), so the human
view and ``--json`` never disagree.
"""

from __future__ import annotations

from vfioctl.present.jsondoc import doc
from vfioctl.present.output import Canvas


def document(command: str, result=None, plan=None, refusal=None, error=None) -> dict:
    """The ``bind``/``unbind`` document (see vfioctl-json(5)); ``error`` (a
    :class:`~vfioctl.errors.VfioctlError`) when the command fails, so the one
    document on stdout carries the exit status like every failing command's."""
    if result is not None:
        body = result.to_json()
    else:
        body = {"plan": plan.to_json() if plan is not None else None, "dry_run": False,
                "backend": None, "result": "refused", "steps": [], "rollback": [],
                "moved": [], "nodes": [], "persisted": [], "state_file": None,
                "failure": None, "warnings": []}
    if refusal is not None:
        body["refusal"] = refusal
    if error is not None:
        body["error"] = error.to_json()
    return doc(command, **body)


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
    c.table(["FUNCTION", "ROLE", "GROUP", "ACTION", "DRIVER NOW -> AFTER", "HELD BY", "GUARDS"],
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
    if r == "done":
        c.line(f"{cmd}: done, {len(d['moved'])} function(s) moved"
               + (f"; original drivers recorded in {d['state_file']}" if cmd == "bind"
                  and d["state_file"] else ""), "ok")
    elif r == "nothing-to-do":
        c.line(f"{cmd}: nothing to do", "ok")
    elif r == "rolled-back":
        c.line(f"{cmd}: FAILED, rolled back: every function is on its original driver", "bad")
    elif r == "rollback-incomplete":
        c.line(f"{cmd}: FAILED and the rollback did not complete: check the steps above", "bad")
    elif r == "incomplete":
        c.line(f"{cmd}: stopped: {len(d['moved'])} function(s) done before the failure", "bad")
