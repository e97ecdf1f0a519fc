"""Queued jobs through the real runner (demo model): outcomes recorded, the queue goes on after a
failure (model folder gone, disk full), cancel from another process, recovery after a crash."""

from __future__ import annotations

import errno
import shutil
import threading
from pathlib import Path

import pytest

from core.generate.request import GenerationRequest
from core.generate.runner import Runner
from core.progress import CancelToken
from core.queue.batch import expand
from core.queue.execute import run_claimed
from core.queue.store import QueueStore


def _request(model: Path, out: Path, **values) -> dict:
    base = dict(model=str(model), prompt="a fox", width=64, height=64, frames=5, steps=2)
    base.update(values)
    request = GenerationRequest(output=str(out), **base)
    return expand(request)[0].to_dict()


def _drain(store: QueueStore, runner: Runner, emit=lambda _e: None) -> list:
    outcomes = []
    while (job := store.claim()) is not None:
        outcomes.append(run_claimed(store, job, runner, emit, CancelToken()))
    return outcomes


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(preview_fps=0)


def test_a_failed_job_does_not_stop_the_queue(
    tmp_path: Path, demo_t2v: Path, runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "videos"
    out.mkdir()
    gone = tmp_path / "gone-model"
    shutil.copytree(demo_t2v, gone)
    store = QueueStore(tmp_path / "q.sqlite3")
    first, vanished, full, last = store.add(
        [
            _request(demo_t2v, out, seed=1),
            _request(gone, out, seed=2),
            _request(demo_t2v, out, seed=3),
            _request(demo_t2v, out, seed=4),
        ]
    )
    shutil.rmtree(gone)  # the folder disappears while its job waits

    import core.generate.video as video

    real_sidecar = video.write_sidecar

    def disk_full_for_seed_3(path, payload):  # the disk fills after the video was published
        if payload.get("seed") == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_sidecar(path, payload)

    monkeypatch.setattr(video, "write_sidecar", disk_full_for_seed_3)
    outcomes = _drain(store, runner)
    assert [o.kind for o in outcomes] == ["done", "failed", "failed", "done"]
    states = {j.id: j for j in store.jobs()}
    assert states[first].state == states[last].state == "done"
    assert Path(states[first].output).is_file() and Path(states[last].output).is_file()
    assert "gone-model" in states[vanished].error and "does not exist" in states[vanished].error
    assert "No space left" in states[full].error
    assert states[full].hint  # what to do about it
    assert sorted(p.name for p in out.iterdir() if "_3." in p.name) == []  # no partial file
    assert len(list(out.glob("*.mp4"))) == 2


def test_cancel_from_another_process_stops_the_run(
    tmp_path: Path, demo_t2v: Path, runner: Runner
) -> None:
    out = tmp_path / "videos"
    store = QueueStore(tmp_path / "q.sqlite3")
    (job_id,) = store.add([_request(demo_t2v, out, steps=4, seed=5)])
    other = QueueStore(tmp_path / "q.sqlite3", recover=False)  # as `wan-studio queue cancel`
    asked = threading.Event()

    def emit(event) -> None:
        if event.kind == "step" and not asked.is_set():
            other.cancel(job_id)
            asked.set()
            threading.Event().wait(2.5)  # the heartbeat notices within a second

    (outcome,) = _drain(store, runner, emit)
    assert outcome.kind == "cancelled"
    job = store.get(job_id)
    assert job.state == "cancelled" and "queue" in job.error
    assert not out.exists() or not list(out.iterdir())


def _running_job(store: QueueStore, video: Path) -> int:
    (job_id,) = store.add([{"prompt": "x", "seed": 1}])
    store.claim()
    store.plan_output(job_id, str(video))
    store.db.execute("UPDATE jobs SET owner = 'gone:1:1' WHERE id = ?", (job_id,))
    return job_id


def test_recovery_marks_a_finished_write_done_and_removes_a_partial_one(tmp_path: Path) -> None:
    import socket

    host = socket.gethostname()
    store = QueueStore(tmp_path / "q.sqlite3")
    complete, partial = tmp_path / "a.mp4", tmp_path / "b.mp4"
    complete.write_bytes(b"v")
    complete.with_suffix(".json").write_text("{}")
    partial.write_bytes(b"v")  # published, but killed before its sidecar
    partial.with_suffix(".png").write_bytes(b"p")
    temp = tmp_path / ".b.123.part.mp4"
    temp.write_bytes(b"t")
    a = _running_job(store, complete)
    b = _running_job(store, partial)
    store.db.execute("UPDATE jobs SET owner = ? WHERE id IN (?, ?)", (f"{host}:999999999:1", a, b))
    assert sorted(QueueStore(tmp_path / "q.sqlite3", recover=False).recover()) == [a, b]
    assert store.get(a).state == "done"
    assert store.get(b).state == "interrupted"
    assert not partial.exists() and not temp.exists() and not partial.with_suffix(".png").exists()
    assert complete.exists()
