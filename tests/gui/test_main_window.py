"""The main window builds offscreen with its menu, status bar and workspaces."""

from __future__ import annotations

from gui.main_window import MainWindow


def test_main_window_builds(qtbot) -> None:
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    assert window.windowTitle() == "Wan Studio"
    titles = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert titles[:4] == ["Generate", "Models", "Presets", "History"]
    menus = [a.text() for a in window.menuBar().actions()]
    assert "&File" in menus and "&Help" in menus
    assert window.statusBar().currentMessage()
    image = window.grab().toImage()
    assert image.width() > 100 and image.height() > 100
