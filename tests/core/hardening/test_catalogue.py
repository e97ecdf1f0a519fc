"""docs/bad-inputs.md stays true: every test it links to exists, so the catalogue (and its
count) cannot silently rot when tests are renamed or removed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CATALOGUE = ROOT / "docs" / "bad-inputs.md"
_REF = re.compile(r"`((?:[\w/]+\.py)?(?:::\w+)?)`")


def linked_tests() -> list[tuple[str, str | None]]:
    """(test file, test function or None) for every link; ``::name`` reuses the last file."""
    links, current = [], None
    for ref in _REF.findall(CATALOGUE.read_text("utf-8")):
        path, _, name = ref.partition("::")
        if path and not Path(path).name.startswith("test_"):
            continue  # a source file named in the text, not a test
        if path:
            current = path
        if current is not None and (path or name):
            links.append((current, name or None))
    return links


def _test_functions(file: Path) -> set[str]:
    tree = ast.parse(file.read_text("utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}


def test_every_linked_test_exists_and_the_count_is_current() -> None:
    missing, tests = [], set()
    for path, name in linked_tests():
        file = ROOT / "tests" / path
        if not file.is_file():
            missing.append(path)
            continue
        names = _test_functions(file)
        if name is None:  # a whole file is linked: all of its tests count
            tests |= {(path, n) for n in names if n.startswith("test_")}
        elif name in names:
            tests.add((path, name))
        else:
            missing.append(f"{path}::{name}")
    assert missing == []
    stated = re.search(r"\*\*Count: (\d+) linked tests", CATALOGUE.read_text("utf-8"))
    assert stated is not None and int(stated.group(1)) == len(tests)
