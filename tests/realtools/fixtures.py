"""The ``real_exports`` session fixture (imported by tests/conftest.py, so the CLI tests in
tests/realtools and the wizard tests in tests/gui share one build of each export)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.realtools.exports import VARIANTS, make_variant


@pytest.fixture(scope="session")
def real_exports(
    demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], Path]:
    """real_exports(family, variant) -> msmodelslim's own export of that demo model (read-only)."""
    root = tmp_path_factory.mktemp("real-exports")
    cache: dict[tuple[str, str], Path] = {}

    def get(family: str, variant: str) -> Path:
        if variant not in VARIANTS:
            raise KeyError(f"unknown variant {variant!r}; known: {sorted(VARIANTS)}")
        key = (family, variant)
        if key not in cache:
            out = root / f"{family}-{variant}"
            cache[key] = make_variant(demo_models[family], out, family, variant)
        return cache[key]

    return get
