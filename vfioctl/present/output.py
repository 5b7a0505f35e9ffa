"""The one output sink: data to stdout, diagnostics to stderr.

Human output goes through a :class:`Canvas`: :class:`PlainCanvas` writes
aligned plain text (used when stdout is not a TTY, and fast: no rich import),
:class:`RichCanvas` draws rich tables (TTY, or ``--format table``).  With
``--json`` stdout carries exactly one JSON document, also on failure.
``NO_COLOR`` is honoured (rich reads it; the plain canvas never colours).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Callable, Sequence

from vfioctl.model.text import safe

STYLES = {"ok": "green", "bad": "bold red", "warn": "yellow", "dim": "dim", "head": "bold",
          # tree's lines (present/tree.py)
          "addr": "bold", "reset": "bold yellow", "target": "bold cyan", "tree": "dim"}


class Col(str):
    """A table header with its behaviour on a narrow terminal (a plain ``str``
    header is an essential, unbreakable column):

    * ``flex``: shrinks first, cut with an ellipsis (NAME);
    * ``wrap``: may wrap between words, never inside one, its header too
      (HELD BY, MEMBERS);
    * ``drop``: optional, dropped when the rest cannot fit, lowest number first.

    Addresses, ids and node names are never broken: a column that is neither
    flex nor wrap keeps its full width.
    """

    flex: bool
    wrap: bool
    drop: int

    def __new__(cls, header: str, *, flex: bool = False, wrap: bool = False, drop: int = 0):
        self = super().__new__(cls, header)
        self.flex, self.wrap, self.drop = flex, wrap, drop
        return self


FLEX_MIN = 10
ELLIPSIS = "\u2026"


def _attr(h, name, default):
    return getattr(h, name, default)


def fit_columns(headers, rows, width: int | None, edge: int = 0, gap: int = 2):
    """Which columns to show and how wide, for a terminal ``width`` columns wide
    (None: no limit).  Returns ``(visible indices, {index: width}, dropped headers)``."""
    n = len(headers)
    nat = [max([len(headers[i])] + [len(r[i]) for r in rows]) for i in range(n)]

    def minw(i):
        h = headers[i]
        if _attr(h, "flex", False):
            return min(nat[i], max(len(h), FLEX_MIN))
        if _attr(h, "wrap", False):     # the header wraps too, between its words
            return max([len(t) for t in h.split()] + [len(t) for r in rows for t in r[i].split()])
        return nat[i]

    vis = list(range(n))
    dropped = []
    widths = {i: nat[i] for i in vis}
    if width is None:
        return vis, widths, dropped

    def need(cols, f):
        return sum(f(i) for i in cols) + gap * (len(cols) - 1) + edge

    order = sorted((i for i in range(n) if _attr(headers[i], "drop", 0)),
                   key=lambda i: _attr(headers[i], "drop", 0))
    while need(vis, minw) > width and order:
        i = order.pop(0)
        vis.remove(i)
        dropped.append(str(headers[i]))
    excess = need(vis, lambda i: nat[i]) - width
    for kind in ("flex", "wrap"):
        cands = sorted((i for i in vis if _attr(headers[i], kind, False)), key=lambda i: -nat[i])
        for i in cands:
            if excess <= 0:
                break
            cut = min(excess, nat[i] - minw(i))
            widths[i] = nat[i] - cut
            excess -= cut
    return vis, widths, dropped


def _ellipsize(text: str, w: int) -> str:
    return text if len(text) <= w else text[:max(w - 1, 0)] + ELLIPSIS


def soft_wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` where possible, broken at spaces, else after a
    "/" (sysfs paths); an address, id or node name is never cut."""
    import re
    import textwrap
    out: list[str] = []
    for line in textwrap.wrap(text, max(width, 1), break_long_words=False,
                              break_on_hyphens=False) or [""]:
        while len(line) > width:
            cut = [m.end() for m in re.finditer(r"/", line) if m.end() <= width]
            if not cut:
                break
            out.append(line[:cut[-1]])
            line = line[cut[-1]:]
        out.append(line)
    return out


