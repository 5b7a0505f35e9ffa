"""Build tools: regenerate the committed shell completion scripts and man pages.

They read the typer app (:mod:`vfioctl.cli.app`), so they stand above the CLI,
and write ``completions/`` and ``man/`` in the source tree::

    python -m vfioctl.buildtools completions --write completions
    python -m vfioctl.buildtools man man

The completion scripts themselves are rendered by
:mod:`vfioctl.present.completion`, which ``vfioctl completion`` also uses at
run time (passing the running app's command): the CLI never imports this
package.
"""
