"""The queue at start-up and at its end: work left by a killed process (interrupted, retried in
one click; queued jobs held until Resume), a damaged or too-new database (a dialog, the file
kept), and the window title and tray while the queue runs and when it ends."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from core import paths
from core.queue.store import DONE, INTERRUPTED, QUEUED, QueueStore
from tests.gui.queue_support import TIMEOUT, tiny_request, wait_idle

ROOT = Path(__file__).resolve().parents[2]


def _open_window(qtbot):
    from gui.main_window import MainWindow

    win = MainWindow()
    win.show()
    qtbot.waitExposed(win)
    return win


def _close(win) -> None:
    win.bus.shutdown()
    win.close()
    win.deleteLater()


def _killed_runner(requests: list[dict]) -> None:
    """A process that queues ``requests``, takes the first, starts writing it, then is killed."""
    script = f"""
import json, os, signal
from pathlib import Path
from core.queue.store import QueueStore
store = QueueStore()
store.add(json.loads({json.dumps(json.dumps(requests))}))
job = store.claim()
out = Path(os.environ["WAN_STUDIO_HOME"]) / "videos"
out.mkdir(parents=True, exist_ok=True)
store.plan_output(job.id, str(out / "half.mp4"))
(out / "half.mp4").write_bytes(b"partial")
store.report(job.id, 0.4, "denoise_high", 12.0)
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=os.environ.copy())
    assert result.returncode == -9


def test_a_killed_run_shows_interrupted_and_left_jobs_wait_for_resume(
    qtbot, installed_demo
) -> None:
    installed_demo("t2v-a14b")
    _killed_runner([tiny_request("killed"), tiny_request("left 1"), tiny_request("left 2")])
    win = _open_window(qtbot)
    try:
        queue = win.bus.queue
        panel = win.workspaces["Queue"].panel
        ws = win.workspaces["Generate"]
        assert {job.label: job.state for job in queue.jobs} == {
            "killed": INTERRUPTED,
            "left 1": QUEUED,
            "left 2": QUEUED,
        }
        killed = next(job for job in queue.jobs if job.label == "killed")
        assert "interrupted at 40%" in killed.error
        assert not (
            Path(os.environ["WAN_STUDIO_HOME"]) / "videos" / "half.mp4"
        ).exists()  # no partial MP4
        assert queue.recovered == [killed.id]
        assert len(queue.held) == 2
        qtbot.wait(1500)  # a poll goes by: nothing starts by itself
        assert not queue.running
        assert panel.banner.isVisibleTo(panel)
        assert "2 jobs waiting from last time" in panel.banner_label.text()
        assert "1 job was interrupted" in panel.banner_label.text()
        assert ws.run_bar.resume_button.isVisibleTo(ws)
        assert "2 waiting from last time" in ws.run_bar.queue_label.full_text()
        assert panel.model.index(1, 0).data() == "⏸ Waiting"

        panel.retry_recovered_button.click()  # one click: the interrupted job runs again
        wait_idle(qtbot, queue)
        assert queue.store.get(killed.id).state == DONE
        assert queue.store.get(killed.id).attempts == 2
        assert {job.state for job in queue.jobs if job.label != "killed"} == {QUEUED}

        ws.run_bar.resume_button.click()
        qtbot.waitUntil(lambda: not queue.held, timeout=5000)
        wait_idle(qtbot, queue)
        assert {job.state for job in queue.store.jobs()} == {DONE}
        assert not panel.banner.isVisibleTo(panel)
        assert queue.store.integrity_check() == "ok"
    finally:
        _close(win)