def table_width(vis, widths, edge: int = 0, gap: int = 2) -> int:
    """Columns a table of the ``fit_columns`` answer takes."""
    return sum(widths[i] for i in vis) + gap * (len(vis) - 1) + edge


def hard_wrap(text: str, width: int) -> list[str]:
    """:func:`soft_wrap`, then a piece still wider than ``width`` (one token with
    no space or "/" to break at) cut across lines: nothing is lost, only moved."""
    width = max(width, 1)
    out: list[str] = []
    for line in soft_wrap(text, width):
        while len(line) > width:
            out.append(line[:width])
            line = line[width:]
        out.append(line)
    return out


def fill(first: str, text: str, rest: str, width: int | None) -> list[str]:
    """``first + text`` as lines of at most ``width`` (None: one line), broken as
    :func:`soft_wrap` says, the continuation lines starting with ``rest``."""
    line = first + text
    if not width or len(line) <= width:
        return [line]
    head = soft_wrap(text, width - len(first))
    out = [first + head[0]]
    if len(head) > 1:
        out += [rest + x for x in soft_wrap(" ".join(head[1:]), width - len(rest))]
    return out


def record_lines(headers, rows, vis, width: int) -> list[tuple[int | None, str, str]]:
    """A table whose essential columns cannot sit side by side in ``width``, as
    one block per row (as ``psql``'s expanded display): a ``HEADER  value`` line
    per shown column, a long value continued below itself (after a space, else
    a "/", else cut: never left out), blocks apart by an empty line.  Each line
    is ``(row index, label part, value part)``; the row index is None for the
    empty line between blocks, and the label part is blank on continuations."""
    lw = max(len(str(headers[i])) for i in vis)
    inline = width - lw - 2 >= 16       # else each value below its header
    out: list[tuple[int | None, str, str]] = []
    for k, r in enumerate(rows):
        if k:
            out.append((None, "", ""))
        for i in vis:
            h = str(headers[i])
            if inline:
                lead, pieces = f"{h:<{lw}}  ", hard_wrap(r[i], width - lw - 2)
            else:
                out.extend((k, x.rstrip(), "") for x in hard_wrap(h, width))
                lead, pieces = "  ", hard_wrap(r[i], width - 2)
            for v in pieces:
                v = v.rstrip()
                # a label with nothing after it ends where its text ends
                out.append((k, lead if v else lead.rstrip(), v))
                lead = " " * len(lead)
    return out


def _dropped_note(dropped) -> str:
    return (f"(narrow terminal: {', '.join(dropped)} not shown; --json shows everything)"
            if dropped else "")


class Canvas:
    #: the stream drawn on, and its width in columns (None: no limit)
    stream = None
    width: int | None = None

    def title(self, text: str) -> None: ...
    def line(self, text: str = "", style: str | None = None) -> None: ...
    def kv(self, pairs: Sequence[tuple[str, str]]) -> None: ...
    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
              styles: Sequence[str | None] | None = None, title: str | None = None) -> None: ...
    def bullet(self, text: str, style: str | None = None, mark: str = "-") -> None: ...
    def segments(self, parts: Sequence[tuple[str, str | None]]) -> None:
        """One line of (text, style) parts, already fitted by the renderer (tree):
        drawn as given, never re-wrapped."""
    def close(self) -> None: ...


