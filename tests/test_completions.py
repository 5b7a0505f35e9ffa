"""Shell completion: the committed scripts, the fast path, and real shells.

Needs bash, zsh and fish (Debian packages ``bash zsh fish``): the zsh and fish
tests fail, not skip, when the shell is missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from vfioctl.present import completion as gencomp
from vfioctl.buildtools.app import app_command

TOP = app_command()
from vfioctl.testing import scenarios

ROOT = Path(__file__).resolve().parent.parent
COMPLETIONS = ROOT / "completions"
VFIOCTL = Path(sys.executable).parent / "vfioctl"


def _exe() -> str:
    if VFIOCTL.exists():
        return str(VFIOCTL)
    found = shutil.which("vfioctl")
    if not found:
        pytest.fail("the vfioctl console script is not installed (pip install -e .)")
    return found


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VFIOCTL_")}
    env["PATH"] = f"{Path(_exe()).parent}{os.pathsep}{env.get('PATH', '')}"
    env["VFIOCTL_PCI_IDS"] = "none"
    env.update(extra)
    return env


def _shell(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (Debian package: {name})")
    return path


def app_surface() -> dict[str, set[str]]:
    """Command name ('' for the top level) -> every option name, from typer itself."""
    import typer
    from typer._click import Context
    from vfioctl.cli.app import app
    top = typer.main.get_command(app)
    ctx = Context(top, info_name="vfioctl", **top.context_settings)
    out = {"": {n for p in top.get_params(ctx) if not type(p).__name__.endswith("Argument")
                for n in [*p.opts, *p.secondary_opts]}}
    for name in top.list_commands(ctx):
        sub = top.commands[name]
        if sub.hidden:
            continue
        sctx = Context(sub, parent=ctx, info_name=name, **sub.context_settings)
        out[name] = {n for p in sub.get_params(sctx)
                     if not type(p).__name__.endswith("Argument") and not getattr(p, "hidden", False)
                     for n in [*p.opts, *p.secondary_opts]}
    return out


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    base = tmp_path_factory.mktemp("comp")
    return {n: scenarios.build(n, str(base / n))
            for n in ("dual-function", "gpu-audio-host-driver", "demo", "noiommu")}


def _json(root: str, *args: str) -> dict:
    p = subprocess.run([_exe(), "--root", root, *args, "--json"], capture_output=True,
                       text=True, env=_env())
    return json.loads(p.stdout)


def _fast(*args: str, env=None) -> list[str]:
    p = subprocess.run([_exe(), "__complete", *args], capture_output=True, text=True,
                       env=env or _env())
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


# ---------------------------------------------------------------------------
# committed files

@pytest.mark.parametrize("shell", gencomp.SHELLS)
def test_committed_script_is_fresh(shell):
    path = COMPLETIONS / gencomp.FILENAMES[shell]
    assert path.read_text() == gencomp.generate(shell, TOP), (
        f"{path} is stale: run python -m vfioctl.buildtools completions --write completions")


def test_generation_is_deterministic():
    for shell in gencomp.SHELLS:
        assert gencomp.generate(shell, TOP) == gencomp.generate(shell, TOP)


def test_fast_path_knows_every_command():
    from vfioctl.cli.complete import COMMANDS
    missing = set(app_surface()) - {""} - set(COMMANDS)
    assert not missing, f"add {sorted(missing)} to vfioctl.cli.complete.COMMANDS"


def _arm(script: str, shell: str, cmd: str) -> str:
    """The part of a script that completes subcommand ``cmd``."""
    if shell == "bash":
        m = re.search(rf"\n            {re.escape(cmd)}\)\n(.*?)\n                ;;", script, re.S)
    elif shell == "zsh":
        m = re.search(rf"\n        {re.escape(cmd)}\)\n(.*?)\n          ;;", script, re.S)
    else:
        m = re.search(rf"((?:^complete -c vfioctl -n '__vfioctl_using {re.escape(cmd)}[ ']"
                      rf".*\n)+)", script, re.M)
    assert m, f"no {cmd} section in the {shell} script"
    return m.group(1)


def _has_option(text: str, shell: str, name: str) -> bool:
    if shell == "fish":
        flag = f"-l {name[2:]}" if name.startswith("--") else f"-s {name[1:]}"
        return re.search(rf"{re.escape(flag)}( |$)", text, re.M) is not None
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


@pytest.mark.parametrize("shell", gencomp.SHELLS)
def test_every_command_and_option_is_in_the_script(shell):
    script = (COMPLETIONS / gencomp.FILENAMES[shell]).read_text()
    surface = app_surface()
    assert len(surface) > 5
    for cmd, opts in surface.items():
        if cmd:
            assert re.search(rf"(?<![\w-]){re.escape(cmd)}(?![\w-])", script), cmd
            text = _arm(script, shell, cmd)
        else:
            text = script
        for o in opts:
            assert _has_option(text, shell, o), f"{shell}: {cmd or 'vfioctl'} {o} missing"


def test_value_kinds_follow_the_app():
    from vfioctl.kernel import BUILTIN
    from vfioctl.model.host import CLASS_FILTERS
    cli = gencomp.cli_model(TOP)
    g = {n: o for o in cli.options for n in o.names}
    assert g["--root"].value.kind == "dirs"
    assert g["--format"].value.words == ("auto", "table", "plain")
    assert set(g["--backend"].value.words) == set(BUILTIN) >= {"real", "sim"}
    assert not g["--demo"].takes_value and not g["--quiet"].takes_value
    lst = {n: o for o in cli.command("list").options for n in o.names}
    assert lst["--class"].value.words == tuple(sorted(CLASS_FILTERS))
    assert lst["--group"].value.source == "groups" and lst["-g"].takes_value
    assert not lst["--vfio"].takes_value
    for cmd, kind in gencomp.DEVICE_KINDS.items():
        args = [a for a in cli.command(cmd).args if a.name == "DEVICE"]
        assert args and all(a.value.source == kind for a in args), cmd
    for c in cli.commands:
        for a in c.args:
            if a.name == "DEVICE":
                assert c.name in gencomp.DEVICE_KINDS, (
                    f"{c.name} has a DEVICE argument: add it to gencomp.DEVICE_KINDS")
    assert cli.command("groups").args[0].value.source == "groups"
    # the access mode is --legacy (a flag); the old --group alias is hidden, not completed
    for cmd in ("reset-info", "hot-reset", "reset", "check"):
        opts = {n: o for o in cli.command(cmd).options for n in o.names}
        assert not opts["--legacy"].takes_value and "--group" not in opts


# ---------------------------------------------------------------------------
# the fast path

def test_fast_path_lists_functions(trees):
    r = trees["dual-function"]
    want = sorted(f["address"] for f in _json(r, "list")["functions"])
    assert _fast("devices", "--root", r) == want
    assert _fast("devices", "--root", r, "0000:81") == ["0000:81:00.0", "0000:81:00.1"]
    assert _fast("devices", "--root", r, "80:01") == ["0000:80:01.0"]  # short form
    assert _fast("devices", f"--root={r}", "0000:80:00") == ["0000:80:00.0"]


def test_fast_path_vfio_devices_only(trees):
    r = trees["gpu-audio-host-driver"]
    assert _fast("vfio-devices", "--root", r) == ["0000:01:00.0"]
    assert "0000:01:00.1" in _fast("devices", "--root", r)
    r = trees["demo"]
    want = sorted(f["address"] for f in _json(r, "list", "--vfio")["functions"])
    assert _fast("vfio-devices", "--root", r) == want
    assert len(want) > 5


def test_fast_path_groups(trees):
    r = trees["demo"]
    want = [str(g["iommu_group"]) for g in _json(r, "groups")["groups"]]
    assert _fast("groups", "--root", r) == want
    assert _fast("groups", "--root", r, "4") == [g for g in want if g.startswith("4")]
    assert _fast("groups", "--root", trees["noiommu"]) == ["0", "1", "2"]


def test_fast_path_env_root_and_demo(trees):
    r = trees["dual-function"]
    assert _fast("vfio-devices", env=_env(VFIOCTL_ROOT=r)) == ["0000:81:00.0", "0000:81:00.1"]
    # --root on the command line wins over VFIOCTL_ROOT
    assert _fast("vfio-devices", "--root", trees["gpu-audio-host-driver"],
                 env=_env(VFIOCTL_ROOT=r)) == ["0000:01:00.0"]
    demo = _fast("devices", "--demo", env=_env(XDG_CACHE_HOME=str(Path(r).parent / "cache")))
    assert "0000:81:00.0" in demo and len(demo) > 20


def test_fast_path_missing_root_is_silent(tmp_path):
    assert _fast("devices", "--root", str(tmp_path / "nope")) == []


def test_fast_path_imports_neither_typer_rich_nor_pyudev(trees):
    code = ("import sys; from vfioctl.cli.entry import main; "
            f"main(['__complete','devices','--root',{trees['demo']!r}]); "
            "print([m for m in sys.modules if m.split('.')[0] in ('typer','rich','pyudev')])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env())
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"


def test_scripts_call_only_the_fast_path():
    """At completion time the scripts run `vfioctl __complete ...` and nothing else."""
    for shell in gencomp.SHELLS:
        script = (COMPLETIONS / gencomp.FILENAMES[shell]).read_text()
        calls = re.findall(r"(?<!-- )(?:\"\$_vfioctl_prog\"|\$\{~_vfioctl_prog\}|command \$prog)"
                           r"\s+(\S+)", script)
        assert calls and set(calls) == {"__complete"}, (shell, calls)


# ---------------------------------------------------------------------------
# bash, for real

def _split_like_readline(line: str) -> list[str]:
    """COMP_WORDS as bash builds them: whitespace, then ':' and '=' as words."""
    words = []
    for tok in line.split():
        words.extend(w for w in re.split(r"([:=]+)", tok) if w)
    if line.endswith(" ") or not line:
        words.append("")
    return words


def bash_complete(line: str, **env) -> list[str]:
    words = _split_like_readline(line)
    q = lambda s: "'" + s.replace("'", "'\\''") + "'"  # noqa: E731
    script = "\n".join([
        f"source {q(str(COMPLETIONS / 'vfioctl.bash'))}",
        f"COMP_WORDS=({' '.join(q(w) for w in words)})",
        f"COMP_CWORD={len(words) - 1}",
        f"COMP_LINE={q(line)}",
        f"COMP_POINT={len(line)}",
        "_vfioctl vfioctl",
        'printf "%s\\n" "${COMPREPLY[@]}"',
    ])
    p = subprocess.run([_shell("bash"), "--norc", "--noprofile", "-c", script],
                       capture_output=True, text=True, env=_env(**env))
    assert p.returncode == 0 and not p.stderr, p.stderr
    return [x for x in p.stdout.splitlines() if x]


def test_bash_completes_subcommands():
    assert bash_complete("vfioctl ") == [c.name for c in gencomp.cli_model(TOP).commands]
    assert bash_complete("vfioctl re") == ["reset-info", "reset"]
    assert bash_complete("vfioctl --demo sh") == ["show"]
    assert bash_complete("vfioctl --format ") == ["auto", "table", "plain"]
    assert bash_complete("vfioctl --format=p") == ["plain"]
    assert bash_complete("vfioctl check --") == ["--iommufd", "--legacy", "--json", "--help"]


def test_bash_completes_devices(trees):
    r = trees["dual-function"]
    assert bash_complete(f"vfioctl --root {r} show ") == [
        "0000:80:00.0", "0000:80:01.0", "0000:81:00.0", "0000:81:00.1"]
    g = trees["gpu-audio-host-driver"]
    assert bash_complete(f"vfioctl --root {g} hot-reset ") == ["0000:01:00.0"]
    assert bash_complete(f"vfioctl --root {g} reset-info ") == [
        "0000:00:00.0", "0000:00:01.0", "0000:01:00.0", "0000:01:00.1"]
    # bash splits at ':': the reply is what follows the last ':' typed
    d = trees["demo"]
    assert bash_complete(f"vfioctl --root {d} reset 0000:8") == [
        "81:00.0", "81:00.1", "82:00.0", "84:01.0", "84:02.0", "85:00.0"]
    assert bash_complete(f"vfioctl --root={d} show 0000:81:00.") == ["00.0", "00.1"]
    assert bash_complete(f"vfioctl --root {d} show 82:") == ["00.0", "00.1"]  # short form
    # one DEVICE given: show takes no second one, options are offered instead
    assert bash_complete(f"vfioctl --root {d} show 0000:81:00.0 ") == ["--json", "--help", "-h"]
    # VFIOCTL_ROOT is honoured by the fast path
    assert bash_complete("vfioctl check ", VFIOCTL_ROOT=r) == ["0000:81:00.0", "0000:81:00.1"]


def test_bash_completes_groups_and_classes(trees):
    d = trees["demo"]
    assert bash_complete(f"vfioctl --root {d} groups 4") == [
        "4", "40", "41", "42", "43", "44", "45", "46", "47"]
    assert bash_complete(f"vfioctl --root {d} list --group 2") == [
        "2", "20", "21", "22", "23", "24", "25", "26", "27"]
    assert bash_complete(f"vfioctl --root {d} list -g=9") == ["90"]
    assert bash_complete("vfioctl list --class n") == ["network", "nic", "nvme"]
    assert bash_complete("vfioctl list --driver ") == []


def test_bash_completes_root_directories(tmp_path):
    (tmp_path / "treeA").mkdir()
    (tmp_path / "treeB").mkdir()
    (tmp_path / "file").write_text("")
    assert bash_complete(f"vfioctl --root {tmp_path}/tr") == [
        f"{tmp_path}/treeA", f"{tmp_path}/treeB"]


# ---------------------------------------------------------------------------
# zsh and fish

def test_zsh_script_parses():
    p = subprocess.run([_shell("zsh"), "-n", str(COMPLETIONS / "_vfioctl")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr, p.stderr


def test_fish_script_parses():
    p = subprocess.run([_shell("fish"), "-n", str(COMPLETIONS / "vfioctl.fish")],
                       capture_output=True, text=True)
    assert p.returncode == 0 and not p.stderr, p.stderr


def fish_complete(line: str, **env) -> list[str]:
    script = f"source {COMPLETIONS / 'vfioctl.fish'}; complete -C {json.dumps(line)}"
    p = subprocess.run([_shell("fish"), "--no-config", "-c", script], capture_output=True,
                       text=True, env=_env(**env))
    assert p.returncode == 0 and not p.stderr, p.stderr
    return [x.split("\t")[0] for x in p.stdout.splitlines() if x]


def test_fish_completes(trees):
    d, g = trees["demo"], trees["gpu-audio-host-driver"]
    assert set(fish_complete("vfioctl ")) == {c.name for c in gencomp.cli_model(TOP).commands}
    assert fish_complete(f"vfioctl --root {g} hot-reset ") == ["0000:01:00.0"]
    assert fish_complete(f"vfioctl --root={d} show 81:0") == ["81:00.0", "81:00.1"]
    assert fish_complete(f"vfioctl --root {d} show 0000:81:00.0 ") == []
    assert fish_complete(f"vfioctl --root {d} list --group 4") == [
        "4", "40", "41", "42", "43", "44", "45", "46", "47"]
    assert fish_complete("vfioctl --format ") == ["auto", "plain", "table"]


ZSH_CAPTURE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'PROMPT=; RPROMPT=; unsetopt zle_bracketed_paste'
zpty -w z 'zstyle ":completion:*" completer _complete; zstyle ":completion:*" insert-tab false'
zpty -w z 'compadd() { if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi; local -a __hits; builtin compadd -A __hits "$@"; (( $#__hits )) || return 1; print -rl -- "<<CAND>>"${^__hits}; }'
zpty -w z 'end-of-comp() { print -r -- "<<END>>" }; zle -N end-of-comp; bindkey "^X" end-of-comp; bindkey "^I" complete-word'
zpty -w z "export PATH=${(q)PATH}; print -r -- '<<RE''ADY>>'"
zpty -r z line '*<<READY>>*'
zpty -n -w z "$2"$'\t'$'\C-x'
zpty -r z out '*<<END>>*'
print -r -- "$out" | tr -d '\r' | grep -a -o '<<CAND>>[^[:space:]]*' | sed 's/<<CAND>>//'
zpty -d z
"""


