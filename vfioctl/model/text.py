"""Safe text for human output (issue 8: no terminal injection).

Names come from sysfs, udev, proc and fixture files, any of which a stranger
may have written.  :func:`safe` escapes what a terminal would act on (C0/C1
control characters such as ESC, DEL, line and paragraph separators, and the
format characters that reorder or hide text: bidi overrides, zero-width
joiners) as ``\\xNN``/``\\uNNNN``.  Every human renderer goes through it (the
canvases of :mod:`vfioctl.present.output` apply it to every cell and line);
JSON output keeps the exact text.
"""

from __future__ import annotations

import unicodedata

_ESCAPE_CATEGORIES = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"))


def _esc(ch: str) -> str:
    o = ord(ch)
    if o < 0x100:
        return f"\\x{o:02x}"
    if o < 0x10000:
        return f"\\u{o:04x}"
    return f"\\U{o:08x}"


def safe(s) -> str:
    """``s`` with every control/format character escaped (fast when clean)."""
    if not isinstance(s, str):
        s = str(s)
    if s.isprintable():
        return s
    return "".join(_esc(ch) if unicodedata.category(ch) in _ESCAPE_CATEGORIES else ch
                   for ch in s)
