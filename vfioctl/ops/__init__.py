"""Operations: what each command does, as plain functions.

An operation takes the host (read by :mod:`vfioctl.sysfs`) and, when it acts,
a kernel backend (:mod:`vfioctl.kernel`); it returns a report dataclass from
:mod:`vfioctl.ops.reports` and raises the typed errors of :mod:`vfioctl.errors`.
It never prints, never prompts and never asks whether the output is JSON:
confirmation is a ``confirm(ConfirmRequest) -> bool`` callable and progress a
``progress(Progress)`` callback, both handed in by the caller.  Rendering is
:mod:`vfioctl.present`'s job (one renderer per report type per format; the
pattern is in ``vfioctl/present/__init__.py``).  ``tests/test_layering.py``
fails if a module here imports the presentation or CLI layers, or prints.
"""
