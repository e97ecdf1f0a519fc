"""Generate details a new user notices (issue #15, items 3 and 6): whole lines in the prompt
boxes (the official negative prompt is Chinese), device memory during a run, and the tray
message and window title when a run ends while the window is in the background."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QApplication

from core.models.catalog import get_family
from gui.widgets.generate_form import PromptEdit


def _cut_lines(edit: PromptEdit) -> tuple[int, list[tuple[float, float]]]:
    """(whole lines visible, lines the viewport's bottom edge cuts through)."""
    height = edit.viewport().height()
    offset = edit.contentOffset()
    whole, cut = 0, []
    block = edit.document().firstBlock()
    while block.isValid():
        top_of_block = edit.blockBoundingGeometry(block).translated(offset).top()
        layout = block.layout()
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            top, bottom = top_of_block + line.y(), top_of_block + line.y() + line.height()
            if bottom <= height + 0.01:
                whole += 1
            elif top < height:
                cut.append((top, bottom))
        block = block.next()
    return whole, cut


@pytest.mark.parametrize(("lines", "width"), [(2, 300), (2, 520), (3, 420)])
def test_prompt_boxes_show_whole_lines_of_the_chinese_negative_prompt(qtbot, lines, width):
    edit = PromptEdit(lines, "")
    qtbot.addWidget(edit)
    edit.resize(width, edit.height())
    edit.setPlainText(get_family("ti2v-5b").negative_prompt * 2)  # wraps over many lines
    edit.show()
    qtbot.waitExposed(edit)
    whole, cut = _cut_lines(edit)
    assert cut == []
    assert whole == lines


def test_the_form_negative_prompt_is_two_whole_lines(qtbot, installed_demo) -> None:
    installed_demo("t2v-a14b")
    from gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    try:
        negative = win.workspaces["Generate"].form.negative_prompt
        assert negative.text().startswith("色调艳丽")
        assert _cut_lines(negative) == (2, [])
    finally:
        win.bus.shutdown()
        win.close()


def test_device_memory_is_shown_during_a_run(qtbot, installed_demo) -> None:
    installed_demo("t2v-a14b")
    from gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    try:
        ws = win.workspaces["Generate"]
        assert ws.memory.full_text() == ""  # nothing before a run
        ws.form.prompt.setPlainText("a red fox")
        ws.form.size.set_size(64, 64)
        ws.validate_now()
        with qtbot.waitSignal(ws.run_finished, timeout=60000):
            ws.generate()
            qtbot.waitUntil(lambda: ws.memory.polling, timeout=60000)  # from the plan event
        qtbot.waitUntil(lambda: bool(ws.memory.readings), timeout=10000)
        assert not ws.memory.polling  # stops with the run
        reading = ws.memory.readings[0]
        assert reading.device == "cpu" and reading.used > 10 * 2**20 and reading.free > 0
        text = ws.memory.full_text()
        assert text.startswith("Memory (cpu): ") and "used by Wan Studio" in text
        assert text.endswith("free")
    finally:
        win.bus.shutdown()
        win.close()


class FakeTray:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def showMessage(self, title, body, icon, ms) -> None:
        self.messages.append((title, body))


def test_a_run_ending_in_the_background_notifies_and_titles_the_window(qtbot) -> None:
    from PySide6.QtWidgets import QMainWindow

    from gui.notifier import RunNotifier

    window = QMainWindow()
    window.setWindowTitle("Wan Studio")
    qtbot.addWidget(window)
    tray = FakeTray()
    notifier = RunNotifier(window, tray=tray)
    done = SimpleNamespace(kind="done", video="/videos/fox.mp4")

    window.isActiveWindow = lambda: True  # the user is looking: nothing to tell
    assert not notifier.run_finished(done)
    assert tray.messages == [] and window.windowTitle() == "Wan Studio"

    window.isActiveWindow = lambda: False
    assert notifier.run_finished(done)
    assert tray.messages == [("✓ Video ready", "fox.mp4")]
    assert window.windowTitle() == "✓ Video ready — Wan Studio"
    failed = SimpleNamespace(kind="failed", message="out of memory")
    notifier.run_finished(failed)
    assert tray.messages[-1] == ("✕ Generation failed", "out of memory")
    assert window.windowTitle().startswith("✕ Generation failed")

    QApplication.sendEvent(window, QEvent(QEvent.Type.WindowActivate))  # the user is back
    assert window.windowTitle() == "Wan Studio"


def test_the_main_window_notifies_when_a_run_ends(qtbot, installed_demo, monkeypatch) -> None:
    """Wired up: the real Generate run reaches the notifier."""
    installed_demo("t2v-a14b")
    from gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    try:
        tray = FakeTray()
        monkeypatch.setattr(win.notifier, "tray", lambda: tray)
        win.isActiveWindow = lambda: False
        ws = win.workspaces["Generate"]
        ws.form.prompt.setPlainText("a red fox")
        ws.form.size.set_size(64, 64)
        ws.validate_now()
        with qtbot.waitSignal(ws.run_finished, timeout=60000):
            ws.generate()
        assert len(tray.messages) == 1 and tray.messages[0][0] == "✓ Video ready"
        assert win.windowTitle() == "✓ Video ready — Wan Studio"
    finally:
        win.bus.shutdown()
        win.close()


def test_form_state_is_written_off_the_gui_thread_newest_last(tmp_path) -> None:
    """Saved on every Generate, and an fsync can take seconds on a busy disk: written by a
    writer (the I/O pool); writes run in any order and the file still ends at the newest."""
    import json
    import threading

    from gui.widgets.form_state import FormState

    queued: list = []
    state = FormState(tmp_path / "state.json", writer=queued.append)
    state.remember("demo", {"steps": 4})
    state.remember("demo", {"steps": 9})
    assert not (tmp_path / "state.json").exists()  # nothing written on the calling thread
    threads = [threading.Thread(target=write) for write in reversed(queued)]  # any order
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    saved = json.loads((tmp_path / "state.json").read_text("utf-8"))
    assert saved["models"]["demo"] == {"steps": 9}
    assert FormState(tmp_path / "state.json").get("demo") == {"steps": 9}
