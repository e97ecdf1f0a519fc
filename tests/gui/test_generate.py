"""The Generate workspace end to end with the demo model (offscreen, CPU, tiny runs).

Each run is 64x64, 9 frames, 2-4 steps: about a second on two cores.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QMessageBox

from core import paths
from gui.widgets.progress_panel import CANCELLED, DONE


@pytest.fixture
def window(installed_demo, qtbot):
    """Main window with the T2V demo model installed in the test's app home."""
    installed_demo("t2v-a14b")
    from gui.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.bus.shutdown()  # first: a test that failed mid-run must not meet the quit prompt
    win.close()
    assert not win.bus.has_engine or not win.bus.engine.is_running


def _ws(window):
    return window.workspaces["Generate"]


def _tiny(ws, prompt: str = "a red fox", steps: int = 4) -> None:
    ws.form.prompt.setPlainText(prompt)
    ws.form.size.set_size(64, 64)
    ws.form.frames.setValue(9)
    ws.form.steps.setValue(steps)
    ws.validate_now()


def _run(qtbot, ws, timeout: int = 60000):
    with qtbot.waitSignal(ws.run_finished, timeout=timeout) as finished:
        ws.generate()
    return finished.args[0]


def _kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_generate_runs_in_order_plays_the_video_and_lists_it_in_history(qtbot, window) -> None:
    ws = _ws(window)
    assert ws.current_choice() is not None and ws.current_choice().demo
    assert ws.form.negative_prompt.text().startswith("色调艳丽")  # official default prefilled
    assert not ws.banner.isVisible()
    _tiny(ws)
    assert ws.generate_button.isEnabled(), ws.reason.text()
    events = []
    ws.event_received.connect(events.append)
    previews = []
    ws.preview.set_image = _spy(ws.preview.set_image, previews)

    done = _run(qtbot, ws)

    assert done.kind == "done", getattr(done, "message", done)
    kinds = _kinds(events)
    assert kinds[0] == "started" and kinds[-1] == "done"
    stages = [
        (e.kind, e.stage)
        for e in events
        if e.kind.startswith("stage_") and e.kind != "stage_progress"
    ]
    assert stages == [
        ("stage_started", "load"),
        ("stage_finished", "load"),
        ("stage_started", "encode"),
        ("stage_finished", "encode"),
        ("stage_started", "denoise_high"),
        ("stage_finished", "denoise_high"),
        ("stage_started", "denoise_low"),
        ("stage_finished", "denoise_low"),
        ("stage_started", "decode"),
        ("stage_finished", "decode"),
        ("stage_started", "write"),
        ("stage_finished", "write"),
    ]
    steps = [e for e in events if e.kind == "step"]
    assert [s.overall_index for s in steps] == [1, 2, 3, 4]
    switch = kinds.index("expert_switch")
    assert kinds.index("stage_finished", kinds.index("step")) < switch < kinds.index("step", switch)
    overall = [e.overall for e in events]
    assert overall == sorted(overall) and overall[-1] == 1.0
    assert previews and previews[-1] is not None  # at least one live preview was painted

    # progress panel and form after the run
    assert set(ws.panel.stages.states().values()) == {DONE}
    assert ws.panel.overall_bar.value() == 1000
    assert ws.generate_button.isEnabled() and not ws.cancel_button.isEnabled()
    assert ws.form.last_seed.text() == f"Seed used: {done.seed}"
    ws.form.reuse_seed.click()
    assert ws.form.seed_value() == done.seed

    # the player got the file and decodes it
    video = Path(done.video)
    assert video.is_file() and video.parent == paths.output_dir()
    assert ws.player.source() == str(video)
    assert ws.viewer.currentWidget() is ws.player
    assert ws.player.caption.text().startswith("demo model: random weights")
    if ws.player.using_fallback():
        qtbot.waitUntil(lambda: ws.player.frame_viewer.frames, timeout=20000)
    else:
        sink = ws.player.video_widget.videoSink()
        qtbot.waitUntil(lambda: not sink.videoFrame().toImage().isNull(), timeout=20000)
        assert sink.videoFrame().toImage().width() == 64

    # history lists it
    history = window.workspaces["History"]
    with qtbot.waitSignal(history.refreshed, timeout=20000):
        window.show_workspace("History")
    assert [e.video for e in history.entries] == [video]
    assert history.entries[0].seed == done.seed
    # the poster thumbnail follows the list
    qtbot.waitUntil(lambda: not history.list.item(0).icon().isNull(), timeout=20000)

    # clicking it plays it there; "Reuse settings" fills Generate with its settings and seed
    history.list.setCurrentRow(0)
    assert history.player.source() == str(video)
    assert "a red fox" in history.details.text() and str(done.seed) in history.details.text()
    ws.form.prompt.setPlainText("something else")
    ws.form.seed_random.setChecked(True)
    history.reuse_button.click()
    assert window.tabs.currentWidget() is ws
    assert ws.form.prompt.text() == "a red fox"
    assert ws.form.seed_value() == done.seed


