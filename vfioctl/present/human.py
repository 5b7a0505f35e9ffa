"""Human views of the JSON documents (one renderer per document type).

Renderers take the very document ``--json`` prints, so the table and the JSON
can never disagree.
"""

from __future__ import annotations

from vfioctl.present.output import Canvas, Col

#: list columns that --hide can remove (ADDRESS always stays)
LIST_COLUMNS = ("ids", "class", "name", "driver", "group", "vfio", "hot-reset", "held-by",
                "numa")


def _s(v, dash: str = "-") -> str:
    return dash if v is None or v == "" else str(v)


def _holders(hs) -> str:
    return ", ".join(f"{h['comm']}({h['pid']})" for h in hs) or "-"


def _vfio_col(f: dict) -> str:
    v = f["vfio"]
    if not v["bound"]:
        return "-"
    parts = []
    if v["group_node"]:
        parts.append(v["group_node"].rsplit("/", 1)[1])   # N or noiommu-N
    if v["cdev_node"]:
        parts.append(v["vfio_dev"])
    elif v["vfio_dev"]:
        parts.append(f"{v['vfio_dev']} (no-cdev)")
    return " ".join(parts) or "bound"


def step_line(st: dict) -> str:
    """One step of a plan or journal: ``OP TARGET   (note)``."""
    return f"{st['op']} {st['target']}" + (f"   ({st['note']})" if st.get("note") else "")


def _name(f: dict) -> str:
    n = " ".join(x for x in (f.get("vendor_name"), f.get("device_name")) if x)
    return n or f["class_name"]


def host_footer(h: dict) -> str:
    """The host's VFIO state in one line, each part saying what it is about:
    IOMMU hardware, the iommufd node, vfio's unsafe noiommu parameter."""
    io = h["iommu"]
    units = {False: "no IOMMU units", True: "IOMMU units present"}.get(
        io["units_present"], "IOMMU units unknown")
    noi = {True: "vfio's unsafe noiommu mode enabled (for devices without an IOMMU)",
           False: "vfio's unsafe noiommu mode off"}.get(
        io["enable_unsafe_noiommu_mode"], "vfio not loaded")
    return f"{units}; /dev/iommu {'present' if io['dev_iommu'] else 'absent'}; {noi}"


def _class_col(f: dict) -> str:
    return f["class_name"] + ("*" if f.get("boot_vga") else "")


def render_list(d: dict, c: Canvas, hide: tuple[str, ...] = ()) -> None:
    cols = [("address", Col("ADDRESS")), ("ids", Col("IDS", drop=3)),
            ("class", Col("CLASS", drop=2)), ("name", Col("NAME", flex=True)),
            ("driver", Col("DRIVER")), ("group", Col("GROUP")), ("vfio", Col("VFIO", wrap=True)),
            ("hot-reset", Col("HOT RESET", drop=5)), ("held-by", Col("HELD BY", wrap=True, drop=4)),
            ("numa", Col("NUMA", drop=1))]
    shown = [k for k, _ in cols if k not in hide]
    rows, styles = [], []
    boot = False
    for f in d["functions"]:
        ids = f"{(f['vendor'] or '?')[2:]}:{(f['device'] or '?')[2:]}"
        boot = boot or bool(f.get("boot_vga"))
        cell = {"address": f["address"], "ids": ids, "class": _class_col(f), "name": _name(f),
                "driver": _s(f["driver"]), "group": _s(f["iommu_group"]), "vfio": _vfio_col(f),
                "hot-reset": _s(f["hot_reset"], "none"), "held-by": _holders(f["holders"]),
                "numa": _s(f.get("numa_node"))}
        rows.append([cell[k] for k in shown])
        styles.append("ok" if f["vfio"]["bound"] else None)
    dropped = c.table([h for k, h in cols if k in shown], rows, styles) or ()
    if boot and "class" in shown and "CLASS" not in dropped:
        c.line("* boot_vga: the firmware's console GPU (binding it to vfio-pci blanks the console)",
               "dim")
    c.line(f"{len(rows)} function{'' if len(rows) == 1 else 's'}; {host_footer(d['host'])}",
           "dim")
    _hint(d, c)


def _hint(d: dict, c: Canvas) -> None:
    h = (d.get("host") or {}).get("vfio_hint")
    if h:
        c.line(f"note: {h}", "warn")


def _group_type(g: dict, long: bool = False) -> str:
    """The group's type as the kernel reports it; for a noiommu group the kernel
    reports "unknown" (no IOMMU domain), which is said rather than left bare."""
    t = _s(g["type"])
    if g.get("noiommu") and t in ("unknown", "-"):
        return (f"type {t}: the kernel's word for a noiommu group" if long
                else f"{t} (noiommu)")
    return t


