"""The engine thread: jobs run off the GUI thread, in order; results, events, previews, errors
and cancels come back on the GUI thread; cancel works without the worker's event loop; shutdown
stops the thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtCore import QThread
from PySide6.QtGui import QImage

from core.generate.events import Preview, StageStarted, Step
from core.progress import Cancelled


def _gui_thread() -> QThread:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance().thread()


def test_job_runs_on_the_engine_thread_and_reports_on_the_gui_thread(qtbot, engine) -> None:
    seen: dict[str, object] = {}

    def work(ctx):
        seen["thread"] = threading.current_thread().name
        seen["qthread"] = QThread.currentThread()
        return 41 + 1

    results = []

    def done(value):
        seen["callback_qthread"] = QThread.currentThread()
        results.append(value)

    job = engine.submit(work, on_done=done)
    qtbot.waitUntil(lambda: results == [42], timeout=5000)
    assert job.finished
    assert seen["qthread"] is not _gui_thread()
    assert seen["callback_qthread"] is _gui_thread()
    assert not engine.busy


def test_background_jobs_do_not_count_as_user_work(qtbot, engine) -> None:
    gate = threading.Event()
    engine.submit(lambda ctx: gate.wait(5), background=True)
    assert engine.busy and not engine.user_busy
    user = engine.submit(lambda ctx: None)
    assert engine.user_busy
    gate.set()
    qtbot.waitUntil(lambda: user.finished, timeout=5000)
    assert not engine.busy and not engine.user_busy


def test_jobs_run_one_at_a_time_in_submission_order(qtbot, engine) -> None:
    order: list[int] = []
    active = []
    overlap = []

    def make(i):
        def work(ctx):
            active.append(i)
            overlap.append(len(active))
            time.sleep(0.01)
            active.remove(i)
            return i

        return work

    done: list[int] = []
    with qtbot.waitSignal(engine.busy_changed, timeout=5000) as busy:
        for i in range(5):
            engine.submit(make(i), on_done=done.append)
    assert busy.args == [True]
    qtbot.waitUntil(lambda: len(done) == 5, timeout=5000)
    order = done
    assert order == [0, 1, 2, 3, 4]
    assert max(overlap) == 1


def test_events_arrive_in_order_and_previews_become_qimages(qtbot, engine) -> None:
    events: list[object] = []
    previews = []
    pixels = np.zeros((8, 12, 3), dtype=np.uint8)
    pixels[:, :, 0] = 200  # red
    pixels[2, 3] = (1, 2, 3)

    def work(ctx):
        ctx.emit(StageStarted(stage="denoise", label="Denoising"))
        for i in range(1, 4):
            ctx.emit(
                Step(
                    stage="denoise",
                    expert="single",
                    index=i,
                    total=3,
                    overall_index=i,
                    overall_total=3,
                    it_per_s=2.0,
                    eta_seconds=1.0,
                    timestep=900.0,
                )
            )
        ctx.emit(Preview(image=pixels, step=3, total=3, frames=[0]))
        return "ok"

    finished = []
    engine.submit(work, on_event=events.append, on_preview=previews.append, on_done=finished.append)
    qtbot.waitUntil(lambda: finished == ["ok"], timeout=5000)
    assert [e.kind for e in events] == ["stage_started", "step", "step", "step"]
    assert [e.index for e in events[1:]] == [1, 2, 3]
    assert len(previews) == 1
    image = previews[0].image
    assert isinstance(image, QImage)
    assert (image.width(), image.height()) == (12, 8)
    assert image.pixelColor(0, 0).getRgb()[:3] == (200, 0, 0)
    assert image.pixelColor(3, 2).getRgb()[:3] == (1, 2, 3)
    assert previews[0].event.step == 3


def test_an_exception_becomes_a_job_error_with_traceback_and_the_engine_keeps_working(
    qtbot, engine
) -> None:
    class Broken(RuntimeError):
        hint = "try the other thing"

    def work(ctx):
        raise Broken("the model folder is broken")

    errors = []
    engine.submit(work, on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 1, timeout=5000)
    assert errors[0].message == "the model folder is broken"
    assert errors[0].hint == "try the other thing"
    assert "Broken" in errors[0].details and "Traceback" in errors[0].details

    results = []
    engine.submit(lambda ctx: "next", on_done=results.append)
    qtbot.waitUntil(lambda: results == ["next"], timeout=5000)


def test_cancel_reaches_a_busy_worker_directly(qtbot, engine) -> None:
    """The worker never returns to its event loop while polling: only a direct token works."""
    started = threading.Event()

    def work(ctx):
        started.set()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ctx.cancel.raise_if_cancelled()
            time.sleep(0.002)
        return "not cancelled"

    cancelled, done = [], []
    job = engine.submit(work, on_done=done.append, on_cancelled=lambda: cancelled.append(1))
    assert started.wait(5)
    job.cancel()
    qtbot.waitUntil(lambda: cancelled == [1], timeout=5000)
    assert done == []


def test_a_job_cancelled_while_queued_never_runs(qtbot, engine) -> None:
    gate = threading.Event()
    ran = []

    first = engine.submit(lambda ctx: gate.wait(5))
    second = engine.submit(lambda ctx: ran.append("second"))
    cancelled = []
    second.on_cancelled = lambda: cancelled.append(1)
    second.cancel()
    gate.set()
    qtbot.waitUntil(lambda: cancelled == [1] and first.finished, timeout=5000)
    assert ran == []


def test_the_runner_is_created_once_on_the_engine_thread_and_kept_warm(qtbot) -> None:
    from gui.engine import Engine

    created = []

    class FakeRunner:
        def __init__(self):
            created.append(QThread.currentThread())
            self.calls = 0

        def run(self, request, on_event, cancel):
            self.calls += 1
            on_event(StageStarted(stage="load", label="Loading"))
            return ("outcome", request, self.calls)

    eng = Engine(runner_factory=FakeRunner)
    try:
        outcomes, events = [], []
        for name in ("a", "b"):
            eng.generate(name, on_done=outcomes.append, on_event=events.append)
        qtbot.waitUntil(lambda: len(outcomes) == 2, timeout=5000)
        assert outcomes == [("outcome", "a", 1), ("outcome", "b", 2)]
        assert len(created) == 1 and created[0] is not _gui_thread()
        assert [e.kind for e in events] == ["stage_started", "stage_started"]
    finally:
        assert eng.shutdown(5000)


def test_shutdown_cancels_a_running_job_and_stops_the_thread(qtbot) -> None:
    from gui.engine import Engine

    eng = Engine()
    started = threading.Event()
    stopped = []

    def work(ctx):
        started.set()
        try:
            while True:
                ctx.cancel.raise_if_cancelled()
                time.sleep(0.002)
        except Cancelled:
            stopped.append(ctx.cancel.reason)
            raise

    eng.submit(work)
    assert started.wait(5)
    assert eng.is_running
    assert eng.shutdown(5000)
    assert not eng.is_running
    assert stopped == ["the app is closing"]
    late = eng.submit(lambda ctx: pytest.fail("ran after shutdown"))  # e.g. a late timer
    assert late.finished and late.token.cancelled


def test_run_io_is_not_stuck_behind_a_long_job(qtbot, engine) -> None:
    gate = threading.Event()
    engine.submit(lambda ctx: gate.wait(10))
    results = []
    engine.run_io(lambda: "read", on_done=results.append)
    qtbot.waitUntil(lambda: results == ["read"], timeout=5000)
    assert engine.busy  # the long job is still running
    gate.set()
    qtbot.waitUntil(lambda: not engine.busy, timeout=5000)


def test_idle_jobs_yield_to_user_jobs_submitted_after_them(qtbot, engine) -> None:
    """The start-up warm-up is idle jobs: a user job waits for at most the one running."""
    order: list[str] = []
    gate = threading.Event()

    def idle(name: str, wait: bool = False):
        def step():
            if wait:
                gate.wait(5)
            order.append(name)

        return step

    engine.submit_idle(idle("idle 1", wait=True), name="idle 1")
    engine.submit_idle(idle("idle 2"), name="idle 2")
    engine.submit_idle(idle("idle 3"), name="idle 3")
    assert engine.idle_pending
    qtbot.waitUntil(lambda: engine.busy, timeout=5000)  # idle 1 is running (blocked)
    user = engine.submit(lambda ctx: order.append("user"), name="user")
    assert engine.user_busy
    gate.set()
    qtbot.waitUntil(lambda: not engine.idle_pending, timeout=5000)
    assert user.finished
    assert order == ["idle 1", "user", "idle 2", "idle 3"]


def test_idle_jobs_wait_while_the_user_edits(qtbot, engine, monkeypatch) -> None:
    from gui import engine as engine_module

    now = [1000.0]
    monkeypatch.setattr(engine_module.time, "monotonic", lambda: now[0])
    ran: list[str] = []
    engine.note_user_activity()  # just typed
    engine.submit_idle(lambda: ran.append("step"), name="step")
    assert engine.idle_pending and not engine.busy  # held back, not queued on the worker
    now[0] += engine_module.IDLE_AFTER_ACTIVITY_S + 0.01  # the user paused
    qtbot.waitUntil(lambda: ran == ["step"], timeout=5000)  # the retry timer submits it
    qtbot.waitUntil(lambda: not engine.idle_pending, timeout=5000)


def test_idle_job_errors_do_not_stop_the_chain(qtbot, engine) -> None:
    errors: list[str] = []
    ran: list[str] = []
    engine.submit_idle(lambda: 1 / 0, name="broken", on_error=lambda e: errors.append(e.message))
    engine.submit_idle(lambda: ran.append("next"), name="next")
    qtbot.waitUntil(lambda: ran == ["next"], timeout=5000)
    assert errors == ["division by zero"]


def test_shutdown_drops_queued_idle_jobs(qtbot, engine) -> None:
    gate = threading.Event()
    ran: list[str] = []
    engine.submit_idle(lambda: gate.wait(5), name="running")
    engine.submit_idle(lambda: ran.append("queued"), name="queued")
    qtbot.waitUntil(lambda: engine.busy, timeout=5000)
    gate.set()
    assert engine.shutdown(20000)
    qtbot.waitUntil(lambda: not engine.idle_pending, timeout=5000)
    assert ran == []
