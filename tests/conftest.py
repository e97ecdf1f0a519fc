"""Shared fixtures: an isolated app home per test, and demo models built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.realtools.fixtures import real_exports  # noqa: F401  (session fixture, shared)

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")

FAMILIES = ("t2v-a14b", "i2v-a14b", "ti2v-5b")


@pytest.fixture(autouse=True)
def app_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own WAN_STUDIO_HOME: no test touches the real user profile."""
    home = tmp_path / "wan-studio-home"
    monkeypatch.setenv("WAN_STUDIO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def demo_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One demo model per family, created once. Read-only: copy before modifying."""
    from core.models.demo import create_demo_model

    root = tmp_path_factory.mktemp("demo-models")
    return {fam: create_demo_model(fam, root / fam, seed=0) for fam in FAMILIES}


@pytest.fixture(scope="session")
def demo_t2v(demo_models: dict[str, Path]) -> Path:
    return demo_models["t2v-a14b"]


@pytest.fixture(scope="session")
def demo_i2v(demo_models: dict[str, Path]) -> Path:
    return demo_models["i2v-a14b"]


@pytest.fixture(scope="session")
def demo_ti2v(demo_models: dict[str, Path]) -> Path:
    return demo_models["ti2v-5b"]
