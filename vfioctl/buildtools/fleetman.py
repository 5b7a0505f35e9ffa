"""Man-page text for the fleet integrations (export metrics, alerting rules,
NFD features, systemd units, libvirt hook, Ansible) and the JSON Schema.

Kept apart from :mod:`vfioctl.buildtools.manpage`, which calls :func:`fleet_sections`
(vfioctl(8)) and :func:`schema_section` (vfioctl-json(5)).  The alerting rules
are also shipped as ``contrib/prometheus/vfioctl.rules.yml``; the tests check
that file equals :data:`ALERT_RULES` and run ``promtool check rules`` and
``promtool test rules`` on it.
"""

from __future__ import annotations

ALERT_RULES = """\
groups:
  - name: vfioctl
    rules:
      - alert: VfioGpuCannotBeReset
        # a VFIO GPU with neither a function reset nor a usable hot reset:
        # the next tenant would inherit its state
        expr: |
          vfioctl_hot_reset_capable == 0
          and on (instance, address) vfioctl_function_reset_available == 0
          and on (instance, address) vfioctl_pci_function_info{class=~"0x03.*"}
        for: 15m
        labels:
          severity: warning
        annotations:
          summary: "GPU {{ $labels.address }} on {{ $labels.instance }} can no longer be reset"
          description: "Run 'vfioctl reset-info {{ $labels.address }}' on the host for the reasons."
      - alert: VfioIommuGroupBecameNonViable
        # was viable within the last 6 hours, is not now (a host driver took a member)
        expr: |
          vfioctl_iommu_group_viable == 0
          and on (instance, iommu_group) max_over_time(vfioctl_iommu_group_viable[6h]) == 1
        labels:
          severity: warning
        annotations:
          summary: "IOMMU group {{ $labels.iommu_group }} on {{ $labels.instance }} is no longer viable"
          description: "Run 'vfioctl groups {{ $labels.iommu_group }}' on the host: it names the blocking members."
      - alert: VfioctlExportFailing
        expr: vfioctl_last_export_success == 0
        for: 15m
        labels:
          severity: warning
        annotations:
          summary: "vfioctl export fails on {{ $labels.instance }}"
          description: "journalctl -u vfioctl-export.service shows the error."
      - alert: VfioctlExportStale
        # the timer stopped: the file is older than three 5-minute runs
        expr: time() - vfioctl_last_export_timestamp_seconds > 900
        labels:
          severity: warning
        annotations:
          summary: "vfioctl metrics on {{ $labels.instance }} are stale"
          description: "systemctl status vfioctl-export.timer"
"""

EXPORT_TEXT = """\
vfioctl export writes files for engines the fleet already runs; it reads the
host like list and groups (nothing is opened) and replaces each file
atomically: a temporary .NAME.PID.tmp in the same directory, fsync, rename.

--prometheus PATH writes the text exposition format read by node_exporter's
textfile collector (put PATH in its --collector.textfile.directory, Debian:
/var/lib/prometheus/node-exporter/vfioctl.prom). Every family is a gauge with
HELP and TYPE; no sample carries a timestamp (the collector would drop the
file); there is one series per function, per function and access mode, per
IOMMU group or per doctor check and status, so a host with N functions has
about 2N to 5N series. A value vfioctl cannot see has no sample, never a
guessed 0. When the host cannot be read the file is replaced by
vfioctl_last_export_timestamp_seconds and vfioctl_last_export_success 0
only, and the exit status says why.

--nfd PATH writes a features file for Node Feature Discovery's local source
(PATH in /etc/kubernetes/node-feature-discovery/features.d/). It holds only
capabilities that do not change while VMs start and stop (counts of VFIO
devices and of GPUs that can be reset, IOMMU and iommufd presence), so
scheduling labels do not churn; holders are ignored for it. The file starts
with an # +expiry-time directive (--nfd-expiry, default one hour): when the
timer dies the labels disappear instead of going stale. Names are in the
vfioctl.io/ namespace; schema-version is a feature without a label."""

NFD_FEATURES = (
    ("vfioctl.io/iommu", "true when IOMMU hardware units are registered."),
    ("vfioctl.io/iommufd", "true when /dev/iommu exists."),
    ("vfioctl.io/noiommu", "true when vfio's unsafe noiommu mode is on."),
    ("vfioctl.io/vfio-devices", "Functions bound to vfio-pci or a variant (bridges excepted)."),
    ("vfioctl.io/hot-reset-capable-devices", "Of those, how many a hot reset could reset "
                                             "if nothing held them."),
    ("vfioctl.io/function-reset-capable-devices", "Of those, how many have a function reset."),
    ("vfioctl.io/vfio-gpus", "VFIO-bound display controllers (PCI class 03)."),
    ("vfioctl.io/hot-reset-capable-gpus", "Of those, hot-reset capable."),
    ("vfioctl.io/function-reset-capable-gpus", "Of those, with a function reset."),
    ("vfioctl.io/resettable-gpus", "Of those, with either."),
    ("vfioctl.io/schema-version", "1 (# +no-label: a feature for NodeFeatureRules only)."),
)

