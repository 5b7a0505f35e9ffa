"""``python -m vfioctl.buildtools completions SHELL|--write DIR`` and
``python -m vfioctl.buildtools man DIR``: regenerate the committed files."""

from __future__ import annotations

import os
import sys

USAGE = ("usage: python -m vfioctl.buildtools completions {bash|zsh|fish}\n"
         "       python -m vfioctl.buildtools completions --write DIR\n"
         "       python -m vfioctl.buildtools man DIR\n")


def write_completions(directory: str) -> list[str]:
    """(Re)write the committed completion scripts into ``directory``; returns their paths."""
    from vfioctl.present import completion
    from vfioctl.buildtools.app import app_command
    top = app_command()
    os.makedirs(directory, exist_ok=True)
    out = []
    for sh in completion.SHELLS:
        p = os.path.join(directory, completion.FILENAMES[sh])
        with open(p, "w", encoding="utf-8") as f:
            f.write(completion.generate(sh, top))
        out.append(p)
    return out


def main(argv: list[str] | None = None) -> int:
    from vfioctl.present import completion
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["man"] and len(args) == 2:
        from vfioctl.buildtools import manpage
        return manpage.main(args[1:])
    if args[:1] == ["completions"]:
        rest = args[1:]
        if len(rest) == 2 and rest[0] == "--write":
            for p in write_completions(rest[1]):
                print(p)
            return 0
        if len(rest) == 1 and rest[0] in completion.SHELLS:
            from vfioctl.buildtools.app import app_command
            sys.stdout.write(completion.generate(rest[0], app_command()))
            return 0
    sys.stderr.write(USAGE)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
