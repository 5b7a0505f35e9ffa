"""Guest side of the VM harness: execute a JSON plan, write results.json.

Runs *inside the QEMU guest*, chrooted into the host's root (shared read-only
over 9p), under the same python interpreter that runs pytest on the host.
Standard library only.  Usage: ``python guest_runner.py PLAN.json``.

Plan (written by tests/vm/harness.py)::

    {"version": 1, "mode": "iommu", "checkout": "...", "results": "...",
     "python": "...", "topology": {"A": "02.0/00.0", ...}, "steps": [...]}

Step kinds (one key names the kind; optional common keys: ``name`` (label
used to look the result up), ``timeout`` (s, default 120), ``check``
(bool: a failing step aborts the rest of the plan), ``env`` (extra env vars),
``cwd``):

* ``{"run": [argv...]}``         command; cwd = checkout
* ``{"sh": "snippet"}``          ``/bin/sh -c snippet``; cwd = checkout
* ``{"unbind": "BDF"}``          unbind from its driver (driver_override kept)
* ``{"bind": "BDF", "driver": "vfio-pci"}``  driver_override + drivers_probe
* ``{"hold": PATH, "id": "h1", "how": "open"|"group"|"cdev", "device": BDF,
  "comm": "name"}``  start a background holder process (see ``_HOLDER``);
  ``"env": {"VF_TOKEN": UUID}`` makes ``cdev`` bind with that VF token (6.17+)
* ``{"release": "h1"}``          kill that holder
* ``{"record": "tests/fixtures/recorded/x"}``  take_snapshot("/", ...);
  a relative path lands in ``<results>/records/<path>`` and is installed into
  the checkout by the host harness; ``@RESULTS@/...`` stays in the results dir
* ``{"sleep": seconds}``
* ``{"cli": [args...]}``         ``python -m vfioctl args`` *in the runner process*
  (runpy; imports are paid once per boot instead of ~5 s per command)
* ``{"py": "code"}``             exec code in the runner process; ``sys.exit(n)``
  or an exception (rc 1, traceback in stderr) sets ``rc``

Placeholders, expanded in every string of a step right before it runs (the
sysfs state at that moment is used):
``@RESULTS@ @CHECKOUT@ @PYTHON@ @MODE@``, and for a topology id X:
``@bdf:X@`` (0000:01:00.0), ``@group:X@`` (IOMMU group number),
``@groupdev:X@`` (/dev/vfio/N or /dev/vfio/noiommu-N), ``@vfiodev:X@``
(vfioN), ``@cdev:X@`` (/dev/vfio/devices/vfioN), ``@driver:X@``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback

SYS_PCI = "/sys/bus/pci/devices"

# ---------------------------------------------------------------- topology


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _link_base(path: str) -> str | None:
    try:
        return os.path.basename(os.readlink(path))
    except OSError:
        return None


def chain_of(bdf: str) -> str:
    """Devfn chain from the root bus: 0000:01:00.1 below 00:02.0 -> '02.0/00.1'."""
    real = os.path.realpath(os.path.join(SYS_PCI, bdf))
    parts = real.split("/")
    out = [p.split(":", 2)[-1] for p in parts if re.match(r"^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$", p)]
    return "/".join(out)


def pci_devices() -> list[dict]:
    slots = {}
    try:
        for s in os.listdir("/sys/bus/pci/slots"):
            slots[_read(f"/sys/bus/pci/slots/{s}/address")] = s
    except OSError:
        pass
    devs = []
    for bdf in sorted(os.listdir(SYS_PCI)):
        d = os.path.join(SYS_PCI, bdf)
        real = os.path.realpath(d)
        parent = os.path.basename(os.path.dirname(real))
        group = _link_base(os.path.join(d, "iommu_group"))
        gdir = f"/sys/kernel/iommu_groups/{group}" if group else None
        vfio_dev = None
        try:
            names = [n for n in os.listdir(os.path.join(d, "vfio-dev")) if n.startswith("vfio")]
            vfio_dev = names[0] if names else None
        except OSError:
            pass
        devs.append({
            "bdf": bdf,
            "chain": chain_of(bdf),
            "path": os.path.relpath(real, "/sys/devices"),
            "parent": parent if ":" in parent and not parent.startswith("pci") else None,
            "vendor": _read(f"{d}/vendor"),
            "device": _read(f"{d}/device"),
            "class": _read(f"{d}/class"),
            "driver": _link_base(os.path.join(d, "driver")),
            "driver_override": _read(f"{d}/driver_override") or None,
            "iommu_group": int(group) if group and group.isdigit() else None,
            "group_name": _read(f"{gdir}/name") or None if gdir else None,
            "group_type": _read(f"{gdir}/type") or None if gdir else None,
            "reset_method": _read(f"{d}/reset_method") if os.path.exists(f"{d}/reset_method") else None,
            "vfio_dev": vfio_dev,
            "slot": slots.get(bdf.rsplit(".", 1)[0]),
        })
    return devs


class Topology:
    def __init__(self, ids: dict[str, str]):
        self.ids = ids  # id -> chain

    def device(self, ident: str) -> dict:
        chain = self.ids.get(ident, ident)
        for d in pci_devices():
            if d["chain"] == chain or d["bdf"] == ident:
                return d
        raise KeyError(f"topology id {ident!r} (chain {chain}) not found in the guest")

    def expand(self, value, ctx: dict):
        if isinstance(value, str):
            def sub(m: re.Match) -> str:
                key, arg = m.group(1), m.group(2)
                if arg is None:
                    if key in ctx:
                        return str(ctx[key])
                    return m.group(0)
                d = self.device(arg)
                if key == "bdf":
                    return d["bdf"]
                if key == "group":
                    return str(d["iommu_group"])
                if key == "groupdev":
                    if d["iommu_group"] is None:
                        raise KeyError(f"{arg} has no IOMMU group")
                    pre = "noiommu-" if d["group_name"] == "vfio-noiommu" else ""
                    return f"/dev/vfio/{pre}{d['iommu_group']}"
                if key == "vfiodev":
                    return str(d["vfio_dev"])
                if key == "cdev":
                    return f"/dev/vfio/devices/{d['vfio_dev']}"
                if key == "driver":
                    return str(d["driver"])
                return m.group(0)
            return re.sub(r"@([A-Za-z]+)(?::([A-Za-z0-9_.:/-]+))?@", sub, value)
        if isinstance(value, list):
            return [self.expand(v, ctx) for v in value]
        if isinstance(value, dict):
            return {k: self.expand(v, ctx) for k, v in value.items()}
        return value

    def dump(self) -> dict:
        devs = pci_devices()
        by_chain = {v: k for k, v in self.ids.items()}
        for d in devs:
            d["id"] = by_chain.get(d["chain"])
        return {
            "devices": devs,
            "ids": {d["id"]: d["bdf"] for d in devs if d["id"]},
            "slots": {s: {f: _read(f"/sys/bus/pci/slots/{s}/{f}") for f in sorted(os.listdir(f"/sys/bus/pci/slots/{s}"))
                          if os.path.isfile(f"/sys/bus/pci/slots/{s}/{f}")}
                      for s in sorted(os.listdir("/sys/bus/pci/slots"))} if os.path.isdir("/sys/bus/pci/slots") else {},
        }


# ---------------------------------------------------------------- holders

_HOLDER = r"""
import ctypes, fcntl, os, signal, struct, sys, time
comm, how, device, paths = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
try:
    ctypes.CDLL(None).prctl(15, comm.encode()[:15], 0, 0, 0)   # PR_SET_NAME
