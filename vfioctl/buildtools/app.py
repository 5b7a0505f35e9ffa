"""The app's click command, for the build tools (imports the whole CLI)."""

from __future__ import annotations


def app_command():
    import typer
    from vfioctl.cli.app import app
    return typer.main.get_command(app)
