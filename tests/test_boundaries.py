"""House rules that keep the core portable: no Qt outside workbench/gui/."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "workbench"
QT_MODULES = ("PySide6", "pyqtgraph", "shiboken6")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_never_imports_qt():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "gui" in path.relative_to(PACKAGE).parts:
            continue
        bad = [m for m in imported_modules(path) if m.split(".")[0] in QT_MODULES]
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)}: {bad}")
    assert not offenders, offenders


def test_methods_and_analysis_never_import_the_engine():
    for sub in ("methods", "models", "losses", "analysis", "data", "augment"):
        for path in (PACKAGE / sub).rglob("*.py"):
            engine = [m for m in imported_modules(path) if m.startswith("workbench.engine")]
            assert not engine, f"{path}: {engine}"
