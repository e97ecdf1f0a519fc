"""A new user's first minutes, in an empty app home (issue #15, items 1 and 2).

The form works before any model exists (prompt focused, options editable, only Generate
waits); the banner creates the TI2V-5B demo model with visible steps while the user keeps
typing, ahead of the start-up warm-up; then the typed prompt generates a video.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QWidget

from core import paths
from core.models.demo import DEMO_STEPS

TIMEOUT = 120000


def _window(qtbot):
    from gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    return win


def _close(win) -> None:
    win.bus.shutdown()
    win.close()


def test_first_launch_type_first_create_the_ti2v_demo_and_generate(qtbot) -> None:
    win = _window(qtbot)
    try:
        ws = win.workspaces["Generate"]
        form = ws.form
        banner = ws.banner
        assert banner.isVisible()
        assert banner.family.currentData() == "ti2v-5b"  # the lightest family by default
        # The form is usable at once: the prompt has the focus and takes typing.
        qtbot.waitUntil(lambda: QApplication.focusWidget() is form.prompt, timeout=5000)
        assert form.isEnabled() and form.steps.isEnabled()
        qtbot.keyClicks(form.prompt, "a red fox")
        form.steps.setValue(3)
        assert not ws.generate_button.isEnabled()  # only Generate waits for a model
        assert "Choose a model" in ws.reason.text()
        assert form.family.key == "ti2v-5b"  # shows the family the banner would create

        steps: list[tuple[int, str]] = []
        banner.step_changed.connect(lambda i, label: steps.append((i, label)))
        with qtbot.waitSignal(ws.models_reloaded, timeout=TIMEOUT):
            banner.create_button.click()
            # While it is being made: a progress bar saying which step and for how long,
            # and the form keeps working.
            assert banner.progress.isVisible()
            assert banner.progress.format().startswith("Step 1/")
            assert "0:0" in banner.progress.format()  # elapsed clock
            assert not banner.create_button.isEnabled()
            qtbot.keyClicks(form.prompt, " in the snow")

        # Every step was shown, in order, after the wait for the engine.
        assert [i for i, _ in steps] == list(range(len(DEMO_STEPS) + 1))
        assert [label for _, label in steps[1:]] == [label for _, label in DEMO_STEPS]
        assert not banner.isVisible() and not banner.progress.isVisible()
        choice = ws.current_choice()
        assert choice is not None and choice.demo and choice.family == "ti2v-5b"
        assert (paths.demo_model_dir("ti2v-5b") / "model_index.json").is_file()
        # What was typed before the model existed is kept.
        assert form.prompt.text() == "a red fox in the snow"
        assert form.steps.value() == 3

        form.size.set_size(64, 64)
        ws.validate_now()
        assert ws.generate_button.isEnabled(), ws.reason.text()
        with qtbot.waitSignal(ws.run_finished, timeout=TIMEOUT) as finished:
            ws.generate()
        done = finished.args[0]
        assert done.kind == "done", getattr(done, "message", done)
        assert done.request["prompt"] == "a red fox in the snow"
    finally:
        _close(win)


def test_demo_creation_runs_ahead_of_the_start_up_warm_up(qtbot, monkeypatch) -> None:
    """The warm-up is queued at start-up; a click on Create waits for the one step running,
    not for the whole warm-up. (Its steps are stand-ins here: in a test process the real
    imports are done already and would finish before anything could be observed.)"""
    import threading

    from gui.workspaces import generate as generate_module

    gate = threading.Event()

    def step(wait: bool = False):
        return lambda: gate.wait(30) if wait else None

    steps = [("warm-up 1", step(wait=True)), ("warm-up 2", step()), ("warm-up 3", step())]
    monkeypatch.setattr(generate_module, "warm_up_steps", lambda: steps)
    win = _window(qtbot)
    try:
        ws = win.workspaces["Generate"]
        engine = win.engine
        order: list[str] = []
        engine.job_started.connect(lambda job_id: order.append(engine._jobs[job_id].name))
        qtbot.waitUntil(lambda: order == ["warm-up 1"], timeout=10000)  # running, held
        ws.banner.create_button.click()
        assert ws.banner.progress.format().startswith("Step 1/")
        assert "Waiting for the engine" in ws.banner.progress.format()
        with qtbot.waitSignal(ws.models_reloaded, timeout=TIMEOUT):
            gate.set()
        qtbot.waitUntil(lambda: not engine.idle_pending, timeout=10000)
        assert order == ["warm-up 1", "create demo model", "warm-up 2", "warm-up 3"]
    finally:
        gate.set()
        _close(win)


def _visible_chain(ws) -> list[QWidget]:
    """The workspace's intended order, limited to what Tab can reach right now."""
    return [
        w
        for w in ws.tab_chain()
        if w.isVisibleTo(ws) and w.isEnabled() and bool(w.focusPolicy() & Qt.FocusPolicy.TabFocus)
    ]


def test_tab_walks_the_whole_form_in_reading_order(qtbot, installed_demo) -> None:
    installed_demo("t2v-a14b")
    win = _window(qtbot)
    try:
        ws = win.workspaces["Generate"]
        ws.form.advanced_toggle.setChecked(True)  # the advanced fields too
        ws.form.prompt.setPlainText("a red fox")
        ws.validate_now()  # Generate enabled: in the chain
        expected = _visible_chain(ws)
        names = [w.objectName() or type(w).__name__ for w in expected]
        assert ws.model_combo in expected and ws.generate_button in expected
        assert ws.form.prompt in expected and ws.form.device in expected
        ws.model_combo.setFocus(Qt.FocusReason.TabFocusReason)
        qtbot.waitUntil(lambda: QApplication.focusWidget() is ws.model_combo, timeout=5000)
        visited = [QApplication.focusWidget()]
        for _ in range(len(expected) - 1):
            qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
            visited.append(QApplication.focusWidget())
        assert visited == expected, (names, [type(w).__name__ for w in visited])
        # And Shift+Tab walks back.
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Backtab)
        assert QApplication.focusWidget() is expected[-2]
    finally:
        _close(win)
