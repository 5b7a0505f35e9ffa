# -*- coding: utf-8 -*-
# GNU General Public License v2.0+ (see https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)
"""Run ``vfioctl ... --json`` on the managed host and turn its documents into
module results: one JSON document on stdout (also on failure: an ``error``
object with ``kind``, ``message``, ``hint`` and ``exit_code``), diagnostics
on stderr (vfioctl-json(5))."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json

COMMON_ARGS = dict(
    executable=dict(type="path", default=None),
    root=dict(type="path", default=None),
)


def vfioctl_command(module, args):
    exe = module.params.get("executable") or module.get_bin_path("vfioctl", required=True)
    cmd = [exe]
    if module.params.get("root"):
        cmd += ["--root", module.params["root"]]
    return cmd + list(args)


def run_json(module, args):
    """(rc, document, stderr); fails the task when stdout is not a vfioctl document."""
    cmd = vfioctl_command(module, args)
    rc, out, err = module.run_command(cmd, environ_update={"LC_ALL": "C"})
    try:
        doc = json.loads(out)
    except ValueError:
        module.fail_json(msg="vfioctl printed no JSON document (is vfioctl installed and "
                             "recent enough?): %s" % (err.strip() or out.strip()),
                         rc=rc, cmd=cmd, stderr=err)
    if not isinstance(doc, dict) or doc.get("schema") != "vfioctl/1":
        module.fail_json(msg="unexpected vfioctl document schema %r" % (doc.get("schema"),),
                         rc=rc, cmd=cmd)
    return rc, doc, err


def fail_from(module, rc, doc, err, **extra):
    """Fail the task with vfioctl's own message, hint and exit status."""
    e = doc.get("error") or {}
    msg = e.get("message") or err.strip() or "vfioctl exited with status %d" % rc
    if e.get("hint"):
        msg = "%s (%s)" % (msg, e["hint"])
    module.fail_json(msg=msg, rc=rc, error=e, stderr=err, **extra)
