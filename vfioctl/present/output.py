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

STYLES = {"ok": "green", "bad": "bold red", "warn": "yellow", "dim": "dim", "head": "bold"}


class Canvas:
    def title(self, text: str) -> None: ...
    def line(self, text: str = "", style: str | None = None) -> None: ...
    def kv(self, pairs: Sequence[tuple[str, str]]) -> None: ...
    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
              styles: Sequence[str | None] | None = None, title: str | None = None) -> None: ...
    def bullet(self, text: str, style: str | None = None, mark: str = "-") -> None: ...
    def close(self) -> None: ...


class PlainCanvas(Canvas):
    def __init__(self, stream):
        self.s = stream

    def title(self, text: str) -> None:
        self.s.write(safe(text) + "\n")

    def line(self, text: str = "", style: str | None = None) -> None:
        self.s.write(safe(text) + "\n")

    def kv(self, pairs) -> None:
        if not pairs:
            return
        pairs = [(safe(k), safe(v)) for k, v in pairs]
        w = max(len(k) for k, _ in pairs)
        for k, v in pairs:
            self.s.write(f"  {k + ':':<{w + 1}} {v}\n")

    def table(self, headers, rows, styles=None, title=None) -> None:
        if title:
            self.s.write(safe(title) + "\n")
        rows = [[safe(c) for c in r] for r in rows]
        cols = len(headers)
        widths = [len(h) for h in headers]
        for r in rows:
            for i in range(cols):
                widths[i] = max(widths[i], len(r[i]))
        fmt = lambda r: "  ".join(  # noqa: E731
            (c.ljust(widths[i]) if i < cols - 1 else c) for i, c in enumerate(r)).rstrip()
        out = [fmt(headers)]
        out.extend(fmt(r) for r in rows)
        self.s.write("\n".join(out) + "\n")

    def bullet(self, text: str, style: str | None = None, mark: str = "-") -> None:
        self.s.write(f"  {mark} {safe(text)}\n")


class RichCanvas(Canvas):
    def __init__(self, stream, *, force_terminal: bool | None = None, width: int | None = None):
        from rich.console import Console  # lazy: only when a table is drawn
        self.c = Console(file=stream, force_terminal=force_terminal, width=width,
                         highlight=False, soft_wrap=False)

    def title(self, text: str) -> None:
        self.c.print(safe(text), style="bold", markup=False)

    def line(self, text: str = "", style: str | None = None) -> None:
        self.c.print(safe(text), style=STYLES.get(style or "", None), markup=False)

    def kv(self, pairs) -> None:
        from rich.table import Table
        t = Table(show_header=False, box=None, padding=(0, 1, 0, 2))
        t.add_column(style="bold")
        t.add_column(overflow="fold")
        from rich.markup import escape
        for k, v in pairs:
            t.add_row(escape(safe(k)), escape(safe(v)))
        self.c.print(t)

    def table(self, headers, rows, styles=None, title=None) -> None:
        from rich.table import Table
        from rich import box
        from rich.markup import escape
        t = Table(title=escape(safe(title)) if title else None, box=box.SIMPLE_HEAD,
                  title_justify="left", pad_edge=False)
        for h in headers:
            t.add_column(h, overflow="fold")
        for i, r in enumerate(rows):
            st = styles[i] if styles else None
            t.add_row(*(escape(safe(c)) for c in r), style=STYLES.get(st or "", None))
        self.c.print(t)

    def bullet(self, text: str, style: str | None = None, mark: str = "-") -> None:
        from rich.text import Text
        self.c.print(Text(f"  {mark} ") + Text(safe(text), style=STYLES.get(style or "", "")))


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
        if self.fmt == "table":
            width = int(os.environ["COLUMNS"]) if os.environ.get("COLUMNS", "").isdigit() else None
            return RichCanvas(self.stdout, width=width,
                              force_terminal=True if not _isatty(self.stdout) else None)
        return PlainCanvas(self.stdout)

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
        if self.json_mode and not self.emitted:
            from vfioctl.present.jsondoc import error as err_doc
            d = err_doc(command, err)
            # one line unless a person reads it: also a valid line of a JSON-lines stream
            text = (json.dumps(d, indent=2) if _isatty(self.stdout) and not self.lines
                    else json.dumps(d, separators=(",", ":")))
            self.stdout.write(text + "\n")
            self.stdout.flush()


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


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