class PlainCanvas(Canvas):
    """Aligned plain text.  ``width`` (``COLUMNS`` when set, else the terminal's
    width when drawing on one, else none: a pipe gets whole lines) makes tables
    fit as :func:`fit_columns` says; a table whose essential columns cannot sit
    side by side in it is drawn as one block of ``HEADER  value`` lines per row
    (as ``psql``'s expanded display), long values wrapped, never cut."""

    def __init__(self, stream, width: int | None = None):
        self.s = self.stream = stream
        self.width = width

    def title(self, text: str) -> None:
        self.line(text)

    def line(self, text: str = "", style: str | None = None) -> None:
        text = safe(text)
        if self.width and len(text) > self.width:
            lead = len(text) - len(text.lstrip(" "))
            text = "\n".join(fill(text[:lead], text[lead:], " " * (lead + 2), self.width))
        self.s.write(text + "\n")

    def kv(self, pairs) -> None:
        if not pairs:
            return
        pairs = [(safe(k), safe(v)) for k, v in pairs]
        w = max(len(k) for k, _ in pairs)
        for k, v in pairs:
            room = self.width - w - 4 if self.width else None
            lines = soft_wrap(v, room) if room else [v]
            if room and (any(len(x) > room for x in lines) or len(lines) > 1 and room < 24):
                # too little room beside the keys: the value below its key
                self.s.write(f"  {k}:\n")
                for more in hard_wrap(v, self.width - 4):
                    self.s.write(f"    {more}\n")
                continue
            self.s.write(f"  {k + ':':<{w + 1}} {lines[0]}\n")
            for more in lines[1:]:
                self.s.write(f"  {'':<{w + 1}} {more}\n")

    def table(self, headers, rows, styles=None, title=None) -> None:
        import textwrap
        if title:
            self.s.write(safe(title) + "\n")
        rows = [[safe(c) for c in r] for r in rows]
        vis, widths, dropped = fit_columns(headers, rows, self.width)
        if self.width and vis and table_width(vis, widths) > self.width:
            return self._records(headers, rows, vis, dropped)
        last = vis[-1] if vis else None

        def fmt(r) -> list[str]:
            cells = {}
            for i in vis:
                h, w = headers[i], widths[i]
                if _attr(h, "wrap", False) and len(r[i]) > w:
                    cells[i] = textwrap.wrap(r[i], w, break_long_words=False,
                                             break_on_hyphens=False) or [""]
                elif _attr(h, "flex", False):
                    cells[i] = [_ellipsize(r[i], w)]
                else:
                    cells[i] = [r[i]]
            height = max(len(c) for c in cells.values()) if cells else 1
            return ["  ".join((cells[i][k] if k < len(cells[i]) else "").ljust(widths[i])
                              if i != last else (cells[i][k] if k < len(cells[i]) else "")
                              for i in vis).rstrip() for k in range(height)]
        out = fmt([str(h) for h in headers])
        for r in rows:
            out.extend(fmt(r))
        if dropped:
            out.extend(soft_wrap(_dropped_note(dropped), self.width or 10**6))
        self.s.write("\n".join(out) + "\n")
        return dropped

    def _records(self, headers, rows, vis, dropped):
        """The rows of a table too wide for ``self.width``, one block each
        (:func:`record_lines`)."""
        out = [label + value for _, label, value in record_lines(headers, rows, vis, self.width)]
        if dropped:
            out += [""] * bool(out) + hard_wrap(_dropped_note(dropped), self.width)
        self.s.write("\n".join(out) + "\n" if out else "")
        return dropped

    def bullet(self, text: str, style: str | None = None, mark: str = "-") -> None:
        lead = f"  {mark} "
        self.s.write("\n".join(fill(lead, safe(text), " " * len(lead), self.width)) + "\n")

    def segments(self, parts) -> None:
        self.s.write("".join(safe(t) for t, _ in parts).rstrip() + "\n")


