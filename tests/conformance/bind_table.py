"""The bind scenario table: one sequence of vfioctl bind/unbind commands, run
unchanged on the simulator (over the tree recorded from the guest) and on the
real kernel in the QEMU guest (tests/vm/test_bind_real.py).

Roles (the guest's extra functions, tests/vm/test_bind_real.py EXTRA): ``nic``
an e1000e on its host driver (function 0 of a multifunction device behind its
own root port) and ``audio`` an ich9-intel-hda on snd_hda_intel (function 1):
one IOMMU group, one reset scope.

Each row: ``setup`` actions (``nic-addr``: the nic's interface gets the
address 192.0.2.1/24, so it carries a route; ``hold-device``: a QEMU-like process opens
the nic's group, attaches it and gets the device fd; ``release``: that
process exits), the CLI arguments (``{nic}``/``{audio}`` replaced by the
addresses), the expected exit code, ``result`` of the JSON document, and the
drivers of (nic, audio) afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NIC_DRIVER = "e1000e"
AUDIO_DRIVER = "snd_hda_intel"


@dataclass(frozen=True)
class Row:
    id: str
    args: tuple
    rc: int
    result: str | None = None
    drivers: tuple | None = None          # (nic, audio) afterwards
    setup: tuple = ()
    after: tuple = ()                     # actions after the command (release)
    extra: dict = field(default_factory=dict)


ROWS = [
    Row("check-before", ("check", "{nic}", "--json"), 1, drivers=(NIC_DRIVER, AUDIO_DRIVER),
        extra={"remedy": "vfioctl bind {nic}"}),
    Row("guard-nic", ("bind", "{nic}", "--scope", "--yes", "--json"), 6, "refused",
        (NIC_DRIVER, AUDIO_DRIVER), setup=("nic-addr",), after=("release",),
        extra={"guard": ("nic-in-use", "{nic}")}),
    Row("dry-run", ("bind", "{nic}", "--scope", "--dry-run", "--json"), 0, "dry-run",
        (NIC_DRIVER, AUDIO_DRIVER)),
    Row("forced-rollback", ("bind", "{nic}", "--driver", "foo_vfio_pci", "--force", "--yes",
                            "--json"), 7, "rolled-back", (NIC_DRIVER, AUDIO_DRIVER),
        extra={"failure": ("verify", "{nic}")}),
    Row("bind-scope", ("bind", "{nic}", "--scope", "--yes", "--json"), 0, "done",
        ("vfio-pci", "vfio-pci"), extra={"possible_after": True}),
    Row("check-after", ("check", "{nic}", "--json"), 0, drivers=("vfio-pci", "vfio-pci")),
    Row("hot-reset", ("hot-reset", "{nic}", "--yes", "--json"), 0,
        drivers=("vfio-pci", "vfio-pci")),
    Row("unbind-held", ("unbind", "{nic}", "--yes", "--json"), 6, "refused",
        ("vfio-pci", "vfio-pci"), setup=("hold-device",)),
    Row("unbind-held-forced", ("unbind", "{nic}", "--yes", "--force", "--timeout", "2",
                               "--json"), 7, "incomplete", (None, "vfio-pci"),
        after=("release",),
        extra={"failure": ("unbind", "{nic}"), "errno": "ETIMEDOUT"}),
    Row("unbind", ("unbind", "{nic}", "--yes", "--json"), 0, "done",
        (NIC_DRIVER, AUDIO_DRIVER)),
    Row("check-restored", ("check", "{nic}", "--json"), 1, drivers=(NIC_DRIVER, AUDIO_DRIVER)),
]


def expand(args, roles: dict) -> list[str]:
    return [a.format(**roles) for a in args]


def judge(row: Row, rc: int, doc: dict | None, drivers: tuple | None, roles: dict) -> list[str]:
    """Every mismatch between one observation and the row."""
    bad = []
    if rc != row.rc:
        bad.append(f"{row.id}: exit {rc}, table says {row.rc}")
    if row.result is not None and (doc or {}).get("result") != row.result:
        bad.append(f"{row.id}: result {(doc or {}).get('result')}, table says {row.result}")
    if row.drivers is not None and tuple(drivers or ()) != row.drivers:
        bad.append(f"{row.id}: drivers {drivers}, table says {row.drivers}")
    x = row.extra
    if "remedy" in x:
        rem = {r.get("remedy") for e in doc["resets"] for r in e["reasons"]}
        if x["remedy"].format(**roles) not in rem:
            bad.append(f"{row.id}: remedies {rem}")
    if "guard" in x:
        code, who = x["guard"]
        gs = [(g["code"], g["address"]) for g in doc["plan"]["guards"]]
        if (code, who.format(**roles)) not in gs:
            bad.append(f"{row.id}: guards {gs}")
    if "failure" in x:
        f = doc.get("failure") or {}
        op, tgt = x["failure"]
        if (f.get("op"), f.get("target")) != (op, tgt.format(**roles)):
            bad.append(f"{row.id}: failure {f}")
        if "errno" in x and f.get("errno") != x["errno"]:
            bad.append(f"{row.id}: errno {f.get('errno')}, table says {x['errno']}")
    if x.get("possible_after"):
        c = doc["plan"]["consequences"][0]["hot_reset"]
        if not c["possible_after"] or c["possible_now"]:
            bad.append(f"{row.id}: consequence {c}")
    return bad


# -- the simulator ------------------------------------------------------------

def run_sim(root: str, roles: dict, cli) -> dict:
    """Run every row over ``root`` with the simulator; {row id: observation}."""
    import json
    import os
    from vfioctl.kernel.sim import SimKernel
    from vfioctl.model.address import PciAddress
    from vfioctl.sysfs import usage
    from vfioctl.sysfs.reader import read_host
    from vfioctl.sysfs.root import Root
    r = Root(root)
    holders: list = []
    obs = {}

    def act(a: str) -> None:
        if a == "nic-addr":
            # what `ip addr add 192.0.2.1/24 dev IF; ip link set IF up` shows: the
            # interface below the function (snapshots do not record net/) and its
            # connected route in /proc/net/route
            d = usage.devdir(r, roles["nic"])
            names = usage.net_interfaces(r, roles["nic"]) or ["eth9"]
            os.makedirs(os.path.join(d, "net", names[0]), exist_ok=True)
            route = r.join("proc/net/route")
            os.makedirs(os.path.dirname(route), exist_ok=True)
            old = open(route).read() if os.path.exists(route) else (
                "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU"
                "\tWindow\tIRTT\n")
            with open(route, "w") as f:
                f.write(old + f"{names[0]}\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF"
                              "\t0\t0\t0\n")
            holders.append(("route", (route, old)))
        elif a == "hold-device":
            k = SimKernel(root, comm="qemu-system-x86")
            host = read_host(root)
            fn = host.functions[PciAddress.parse(roles["nic"])]
            c = k.open_container()
            g = k.open_group(host.group_of(fn).node)
            k.VFIO_GROUP_SET_CONTAINER(g, c)
            k.VFIO_SET_IOMMU(c, 3)
            k.VFIO_GROUP_GET_DEVICE_FD(g, roles["nic"])
            holders.append(("sim", k))
        elif a == "release":
            import shutil
            while holders:
                kind, h = holders.pop()
                if kind == "sim":
                    h.close_all()
                elif kind == "route":
                    with open(h[0], "w") as f:
                        f.write(h[1])
                else:
                    shutil.rmtree(h)
        else:
            raise ValueError(a)

    for row in ROWS:
        for a in row.setup:
            act(a)
        res = cli(["--root", root, *expand(row.args, roles)])
        for a in row.after:
            act(a)
        try:
            doc = json.loads(res.out) if res.out.strip() else None
        except ValueError:
            doc = None
        obs[row.id] = {"rc": res.code, "doc": doc, "stderr": res.err,
                       "drivers": (usage.driver_of(r, roles["nic"]),
                                   usage.driver_of(r, roles["audio"]))}
    return obs


# -- the guest ------------------------------------------------------------------

def guest_plan(nic_chain: str, audio_chain: str, prefix: str = "bt") -> list[dict]:
    """Runner steps (tests/vm/guest_runner.py) for every row, in order."""
    nic, audio = f"@bdf:{nic_chain}@", f"@bdf:{audio_chain}@"
    roles = {"nic": nic, "audio": audio}
    drv = ("for d in " + nic + " " + audio + "; do l=/sys/bus/pci/devices/$d/driver; "
           "if [ -L $l ]; then basename $(readlink $l); else echo -; fi; done")
    steps: list[dict] = []
    active: list[str] = []
    for row in ROWS:
        for a in row.setup:
            if a == "nic-addr":
                active.append("nic-addr")
                steps.append({"name": f"{prefix}-{row.id}-addr", "sh": (
                    f"i=$(ls /sys/bus/pci/devices/{nic}/net) && ip addr add 192.0.2.1/24 "
                    "dev $i && ip link set $i up && cat /proc/net/route"), "check": True})
            elif a == "hold-device":
                active.append("h-dev")
                steps.append({"name": f"{prefix}-{row.id}-hold", "id": "h-dev", "how": "group",
                              "hold": f"@groupdev:{nic_chain}@", "device": nic,
                              "comm": "qemu-system-x86"})
        steps.append({"name": f"{prefix}-{row.id}", "cli": expand(row.args, roles),
                      "env": {"VFIOCTL_PCI_IDS": "none"}, "timeout": 120})
        if "release" in row.after:
            while active:
                hid = active.pop()
                if hid == "nic-addr":
                    steps.append({"name": f"{prefix}-{row.id}-release-{hid}", "sh": (
                        f"i=$(ls /sys/bus/pci/devices/{nic}/net) && ip addr flush dev $i && "
                        "ip link set $i down")})
                else:
                    steps.append({"name": f"{prefix}-{row.id}-release-{hid}", "release": hid})
            steps.append({"name": f"{prefix}-{row.id}-settle", "sleep": 1})
        steps.append({"name": f"{prefix}-{row.id}-drivers", "sh": drv})
    return steps