def render_groups(d: dict, c: Canvas) -> None:
    rows, styles = [], []
    for g in d["groups"]:
        members = ", ".join(f"{a}[{_s(g['drivers'].get(a), 'none')}]" for a in g["members"])
        if g["other_members"]:
            members += (", " if members else "") + ", ".join(g["other_members"])
        via = "yes" if g["viable"] else "NO: " + ", ".join(
            f"{b['address']} on {b['driver']}" for b in g["viability_blockers"])
        rows.append([str(g["iommu_group"]), _group_type(g), g["node"] if g["node_present"] else "-",
                     via, _holders(g["holders"]), members])
        styles.append(None if g["viable"] else "warn")
    if rows:
        c.table([Col("GROUP"), Col("TYPE", drop=1), Col("NODE"), Col("VIABLE", wrap=True),
                 Col("HELD BY", wrap=True, drop=2), Col("MEMBERS", wrap=True)], rows, styles)
    _hint(d, c)


def _kvs_function(f: dict) -> list[tuple[str, str]]:
    v = f["vfio"]
    rc = f.get("reset_caps") or {}

    def tri(x):
        return {True: "yes", False: "no", None: "unknown (config space not readable: run as root)"}[x]
    ids = f"{_s(f['vendor'])}:{_s(f['device'])} (subsystem {_s(f['subsystem_vendor'])}:" \
          f"{_s(f['subsystem_device'])}, class {_s(f['class'])} {f['class_name']}, " \
          f"rev {_s(f['revision'])})"
    pairs = [
        ("ids", ids),
        ("driver", _s(f["driver"], "none") + (f" (driver_override: {f['driver_override']})"
                                              if f["driver_override"] else "")),
        ("iommu_group", _s(f["iommu_group"], "none")),
        ("parent bridge", _s(f["parent"], f"none (root bus {f['root_bus']})")),
        ("bus / slot", f"{f['bus']} / {_s(f['slot'], 'no slot')}"),
    ]
    if f.get("boot_vga"):
        pairs.append(("boot_vga", "yes: the firmware's console GPU (binding it to vfio-pci "
                                  "takes the console away)"))
    if "modules" in f:
        pairs.append(("kernel modules", ", ".join(f["modules"]) if f["modules"] else (
            "none match (modules.alias)" if f["modules"] is not None
            else "unknown (no lib/modules/<release>/modules.alias under the root)")))
    if f["physfn"]:
        pairs.append(("SR-IOV", f"VF of {f['physfn']}"))
    if f["virtfns"] or f.get("sriov_totalvfs"):
        pairs.append(("SR-IOV", f"PF with {len(f['virtfns'])} VF{'' if len(f['virtfns']) == 1 else 's'} enabled "
                                f"(total {_s(f.get('sriov_totalvfs'))}): " +
                      (", ".join(f["virtfns"]) or "-")))
    pairs += [
        ("NUMA node", _s(f["numa_node"], "- (not reported)")),
        ("reset_method", " ".join(f["reset_method"]) if f["reset_method"] is not None
         else "absent: " + (f.get("reset_method_note") or "attribute not present")),
        ("FLR / AF FLR / PM reset", f"{tri(rc.get('flr'))} / {tri(rc.get('af_flr'))} / "
                                    f"{tri(rc.get('pm_reset'))}"),
        ("hot reset", _s(f["hot_reset"], "none")),
        ("vfio", "bound" if v["bound"] else "not bound"),
    ]
    if v["bound"]:
        pairs += [
            ("group node", _s(v["group_node"]) + (" (noiommu)" if v["noiommu"] else "")),
            ("cdev", (v["cdev_node"] + f" ({v['cdev_devt']})") if v["cdev_node"] else
             (f"{v['vfio_dev']}: no dev attribute (kernel without VFIO_DEVICE_CDEV, or noiommu)"
              if v["vfio_dev"] else "-")),
            ("held by", _holders(f["holders"])),
        ]
    pairs.append(("sysfs", f["sysfs_path"]))
    return pairs


def render_plan(p: dict, c: Canvas, *, title: bool = True) -> None:
    if title:
        c.title(f"Hot reset of {p['target']}: " + (
            f"{p['kind']} reset" if p["kind"] else "not possible"))
    c.line(f"  {p['why']}")
    if p["kind"]:
        if p["dev_set"]["members"]:
            c.line(f"  dev_set: {_s(p['dev_set']['key'])} = {', '.join(p['dev_set']['members'])}")
        else:
            c.line("  dev_set: none (the target is not bound to vfio-pci)")
        rows, styles = [], []
        for a in p["affected"]:
            rows.append([a["address"], _s(a["iommu_group"], "NONE"), _s(a["driver"], "none"),
                         "yes" if a["in_dev_set"] else "NO", _holders(a["holders"])])
            styles.append(None if a["in_dev_set"] else "bad")
        c.table([Col("AFFECTED FUNCTION"), Col("GROUP"), Col("DRIVER"), Col("IN DEV_SET"),
                 Col("HELD BY", wrap=True)], rows, styles,
                title=(f"A hot reset hits these {len(rows)} functions:" if len(rows) != 1
                       else "A hot reset hits 1 function:"))
        for x in p.get("also_reset", []):
            c.line(f"  ALSO RESET, not listed by the kernel: {x['address']} "
                   f"(VF of {x['pf']}, driver {_s(x['driver'], 'none')}, held by "
                   f"{_holders(x['holders'])})", "bad")
    for mode, v in p["verdicts"].items():
        label = "legacy groups" if mode == "group" else "iommufd (cdev)"
        if v["possible"]:
            extra = (f"opens {', '.join(v['groups_to_open'])}" if mode == "group"
                     else f"binds {', '.join(v['devices_to_bind'])}")
            c.line(f"  {label}: possible ({extra})", "ok")
        else:
            state = "unavailable" if not v["available"] else "refused"
            exp = v["expected"]
            ans = (f"the kernel would answer {exp['errno']}" if exp["errno"]
                   else "vfioctl stops")
            if v.get("answer") == "cannot-tell":
                c.line(f"  {label}: cannot tell — vfioctl could not see everything it "
                       "depends on", "bad")
            else:
                c.line(f"  {label}: {state} — {ans} at {exp['step']}", "bad")
            for r in v["reasons"]:
                c.bullet(r["message"], "bad")
    fixes = list(dict.fromkeys(r["remedy"] for v in p["verdicts"].values() if not v["possible"]
                               for r in v["reasons"] if r.get("remedy")))
    if not p["possible"]:
        for f in fixes:
            c.line(f"  fix: {f}")
    for n in p["notes"]:
        c.line(f"  note: {n}", "dim")


