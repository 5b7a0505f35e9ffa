"""Presentation: report objects -> JSON documents, tables and plain text.

The pattern every command follows (new command families too)::

    vfioctl/ops/<family>.py      an operation returns a report dataclass
                                 (vfioctl/ops/reports.py), raises typed errors
                                 (vfioctl/errors.py); never prints or prompts
    vfioctl/present/<module>.py  one renderer per report type per format:
                                 JSON  report -> dict  (schema vfioctl/1)
                                 human dict -> Canvas  (table on a TTY, plain in
                                        a pipe: the same renderer draws both)
    RENDERERS below              one line: report class name -> those two
    vfioctl/cli/<family>.py      parse, call one operation, ``out.report(r)``
                                 (the module named once in FAMILIES, cli/app.py)

The human renderer draws the very dict that ``--json`` prints, so the table
and the JSON cannot disagree.  Streams: the document or table on stdout;
progress, warnings, prompts and errors on stderr (:class:`output.Output`).
Nothing here calls back into the operations or reads the host.
"""

from __future__ import annotations

#: report class name -> (module under vfioctl.present, JSON renderer, human renderer)
RENDERERS: dict[str, tuple[str, str, str]] = {
    "ListReport": ("human", "jsondoc.list_doc", "render_list"),
    "GroupsReport": ("human", "jsondoc.groups_doc", "render_groups"),
    "ShowReport": ("human", "jsondoc.show_doc", "render_show"),
    "ResetInfoReport": ("human", "jsondoc.reset_info_doc", "render_reset_info"),
    "CheckReport": ("acting", "jsondoc.check_doc", "render_check"),
    "HotResetReport": ("acting", "jsondoc.hot_reset_doc", "render_hot_reset"),
    "FunctionResetReport": ("acting", "jsondoc.function_reset_doc", "render_function_reset"),
    "SnapshotReport": ("human", "jsondoc.snapshot_doc", "render_snapshot"),
    "DoctorReport": ("doctor", "doctor_doc", "render_doctor"),
    "TreeReport": ("tree", "tree_doc", "render_tree"),
    "BindResult": ("bind", "bind_doc", "render_bind"),
    "BindPlan": ("bind", "plan_doc", "render_plan_doc"),
    "ExportReport": ("fleet", "export_doc", "render_export"),
    "HookReport": ("fleet", "hook_doc", "render_hook"),
}


def _resolve(dotted: str, default_module: str):
    import importlib
    mod, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(f"vfioctl.present.{mod or default_module}"), name)


def renderers(report):
    """``(to_json, human)`` for ``report``: ``to_json(report) -> dict``,
    ``human(dict, canvas)``."""
    try:
        module, js, human = RENDERERS[type(report).__name__]
    except KeyError:
        raise TypeError(f"no renderer registered for {type(report).__name__}: "
                        "add it to vfioctl.present.RENDERERS") from None
    return _resolve(js, module), _resolve(human, module)