def zsh_complete(line: str, tmp_path) -> list[str]:
    fdir = tmp_path / "zfunc"
    fdir.mkdir(exist_ok=True)
    shutil.copy(COMPLETIONS / "_vfioctl", fdir / "_vfioctl")
    drv = tmp_path / "capture.zsh"
    drv.write_text(ZSH_CAPTURE)
    p = subprocess.run([_shell("zsh"), "-f", str(drv), str(fdir), line], capture_output=True,
                       text=True, env=_env(HOME=str(tmp_path)), timeout=60)
    assert p.returncode == 0, p.stderr
    return list(dict.fromkeys(x for x in p.stdout.splitlines() if x))


def test_zsh_completes(trees, tmp_path):
    d, g = trees["demo"], trees["gpu-audio-host-driver"]
    assert zsh_complete("vfioctl ", tmp_path) == [c.name for c in gencomp.cli_model(TOP).commands]
    assert zsh_complete(f"vfioctl --root {g} hot-reset ", tmp_path) == ["0000:01:00.0"]
    assert zsh_complete(f"vfioctl --root={d} reset 81:", tmp_path) == ["81:00.0", "81:00.1"]
    assert zsh_complete(f"vfioctl --root {d} list -g 4", tmp_path) == [
        "4", "40", "41", "42", "43", "44", "45", "46", "47"]


