"""The bind scenario table: one sequence of vfioctl bind/unbind commands, run
unchanged on the simulator (over the tree recorded from the guest) and on the
real kernel in the QEMU guest (tests/vm/test_bind_real.py).

Roles (the guest's extra functions, tests/vm/test_bind_real.py EXTRA): ``nic``
an e1000e on its host driver (function 0 of a multifunction device behind its
own root port) and ``audio`` an ich9-intel-hda on snd_hda_intel (function 1):
one IOMMU group, one reset scope.

Each row: ``setup`` actions (``hold-snd``: a process holds the audio
function's ``/dev/snd/controlC0``; ``hold-device``: a QEMU-like process opens
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
    Row("guard-held", ("bind", "{nic}", "--scope", "--yes", "--json"), 6, "refused",
        (NIC_DRIVER, AUDIO_DRIVER), setup=("hold-snd",), after=("release",),
        extra={"guard": ("held", "{audio}")}),
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
                               "--json"), 7, "incomplete", after=("release",),
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
        if a == "hold-snd":
            # the class device the real kernel has below the function (snapshots
            # do not record sound/), and a process holding it open
            d = usage.devdir(r, roles["audio"])
            cd = os.path.join(d, "sound", "card0", "controlC0")
            os.makedirs(cd, exist_ok=True)
            with open(os.path.join(cd, "uevent"), "w") as f:
                f.write("MAJOR=116\nMINOR=0\nDEVNAME=snd/controlC0\n")
            pd = r.join("proc/31000/fd")
            os.makedirs(pd, exist_ok=True)
            with open(r.join("proc/31000/comm"), "w") as f:
                f.write("holder-snd\n")
            os.symlink("/dev/snd/controlC0", os.path.join(pd, "3"))
            holders.append(("proc", r.join("proc/31000")))
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
            if a == "hold-snd":
                active.append("h-snd")
                steps.append({"name": f"{prefix}-{row.id}-hold", "id": "h-snd", "how": "open",
                              "hold": "/dev/snd/controlC0", "comm": "holder-snd"})
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
                steps.append({"name": f"{prefix}-{row.id}-release-{hid}", "release": hid})
            steps.append({"name": f"{prefix}-{row.id}-settle", "sleep": 1})
        steps.append({"name": f"{prefix}-{row.id}-drivers", "sh": drv})
    return steps