except Exception:
    pass
keep = []
try:
    if how == "open":
        for p in paths:
            keep.append(os.open(p, os.O_RDWR))
    elif how == "group":            # what QEMU does with the legacy path
        cfd = os.open("/dev/vfio/vfio", os.O_RDWR); keep.append(cfd)
        gfd = os.open(paths[0], os.O_RDWR); keep.append(gfd)
        fcntl.ioctl(gfd, 0x3b68, struct.pack("i", cfd))                   # GROUP_SET_CONTAINER
        fcntl.ioctl(cfd, 0x3b66, 8 if "noiommu-" in paths[0] else 3)      # SET_IOMMU
        if device != "-":
            keep.append(fcntl.ioctl(gfd, 0x3b6a, bytearray(device.encode() + b"\0")))  # GET_DEVICE_FD
    elif how == "cdev":             # what QEMU does with iommufd
        dfd = os.open(paths[0], os.O_RDWR); keep.append(dfd)
        ifd = os.open("/dev/iommu", os.O_RDWR); keep.append(ifd)
        tok = os.environ.get("VF_TOKEN")
        if tok:                     # 6.17+: VFIO_DEVICE_BIND_FLAG_TOKEN, token_uuid_ptr
            import uuid
            raw = ctypes.create_string_buffer(uuid.UUID(tok).bytes, 16)
            buf = bytearray(struct.pack("IIiIQ", 24, 1, ifd, 0, ctypes.addressof(raw)))
        else:
            buf = bytearray(struct.pack("IIiI", 16, 0, ifd, 0))
        fcntl.ioctl(dfd, 0x3b76, buf)                                     # BIND_IOMMUFD
    else:
        raise ValueError("unknown how=" + how)
