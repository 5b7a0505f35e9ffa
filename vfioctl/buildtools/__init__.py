"""Build tools: generators of the shell completion scripts and man pages.

They read the typer app (:mod:`vfioctl.cli.app`) and write ``completions/`` and
``man/`` in the source tree::

    python -m vfioctl.buildtools.gencomp --write completions
    python -m vfioctl.buildtools.manpage man

``vfioctl completion`` also uses :mod:`.gencomp` at run time (passing the
running app's command, so nothing here imports the CLI on that path).
"""
