"""Renderers of the fleet commands' reports: ``export`` and ``libvirt-hook``.

* :class:`~vfioctl.ops.reports.ExportReport` -> its JSON document, a one-line
  summary per file, and :func:`write_files`: the report rendered in the
  Prometheus exposition format (:mod:`.prometheus`) and the NFD features
  format (:mod:`.nfd`), each file replaced atomically (:mod:`.atomicfile`)
  or printed on standard output for ``-``.
* :class:`~vfioctl.ops.reports.HookReport` -> its JSON document, the allow
  line, and :func:`refusal`, the text libvirt shows (standard error).
"""

from __future__ import annotations

from vfioctl.model import record as dataclasses

from vfioctl.present.jsondoc import doc
from vfioctl.present.output import Canvas


# -- export ----------------------------------------------------------------------

def export_doc(r) -> dict:
    from vfioctl.present import nfd as nfd_fmt
    prom = nfd = None
    if r.prometheus:
        prom = {"path": r.prometheus, "families": len(r.families), "series": r.series}
    if r.nfd:
        nfd = {"path": r.nfd, "features": len(r.features),
               "expiry_time": nfd_fmt.rfc3339(r.nfd_expires)}
    return doc("export", success=r.success,
               duration_seconds=None if r.duration is None else round(r.duration, 6),
               prometheus=prom, nfd=nfd, warnings=list(r.warnings))


def render_export(d: dict, c: Canvas) -> None:
    if d["prometheus"]:
        p = d["prometheus"]
        c.line(f"wrote {p['path']}: {p['series']} series in {p['families']} metric families")
    if d["nfd"]:
        n = d["nfd"]
        c.line(f"wrote {n['path']}: {n['features']} features (expire {n['expiry_time']})")


def write_files(r, stdout=None) -> None:
    """Render the report's files and put each where it goes: ``-`` on ``stdout``,
    anything else replaced atomically.  Only the files the report has data for
    (a failed run writes only its Prometheus file)."""
    from vfioctl.present import atomicfile
    from vfioctl.present import nfd as nfd_fmt
    from vfioctl.present import prometheus as prom
    if r.prometheus and r.families:
        text = prom.render(r.families)
        if r.prometheus == "-":
            stdout.write(text)
        else:
            atomicfile.replace(r.prometheus, text)
    if r.nfd and r.success:
        text = nfd_fmt.render(r.features, expires=r.nfd_expires)
        if r.nfd == "-":
            stdout.write(text)
        else:
            atomicfile.replace(r.nfd, text)


# -- libvirt hook ----------------------------------------------------------------

def hook_doc(r) -> dict:
    return doc("libvirt-hook", domain=r.domain, operation=r.operation,
               sub_operation=r.sub_operation, opted_in=r.opted_in,
               decision=r.decision, message=r.message,
               hostdevs=[dataclasses.asdict(h) for h in r.hostdevs])


def render_hook(d: dict, c: Canvas) -> None:
    """The allow line of an opted-in domain; nothing otherwise (a refusal is
    said on standard error, see :func:`refusal`)."""
    if d["decision"] == "allow" and d["opted_in"]:
        c.line(f"vfioctl: domain '{d['domain']}': every PCI hostdev can be reset "
               f"({', '.join(h['address'] for h in d['hostdevs']) or 'none'})")


def refusal(r) -> str:
    """What libvirt shows when the hook refuses (control characters escaped)."""
    from vfioctl.model.text import safe
    return safe(r.message or "") + "\n"
