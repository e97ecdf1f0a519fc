"""The queue in the real window: add while running, order, reorder, pause, cancel, retry,
duplicate, a job whose model vanished, another process's jobs, the panel's keys and menu.

Real demo-model runs on the engine thread (64x64, 9 frames, 2 steps); the step gate holds a
job at its first step while the test acts "during a run".
"""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QTest

from core import paths
from core.queue.store import CANCELLED, DONE, FAILED, QUEUED, RUNNING, QueueStore
from gui.widgets.queue_model import PROMPT, STATE
from tests.gui.queue_support import TIMEOUT, fill_tiny, states, tiny_request, wait_idle


def _ws(window):
    return window.workspaces["Generate"]


def _panel(window):
    return window.workspaces["Queue"].panel


def _started_order(queue) -> list[str]:
    done = [job for job in queue.store.jobs() if job.started is not None]
    return [job.label for job in sorted(done, key=lambda job: job.started)]


def test_generate_starts_at_once_and_ctrl_enter_adds_while_it_runs(
    qtbot, queue_window, gate
) -> None:
    ws = _ws(queue_window)
    queue = queue_window.bus.queue
    fill_tiny(ws, "first fox")
    assert ws.generate_button.text() == "Generate"  # idle: the job starts at once
    with qtbot.waitSignal(queue.job_started, timeout=TIMEOUT):
        ws.generate_button.click()
    qtbot.waitUntil(lambda: bool(gate.held), timeout=TIMEOUT)  # inside its first step
    assert ws.running and ws.cancel_button.isEnabled()
    assert ws.generate_button.text() == "Add to queue" and ws.generate_button.isEnabled()

    ws.form.prompt.setPlainText("second fox")
    ws.validate_now()
    queue_window.activateWindow()
    qtbot.waitUntil(queue_window.isActiveWindow, timeout=5000)
    QTest.keyClick(ws.form.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: len(queue.jobs) == 2, timeout=5000)
    first, second = queue.jobs  # running first, then queued
    assert (first.label, first.state) == ("first fox", RUNNING)
    assert (second.label, second.state) == ("second fox", QUEUED)
    assert "1 running" in ws.run_bar.queue_label.full_text()
    assert "1 queued" in ws.run_bar.queue_label.full_text()

    outcomes = []
    queue.job_finished.connect(lambda job, outcome: outcomes.append((job.label, outcome.kind)))
    gate.release()
    wait_idle(qtbot, queue)
    assert outcomes == [("first fox", "done"), ("second fox", "done")]
    assert _started_order(queue) == ["first fox", "second fox"]
    jobs = {job.label: job for job in queue.store.jobs()}
    assert all(Path(job.output).is_file() for job in jobs.values())
    assert jobs["second fox"].started >= jobs["first fox"].finished  # one after the other
    # Generate followed the second job to its end: its video is in the player.
    assert ws.player.source() == jobs["second fox"].output
    assert ws.generate_button.text() == "Generate"


def test_pause_reorder_by_drag_then_resume_runs_in_the_new_order(qtbot, queue_window) -> None:
    queue = queue_window.bus.queue
    panel = _panel(queue_window)
    panel.pause_button.click()
    assert queue.paused and panel.pause_button.text() == "Resume queue"
    queue.add([tiny_request(p, seed=i) for i, p in enumerate(["one", "two", "three"])])
    qtbot.wait(300)
    assert not queue.running and states(queue) == {1: QUEUED, 2: QUEUED, 3: QUEUED}
    assert "paused" in panel.summary.text()

    model = panel.model
    labels = [model.index(r, PROMPT).data() for r in range(model.rowCount())]
    assert labels == ["one", "two", "three"]
    drag = model.mimeData([model.index(2, 0)])  # "three" dropped above the first row
    assert model.dropMimeData(drag, Qt.DropAction.MoveAction, 0, 0, QModelIndex())
    assert [job.label for job in queue.jobs] == ["three", "one", "two"]
    assert [model.index(r, PROMPT).data() for r in range(3)] == ["three", "one", "two"]
    drag = model.mimeData([model.index(0, 0)])  # and "three" back between one and two
    model.dropMimeData(drag, Qt.DropAction.MoveAction, 2, 0, QModelIndex())
    assert [job.label for job in queue.jobs] == ["one", "three", "two"]

    panel.pause_button.click()  # resume
    assert not queue.paused
    wait_idle(qtbot, queue)
    assert _started_order(queue) == ["one", "three", "two"]
    assert set(states(queue).values()) == {DONE}
    assert model.index(0, STATE).data() == "✓ Done"