def test_a_damaged_database_asks_and_a_fresh_queue_keeps_the_old_file(
    qtbot, installed_demo
) -> None:
    installed_demo("t2v-a14b")
    store_path = paths.data_dir() / "queue.sqlite3"
    store_path.parent.mkdir(parents=True, exist_ok=True)
    garbage = b"SQLite format 3\x00" + os.urandom(4096)
    store_path.write_bytes(garbage)
    win = _open_window(qtbot)
    try:
        queue = win.bus.queue
        qtbot.waitUntil(lambda: win.queue_box is not None, timeout=5000)
        box = win.queue_box
        assert isinstance(box, QMessageBox) and box.isVisible()
        assert str(store_path) in box.text() and "damaged" in box.text()
        assert box.fresh_button.text() == "Start a fresh queue (keep the old file)"
        assert store_path.read_bytes() == garbage  # nothing touched before the answer
        assert not queue.persistent
        box.fresh_button.click()
        qtbot.waitUntil(lambda: win.queue_box is None, timeout=5000)
        kept = list(store_path.parent.glob("queue.sqlite3.corrupt-*"))
        assert len(kept) == 1 and kept[0].read_bytes() == garbage
        assert queue.persistent and queue.store.path == store_path
        assert "old file is kept" in win.statusBar().currentMessage()
        queue.add([tiny_request("after the reset")])
        wait_idle(qtbot, queue)
        assert QueueStore(store_path).jobs()[0].state == DONE  # in the real file now
    finally:
        _close(win)


def test_a_newer_database_is_left_alone_when_the_user_goes_on_without(
    qtbot, installed_demo
) -> None:
    installed_demo("t2v-a14b")
    store_path = paths.data_dir() / "queue.sqlite3"
    QueueStore(store_path).close()
    db = sqlite3.connect(store_path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    before = store_path.read_bytes()
    win = _open_window(qtbot)
    try:
        queue = win.bus.queue
        qtbot.waitUntil(lambda: win.queue_box is not None, timeout=5000)
        box = win.queue_box
        assert "newer Wan Studio" in box.text() and str(store_path) in box.text()
        box.continue_button.click()
        qtbot.waitUntil(lambda: win.queue_box is None, timeout=5000)
        assert not queue.persistent
        panel = win.workspaces["Queue"].panel
        assert "not saved" in panel.banner_label.text()
        queue.add([tiny_request("in a session queue")])
        wait_idle(qtbot, queue)
        assert queue.jobs[0].state == DONE
        assert store_path.read_bytes() == before
        assert not list(store_path.parent.glob("queue.sqlite3.corrupt-*"))
    finally:
        _close(win)


class FakeTray:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def showMessage(self, title, body, icon, ms) -> None:
        self.messages.append((title, body))


def test_title_shows_the_queue_and_the_tray_tells_each_end(
    qtbot, queue_window, gate, monkeypatch
) -> None:
    queue = queue_window.bus.queue
    tray = FakeTray()
    monkeypatch.setattr(queue_window.notifier, "tray", lambda: tray)
    queue_window.isActiveWindow = lambda: False  # the user looked away
    with qtbot.waitSignal(queue.job_started, timeout=TIMEOUT):
        queue.add([tiny_request("one"), tiny_request("two")])
    qtbot.waitUntil(lambda: bool(gate.held), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: "%" in queue_window.windowTitle(), timeout=5000)
    title = queue_window.windowTitle()
    assert title.startswith("Wan Studio — 1 queued · ") and title.endswith(" %"), title
    gate.release()
    wait_idle(qtbot, queue)
    assert [t for t, _ in tray.messages] == ["✓ Video ready", "✓ Video ready", "✓ Queue finished"]
    assert tray.messages[-1][1] == "2 videos ready"
    assert queue_window.windowTitle() == "✓ Queue finished — Wan Studio"


def test_the_queue_message_counts_failures() -> None:
    from gui.notifier import queue_message

    assert queue_message({"done": 3, "failed": 1}) == (
        "✕ Queue finished with failures",
        "3 videos ready · 1 failed",
        True,
    )
    assert queue_message({"done": 1, "cancelled": 2})[1] == "1 video ready · 2 cancelled"
