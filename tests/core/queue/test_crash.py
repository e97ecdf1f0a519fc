"""SIGKILL of a process running the queue, at random points, 50 times: nothing lost or run
twice, the interrupted job retryable, no partial file left, the database intact."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.generate.request import GenerationRequest
from core.queue.store import QueueStore

WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 50


def _jobs(out: Path, first_seed: int, n: int) -> list[dict]:
    return [
        GenerationRequest(model="demo", prompt=f"job {s}", seed=s, output=str(out)).to_dict()
        for s in range(first_seed, first_seed + n)
    ]


def _run_worker(path: Path, seed: int, kill_after: float | None) -> None:
    child = subprocess.Popen(
        [sys.executable, str(WORKER), str(path), str(seed)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    if kill_after is None:
        assert child.wait(timeout=120) == 0
        return
    time.sleep(kill_after)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)


def _check(store: QueueStore, out: Path, expected_ids: list[int]) -> None:
    assert store.integrity_check() == "ok"
    jobs = store.jobs()
    assert sorted(j.id for j in jobs) == expected_ids  # nothing lost, nothing added twice
    assert not [j for j in jobs if j.state == "running"]  # every dead run was recovered
    videos = sorted(p.name for p in out.glob("*.mp4"))
    done = sorted(f"{j.seed}.mp4" for j in jobs if j.state == "done")
    assert videos == done  # one video per finished job: none ran twice ("-2"), none partial
    for name in videos:
        assert (out / name).with_suffix(".json").is_file()
    assert not list(out.glob(".*.part.mp4"))  # no temp file of a killed write stays


def test_sigkill_at_random_points(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    out = tmp_path / "videos"
    out.mkdir()
    store = QueueStore(path)
    rng = random.Random(20261202)
    ids: list[int] = []
    next_seed = 100
    interrupted = 0
    for kill in range(KILLS):
        if not store.jobs(["queued"]):
            ids += store.add(_jobs(out, next_seed, 4))
            next_seed += 4
        _run_worker(path, kill, kill_after=rng.uniform(0.0, 0.35))
        store = QueueStore(path)  # a new start: recovers what the kill left
        _check(store, out, sorted(ids))
        for job in store.jobs(["interrupted"]):
            assert "interrupted" in (job.error or "")
            store.retry(job.id)  # the one click
            interrupted += 1
    assert interrupted >= 10  # the kills did land mid-run, not only between jobs
    _run_worker(path, KILLS, kill_after=None)  # the rest runs to the end
    store = QueueStore(path)
    _check(store, out, sorted(ids))
    assert {j.state for j in store.jobs()} == {"done"}
