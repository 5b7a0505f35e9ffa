"""Run one row of the scenario table in an environment and judge it.

An *environment* (envs.py) gives a kernel backend (real or simulated), a way
to read the host, and set-up actions (unbind, another process holding a node).
:func:`run_row` returns a plain *observation* dict — identical in shape for
both kernels, so the real kernel's observations can be compared with the
simulator's one for one — and :func:`judge` lists every mismatch against the
table's expectation and against vfioctl's own prediction.
"""

from __future__ import annotations

import errno as E
import os

from vfioctl.errors import VfioctlError
from vfioctl.kernel.base import KernelError
from vfioctl.model import scope as sc
from vfioctl.model.address import PciAddress
from vfioctl.ops.hotreset import Session, devid_kind, execute_hot_reset
from vfioctl.ops.reports import TargetResult

STEP_TO_OP = {"open group": "open", "open dependent group": "open", "open cdev": "open",
              "open /dev/iommu": "open", "bind dependent device": "VFIO_DEVICE_BIND_IOMMUFD"}


def _err(e: KernelError) -> list:
    return [e.op, E.errorcode.get(e.errno, str(e.errno))]


def _info_obs(info, mode: str, self_devid: int | None) -> list:
    if info is None:
        return None
    ents = []
    for d in info.devices:
        if mode == sc.GROUP:
            ents.append([d.address, d.ident])
        else:
            ents.append([d.address, devid_kind(d.ident, d.ident == self_devid)])
    return [info.flags, ents]


def run_row(env, row) -> dict:
    roles = env.roles()
    with env.setup(row.setup, roles):
        host = env.host()
        fn = host.functions[PciAddress.parse(roles[row.role])]
        k = env.kernel()
        obs = {"row": row.id, "target": str(fn.address), "result": "ok", "info": None}
        try:
            PROCS[row.proc](env, k, host, fn, roles, row, obs)
        except KernelError as e:
            obs["result"] = _err(e)
        except VfioctlError as e:
            obs["result"] = ["vfioctl", e.kind, e.message]
        finally:
            k.close_all()
            obs["fds_left"] = k.open_fds()
    return obs


def sim_vs_kernel(env, rows, real: dict, *, judged: bool = False) -> list[str]:
    """Run ``rows`` on the simulator ``env`` and list every difference from
    ``real`` (row id -> the real kernel's observation): result (errno part),
    INFO (devices unordered), count and reset flag; ``judged`` also lists
    what :func:`judge` finds in the simulator's own observation."""
    diffs: list[str] = []
    for row in rows:
        sim = run_row(env, row)
        if judged:
            diffs += [f"{row.id}: sim judged: {b}" for b in judge(env, row, sim)]
        for k in ("result", "info", "count", "reset_flag"):
            a, b = sim.get(k), real[row.id].get(k)
            if k == "result" and isinstance(a, list):
                a, b = a[:2], b[:2] if isinstance(b, list) else b
            if k == "info" and isinstance(a, list) and isinstance(b, list):
                a, b = [a[0], sorted(a[1])], [b[0], sorted(b[1])]
            if a != b:
                diffs.append(f"{row.id}.{k}: simulator {a} != kernel {b}")
    return diffs


# -- procedures ---------------------------------------------------------------

def proc_hot_reset(env, k, host, fn, roles, row, obs):
    plan = sc.plan_reset(host, fn)
    res = TargetResult(target=str(fn.address), mode=row.mode, kind=plan.kind, affected=[])
    try:
        execute_hot_reset(k, host, plan, row.mode, dry_run=False, no_preflight=True, res=res)
    finally:
        info = res.info
        if info is not None:
            if row.mode == sc.GROUP:
                obs["info"] = [info.flags, [[d.address, d.ident] for d in info.devices]]
            else:
                selfid = next((st.result for st in res.steps
                               if st.op == "VFIO_DEVICE_BIND_IOMMUFD"
                               and st.target == str(fn.address)), None)
                obs["info"] = [info.flags, [[d.address, devid_kind(d.ident, d.ident == selfid)]
                                            for d in info.devices]]
        obs["steps"] = [[s.op, s.target, s.result] for s in res.steps]


def proc_reset_with(env, k, host, fn, roles, row, obs):
    sess = Session(k, host, row.mode)
    dfd = sess.open_device(fn)
    own = sess.groups.get(fn.iommu_group)
    spec = row.extra["fds"]
    fds: list[int] = []
    for part in spec.split("+"):
        if part == "none":
            pass
        elif part == "own":
            fds.append(own)
        elif part == "own*8":
            fds.extend([own] * 8)
        elif part == "iommufd":
            fds.append(sess.iommufd)
        elif part == "container":
            fds.append(sess.container)
        elif part == "closed":
            fds.append(_closed_fd())
        elif part.startswith("other:"):
            other = host.functions[PciAddress.parse(roles[part[6:]])]
            fds.append(sess.open_group(other.iommu_group))
    try:
        k.VFIO_DEVICE_PCI_HOT_RESET(dfd, fds)
    finally:
        sess.close()


