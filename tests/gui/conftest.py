"""GUI fixtures: engines and windows that never outlive their test, and demo models in place.

Every engine thread started by a test is shut down at teardown (a QThread destroyed while
running aborts the process, and a leftover worker would steal the next test's CPU).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gui.bus import AppBus


@pytest.fixture
def bus(qtbot) -> Iterator[AppBus]:
    """A bare AppBus whose engine (if a test starts it) is shut down afterwards."""
    app_bus = AppBus()
    yield app_bus
    assert app_bus.shutdown(20000), "the engine thread did not stop"


@pytest.fixture
def engine(qtbot):
    from gui.engine import Engine

    eng = Engine()
    yield eng
    assert eng.shutdown(20000), "the engine thread did not stop"


@pytest.fixture
def installed_demo(demo_models: dict[str, Path]):
    """Copy a session demo model to where the app keeps its own demo models (per test home)."""
    from core import paths

    def install(family: str = "t2v-a14b") -> Path:
        target = paths.demo_model_dir(family)
        if not target.exists():
            shutil.copytree(demo_models[family], target)
        return target

    return install


@pytest.fixture
def main_window(qtbot):
    """The real main window, shown; closed (engine stopped) at teardown."""
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.bus.shutdown()  # first: a test that failed mid-run must not meet the quit prompt
    window.close()
    assert not window.bus.has_engine or not window.bus.engine.is_running