def test_cancel_the_running_job_from_the_panel_and_the_queue_goes_on(
    qtbot, queue_window, gate
) -> None:
    queue = queue_window.bus.queue
    panel = _panel(queue_window)
    with qtbot.waitSignal(queue.job_started, timeout=TIMEOUT):
        queue.add([tiny_request("to cancel"), tiny_request("next one")])
    qtbot.waitUntil(lambda: bool(gate.held), timeout=TIMEOUT)
    panel.select_job(1)
    assert panel.actions["cancel"].isEnabled() and not panel.actions["remove"].isEnabled()
    outcomes = []
    queue.job_finished.connect(lambda job, outcome: outcomes.append(outcome.kind))
    panel.actions["cancel"].trigger()
    gate.release()
    wait_idle(qtbot, queue)
    assert outcomes == ["cancelled", "done"]
    assert states(queue) == {1: CANCELLED, 2: DONE}
    assert [p.name for p in paths.output_dir().glob("*.mp4")] == [
        Path(queue.store.get(2).output).name
    ]  # the cancelled job left no file


def test_retry_and_duplicate_keep_the_seed(qtbot, queue_window) -> None:
    queue = queue_window.bus.queue
    panel = _panel(queue_window)
    queue.set_paused(True)
    [job_id] = queue.add([tiny_request("again", seed=4242)])
    queue.cancel(job_id)  # a queued job is cancelled at once
    assert queue.store.get(job_id).state == CANCELLED
    panel.select_job(job_id)
    assert panel.actions["retry"].isEnabled()
    panel.actions["retry"].trigger()
    assert queue.store.get(job_id).state == QUEUED
    panel.select_job(job_id)
    panel.actions["duplicate"].trigger()
    copy = next(job for job in queue.store.jobs() if job.id != job_id)
    assert copy.request == queue.store.get(job_id).request and copy.seed == 4242
    queue.set_paused(False)
    wait_idle(qtbot, queue)
    done = queue.store.jobs()
    assert [job.state for job in done] == [DONE, DONE]
    assert {job.seed for job in done} == {4242}
    assert queue.store.get(job_id).attempts == 1  # cancelled before it started: one real run


def test_a_job_whose_model_folder_vanished_fails_and_the_queue_goes_on(
    qtbot, queue_window, demo_models, tmp_path
) -> None:
    queue = queue_window.bus.queue
    ws = _ws(queue_window)
    copy = tmp_path / "my-model"
    shutil.copytree(demo_models["t2v-a14b"], copy)
    queue.set_paused(True)
    queue.add([tiny_request("lost model", model=str(copy)), tiny_request("still here")])
    shutil.rmtree(copy)  # the drive was unplugged after the job was queued
    finished = []
    queue.job_finished.connect(lambda job, outcome: finished.append((job.state, outcome.kind)))
    queue.set_paused(False)
    wait_idle(qtbot, queue)
    assert finished == [(FAILED, "failed"), (DONE, "done")]
    failed = queue.store.get(1)
    assert str(copy) in failed.error
    # Inside a queue a failure does not stop the work behind a dialog; the panel explains it.
    assert ws.error_box is None
    panel = _panel(queue_window)
    panel.select_job(1)
    assert str(copy) in panel.details.text()
    assert panel.model.index(panel.model.row_of(1), STATE).data() == "✕ Failed"


def test_jobs_added_by_another_process_show_up_and_run(qtbot, queue_window) -> None:
    queue = queue_window.bus.queue
    other = QueueStore(queue.store.path)  # its own connection, as `wan-studio queue add` has
    other.add([tiny_request("from the command line")])
    with qtbot.waitSignal(queue.job_started, timeout=5000):  # the 1 s poll noticed it
        pass
    wait_idle(qtbot, queue)
    assert queue.store.jobs()[0].state == DONE
    other.close()


def test_delete_key_removes_and_the_menu_offers_the_actions(qtbot, queue_window) -> None:
    queue = queue_window.bus.queue
    panel = _panel(queue_window)
    queue.set_paused(True)
    queue.add([tiny_request("keep"), tiny_request("drop me")])
    queue_window.show_workspace("Queue")
    queue_window.activateWindow()
    qtbot.waitUntil(queue_window.isActiveWindow, timeout=5000)
    panel.select_job(2)
    panel.table.setFocus()
    QTest.keyClick(panel.table, Qt.Key.Key_Delete)
    assert [job.label for job in queue.store.jobs()] == ["keep"]
    panel.select_job(1)
    menu = panel.context_menu()
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Play", "Show in folder", "Cancel", "Retry", "Duplicate", "Remove"]
    enabled = {a.text() for a in menu.actions() if a.isEnabled() and a.text()}
    assert enabled == {"Cancel", "Duplicate", "Remove", "Show in folder"}


def test_play_a_finished_job_from_the_queue(qtbot, queue_window) -> None:
    queue = queue_window.bus.queue
    panel = _panel(queue_window)
    queue.add([tiny_request("play me")])
    wait_idle(qtbot, queue)
    job = queue.store.jobs()[0]
    queue_window.show_workspace("Queue")
    panel.select_job(job.id)
    assert panel.actions["play"].isEnabled()
    panel.actions["play"].trigger()
    ws = _ws(queue_window)
    assert queue_window.tabs.currentWidget() is ws
    assert ws.player.source() == job.output
