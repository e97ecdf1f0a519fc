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


@pytest.fixture
def gate(monkeypatch):
    """Hold the engine thread at the first step of each job (tests/gui/queue_support.py)."""
    from gui import engine as engine_module
    from tests.gui.queue_support import StepGate

    step_gate = StepGate()
    original = engine_module._Worker.forward_event

    def forward(self, job_id, event):
        original(self, job_id, event)
        step_gate.wait(event)

    monkeypatch.setattr(engine_module._Worker, "forward_event", forward)
    yield step_gate
    step_gate.release()


@pytest.fixture
def queue_window(installed_demo, qtbot):
    """Main window with the T2V demo model installed (its queue is empty: a fresh home).

    Not given to qtbot.addWidget: pytest-qt closes those before fixture teardown, and a
    window closed mid-run would wait for an answer to "Quit Wan Studio?"."""
    installed_demo("t2v-a14b")
    from gui.main_window import MainWindow

    win = MainWindow()
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.bus.shutdown()
    win.close()
    win.deleteLater()