def render_show(d: dict, c: Canvas) -> None:
    f = d["function"]
    c.title(f"{f['address']}  {_name(f)}")
    c.kv(_kvs_function(f))
    g = d.get("iommu_group_info")
    if g:
        via = "viable" if g["viable"] else "NOT viable: " + ", ".join(
            f"{b['address']} is on {b['driver']}" for b in g["viability_blockers"])
        c.line(f"IOMMU group {g['iommu_group']} ({_group_type(g, long=True)}): "
               f"{', '.join(g['members'])} "
               f"— {via}")
    render_plan(d["reset"], c)
    _hint(d, c)


def render_reset_info(d: dict, c: Canvas) -> None:
    render_plan(d["reset"], c)
    pi = d.get("predicted_info")
    if pi:
        g = pi["group"]
        if g["errno"]:
            c.line(f"  predicted VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (group): {g['errno']}")
        else:
            c.line("  predicted VFIO_DEVICE_GET_PCI_HOT_RESET_INFO (group): " + ", ".join(
                f"{e['address']} group {e['group_id']}" for e in g["devices"]))
        i = pi["iommufd"]
        if not i["errno"]:
            c.line(f"  predicted (iommufd, target bound): flags {i['flags']:#x} " + ", ".join(
                f"{e['address']} {e['devid']}" for e in i["devices"]))
    k = d.get("kernel")
    if k:
        render_kernel_info(k, c)
    said = ("POSSIBLE" if d["reset"]["possible"] else "CANNOT TELL (see the cannot-tell reasons)"
            if d["reset"].get("answer") == "cannot-tell" else "NOT possible")
    c.line(f"verdict: hot reset {said}"
           + (f" (default mode: {d['reset']['default_mode']})" if d["reset"]["possible"] else ""),
           "ok" if d["reset"]["possible"] else "bad")


def render_kernel_info(k: dict, c: Canvas) -> None:
    c.title(f"Kernel answer ({k['mode']}, backend {k['backend']}"
            + (", simulated" if k.get("simulated") else "") + "):")
    if k.get("step") == "preflight":
        c.line(f"  not asked: {k.get('explanation')}", "bad")
        return
    if k.get("dry_run"):
        c.line("  dry run: nothing was opened; the steps would be:")
        for st in k["steps"]:
            c.bullet(step_line(st))
        return
    if k.get("flags") is None and not k.get("errno"):
        c.line(f"  not asked: {k.get('explanation') or 'the device could not be opened'}")
        return
    if k.get("errno"):
        c.line(f"  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO failed at {k.get('step')}: {k['errno']}"
               + (f" — {k['explanation']}" if k.get("explanation") else ""), "bad")
        if k.get("hint"):
            c.line(f"  fix: {k['hint']}")
    else:
        c.line(f"  flags {k['flags']:#x}" + (" (DEV_ID" + ("|DEV_ID_OWNED" if k["flags"] & 2 else "")
                                               + ")" if k["flags"] & 1 else ""))
        for e in k["devices"]:
            if "group_id" in e:
                c.bullet(f"{e['address']} group {e['group_id']}")
            else:
                c.bullet(f"{e['address']} devid {e['devid_text']}")
    if k.get("agrees") is not None:
        if k["agrees"]:
            c.line("  the kernel agrees with the prediction", "ok")
        else:
            c.line("  DISAGREEMENT with the prediction:", "bad")
            for m in k["disagreements"]:
                c.bullet(m, "bad")


def render_snapshot(d: dict, c: Canvas) -> None:
    r = d["report"]
    c.line(f"wrote {d['out']}: {r['files']} files, {r['links']} links"
           + (f", {len(r['skipped'])} skipped (see --json)" if r["skipped"] else ""))
