"""The main window builds offscreen with its menu, status bar and workspaces; torch stays out
of the process until the window is up; closing it stops the engine thread."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]


def test_main_window_builds(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    try:
        assert window.windowTitle() == "Wan Studio"
        titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
        assert titles[:5] == ["Generate", "Queue", "Models", "Presets", "History"]
        menus = [a.text() for a in window.menuBar().actions()]
        assert "&File" in menus and "&Help" in menus
        assert window.statusBar().currentMessage()
        assert window.acceptDrops()
        image = window.grab().toImage()
        assert image.width() > 100 and image.height() > 100
    finally:
        window.close()


def test_closing_the_window_stops_the_engine_thread(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    engine = window.engine
    qtbot.waitUntil(lambda: engine.is_running, timeout=5000)  # the device probe starts it
    window.close()
    assert not engine.is_running


def test_torch_is_not_imported_when_the_window_is_first_shown(tmp_path: Path) -> None:
    """Start-up must not pay for torch: it is imported on the engine thread after show."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from gui.app import configure_application\n"
        "configure_application(app)\n"
        "from gui.main_window import MainWindow\n"
        "w = MainWindow(); w.show()\n"
        "heavy = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "w.close()\n"
    )
    env = {
        "QT_QPA_PLATFORM": "offscreen",
        "WAN_STUDIO_HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout


def test_show_workspace_opens_a_section_of_a_workspace(qtbot) -> None:
    """bus.show_workspace("Models/LoRAs") (the form's "Manage LoRA folders…") brings Models to
    the front on its LoRA tab."""
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    try:
        models = window.workspaces["Models"]
        window.bus.show_workspace.emit("Models/LoRAs")
        assert window.tabs.currentWidget() is models
        assert models.sections.currentWidget() is models.loras
        window.bus.show_workspace.emit("Generate")
        assert window.tabs.currentWidget() is window.workspaces["Generate"]
    finally:
        window.bus.shutdown()
        window.close()