def _spy(method, calls):
    def wrapper(image, *args, **kwargs):
        calls.append(image)
        return method(image, *args, **kwargs)

    return wrapper


def test_cancel_after_the_first_step_writes_nothing_and_the_form_comes_back(
    qtbot, window, monkeypatch
) -> None:
    """The worker is held inside the first step's event until the GUI cancels: only a token
    set directly from the GUI thread can reach it there."""
    from gui import engine as engine_module

    original = engine_module._Worker.forward_event
    held = []

    def slow_step(self, job_id, event):
        original(self, job_id, event)
        if getattr(event, "kind", "") == "step" and not held:
            held.append(event)
            token = ws.job.token
            deadline = __import__("time").monotonic() + 20
            while not token.cancelled and __import__("time").monotonic() < deadline:
                __import__("time").sleep(0.005)

    monkeypatch.setattr(engine_module._Worker, "forward_event", slow_step)
    ws = _ws(window)
    _tiny(ws, steps=4)

    def on_event(event):
        if event.kind == "step":
            ws.cancel()

    ws.event_received.connect(on_event)
    outcome = _run(qtbot, ws)

    assert outcome.kind == "cancelled"
    assert ws.panel.outcome == CANCELLED
    assert CANCELLED in ws.panel.stages.states().values()
    assert list(paths.output_dir().glob("*.mp4")) == []
    assert ws.generate_button.isEnabled() and not ws.cancel_button.isEnabled()
    assert "Nothing was written" in ws.panel.status_label.text()


def test_a_broken_model_shows_the_error_dialog_and_the_next_run_works(
    qtbot, window, demo_models
) -> None:
    ws = _ws(window)
    _tiny(ws, steps=2)
    folder = paths.demo_model_dir("t2v-a14b")
    weights = next((folder / "transformer").glob("*.safetensors"))
    weights.write_bytes(b"not a safetensors file")

    failed = _run(qtbot, ws)

    assert failed.kind == "failed"
    box = ws.error_box
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert box.text() == failed.message
    assert box.informativeText() == failed.hint and failed.hint
    assert box.detailedText() == failed.details
    assert ws.panel.outcome == "failed"
    box.button(QMessageBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: ws.error_box is None, timeout=5000)
    assert ws.generate_button.isEnabled()

    # the user repairs the folder and tries again: the app is still usable
    shutil.rmtree(folder)
    shutil.copytree(demo_models["t2v-a14b"], folder)
    done = _run(qtbot, ws)
    assert done.kind == "done"
    assert Path(done.video).is_file()


@pytest.fixture(scope="module")
def made_video(tmp_path_factory, demo_models) -> Path:
    """A video made by the app's runner with known settings (seed 1234, 3 steps)."""
    from core.generate.request import defaults_for
    from core.generate.runner import Runner

    out = tmp_path_factory.mktemp("made")
    request = defaults_for("t2v-a14b", demo=True, model=str(demo_models["t2v-a14b"]))
    request = request.replace(
        prompt="a dropped fox",
        width=64,
        height=64,
        steps=3,
        seed=1234,
        guidance_high=5.5,
        output=str(out),
    )
    outcome = Runner(preview_fps=0).run(request)
    assert outcome.kind == "done", outcome
    return Path(outcome.video)


def _drop(widget, path: Path) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    enter = QDragEnterEvent(
        QPoint(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    drop = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(widget, drop)
    return drop


def test_dropping_a_video_restores_its_settings(qtbot, window, made_video) -> None:
    ws = _ws(window)
    _tiny(ws, prompt="something else", steps=4)
    window.show_workspace("History")
    with qtbot.waitSignal(window.bus.apply_settings, timeout=20000):
        drop = _drop(window, made_video)
    assert drop.isAccepted()
    assert window.tabs.currentWidget() is ws
    values = ws.form.values()
    assert values["prompt"] == "a dropped fox"
    assert values["steps"] == 3
    assert values["seed"] == 1234  # the effective seed, so the run can be reproduced
    assert values["guidance_high"] == 5.5
    assert (values["width"], values["height"]) == (64, 64)


def test_a_file_without_settings_is_refused_at_the_drop(qtbot, window, tmp_path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text))])
    enter = QDragEnterEvent(
        QPoint(5, 5),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, enter)
    assert not enter.isAccepted()