except OSError as e:
    print("ERROR %d %s" % (e.errno or 0, e.strerror), flush=True)
    sys.exit(1)
print("READY pid=%d fds=%s" % (os.getpid(), ",".join(map(str, keep))), flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
while True:
    time.sleep(3600)
"""


# ---------------------------------------------------------------- runner


class Runner:
    def __init__(self, plan_path: str):
        with open(plan_path) as f:
            self.plan = json.load(f)
        self.results_dir = self.plan["results"]
        self.checkout = self.plan["checkout"]
        self.python = self.plan.get("python") or sys.executable
        self.topo = Topology(self.plan.get("topology", {}))
        self.ctx = {"RESULTS": self.results_dir, "CHECKOUT": self.checkout, "PYTHON": self.python,
                    "MODE": self.plan.get("mode", "")}
        self.holders: dict[str, subprocess.Popen] = {}
        self.entries: list[dict] = []
        self.out = os.path.join(self.results_dir, "results.json")

    def env(self, extra: dict | None) -> dict:
        env = dict(os.environ)
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
        env["VFIOCTL_VM_RESULTS"] = self.results_dir
        env["RESULTS"] = self.results_dir
        env["PYTHON"] = self.python
        env["CHECKOUT"] = self.checkout
        if extra:
            env.update({k: str(v) for k, v in extra.items()})
        return env

    def write(self, complete: bool) -> None:
        doc = {"version": 1, "mode": self.plan.get("mode"), "complete": complete,
               "uname": " ".join(os.uname()), "steps": self.entries}
        tmp = self.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, self.out)

    # -- step kinds ------------------------------------------------------------
    def _proc(self, argv, step) -> dict:
        try:
            p = subprocess.run(argv, cwd=step.get("cwd", self.checkout), env=self.env(step.get("env")),
                               input=step.get("input"), capture_output=True, text=True,
                               errors="replace", timeout=step.get("timeout", 120))
            return {"rc": p.returncode, "stdout": p.stdout, "stderr": p.stderr}
        except subprocess.TimeoutExpired as e:
            def s(x):
                return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
            return {"rc": -9, "stdout": s(e.stdout), "stderr": s(e.stderr) + f"\n[timeout after {e.timeout} s]"}
        except OSError as e:
            return {"rc": 127, "stdout": "", "stderr": f"cannot execute {argv[0]}: {e}"}

    def do_run(self, step):
        return self._proc(list(step["run"]), step)

    def do_sh(self, step):
        return self._proc(["/bin/sh", "-c", step["sh"]], step)

    def do_unbind(self, step):
        bdf = step["unbind"]
        drv = _link_base(f"{SYS_PCI}/{bdf}/driver")
        if drv is None:
            return {"rc": 0, "stdout": f"{bdf}: no driver\n", "stderr": ""}
        with open(f"{SYS_PCI}/{bdf}/driver/unbind", "w") as f:
            f.write(bdf)
        return {"rc": 0, "stdout": f"{bdf}: unbound from {drv}\n", "stderr": ""}

    def do_bind(self, step):
        bdf, want = step["bind"], step.get("driver", "vfio-pci")
        cur = _link_base(f"{SYS_PCI}/{bdf}/driver")
        if cur == want:
            return {"rc": 0, "stdout": f"{bdf}: already on {want}\n", "stderr": ""}
        if cur is not None:
            with open(f"{SYS_PCI}/{bdf}/driver/unbind", "w") as f:
                f.write(bdf)
        with open(f"{SYS_PCI}/{bdf}/driver_override", "w") as f:
            f.write(want)
        err = ""
        try:
            with open("/sys/bus/pci/drivers_probe", "w") as f:
                f.write(bdf)
        except OSError as e:
            err = f"drivers_probe: {e}\n"
        now = _link_base(f"{SYS_PCI}/{bdf}/driver")
        return {"rc": 0 if now == want else 1, "stdout": f"{bdf}: driver {now}\n", "stderr": err}

    def do_hold(self, step):
        hid = step["id"]
        paths = step["hold"] if isinstance(step["hold"], list) else [step["hold"]]
        comm = step.get("comm", f"holder-{hid}")
        argv = [self.python, "-c", _HOLDER, comm, step.get("how", "open"), step.get("device", "-"), *paths]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.env(step.get("env")), cwd="/")
        line = p.stdout.readline().strip()
        if line.startswith("READY"):
            self.holders[hid] = p
            return {"rc": 0, "stdout": line + "\n", "stderr": "", "pid": p.pid}
        p.wait(timeout=30)
        return {"rc": p.returncode or 1, "stdout": line + "\n", "stderr": p.stderr.read(), "pid": p.pid}

    def do_release(self, step):
        p = self.holders.pop(step["release"], None)
        if p is None:
            return {"rc": 1, "stdout": "", "stderr": f"no holder {step['release']!r}\n"}
        p.terminate()
        try:
            rc = p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        return {"rc": 0, "stdout": f"holder exited {rc}\n", "stderr": ""}

    def do_record(self, step):
        """Snapshot into the guest's tmpfs, then ship ONE tar over 9p (writing the
        ~600 small files straight onto the 9p share costs >10 s under TCG).
        The host harness unpacks the tar to ``path`` after the boot."""
        import shutil
        import tarfile
        import tempfile
        dest = step["record"]
        if not os.path.isabs(dest):
            dest = os.path.join(self.results_dir, "records", dest)
        spec = importlib.util.spec_from_file_location(
            "_vfioctl_snapshot", os.path.join(self.checkout, "vfioctl", "sysfs", "snapshot.py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        res_dir = self.results_dir.rstrip("/") + "/"
        if not dest.startswith(res_dir):
            rep = mod.take_snapshot(step.get("src", "/"), dest, overwrite=True)
            return {"rc": 0, "stdout": json.dumps(rep) + "\n", "stderr": "", "report": rep, "path": dest}
        tmp = tempfile.mkdtemp(prefix="record-", dir="/tmp")
        try:
            rep = mod.take_snapshot(step.get("src", "/"), os.path.join(tmp, "snap"), overwrite=True)
            rep["dest"] = dest
            os.makedirs(os.path.join(self.results_dir, "records"), exist_ok=True)
            archive = os.path.join(self.results_dir, "records", f"step{len(self.entries)}.tar")
            tarfile.pwd = tarfile.grp = None  # no /etc/passwd lookups over 9p per member
            with tarfile.open(archive + ".tmp", "w") as t:
                t.add(os.path.join(tmp, "snap"), arcname=".")
            os.replace(archive + ".tmp", archive)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {"rc": 0, "stdout": json.dumps(rep) + "\n", "stderr": "", "report": rep, "path": dest,
                "archive": archive}

    def _inproc(self, fn, step):
        """Run ``fn`` inside the runner process, capturing stdout/stderr/exit code.
        Saves the ~1-6 s interpreter start + imports per step under TCG."""
        import contextlib
        import io
        out, err = io.StringIO(), io.StringIO()
        rc = 0
        old_env = dict(os.environ)
        old_cwd = os.getcwd()
        os.environ.update({k: str(v) for k, v in (step.get("env") or {}).items()})
        try:
            os.chdir(step.get("cwd", self.checkout))
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    fn()
                except SystemExit as e:
                    code = e.code
                    rc = code if isinstance(code, int) else (0 if code is None else 1)
                    if code is not None and not isinstance(code, int):
                        print(code, file=sys.stderr)
                except BaseException:  # noqa: BLE001 - report, keep going
                    traceback.print_exc()
                    rc = 1
        finally:
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)
        return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue()}

    def do_cli(self, step):
        """``{"cli": [args]}``: ``python -m vfioctl args`` run in-process (runpy)."""
        import runpy
        if self.checkout not in sys.path:
            sys.path.insert(0, self.checkout)

        def go():
            old = sys.argv
            sys.argv = ["vfioctl", *step["cli"]]
            try:
                runpy.run_module("vfioctl", run_name="__main__", alter_sys=True)
            finally:
                sys.argv = old
        return self._inproc(go, step)

    def do_py(self, step):
        """``{"py": "code"}``: exec in-process (fresh globals; sys.exit(n) sets rc)."""
        if self.checkout not in sys.path:
            sys.path.insert(0, self.checkout)
        code = compile(step["py"], f"<step {len(self.entries)}>", "exec")
        return self._inproc(lambda: exec(code, {"__name__": "__vmstep__"}), step)

    def do_sleep(self, step):
        time.sleep(float(step["sleep"]))
        return {"rc": 0, "stdout": "", "stderr": ""}

    KINDS = ("run", "sh", "cli", "py", "unbind", "bind", "hold", "release", "record", "sleep")

    def run(self) -> int:
        with open(os.path.join(self.results_dir, "topology.json"), "w") as f:
            json.dump(self.topo.dump(), f, indent=1)
        self.write(False)
        failed = 0
        for i, raw in enumerate(self.plan.get("steps", [])):
            kind = next((k for k in self.KINDS if k in raw), None)
            entry = {"step": i, "kind": kind, "name": raw.get("name"), "request": raw}
            t = time.monotonic()
            try:
                if kind is None:
                    raise ValueError(f"unknown step kind: {sorted(raw)}")
                step = self.topo.expand(raw, self.ctx)
                entry["request"] = step
                entry.update(getattr(self, "do_" + kind)(step))
            except Exception as e:  # a broken step must not kill the plan
                entry.update({"rc": 255, "stdout": "", "stderr": "".join(traceback.format_exception(e))})
            entry["duration"] = round(time.monotonic() - t, 3)
            entry["ok"] = entry.get("rc") == 0
            self.entries.append(entry)
            self.write(False)
            print(f"@@VM step {i} {kind} {raw.get('name') or ''} rc={entry['rc']} {entry['duration']}s", flush=True)
            if not entry["ok"]:
                failed += 1
                if raw.get("check"):
                    break
        for hid, p in list(self.holders.items()):
            p.kill()
            p.wait()
        with open(os.path.join(self.results_dir, "topology-end.json"), "w") as f:
            json.dump(self.topo.dump(), f, indent=1)
        self.write(True)
        return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(Runner(sys.argv[1]).run())
