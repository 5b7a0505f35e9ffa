"""libvirt ``qemu`` hook: refuse to prepare a domain whose PCI hostdevs
cannot be reset ("ensure PCI function reset availability").

libvirtd runs ``/etc/libvirt/hooks/qemu`` (and every executable in
``/etc/libvirt/hooks/qemu.d/``) as ``HOOK DOMAIN OPERATION SUB-OPERATION
EXTRA`` with the domain XML on standard input; a non-zero exit at
``prepare begin`` stops the start and libvirt reports the hook's standard
error (libvirt docs "Hooks for specific system management", src/util/virhook.c).

Only domains that opt in are judged: ``<metadata><vfioctl:reset
xmlns:vfioctl="urn:vfioctl:libvirt:1" require="yes"/></metadata>``.  For each
``<hostdev mode="subsystem" type="pci">`` the function must have a function
reset (:func:`vfioctl.model.resetcap.function_reset`) or a hot reset the VM
itself can perform:

* managed hostdevs are judged as libvirt will leave them at start: bound to
  vfio-pci (the domain's other hostdevs too), their group nodes present;
* the kernel's rules (:func:`vfioctl.model.scope.plan_reset`, legacy group
  mode, what QEMU uses by default) with the host's current holders;
* QEMU can only pass group fds it owns, so every function the reset hits must
  be in a group of this domain's hostdevs (QEMU hw/vfio/pci.c
  ``vfio_pci_hot_reset``: "depends on group %d which is not owned").

This module decides and returns a report; it never prints.
"""

from __future__ import annotations

import copy
from vfioctl.model import record as dataclasses
import xml.etree.ElementTree as ET
from typing import Callable

from vfioctl.errors import UsageError
from vfioctl.model import scope as sc
from vfioctl.model.address import PciAddress
from vfioctl.model.host import Host
from vfioctl.model.resetcap import function_reset
from vfioctl.ops.reports import HookReport, Hostdev

NAMESPACE = "urn:vfioctl:libvirt:1"
MAX_XML = 16 * 1024 * 1024


def parse_domain(xml_text: str) -> tuple[str | None, bool, list[tuple[str, bool]]]:
    """(name, opted in, [(address, managed)]) from a domain XML document."""
    if len(xml_text) > MAX_XML:
        raise UsageError("the domain XML on standard input is too large",
                         "libvirt passes one domain definition")
    try:
        dom = ET.fromstring(xml_text)
    except ET.ParseError as e:
        raise UsageError(f"the domain XML on standard input does not parse: {e}",
                         "libvirt passes the domain XML on standard input") from None
    if dom.tag != "domain":
        raise UsageError(f"standard input holds <{dom.tag}>, not a <domain>",
                         "libvirt passes the domain XML on standard input")
    opt = dom.find(f"metadata/{{{NAMESPACE}}}reset")
    opted = opt is not None and opt.get("require", "no").lower() in ("yes", "true", "1")
    devs = []
    for hd in dom.findall("devices/hostdev"):
        if hd.get("mode", "subsystem") != "subsystem" or hd.get("type") != "pci":
            continue
        a = hd.find("source/address")
        if a is None:
            continue
        try:
            parts = [int(a.get(k, "0"), 0) for k in ("domain", "bus", "slot", "function")]
            if not all(0 <= v <= lim for v, lim in zip(parts, (0xFFFF, 0xFF, 0x1F, 7))):
                raise ValueError(parts)
            addr = PciAddress(*parts)
        except (TypeError, ValueError):
            raise UsageError("a <hostdev> source address is malformed: "
                             + ET.tostring(a, encoding="unicode").strip(),
                             "fix the domain definition (virsh edit)") from None
        devs.append((str(addr), hd.get("managed", "no").lower() == "yes"))
    return dom.findtext("name"), opted, devs