# ---------------------------------------------------------------------------
# vfioctl completion [SHELL] [--install]

def test_detect_shell():
    from vfioctl.errors import UsageError
    assert gencomp.detect_shell("zsh") == "zsh"
    assert gencomp.detect_shell(None, {"SHELL": "/usr/bin/fish"}) == "fish"
    assert gencomp.detect_shell(None, {"SHELL": "/bin/bash"}) == "bash"
    with pytest.raises(UsageError):
        gencomp.detect_shell(None, {"SHELL": "/bin/tcsh"})
    with pytest.raises(UsageError):
        gencomp.detect_shell(None, {})
    with pytest.raises(UsageError):
        gencomp.generate("powershell", TOP)


def test_install(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHELL", "/bin/bash")
    msg = gencomp.install(None, None, TOP)
    p = tmp_path / ".local/share/bash-completion/completions/vfioctl"
    assert p.read_text() == gencomp.generate("bash", TOP)
    assert str(p) in msg and len(msg.splitlines()) == 2
    assert f"source {p}" in msg.splitlines()[1]
    msg = gencomp.install("zsh", None, TOP)
    assert (tmp_path / ".zfunc/_vfioctl").read_text() == gencomp.generate("zsh", TOP)
    assert f"fpath=({tmp_path}/.zfunc $fpath); autoload -Uz compinit && compinit" in msg
    gencomp.install("fish", None, TOP)
    assert (tmp_path / ".config/fish/completions/vfioctl.fish").exists()
    dest = tmp_path / "elsewhere" / "x.bash"
    assert str(dest) in gencomp.install("bash", str(dest), TOP)
    assert dest.read_text() == gencomp.generate("bash", TOP)


def test_module_main(capsys):
    from vfioctl.buildtools.__main__ import main
    assert main(["completions", "fish"]) == 0
    assert capsys.readouterr().out == gencomp.generate("fish", TOP)
    assert main(["completions", "tcsh"]) == 2


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_installed_completion_takes_effect_with_the_printed_line(shell, tmp_path):
    """Issue 9 item 6: 'vfioctl completion SHELL --install' prints what (if
    anything) to add; doing exactly that makes the real shell complete vfioctl."""
    env = _env(HOME=str(tmp_path), SHELL=f"/bin/{shell}")
    env.pop("XDG_CONFIG_HOME", None)
    p = subprocess.run([_exe(), "completion", shell, "--install"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    first, second = p.stdout.strip().splitlines()
    assert first.startswith(f"installed {shell} completion in {tmp_path}")
    if shell == "bash":
        line = re.search(r"(source \S+)$", second).group(1)
        script = f"{line}; complete -p vfioctl"
        q = subprocess.run([_shell("bash"), "--norc", "-c", script], capture_output=True,
                           text=True, env=env, timeout=60)
        assert q.returncode == 0 and q.stdout.strip().endswith(" vfioctl"), q.stderr
    elif shell == "zsh":
        line = second.split("start a new shell: ", 1)[1]
        assert line.startswith("fpath=(")
        q = subprocess.run([_shell("zsh"), "-f", "-c", f"{line}; print -r -- $_comps[vfioctl]"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert q.stdout.strip() == "_vfioctl", (q.stdout, q.stderr)
    else:
        assert second == "fish loads it in new shells: nothing to add"
        q = subprocess.run([_shell("fish"), "-c", "complete -C'vfioctl '"],
                           capture_output=True, text=True, env=env, timeout=60)
        assert "hot-reset" in q.stdout.split(), (q.stdout, q.stderr)