UNITS_TEXT = """\
contrib/systemd/vfioctl-export.service and vfioctl-export.timer (installed from
the wheel under PREFIX/share/vfioctl/systemd) run the export every five
minutes as a oneshot service: as root, because the kernel shows only the first
64 bytes of configuration space to other users (the reset capabilities lie
beyond) and other users' /proc/PID/fd need CAP_SYS_PTRACE, but with
ProtectSystem=strict, writable paths limited to the textfile and features.d
directories, NoNewPrivileges, no network and no device access. Copy them to
/etc/systemd/system, adjust ExecStart to where vfioctl is installed, then:
systemctl enable --now vfioctl-export.timer."""

HOOK_TEXT = """\
contrib/libvirt/hooks/qemu.d/vfioctl is a hook for libvirt's qemu hook point
(install it executable as /etc/libvirt/hooks/qemu.d/vfioctl). For a domain
that opts in with <vfioctl:reset require="yes"/> in its <metadata> (namespace
urn:vfioctl:libvirt:1), the hook refuses to prepare the domain when one of its
<hostdev type="pci"> functions could be reset neither by a function reset nor
by a hot reset the VM could perform: libvirt then refuses to start it and shows
vfioctl's reason and remedy. Managed hostdevs are judged as bound to vfio-pci,
as libvirt will bind them; a hot reset must only hit functions of this domain
(QEMU owns no other group). It runs vfioctl --quiet libvirt-hook with the hook's
arguments; domains without the element and operations other than prepare pass
untouched."""

ANSIBLE_TEXT = """\
ansible_collections/vfioctl/vfio is an Ansible collection (vfioctl.vfio):
vfioctl.vfio.vfioctl_facts sets ansible_facts.vfioctl (the list and groups
documents of vfioctl-json(5)); vfioctl.vfio.hot_reset resets devices between
tenants (check mode is --dry-run; changed only when a reset was done; a refusal
fails the task with vfioctl's message, hint and exit status in rc)."""


def fleet_sections(r, esc, code) -> None:
    from vfioctl.ops.export import FAMILIES, LABELS, PREFIX
    r.sh("FLEET INTEGRATION")
    r.ss("Export")
    r.prose(EXPORT_TEXT)
    r.ss("Metrics")
    for name, help_text in FAMILIES.items():
        labels = LABELS.get(name)
        body = help_text + (f" Labels: {', '.join(labels)}." if labels else "")
        r.tp(f"\\fB{code(PREFIX + name)}\\fR", body)
    r.ss("Alerting rules")
    r.text("Example Prometheus rules (contrib/prometheus/vfioctl.rules.yml): a GPU that "
           "can no longer be reset, a group that became non-viable, and the export "
           "itself failing or stopping.")
    r.req(".PP")
    r.req(".EX")
    for ln in ALERT_RULES.rstrip("\n").split("\n"):
        r.text(code(ln))
    r.req(".EE")
    r.ss("Node Feature Discovery")
    for name, text in NFD_FEATURES:
        r.tp(f"\\fB{code(name)}\\fR", text)
    r.ss("systemd")
    r.prose(UNITS_TEXT)
    r.ss("libvirt")
    r.prose(HOOK_TEXT)
    r.ss("Ansible")
    r.prose(ANSIBLE_TEXT)


SCHEMA_TEXT = """\
Every document of this page is described by a JSON Schema (draft 2020-12) shipped in
the package as vfioctl/schemas/vfioctl-1.schema.json; print its installed path
with: python3 -c 'import vfioctl.schemas as s; print(s.path())'. It is generated
from the tables of this page, one definition per document (doc.list,
doc.export...) and per object, selected by the command field; a document with
an error member is an error document, or, for the acting commands that report
what was done before failing (hot-reset, reset, bind, unbind), their own
document. It is
open, as the versioning rule requires: unknown members are allowed. Validate a
document with, for example: vfioctl list --json | check-jsonschema --schemafile
PATH - (or python3 -m jsonschema). To add a command's document, add its fields
to the DOCUMENTS table of vfioctl.buildtools.manpage and run python -m
vfioctl.buildtools man man and python -m vfioctl.schemas.generate --write: the
page, the schema and the tests follow."""


def schema_section(r) -> None:
    r.sh("JSON SCHEMA")
    r.prose(SCHEMA_TEXT)
