"""core/ is Qt-free: no module under core/ may import PySide6 or gui (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "gui")


def forbidden_imports(source: str) -> list[str]:
    """Top-level package names imported by ``source`` that core must not use."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call) and getattr(
            node.func, "attr", getattr(node.func, "id", "")
        ) in (
            "import_module",
            "__import__",
        ):
            names = [
                a.value
                for a in node.args[:1]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
        found += [n for n in names if n.split(".")[0] in FORBIDDEN]
    return found


def test_core_never_imports_qt_or_gui() -> None:
    offenders = {
        str(path.relative_to(CORE.parent)): bad
        for path in sorted(CORE.rglob("*.py"))
        if (bad := forbidden_imports(path.read_text("utf-8")))
    }
    assert offenders == {}, f"core/ must stay Qt-free; offending imports: {offenders}"


@pytest.mark.parametrize(
    "source",
    [
        "import PySide6",
        "from PySide6.QtCore import QObject",
        "def f():\n    from gui.app import run_app\n",
        "import importlib\nimportlib.import_module('PySide6.QtWidgets')",
        "import gui.main_window as w",
    ],
)
def test_guard_catches_each_import_form(source: str) -> None:
    assert forbidden_imports(source)


def test_guard_allows_plain_imports() -> None:
    assert forbidden_imports("import torch\nfrom core.models import catalog\nimport guidance") == []


def test_core_imports_without_qt_loaded() -> None:
    """Importing the engine's Qt-free modules in a fresh interpreter loads no Qt module."""
    import subprocess
    import sys

    code = (
        "import sys, core, core.cli, core.models.catalog, core.models.demo, core.paths;"
        "core.cli.build_parser();"
        "bad=[m for m in sys.modules if m.startswith(('PySide6','shiboken6','gui'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
