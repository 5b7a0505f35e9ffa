"""Kernel backends: the only code that opens VFIO nodes or issues ioctls.

``real`` (:mod:`vfioctl.kernel.real`) talks to the running kernel; ``sim``
(:mod:`vfioctl.kernel.sim`) simulates it over a fixture root.  Third-party
backends register a class under the ``vfioctl.backends`` entry-point group;
it is constructed as ``cls(root)`` and must implement
:class:`vfioctl.kernel.base.KernelBackend`.
"""

from __future__ import annotations

BUILTIN = {
    "real": ("vfioctl.kernel.real", "RealKernel", "ioctls on the running kernel's VFIO nodes"),
    "sim": ("vfioctl.kernel.sim", "SimKernel", "simulated kernel over a fixture root"),
}


def available() -> dict[str, str]:
    """name -> description of every backend (built-ins and entry points)."""
    out = {k: v[2] for k, v in BUILTIN.items()}
    for ep in _entry_points():
        out.setdefault(ep.name, f"plug-in {ep.value}")
    return out


def _entry_points():
    try:
        from importlib.metadata import entry_points
        return list(entry_points(group="vfioctl.backends"))
    except Exception:  # pragma: no cover - broken metadata
        return []


def default_name(root: str) -> str:
    import os
    return "real" if os.path.abspath(root) == "/" else "sim"


def not_live_reason(root: str) -> str | None:
    """Why ``root`` cannot be driven by the real backend, or None: a fixture
    or snapshot root whose VFIO nodes are plain files, not character devices."""
    import os
    import stat
    if os.path.abspath(root) == "/":
        return None
    for rel in ("dev/vfio/vfio", "dev/iommu"):
        try:
            st = os.lstat(os.path.join(root, rel))
        except OSError:
            continue
        if not stat.S_ISCHR(st.st_mode):
            return "its VFIO nodes are plain files"
    return "it is not / (the real backend drives the running kernel)"


def get_backend(name: str | None, root: str, *, shown_root: str | None = None):
    """The backend ``name`` (default: real on /, sim elsewhere) for ``root``.

    ``real`` on a root that is not the live host is refused here, before
    anything is planned or opened, rather than failing later with ENOTTY."""
    from vfioctl.errors import BackendUnavailable
    name = name or default_name(root)
    if name == "real":
        why = not_live_reason(root)
        if why:
            raise BackendUnavailable(f"{shown_root or root} is not a live host: {why}",
                                     "drop --backend real: on a fixture or snapshot root the "
                                     "simulator (--backend sim) is used")
    if name in BUILTIN:
        mod, cls, _ = BUILTIN[name]
        import importlib
        return getattr(importlib.import_module(mod), cls)(root)
    for ep in _entry_points():
        if ep.name == name:
            try:
                return ep.load()(root)
            except Exception as e:
                raise BackendUnavailable(f"backend {name!r} failed to load: {e}",
                                         "check the plug-in's installation") from None
    raise BackendUnavailable(f"no backend named {name!r}",
                             "choose one of: " + ", ".join(sorted(available())))
