"""list --json writes its functions item by item (jsondoc.Stream): the bytes
are exactly json.dumps of the whole document."""

import io
import json

import pytest

from vfioctl.present.jsondoc import Stream, materialize
from vfioctl.present.output import Output, _write_compact


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 512, 1000])
def test_stream_bytes_are_json_dumps(n):
    def items():
        return ({"address": f"0000:00:{i % 32:02x}.0", "name": "caf\u00e9 \u2603", "n": None,
                 "l": [i, True]} for i in range(n))
    d = {"schema": "vfioctl/1", "functions": Stream(items), "warnings": ["w"]}
    buf = io.StringIO()
    _write_compact(d, buf.write)
    want = json.dumps(materialize(d), separators=(",", ":"))
    assert buf.getvalue() == want
    assert json.loads(buf.getvalue())["functions"] == list(items())


def test_emit_streams_and_tty_materializes():
    d = {"functions": Stream(lambda: iter([{"a": 1}, {"a": 2}]))}
    pipe = io.StringIO()
    Output(json_mode=True, stdout=pipe).emit(d, lambda c: None)
    assert pipe.getvalue() == '{"functions":[{"a":1},{"a":2}]}\n'

    class Tty(io.StringIO):
        def isatty(self):
            return True
    tty = Tty()
    Output(json_mode=True, stdout=tty).emit(d, lambda c: None)
    assert json.loads(tty.getvalue()) == {"functions": [{"a": 1}, {"a": 2}]}


def test_only_the_named_commands_are_built(cli):
    """entry builds the click group with the commands named in argv (lazy
    construction of the one typer app); help and typos see every command, and
    the app itself is left whole."""
    from vfioctl.cli.app import app
    from vfioctl.cli.entry import _click_command
    every = {c.name for c in app.registered_commands}
    assert set(_click_command(app, ["--demo", "list", "--json"]).commands) == {"list"}
    # a root directory named like a command: both are built, click picks the command
    assert set(_click_command(app, ["--root", "show", "list"]).commands) == {"show", "list"}
    assert set(_click_command(app, ["--help"]).commands) == every
    assert set(_click_command(app, ["list", "--help"]).commands) == every
    assert set(_click_command(app, ["lst"]).commands) == every
    # a typo beside a real command name (an argument): click dispatches on the
    # typo, so every command is built for its "Did you mean"
    assert set(_click_command(app, ["lst", "show"]).commands) == every
    assert set(_click_command(app, ["--root=show", "list"]).commands) == {"list"}
    assert set(_click_command(app, ["--format", "plain", "-q", "check", "x"]).commands) == {"check"}
    # completion writes its scripts from the group it runs in: every command
    assert set(_click_command(app, ["completion", "fish", "--install"]).commands) == every
    assert set(_click_command(app, ["--show-completion", "list"]).commands) == every
    assert {c.name for c in app.registered_commands} == every
    r = cli(["--demo", "lst"])
    assert r.code == 2 and "Did you mean 'list'?" in r.err
    r = cli(["--demo", "lst", "show"])
    assert r.code == 2 and "Did you mean 'list'?" in r.err
    r = cli(["--help"])
    assert r.code == 0 and all(n in r.out for n in every)


def test_every_family_registers_through_the_one_table():
    """cli/app.py's FAMILIES is the one place a command module is named: every
    registered command comes from one of them (bind, doctor, tree, export: one
    line there)."""
    import importlib
    from vfioctl.cli.app import FAMILIES, app
    mods = {c.callback.__module__ for c in app.registered_commands}
    assert mods == {f"vfioctl.cli.{m}" for m in FAMILIES}
    for m in FAMILIES:
        importlib.import_module(f"vfioctl.cli.{m}")