class RichCanvas(Canvas):
    def __init__(self, stream, *, force_terminal: bool | None = None, width: int | None = None):
        from rich.console import Console  # lazy: only when a table is drawn
        self.c = Console(file=stream, force_terminal=force_terminal, width=width,
                         highlight=False, soft_wrap=False)
        self.stream = stream

    @property
    def width(self) -> int:
        return self.c.width

    def title(self, text: str) -> None:
        self.c.print(safe(text), style="bold", markup=False)

    def line(self, text: str = "", style: str | None = None) -> None:
        # wrapped as plain text wraps it (between words, or after a "/" of a
        # path), never folded inside a word
        text = safe(text)
        lead = len(text) - len(text.lstrip(" "))
        for ln in fill(text[:lead], text[lead:], " " * (lead + 2), self.c.width):
            self.c.print(ln, style=STYLES.get(style or "", None), markup=False,
                         no_wrap=True, overflow="ignore", crop=False)

    def kv(self, pairs) -> None:
        from rich.table import Table
        t = Table(show_header=False, box=None, padding=(0, 1, 0, 2))
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        from rich.text import Text
        kw = max((len(k) for k, _ in pairs), default=0)
        vw = self.c.width - kw - 5
        for k, v in pairs:
            t.add_row(Text(safe(k)), Text("\n".join(soft_wrap(safe(v), vw))))
        self.c.print(t)

    def table(self, headers, rows, styles=None, title=None) -> None:
        from rich.table import Table
        from rich import box
        from rich.text import Text
        # a rule under the header, no edges: columns 2 apart, as in plain text
        rows = [[safe(c) for c in r] for r in rows]
        width = self.c.width
        vis, widths, dropped = fit_columns(headers, rows, width)
        if vis and table_width(vis, widths) > width:
            # even the essential columns cannot sit side by side: one block per
            # row, as plain text does (no address, id or node name is broken)
            if title:
                self.title(title)
            for k, label, value in record_lines(headers, rows, vis, width):
                st = STYLES.get((styles[k] if styles and k is not None else None) or "", "")
                self.c.print(Text(label, style="bold") + Text(value, style=st), no_wrap=True,
                             overflow="ignore", crop=False)
        else:
            t = Table(title=Text(safe(title)) if title else None, box=box.SIMPLE_HEAD,
                      title_justify="left", pad_edge=False, show_edge=False,
                      padding=(0, 1, 0, 0))
            for i in vis:
                h, w = headers[i], widths[i]
                if _attr(h, "wrap", False):
                    t.add_column(str(h), width=w, min_width=w, max_width=w, overflow="fold")
                elif _attr(h, "flex", False):
                    t.add_column(str(h), width=w, min_width=w, max_width=w,
                                 overflow="ellipsis", no_wrap=True)
                else:
                    t.add_column(str(h), min_width=w, no_wrap=True, overflow="ignore")
            for k, r in enumerate(rows):
                st = styles[k] if styles else None
                # Text, not str: "[vfio-pci]" is data, not rich markup
                t.add_row(*(Text(r[i]) for i in vis), style=STYLES.get(st or "", None))
            self.c.print(t)
        if dropped:
            self.c.print(_dropped_note(dropped), style="dim", markup=False)
        return dropped

    def bullet(self, text: str, style: str | None = None, mark: str = "-") -> None:
        from rich.text import Text
        lead = f"  {mark} "
        lines = fill("", safe(text), "", self.c.width - len(lead))
        for n, ln in enumerate(lines):
            self.c.print(Text(lead if n == 0 else " " * len(lead))
                         + Text(ln, style=STYLES.get(style or "", "")),
                         no_wrap=True, overflow="ignore", crop=False)

    def segments(self, parts) -> None:
        from rich.text import Text
        t = Text()
        for text, style in parts:
            t.append(safe(text), style=STYLES.get(style or "", ""))
        t.rstrip()
        self.c.print(t, soft_wrap=True)