def as_started(host: Host, devs: list[tuple[str, bool]]) -> Host:
    """The host as libvirt will leave it when QEMU starts: managed hostdevs bound
    to vfio-pci, their group nodes created."""
    h = copy.copy(host)
    h.functions = dict(host.functions)
    names = set(host.dev_vfio)
    for a, managed in devs:
        p = PciAddress.parse(a)
        fn = h.functions.get(p)
        if fn is None or not managed or fn.vfio_bound:
            continue
        h.functions[p] = dataclasses.replace(fn, driver="vfio-pci", driver_override="vfio-pci")
        g = host.group_of(fn)
        if g is not None:
            names.add(g.node.rsplit("/", 1)[1])
    h.dev_vfio = frozenset(names)
    h.invalidate()
    return h


def _remedy(addr: str, outside: list[str]) -> str:
    if outside:
        return (f"assign the other functions {addr}'s reset hits to this domain too, as "
                f"<hostdev managed='yes'>: {', '.join(outside)} (or move the device to a slot "
                f"of its own); 'vfioctl reset-info {addr}' shows the scope")
    return f"'vfioctl reset-info {addr}' and 'vfioctl show {addr}' explain; use a device with FLR"


def hook(load_host: Callable[[], Host], domain: str, operation: str, sub_operation: str,
         xml_text: str) -> HookReport:
    """The decision for one hook call.  Only ``prepare`` of an opted-in domain
    is judged (and only then is the host read, through ``load_host()``)."""
    sub_operation = sub_operation or "-"
    if operation != "prepare":
        return HookReport(domain, operation, sub_operation, opted_in=False, decision="skip")
    name, opted, devs = parse_domain(xml_text)
    if not opted:
        return HookReport(domain, operation, sub_operation, opted_in=False, decision="skip")
    return judge(load_host(), domain, operation, sub_operation, name, devs)


def judge(host: Host, domain: str, operation: str, sub_operation: str, name: str | None,
          devs: list[tuple[str, bool]]) -> HookReport:
    rep = HookReport(domain, operation, sub_operation, opted_in=True)
    started = as_started(host, devs)
    mine = {PciAddress.parse(a) for a, _ in devs}
    my_groups = {started.functions[a].iommu_group for a in mine if a in started.functions}
    for a, managed in devs:
        hd = Hostdev(a, managed)
        rep.hostdevs.append(hd)
        fn = started.functions.get(PciAddress.parse(a))
        if fn is None:
            hd.function_reset_why = f"{a} does not exist on this host"
            hd.hot_reset_reasons.append(f"{a} does not exist on this host")
            hd.remedy = "fix the domain's <hostdev> address (virsh edit) or 'vfioctl list'"
            continue
        hd.function_reset, hd.function_reset_why = function_reset(started, fn)
        plan = sc.plan_reset(started, fn)
        v = plan.verdicts[sc.GROUP]
        hd.hot_reset_reasons = [r.message for r in v.reasons]
        outside = [str(x.address) for x in plan.affected
                   if x.function.iommu_group not in my_groups or x.function.iommu_group is None]
        if plan.kind is not None and outside:
            hd.hot_reset_reasons.append(
                "QEMU can only reset functions of groups it owns; the reset also hits "
                + ", ".join(outside))
        hd.hot_reset = v.possible and not outside
        hd.resettable = bool(hd.function_reset) or hd.hot_reset
        if not hd.resettable:
            missing = [str(x.address) for x in plan.affected
                       if x.address not in mine and not x.function.is_bridge]
            hd.remedy = _remedy(a, missing if plan.kind is not None else [])
    bad = [h for h in rep.hostdevs if not h.resettable]
    if bad:
        rep.decision = "refuse"
        parts = []
        for h in bad:
            fr = ("cannot tell whether it has a function reset"
                  if h.function_reset is None else "no function reset")
            parts.append(f"{h.address} cannot be reset: {fr} ({h.function_reset_why}); "
                         f"no hot reset ({'; '.join(h.hot_reset_reasons) or 'not possible'}); "
                         f"remedy: {h.remedy}")
        rep.message = (f"vfioctl: domain '{name or domain}' requires PCI reset availability: "
                       + " | ".join(parts))
    return rep
