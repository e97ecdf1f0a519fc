"""Fixtures for core.quant tests: offline MXFP8 copies of the demo models, built once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def quantized_t2v(demo_t2v: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``wan-studio quantize`` output of the T2V demo. Read-only: copy before modifying."""
    from core.quant.export import quantize_folder

    out = tmp_path_factory.mktemp("quantized") / "t2v-mxfp8"
    quantize_folder(demo_t2v, out)
    return out


@pytest.fixture
def qdir(quantized_t2v: Path, tmp_path: Path) -> Path:
    """A private copy of the quantized demo's high-noise transformer folder."""
    target = tmp_path / "transformer"
    shutil.copytree(quantized_t2v / "transformer", target)
    return target