class Output:
    """Where a command's result and diagnostics go."""

    def __init__(self, *, json_mode: bool = False, fmt: str = "auto", quiet: bool = False,
                 stdout=None, stderr=None):
        self.json_mode = json_mode
        self.quiet = quiet
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        if fmt == "auto":
            fmt = "table" if _isatty(self.stdout) else "plain"
        self.fmt = fmt
        self.emitted = False
        self.lines = False      # JSON lines already written (watch)

    def canvas(self) -> Canvas:
        width = _columns()
        if self.fmt == "table":
            # colour only on a terminal or when forced (FORCE_COLOR); NO_COLOR wins (rich)
            return RichCanvas(self.stdout, width=width)
        return PlainCanvas(self.stdout, width=width or _tty_width(self.stdout))

    def diag_canvas(self) -> Canvas:
        """A canvas on stderr, for what is shown before a prompt or during an action."""
        if self.fmt == "table" and _isatty(self.stderr):
            return RichCanvas(self.stderr)
        return PlainCanvas(self.stderr, width=_columns() or _tty_width(self.stderr))

    def emit(self, document: dict, human: Callable[[Canvas], None]) -> None:
        self.emitted = True
        if self.json_mode:
            # indented for a person at a terminal; compact (C encoder, ~10x
            # faster on thousands of functions) when a program reads it,
            # long arrays written item by item (jsondoc.Stream)
            if _isatty(self.stdout):
                from vfioctl.present.jsondoc import materialize
                self.stdout.write(json.dumps(materialize(document), indent=2) + "\n")
            else:
                _write_compact(document, self.stdout.write)
                self.stdout.write("\n")
        else:
            c = self.canvas()
            human(c)
        self.stdout.flush()

    def text(self, text: str) -> None:
        """A document in a text format of its own (``tree --dot``: Graphviz) on
        stdout, made safe by its renderer; never with ``--json``."""
        self.emitted = True
        self.stdout.write(text)
        self.stdout.flush()

    def report(self, report) -> dict:
        """Render an operation's report (see :mod:`vfioctl.present`): its JSON
        document with ``--json``, else its table/plain view.  Returns the document."""
        from vfioctl.present import renderers
        to_json, human = renderers(report)
        d = to_json(report)
        self.emit(d, lambda c: human(d, c))
        return d

    def json_line(self, document: dict) -> None:
        self.lines = True
        self.stdout.write(json.dumps(document, separators=(",", ":")) + "\n")
        self.stdout.flush()

    def warn(self, msg: str) -> None:
        if not self.quiet:
            self.stderr.write(f"vfioctl: warning: {safe(msg)}\n")

    def info(self, msg: str) -> None:
        if not self.quiet:
            self.stderr.write(f"{safe(msg)}\n")

    def error(self, command: str, err) -> None:
        """Print a user error: message + hint on stderr; JSON error object on stdout."""
        self.stderr.write(f"vfioctl: error: {safe(err.message)}\n")
        if err.hint:
            self.stderr.write(f"vfioctl: hint: {safe(err.hint)}\n")
        if self.json_mode and not self.emitted and self.stdout is not None:
            from vfioctl.present.jsondoc import error as err_doc
            d = err_doc(command, err)
            # one line unless a person reads it: also a valid line of a JSON-lines stream
            text = (json.dumps(d, indent=2) if _isatty(self.stdout) and not self.lines
                    else json.dumps(d, separators=(",", ":")))
            try:
                self.stdout.write(text + "\n")
                self.stdout.flush()
            except OSError:
                # stdout is what failed (the message above is on stderr): point it
                # at /dev/null so the interpreter's final flush cannot fail again
                try:
                    null = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(null, self.stdout.fileno())
                    os.close(null)
                except (OSError, ValueError, AttributeError):
                    pass


def _write_compact(document: dict, write) -> None:
    """``write(json.dumps(document, separators=(",", ":")))``, but a top-level
    :class:`~vfioctl.present.jsondoc.Stream` is encoded and written in chunks
    of items, never held whole."""
    from vfioctl.present.jsondoc import Stream
    if not any(isinstance(v, Stream) for v in document.values()):
        write(json.dumps(document, separators=(",", ":")))
        return
    enc = json.JSONEncoder(separators=(",", ":")).encode
    sep = "{"
    for k, v in document.items():
        write(sep + enc(k) + ":")
        sep = ","
        if not isinstance(v, Stream):
            write(enc(v))
            continue
        chunk: list = []
        first = True
        for item in v:
            chunk.append(item)
            if len(chunk) == 256:   # one encoder call per chunk: "[a,b]" -> "a,b"
                write(("[" if first else ",") + enc(chunk)[1:-1])
                chunk, first = [], False
        if chunk or first:
            write(("[" if first else ",") + enc(chunk)[1:-1])
        write("]")
    write("}" if sep == "," else "{}")


def _columns() -> int | None:
    """``COLUMNS``, when set to a width."""
    c = os.environ.get("COLUMNS", "")
    return int(c) if c.isdigit() and int(c) > 0 else None


def _tty_width(stream) -> int | None:
    """The width of the terminal ``stream`` draws on; None when it is not one
    (a pipe or a file gets whole lines: scripts read them)."""
    if not _isatty(stream):
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (OSError, ValueError, AttributeError):
        return None


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