def _closed_fd() -> int:
    fd = 999
    while True:
        try:
            os.fstat(fd)
        except OSError:
            return fd
        fd += 1


def proc_info_enospc(env, k, host, fn, roles, row, obs):
    sess = Session(k, host, row.mode)
    dfd = sess.open_device(fn)
    try:
        k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(dfd, 0)
    except KernelError as e:
        obs["count"] = e.count
        raise
    finally:
        sess.close()


def proc_cdev_unbound_info(env, k, host, fn, roles, row, obs):
    node = host.cdev_node(fn)
    dfd = k.open_cdev(node)
    k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(dfd, 8)


def proc_two_contexts(env, k, host, fn, roles, row, obs):
    sib = host.functions[PciAddress.parse(roles["mf1"])]
    ctx1, ctx2 = k.open_iommufd(), k.open_iommufd()
    d1 = k.open_cdev(host.cdev_node(fn))
    k.VFIO_DEVICE_BIND_IOMMUFD(d1, ctx1)
    d2 = k.open_cdev(host.cdev_node(sib))
    k.VFIO_DEVICE_BIND_IOMMUFD(d2, ctx2)


def proc_both_bound(env, k, host, fn, roles, row, obs):
    sib = host.functions[PciAddress.parse(roles["mf1"])]
    ctx = k.open_iommufd()
    d1 = k.open_cdev(host.cdev_node(fn))
    own = k.VFIO_DEVICE_BIND_IOMMUFD(d1, ctx)
    d2 = k.open_cdev(host.cdev_node(sib))
    k.VFIO_DEVICE_BIND_IOMMUFD(d2, ctx)
    try:
        info = k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(d1, 0)
    except KernelError as e:
        if e.errno != E.ENOSPC:
            raise
        info = k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(d1, e.count)
    obs["info"] = _info_obs(info, sc.IOMMUFD, own)
    k.VFIO_DEVICE_PCI_HOT_RESET(d1, [])


def proc_function_reset(env, k, host, fn, roles, row, obs):
    sess = Session(k, host, row.mode)
    dfd = sess.open_device(fn)
    try:
        obs["reset_flag"] = k.VFIO_DEVICE_GET_INFO(dfd).reset
        k.VFIO_DEVICE_RESET(dfd)
    finally:
        sess.close()


# -- SR-IOV: VF tokens (the backend directly: vfioctl's sequence passes no token) --

TOKEN = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
WRONG = "11111111-2222-4333-8444-555555555555"


def _token_for(kind: str | None) -> str | None:
    from vfioctl.model.sriov import NULL_UUID
    return {"none": None, None: None, "set": TOKEN, "wrong": WRONG, "null": NULL_UUID,
            "random": WRONG}[kind]


def _group_dev(k, host, fn, token: str | None) -> tuple[int, int]:
    """Container + group + GET_DEVICE_FD("BDF[ vf_token=UUID]"): (group fd, device fd)."""
    from vfioctl.kernel.base import VFIO_TYPE1v2_IOMMU
    g = host.group_of(fn)
    c = k.open_container()
    gfd = k.open_group(g.node)
    k.VFIO_GROUP_SET_CONTAINER(gfd, c)
    k.VFIO_SET_IOMMU(c, VFIO_TYPE1v2_IOMMU)
    name = str(fn.address) + (f" vf_token={token}" if token else "")
    return gfd, k.VFIO_GROUP_GET_DEVICE_FD(gfd, name)


def _cdev_dev(k, host, fn, token: str | None) -> int:
    ctx = k.open_iommufd()
    d = k.open_cdev(host.cdev_node(fn))
    if token is None:
        k.VFIO_DEVICE_BIND_IOMMUFD(d, ctx)
    else:
        k.VFIO_DEVICE_BIND_IOMMUFD(d, ctx, token=token)
    return d


def _set_pf_token(k, host, pf, token: str) -> None:
    """The PF's user sets the VF token (VFIO_DEVICE_FEATURE), then closes the PF."""
    gfd, dfd = _group_dev(k, host, pf, None)
    k.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN(dfd, token)
    k.close_all()


def _pf_of(host, fn):
    return host.functions[fn.physfn]


def proc_vf_open(env, k, host, fn, roles, row, obs):
    kind = row.extra.get("token")
    pf = _pf_of(host, fn)
    if kind in ("set", "wrong") and pf.vfio_bound:
        _set_pf_token(k, host, pf, TOKEN)
    tok = _token_for(kind)
    if row.mode == sc.GROUP:
        _group_dev(k, host, fn, tok)
    else:
        _cdev_dev(k, host, fn, tok)


def proc_pf_while_vf_open(env, k, host, fn, roles, row, obs):
    vf = host.functions[PciAddress.parse(roles[row.role.replace("pf-", "vf-")])]
    _set_pf_token(k, host, fn, TOKEN)
    _group_dev(k, host, vf, TOKEN)
    _group_dev(k, host, fn, _token_for(row.extra.get("token")))


