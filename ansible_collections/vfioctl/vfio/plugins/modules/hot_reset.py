#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v2.0+ (see https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: hot_reset
short_description: PCI slot/bus ("hot") reset of VFIO devices, e.g. between tenants
version_added: "0.1.0"
description:
  - Runs C(vfioctl hot-reset DEVICE... --yes --json) on the managed host, which resets
    each device and every function in its reset scope through the kernel's VFIO ioctls,
    then checks every affected function is back.
  - vfioctl refuses before opening anything when the kernel would refuse (a function in
    scope not bound to vfio-pci, a group held by a running VM...); the task then fails
    with vfioctl's reason and hint, and rc is vfioctl's exit status (1 not possible,
    3 not found, 7 the kernel refused, 8 verification failed, 11 partly done...;
    see vfioctl(8)).  When some targets were reset before one failed, the failure
    also carries done, failed and not_attempted.
  - In check mode vfioctl runs with C(--dry-run) - it opens nothing and returns the
    steps it would take; changed then says a reset would be done.
  - Reports C(changed) only when a reset was done.
options:
  devices:
    description: Devices to reset (C(0000:81:00.0), C(81:00.0), C(vfio3), a cdev or sysfs path).
    type: list
    elements: str
    required: true
  mode:
    description:
      - VFIO access mode. C(auto) lets vfioctl choose (iommufd when every device has a
        usable cdev, else legacy groups). C(legacy) is the group/container mode
        (vfioctl C(--legacy)); C(group) is its old name.
    type: str
    choices: [auto, legacy, group, iommufd]
    default: auto
  executable:
    description: Path of the vfioctl command (default - searched on PATH).
    type: path
  root:
    description: Filesystem root instead of C(/) (a fixture, driven by the sim backend).
    type: path
attributes:
  check_mode:
    support: full
notes:
  - Opening a device performs its function reset, and closing the last open device of a
    dev_set can trigger a bus reset; only run it on devices no VM is using.
  - Needs root (C(become)) on real hosts.
seealso:
  - module: vfioctl.vfio.vfioctl_facts
author:
  - vfioctl developers
"""

EXAMPLES = r"""
- name: Reset the tenant's GPU before handing it to the next one
  vfioctl.vfio.hot_reset:
    devices: ["0000:82:00.0"]
  become: true
  register: reset

- name: What it hit
  ansible.builtin.debug:
    msg: "{{ reset.resets | map(attribute='plan.affected') | flatten | map(attribute='address') }}"
"""

RETURN = r"""
resets:
  description: One entry per distinct reset planned (plan, mode), as vfioctl-json(5) HOT_RESET_ENTRY.
  returned: success
  type: list
  elements: dict
results:
  description: What was done per reset (steps, the kernel's INFO answer, result).
  returned: success
  type: list
  elements: dict
verification:
  description: Problems found after the reset; empty when every affected function is back.
  returned: success
  type: list
  elements: str
dry_run:
  description: True in check mode.
  returned: success
  type: bool
affected:
  description: Every function the resets hit (or would hit).
  returned: success
  type: list
  elements: str
rc:
  description: vfioctl's exit status.
  returned: always
  type: int
error:
  description: vfioctl's error object (kind, message, hint, exit_code, errno, step).
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.vfio.plugins.module_utils.vfioctl import (
    COMMON_ARGS, fail_from, run_json,
)


def main():
    spec = dict(COMMON_ARGS)
    spec.update(devices=dict(type="list", elements="str", required=True),
                mode=dict(type="str", choices=["auto", "legacy", "group", "iommufd"],
                          default="auto"))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    if not module.params["devices"]:
        module.fail_json(msg="devices must name at least one device", rc=2)
    args = ["hot-reset"] + module.params["devices"] + ["--yes", "--json"]
    mode = module.params["mode"]
    if mode != "auto":
        args.append("--legacy" if mode in ("legacy", "group") else "--" + mode)
    if module.check_mode:
        args.append("--dry-run")
    rc, doc, err = run_json(module, args)
    if rc != 0 or "error" in doc:
        partial = {k: doc[k] for k in ("done", "failed", "not_attempted")
                   if k in doc}
        fail_from(module, rc, doc, err, **partial)
    results = doc.get("results", [])
    done = [r for r in results if r.get("result") == "reset"]
    affected = sorted({a["address"] for e in doc.get("resets", [])
                       for a in e.get("plan", {}).get("affected", [])})
    changed = bool(done) if not module.check_mode else bool(results or doc.get("resets"))
    module.exit_json(changed=changed, rc=rc, dry_run=doc.get("dry_run", False),
                     resets=doc.get("resets", []), results=results,
                     verification=doc.get("verification", []), affected=affected,
                     backend=doc.get("backend"))


if __name__ == "__main__":
    main()
