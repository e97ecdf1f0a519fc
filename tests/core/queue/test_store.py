"""The queue store: order, reorder, pause, cancel, retry, duplicate, schema and bad databases."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from core.queue import schema
from core.queue.errors import JobNotFound, JobStateError, StoreCorrupt, StoreTooNew
from core.queue.store import QueueStore, reset_store


def req(prompt: str, seed: int = 1) -> dict:
    return {"prompt": prompt, "seed": seed, "model": "demo"}


@pytest.fixture
def store(tmp_path: Path) -> QueueStore:
    return QueueStore(tmp_path / "queue.sqlite3")


def labels(store: QueueStore, state: str = "queued") -> list[str]:
    return [j.label for j in store.jobs([state])]


def test_jobs_run_in_the_order_added_and_reorder_moves_them(store: QueueStore) -> None:
    ids = store.add([req("a"), req("b"), req("c"), req("d")])
    assert labels(store) == ["a", "b", "c", "d"]
    store.move(ids[3], 0)
    assert labels(store) == ["d", "a", "b", "c"]
    store.move(ids[3], 99)  # past the end: last
    assert labels(store) == ["a", "b", "c", "d"]
    store.move(ids[0], 2)
    assert labels(store) == ["b", "c", "a", "d"]
    assert [store.claim().label for _ in range(4)] == ["b", "c", "a", "d"]
    assert store.claim() is None


def test_pause_stops_taking_jobs_and_survives_reopening(store: QueueStore, tmp_path: Path) -> None:
    store.add([req("a")])
    store.set_paused(True)
    assert store.claim() is None
    again = QueueStore(tmp_path / "queue.sqlite3")
    assert again.paused and again.claim() is None
    again.set_paused(False)
    assert store.claim().label == "a"


def test_cancel_queued_at_once_and_running_by_request(store: QueueStore) -> None:
    a, b = store.add([req("a"), req("b")])
    assert store.cancel(b) == "cancelled"
    assert store.get(b).state == "cancelled"
    job = store.claim()
    assert job.id == a and job.state == "running"
    assert store.report(a, 0.5, "denoise", 3.0) is False
    assert store.cancel(a) == "running"  # the runner stops after its current step
    assert store.report(a, 0.6, "denoise", 2.0) is True
    store.finish(a, "cancelled", error="cancelled from the queue")
    assert store.get(a).state == "cancelled"
    with pytest.raises(JobStateError, match="nothing to cancel"):
        store.cancel(a)


def test_retry_queues_again_at_the_end_with_the_same_seed(store: QueueStore) -> None:
    a, b = store.add([req("a", 7), req("b", 8)])
    job = store.claim()
    store.finish(job.id, "failed", error="boom", hint="try again")
    failed = store.get(a)
    assert (failed.state, failed.error, failed.hint) == ("failed", "boom", "try again")
    store.retry(a)
    retried = store.get(a)
    assert retried.state == "queued" and retried.error is None and retried.seed == 7
    assert labels(store) == ["b", "a"]
    with pytest.raises(JobStateError, match="only failed"):
        store.retry(b)


def test_duplicate_copies_request_and_seed(store: QueueStore) -> None:
    (a,) = store.add([req("a", 42)])
    copy = store.duplicate(a)
    assert copy != a
    assert store.get(copy).request == store.get(a).request
    assert store.get(copy).seed == 42


def test_remove_and_clear_never_touch_a_running_job(store: QueueStore) -> None:
    a, b, c = store.add([req("a"), req("b"), req("c")])
    store.claim()
    with pytest.raises(JobStateError, match="running and cannot be removed") as info:
        store.remove([a])
    assert "Cancel it first" in info.value.hint
    assert store.remove([b]) == 1
    store.cancel(c)
    assert store.clear() == 1  # only the finished (cancelled) one
    assert [j.id for j in store.jobs()] == [a]
    with pytest.raises(JobNotFound):
        store.get(b)


def test_only_the_owner_can_finish_a_job(store: QueueStore, tmp_path: Path) -> None:
    (a,) = store.add([req("a")])
    store.claim()
    other = QueueStore(tmp_path / "queue.sqlite3", recover=False)
    other.owner = "elsewhere:1:1"
    other.finish(a, "done", output="x.mp4")
    assert store.get(a).state == "running"
    store.finish(a, "done", output="x.mp4")
    done = store.get(a)
    assert done.state == "done" and done.output == "x.mp4" and done.progress == 1.0
    assert done.duration is not None and done.duration >= 0


def _claim_all(path: str, results: multiprocessing.Queue) -> None:
    store = QueueStore(path, recover=False)
    mine = []
    while (job := store.claim()) is not None:
        mine.append(job.id)
        store.finish(job.id, "done")
    results.put(mine)


def _add_many(path: str, tag: str, n: int) -> None:
    store = QueueStore(path, recover=False)
    for i in range(n):
        store.add([req(f"{tag}-{i}")])


def test_concurrent_processes_never_take_the_same_job(tmp_path: Path) -> None:
    path = str(tmp_path / "queue.sqlite3")
    store = QueueStore(path)
    ids = store.add([req(f"j{i}") for i in range(60)])
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(path, results)) for _ in range(4)]
    for w in workers:
        w.start()
    taken = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join(timeout=60)
    flat = [i for part in taken for i in part]
    assert sorted(flat) == ids  # each job exactly once
    assert store.counts()["done"] == 60


def test_concurrent_adds_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "queue.sqlite3")
    QueueStore(path)
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_add_many, args=(path, f"p{n}", 25)) for n in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    jobs = QueueStore(path).jobs()
    assert len(jobs) == 150
    assert len({j.position for j in jobs}) == 150  # a strict order, no ties
    assert QueueStore(path).integrity_check() == "ok"


def test_a_version_1_database_is_migrated_with_its_jobs(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    db = sqlite3.connect(path)
    schema.MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO jobs (position, state, request, label, created) VALUES (0, 'queued', ?, 'old', 1)",
        ('{"prompt": "old"}',),
    )
    db.commit()
    db.close()
    store = QueueStore(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    (job,) = store.jobs()
    assert job.label == "old" and job.duration is None
    assert store.db.execute("SELECT COUNT(*) FROM history").fetchone()[0] == 0


def test_a_newer_database_is_refused_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    QueueStore(path).add([req("a")])
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreTooNew, match="newer Wan Studio") as info:
        QueueStore(path)
    assert "queue reset" in info.value.hint
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: b"this is not a database at all" * 100,
        lambda data: data[:100] + b"\xff" * 4000 + data[4100:],
    ],
    ids=["garbage", "torn-pages"],
)
def test_a_corrupt_database_is_refused_kept_and_reset_only_on_request(
    tmp_path: Path, damage
) -> None:
    path = tmp_path / "queue.sqlite3"
    store = QueueStore(path)
    store.add([req(f"j{i}" * 200) for i in range(50)])
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path.write_bytes(damage(path.read_bytes()))
    before = path.read_bytes()
    with pytest.raises(StoreCorrupt, match="damaged") as info:
        QueueStore(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == before  # kept exactly as it was
    kept = reset_store(path)
    assert kept is not None and kept.read_bytes() == before
    fresh = QueueStore(path)
    assert fresh.jobs() == [] and fresh.integrity_check() == "ok"