def proc_feature_on_vf(env, k, host, fn, roles, row, obs):
    _set_pf_token(k, host, _pf_of(host, fn), TOKEN)
    _, dfd = _group_dev(k, host, fn, TOKEN)
    k.VFIO_DEVICE_FEATURE_PCI_VF_TOKEN(dfd, TOKEN)


def proc_vf_hot_reset(env, k, host, fn, roles, row, obs):
    _set_pf_token(k, host, _pf_of(host, fn), TOKEN)
    gfd, dfd = _group_dev(k, host, fn, TOKEN)
    try:
        info = k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(dfd, 0)
    except KernelError as e:
        if e.errno != E.ENOSPC:
            raise
        info = k.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO(dfd, e.count)
    obs["info"] = _info_obs(info, sc.GROUP, None)
    fds = [gfd]
    if row.extra["fds"] == "all":
        for d in info.devices:
            if d.ident != fn.iommu_group:
                fds.append(k.open_group(host.groups[d.ident].node))
    k.VFIO_DEVICE_PCI_HOT_RESET(dfd, fds)


def proc_vf_function_reset(env, k, host, fn, roles, row, obs):
    _set_pf_token(k, host, _pf_of(host, fn), TOKEN)
    _, dfd = _group_dev(k, host, fn, TOKEN)
    obs["reset_flag"] = k.VFIO_DEVICE_GET_INFO(dfd).reset
    k.VFIO_DEVICE_RESET(dfd)


PROCS = {
    "vf_open": proc_vf_open, "pf_while_vf_open": proc_pf_while_vf_open,
    "feature_on_vf": proc_feature_on_vf, "vf_hot_reset": proc_vf_hot_reset,
    "vf_function_reset": proc_vf_function_reset,
    "hot_reset": proc_hot_reset, "reset_with": proc_reset_with,
    "info_enospc": proc_info_enospc, "cdev_unbound_info": proc_cdev_unbound_info,
    "two_contexts": proc_two_contexts, "both_bound": proc_both_bound,
    "function_reset": proc_function_reset,
}


# -- judging ------------------------------------------------------------------

def expected_info(row, roles, host):
    if row.info is None or isinstance(row.info, str):
        return row.info
    flags, ents = row.info
    out = []
    for role, what in ents:
        addr = roles[role]
        if what == "group":
            out.append([addr, host.functions[PciAddress.parse(addr)].iommu_group])
        else:
            out.append([addr, what])
    return [flags, sorted(out)]


def judge(env, row, obs) -> list[str]:
    """Mismatches between the observation, the table and vfioctl's prediction."""
    roles = env.roles()
    host = env.host()
    bad = []
    want = "ok" if row.result == "ok" else list(row.result)
    got = obs["result"] if obs["result"] == "ok" else obs["result"][:2]
    if got != want:
        bad.append(f"result {got}, table says {want}")
    if obs["fds_left"]:
        bad.append(f"fds left open: {obs['fds_left']}")
    exp_info = expected_info(row, roles, host)
    if isinstance(exp_info, list):
        got_info = obs.get("info")
        if got_info is None or [got_info[0], sorted(got_info[1])] != exp_info:
            bad.append(f"INFO {got_info}, table says {exp_info}")
    if "count" in row.extra and obs.get("count") != row.extra["count"]:
        bad.append(f"ENOSPC count {obs.get('count')}, table says {row.extra['count']}")
    if "reset_flag" in row.extra and obs.get("reset_flag") != row.extra["reset_flag"]:
        bad.append(f"GET_INFO RESET flag {obs.get('reset_flag')}, table says "
                   f"{row.extra['reset_flag']}")
    # vfioctl's own prediction must agree with what the kernel did
    if row.proc == "hot_reset":
        with env.setup(row.setup, roles):
            h = env.host()
            fn = h.functions[PciAddress.parse(roles[row.role])]
            plan = sc.plan_reset(h, fn)
            step, err = plan.verdicts[row.mode].expected
            if err is None and step == "VFIO_DEVICE_PCI_HOT_RESET":
                pred = "ok"
            elif err is None:       # vfioctl stops by itself (e.g. a group not viable)
                pred = ["vfioctl", "kernel"]
            else:
                pred = [STEP_TO_OP.get(step, step), err]
            if pred != got:
                bad.append(f"vfioctl predicted {pred}, the kernel gave {got}")
            if isinstance(obs.get("info"), list):
                if row.mode == sc.GROUP:
                    perr, ents = sc.predict_info_group(h, plan)
                    p = [0, sorted([e.address, e.group_id] for e in ents)]
                else:
                    bound = {f.address for f in plan.verdicts[sc.IOMMUFD].binds}
                    perr, pflags, ents = sc.predict_info_iommufd(h, plan, bound)
                    p = [pflags, sorted([e.address, e.devid] for e in ents)]
                g = [obs["info"][0], sorted(obs["info"][1])]
                if p != g:
                    bad.append(f"vfioctl predicted INFO {p}, the kernel gave {g}")
    return bad
