#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v2.0+ (see https://www.gnu.org/licenses/old-licenses/gpl-2.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r"""
---
module: vfioctl_facts
short_description: Gather the VFIO view of a host as facts
version_added: "0.1.0"
description:
  - Runs C(vfioctl list --json) and C(vfioctl groups --json) on the managed host and
    returns their documents (vfioctl-json(5)) as C(ansible_facts.vfioctl).
  - Reads sysfs, /dev and /proc only; nothing is opened or changed.
  - Run with C(become) for the reset capabilities in configuration space and for the
    holders of other users' processes.
options:
  executable:
    description: Path of the vfioctl command (default - searched on PATH).
    type: path
  root:
    description:
      - Filesystem root to read instead of C(/) (a fixture or snapshot), as C(vfioctl --root).
      - The C(VFIOCTL_ROOT) environment variable has the same effect.
    type: path
attributes:
  check_mode:
    support: full
  facts:
    support: full
notes:
  - Requires vfioctl on the managed host.
seealso:
  - module: vfioctl.vfio.hot_reset
author:
  - vfioctl developers
"""

EXAMPLES = r"""
- name: Gather VFIO facts
  vfioctl.vfio.vfioctl_facts:
  become: true

- name: The functions bound to vfio-pci
  ansible.builtin.debug:
    msg: "{{ ansible_facts.vfioctl.functions | selectattr('vfio.bound') | map(attribute='address') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    vfioctl:
      description: The host as vfioctl sees it.
      returned: always
      type: complex
      contains:
        schema:
          description: The JSON schema version of the documents (vfioctl/1).
          type: str
          sample: vfioctl/1
        host:
          description: The host summary (IOMMU, /dev/vfio, holders scanned).
          type: dict
        functions:
          description: The list document's function objects (vfioctl-json(5), FUNCTION).
          type: list
          elements: dict
        groups:
          description: The groups document's group objects (vfioctl-json(5), GROUP).
          type: list
          elements: dict
        warnings:
          description: Problems met while reading the host.
          type: list
          elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.vfioctl.vfio.plugins.module_utils.vfioctl import (
    COMMON_ARGS, fail_from, run_json,
)


def main():
    module = AnsibleModule(argument_spec=dict(COMMON_ARGS), supports_check_mode=True)
    rc, listing, err = run_json(module, ["list", "--json"])
    if rc != 0:
        fail_from(module, rc, listing, err)
    rc, groups, err = run_json(module, ["groups", "--json"])
    if rc != 0:
        fail_from(module, rc, groups, err)
    facts = {
        "schema": listing["schema"],
        "host": listing.get("host"),
        "functions": listing.get("functions", []),
        "groups": groups.get("groups", []),
        "warnings": sorted(set(listing.get("warnings", []) + groups.get("warnings", []))),
    }
    module.exit_json(changed=False, ansible_facts={"vfioctl": facts})


if __name__ == "__main__":
    main()