def test_fields_flag_invalid_values_and_gate_generate(qtbot, window, installed_demo) -> None:
    ws = _ws(window)
    _tiny(ws)
    assert ws.generate_button.isEnabled()

    ws.form.size.set_size(100, 64)  # not a multiple of 16
    ws.validate_now()
    width_message = ws.form.messages["width"]
    assert width_message.isVisibleTo(ws) and width_message.severity == "error"
    assert "multiple of 16" in width_message.plain
    assert not ws.generate_button.isEnabled()
    assert "multiple of 16" in ws.reason.text()
    assert width_message.field == "width"
    width_message.linkActivated.emit("use")  # the "Use 96" link
    ws.validate_now()
    assert ws.form.size.size() == (96, 64) and ws.generate_button.isEnabled()

    ws.form.frames.setValue(10)  # not 4n+1
    ws.validate_now()
    frames_message = ws.form.messages["frames"]
    assert "4n+1" in frames_message.plain and frames_message.isVisibleTo(ws)
    assert not ws.generate_button.isEnabled()
    ws.form.frames.setValue(9)
    ws.validate_now()
    assert not frames_message.isVisibleTo(ws) and ws.generate_button.isEnabled()

    ws.form.prompt.setPlainText("  ")
    ws.validate_now()
    assert "prompt is empty" in ws.form.messages["prompt"].plain
    assert not ws.generate_button.isEnabled()


def test_i2v_needs_an_image_and_t2v_hides_the_image_field(
    qtbot, window, installed_demo, tmp_path
) -> None:
    ws = _ws(window)
    assert not ws.form.image.isVisibleTo(ws)  # T2V: no image input
    assert ws.form.guidance_low.isVisibleTo(ws)  # two experts: two guidance fields
    assert ws.form.guidance_high_caption.text() == "High-noise expert"
    installed_demo("i2v-a14b")
    installed_demo("ti2v-5b")
    ws.reload_models()
    assert ws.select_model("demo:i2v-a14b")
    _tiny(ws)
    assert ws.form.image.isVisibleTo(ws)
    assert "choose a start image" in ws.form.messages["image"].plain
    assert not ws.generate_button.isEnabled()
    picture = tmp_path / "start.png"
    image = QImage(80, 48, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.darkGreen)
    assert image.save(str(picture))
    ws.form.image.set_path(str(picture))
    ws.validate_now()
    assert ws.generate_button.isEnabled(), ws.reason.text()
    assert "80×48" in ws.form.image.name_label.text()

    assert ws.select_model("demo:ti2v-5b")  # one expert, image optional, 24 fps
    assert not ws.form.guidance_low.isVisibleTo(ws)
    assert ws.form.guidance_high_caption.text() == "Guidance"
    assert ws.form.fps.value() == 24 and not ws.form.fps.isEnabled()
    assert ws.form.values()["guidance_low"] is None and ws.form.values()["boundary"] is None
    assert ws.form.size.multiple == 32


def test_settings_are_remembered_per_model_and_the_output_folder_persists(
    qtbot, installed_demo, tmp_path
) -> None:
    from gui.main_window import MainWindow

    installed_demo("t2v-a14b")
    first = MainWindow()
    qtbot.addWidget(first)
    ws = _ws(first)
    ws.form.prompt.setPlainText("remember me")
    ws.form.steps.setValue(7)
    ws.set_output_dir(tmp_path / "my-videos")
    first.close()

    second = MainWindow()
    qtbot.addWidget(second)
    try:
        ws2 = _ws(second)
        assert ws2.form.prompt.text() == "remember me"
        assert ws2.form.steps.value() == 7
        assert ws2.output_dir() == tmp_path / "my-videos"
        assert ws2.build_request().output == str(tmp_path / "my-videos")
    finally:
        second.close()


def test_frame_viewer_fallback_says_why(qtbot, made_video, monkeypatch, bus) -> None:
    from gui.widgets.player import DISABLE_ENV, PlayerWidget

    monkeypatch.setenv(DISABLE_ENV, "1")
    player = PlayerWidget(run_io=bus.engine.run_io)
    qtbot.addWidget(player)
    with qtbot.waitSignal(player.media_loaded, timeout=20000):
        player.load(made_video, "demo model: random weights")
    assert player.using_fallback()
    assert DISABLE_ENV in player.frame_viewer.reason_label.text()
    assert len(player.frame_viewer.frames) == 9
    assert player.frame_viewer.frames[0].size().width() == 64
    player.slider.setValue(4)
    assert player.time_label.text() == "frame 5 / 9"
    player.stop()
