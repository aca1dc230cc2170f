"""House rules on imports: the import-linter contracts in pyproject.toml hold.

grimp (import-linter's graph) sees every `import` statement, inside functions too, but not the imports made through
`importlib.import_module("...")` or `__import__("...")` with a literal name; this test adds those to the graph, so
a lazy import cannot slip past the contracts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest
from importlinter import cli

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _literal_name(node: ast.expr, module: str) -> str | None:
    """The module a dynamic import names: a string literal, or f"{__name__}.x" (a submodule of this package)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.FormattedValue):
        first = node.values[0].value
        if isinstance(first, ast.Name) and first.id == "__name__":
            return module  # f"{__name__}.{sub}": within the package itself
    return None


def dynamic_imports() -> list[tuple[str, str, int]]:
    """(importer, imported, line) for every importlib.import_module / __import__ call in workbench/."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            is_dynamic = (isinstance(func, ast.Name) and func.id == "__import__") or (
                isinstance(func, ast.Attribute) and func.attr == "import_module"
            )
            if is_dynamic:
                name = _literal_name(node.args[0], module)
                assert name is not None, f"{path}:{node.lineno}: a dynamic import of a computed name cannot be checked"
                found.append((module, name, node.lineno))
    return found


def lint(monkeypatch: pytest.MonkeyPatch, extra: list[tuple[str, str, int]]) -> int:
    """Run import-linter on pyproject.toml with `extra` imports added to the graph; its exit status."""
    real_build = grimp.build_graph

    def build_graph(*args, **kwargs):
        graph = real_build(*args, **kwargs)
        for importer, imported, line in extra:
            graph.add_import(importer=importer, imported=imported, line_number=line, line_contents="(dynamic)")
        return graph

    monkeypatch.setattr(grimp, "build_graph", build_graph)
    monkeypatch.chdir(ROOT)
    return cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)


def test_the_import_contracts_hold(monkeypatch, capsys):
    dynamic = dynamic_imports()
    assert ("workbench.gui.app", "workbench.augment.views", 0) in [(a, b, 0) for a, b, _ in dynamic]  # it sees them
    status = lint(monkeypatch, dynamic)
    assert status == 0, capsys.readouterr().out


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("workbench.methods.simclr", "workbench.engine.fit"),  # a method importing the engine
        ("workbench.engine.fit", "workbench.results.export"),  # training importing what uses a run
        ("workbench.data.scan", "PySide6.QtCore"),  # Qt in the core
        ("workbench.files", "workbench.config"),  # a leaf importing upward
    ],
)
def test_a_forbidden_import_breaks_a_contract(monkeypatch, capsys, importer, imported):
    status = lint(monkeypatch, [(importer, imported, 1)])
    out = capsys.readouterr().out
    assert status != 0 and "BROKEN" in out, out


def test_the_contracts_cover_every_top_level_module():
    """A new top-level module or package must be placed in the layers (or it would be unchecked)."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = next(c for c in contracts["contracts"] if c["type"] == "layers")["layers"]
    layered = {name.strip() for layer in layers for name in layer.split("|")}
    present = {
        f"workbench.{p.stem if p.is_file() else p.name}"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert present - layered == set(), f"place these in pyproject.toml's layers: {sorted(present - layered)}"
