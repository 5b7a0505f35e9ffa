"""Renderers for ``vfioctl doctor``: the JSON document and its human views.

The table and plain views take the very document ``--json`` prints.  The
compact table has one row per finding (STATUS, CHECK, SUBJECT, MEANING);
``--verbose`` (and the plain view with it) adds the evidence and remedy lines.
"""

from __future__ import annotations

from vfioctl.model.doctor import DoctorReport, Finding
from vfioctl.present.jsondoc import doc
from vfioctl.present.output import Canvas, Col

STATUS_STYLE = {"pass": "ok", "warn": "warn", "fail": "bad", "cannot-tell": "dim"}
STATUS_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "cannot-tell": "CANNOT TELL"}


def finding(f: Finding) -> dict:
    return {"check": f.check, "subject": f.subject, "status": f.status, "meaning": f.meaning,
            "evidence": [{"path": e.path, "value": e.value} for e in f.evidence],
            "remedy": f.remedy}


def doctor_doc(r: DoctorReport) -> dict:
    """The JSON renderer of a :class:`DoctorReport` (schema vfioctl/1)."""
    return doc("doctor", root=r.root, cpu_vendor=r.cpu_vendor, devices=list(r.devices),
               worst=r.worst, exit_code=r.exit_code, counts=r.counts(),
               findings=[finding(f) for f in r.findings], warnings=list(r.warnings))


def _summary(d: dict) -> str:
    c = d["counts"]
    return (f"{len(d['findings'])} finding(s): {c['pass']} pass, {c['warn']} warn, "
            f"{c['fail']} fail, {c['cannot-tell']} cannot tell; worst: {d['worst']}")


def render_doctor(d: dict, c: Canvas, *, verbose: bool = False) -> None:
    rows, styles = [], []
    passed: dict[str, list[str]] = {}
    for f in d["findings"]:
        if not verbose and f["subject"] != "host" and f["status"] == "pass":
            passed.setdefault(f["subject"], []).append(f["check"])
            continue
        rows.append([STATUS_LABEL[f["status"]], f["check"], f["subject"], f["meaning"]])
        styles.append(STATUS_STYLE[f["status"]])
    if not verbose:
        # compact: a device's passing checks share one row
        for subject, checks in passed.items():
            rows.append(["PASS", f"{len(checks)} more", subject, ", ".join(checks)])
            styles.append("ok")
        order = {s: i for i, s in enumerate(["host"] + d["devices"])}
        idx = sorted(range(len(rows)), key=lambda i: (order.get(rows[i][2], len(order)),
                                                     rows[i][1].endswith(" more")))
        rows, styles = [rows[i] for i in idx], [styles[i] for i in idx]
        c.table(["STATUS", "CHECK", "SUBJECT", Col("MEANING", wrap=True)], rows, styles)
        todo = [f for f in d["findings"] if f["status"] != "pass" and f["remedy"]]
        if todo:
            c.line("")
            c.line("What to do:", "head")
            seen = set()
            for f in todo:
                key = (f["check"], f["remedy"])
                if key in seen:
                    continue
                seen.add(key)
                c.bullet(f"{f['check']} ({f['subject']}): {f['remedy']}", STATUS_STYLE[f["status"]])
    else:
        for f in d["findings"]:
            st = STATUS_STYLE[f["status"]]
            c.line(f"{STATUS_LABEL[f['status']]:<11}  {f['check']}  {f['subject']}", st)
            c.line(f"    {f['meaning']}")
            for e in f["evidence"]:
                c.line(f"    evidence: {e['path']} = {e['value']}", "dim")
            if f["remedy"]:
                c.line(f"    remedy:   {f['remedy']}")
    c.line(_summary(d), "dim")
