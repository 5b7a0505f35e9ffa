"""The layering holds: operations never present, and no import circles.

Layers (inner to outer): model <- sysfs <- kernel <- ops <- present <- cli.
``vfioctl/ops`` returns report objects (vfioctl/ops/reports.py) and raises
typed errors: it must not import the presentation or CLI layers (or typer,
rich, click), nor print, prompt, or touch sys.stdout/stderr/stdin.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

PKG = pathlib.Path(__file__).resolve().parent.parent / "vfioctl"

LAYERS = ["model", "sysfs", "kernel", "ops", "present", "cli"]
FORBIDDEN_IN_OPS = ("vfioctl.present", "vfioctl.cli", "vfioctl.buildtools", "typer", "rich",
                    "click")


def _imports(tree: ast.AST, module: str, *, top_level_only: bool = False):
    """(line, imported module) for every import in ``tree`` (relative ones resolved)."""
    nodes = tree.body if top_level_only else ast.walk(tree)
    pkg = module.rsplit(".", 1)[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            yield node.lineno, base
            for a in node.names:        # from vfioctl.cli import admin -> vfioctl.cli.admin
                yield node.lineno, f"{base}.{a.name}"


def _modules(sub: str):
    for p in sorted((PKG / sub).rglob("*.py")):
        rel = p.relative_to(PKG.parent).with_suffix("")
        name = ".".join(rel.parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        yield p, name


def _violations_in_ops(path: pathlib.Path, module: str) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    bad = []
    for line, mod in _imports(tree, module):
        if any(mod == f or mod.startswith(f + ".") for f in FORBIDDEN_IN_OPS):
            bad.append(f"{path.name}:{line}: imports {mod}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("print", "input"):
            bad.append(f"{path.name}:{node.lineno}: calls {node.func.id}()")
        if isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr", "stdin") \
                and isinstance(node.value, ast.Name) and node.value.id == "sys":
            bad.append(f"{path.name}:{node.lineno}: uses sys.{node.attr}")
        if isinstance(node, ast.arg) and node.arg in ("json_mode", "out"):
            bad.append(f"{path.name}:{node.lineno}: takes a '{node.arg}' parameter "
                       "(presentation decisions belong to the CLI)")
    return bad


@pytest.mark.parametrize("path,module", list(_modules("ops")), ids=lambda x: str(x)[-30:])
def test_ops_never_present(path, module):
    assert _violations_in_ops(path, module) == []


def test_the_lint_catches_violations(tmp_path):
    p = tmp_path / "bad.py"
    p.write_text("import sys\nfrom vfioctl.present import human\n"
                 "def f(out, json_mode):\n    print('x')\n    sys.stdout.write('y')\n"
                 "    from rich.console import Console\n    input()\n")
    found = _violations_in_ops(p, "vfioctl.ops.bad")
    text = "\n".join(found)
    for what in ("2: imports vfioctl.present", "'out' parameter", "'json_mode' parameter",
                 "4: calls print()", "5: uses sys.stdout", "6: imports rich.console",
                 "7: calls input()"):
        assert what in text, (what, found)


@pytest.mark.parametrize("layer", LAYERS[:-1])
def test_dependencies_point_inward(layer):
    outer = LAYERS[LAYERS.index(layer) + 1:]
    bad = []
    for path, module in _modules(layer):
        for line, mod in _imports(ast.parse(path.read_text()), module):
            if any(mod == f"vfioctl.{o}" or mod.startswith(f"vfioctl.{o}.") for o in outer):
                bad.append(f"{module}:{line}: imports {mod}")
    assert bad == []


def _graph():
    g: dict[str, set[str]] = {}
    names = {m for sub in ("cli", "buildtools", "present", "ops")
             for _, m in _modules(sub)}
    for sub in ("cli", "buildtools", "present", "ops"):
        for path, module in _modules(sub):
            g[module] = {m for _, m in _imports(ast.parse(path.read_text()), module)
                         if m in names and m != module}
    return g


def test_no_import_circles():
    """No cycle through imports anywhere in a module (lazy ones included) among
    the cli, buildtools, present and ops modules."""
    g = _graph()
    seen, stack, cycles = set(), [], []

    def visit(n):
        if n in stack:
            cycles.append(stack[stack.index(n):] + [n])
            return
        if n in seen:
            return
        seen.add(n)
        stack.append(n)
        for m in sorted(g.get(n, ())):
            visit(m)
        stack.pop()
    for n in sorted(g):
        visit(n)
    assert cycles == []


def test_command_modules_do_not_import_each_other():
    g = _graph()
    families = {"vfioctl.cli.inspection", "vfioctl.cli.acting", "vfioctl.cli.admin",
                "vfioctl.cli.tree", "vfioctl.cli.doctor", "vfioctl.cli.bind",
                "vfioctl.cli.export_cmd", "vfioctl.cli.libvirt_cmd"}
    for f in families:
        assert not (g[f] & (families | {"vfioctl.cli.app"})), f


def test_generators_live_outside_cli():
    assert not (PKG / "cli" / "gencomp.py").exists()
    assert not (PKG / "cli" / "manpage.py").exists()
    assert (PKG / "present" / "completion.py").exists()
    assert (PKG / "buildtools" / "manpage.py").exists()


def test_the_cli_never_imports_the_build_tools():
    """The build tools read the app, so they stand above it; what the CLI
    needs at run time (the completion script renderer) is in present/."""
    g = _graph()
    for mod, deps in g.items():
        if mod.startswith("vfioctl.cli"):
            assert not any(d.startswith("vfioctl.buildtools") for d in deps), (mod, deps)
