"""The persistent job queue: an SQLite database shared by the app and `wan-studio queue`.

Why SQLite (stdlib ``sqlite3``) and not a JSON file: several processes (the GUI, a headless
``queue run``, a ``queue add`` from a script) read and change the queue at once, and a crash in
the middle of a change must leave it whole. WAL mode lets readers go on while one writer commits;
every change is one ``BEGIN IMMEDIATE`` transaction, so taking the next job is atomic: two
runners never take the same job. ``synchronous=FULL`` makes a committed change survive power loss.

States: queued -> running -> done | failed | cancelled. A running job whose process died (kill
-9, power loss) becomes ``interrupted`` the next time any process opens the store
(``recover``); it never runs again by itself (nothing runs twice) and ``retry`` queues it again.

Torch-free and Qt-free. Connections are per thread (sqlite3 objects must not cross threads).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.queue import schema
from core.queue.errors import (
    JobNotFound,
    JobStateError,
    QueueError,
    StoreCorrupt,
    StoreTooNew,
)
from core.queue.owner import current_owner, owner_alive

QUEUED, RUNNING, DONE, FAILED, CANCELLED, INTERRUPTED = schema.JOB_STATES
FINISHED_STATES = (DONE, FAILED, CANCELLED, INTERRUPTED)
RETRYABLE_STATES = (FAILED, CANCELLED, INTERRUPTED)
STORE_NAME = "queue.sqlite3"
BUSY_TIMEOUT_S = 15.0  # another process's write transaction is milliseconds long
# A job run by another host is declared interrupted when its heartbeat is older than this.
STALE_HEARTBEAT_S = 600.0
LABEL_CHARS = 80


def default_store_path() -> Path:
    from core import paths

    return paths.data_dir() / STORE_NAME


@dataclass(frozen=True)
class QueueJob:
    """One row of the queue, as every reader sees it."""

    id: int
    position: int
    state: str
    request: dict[str, Any]  # GenerationRequest.to_dict(), with the effective seed
    label: str
    batch: str | None
    created: float
    started: float | None
    finished: float | None
    output: str | None
    error: str | None
    hint: str | None
    owner: str | None
    heartbeat: float | None
    cancel_requested: bool
    progress: float
    stage: str | None
    eta: float | None
    attempts: int
    duration: float | None

    @property
    def seed(self) -> int | None:
        seed = self.request.get("seed")
        return seed if isinstance(seed, int) and seed >= 0 else None

    @property
    def model(self) -> str:
        return str(self.request.get("model") or "")

    @property
    def finished_state(self) -> bool:
        return self.state in FINISHED_STATES

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["seed"] = self.seed
        return data


_COLUMNS = tuple(QueueJob.__dataclass_fields__)


def label_for(request: dict[str, Any]) -> str:
    """The job's own label (a comparison has one) or the prompt's first line, shortened:
    what a user recognises a job by."""
    prompt = str(request.get("label") or request.get("prompt") or "").strip()
    first = prompt.splitlines()[0] if prompt else "(no prompt)"
    return first if len(first) <= LABEL_CHARS else first[: LABEL_CHARS - 1] + "…"


class QueueStore:
    """The queue database at ``path`` (see the module docstring). Opening checks and migrates it.

    Raises ``StoreCorrupt`` or ``StoreTooNew`` when the file cannot be used; the file is kept
    as it is (``reset_store`` sets it aside when the user agrees).
    """

    def __init__(self, path: str | Path | None = None, *, recover: bool = True) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.owner = current_owner()
        self._local = threading.local()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open_checked()
        if recover:
            self.recover()

    # ---- connection --------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=True
        )
        db.row_factory = sqlite3.Row
        db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = FULL")
        return db

    @property
    def db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
        return db

    def close(self) -> None:
        """Close this thread's connection (others close when their thread's store is dropped)."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _open_checked(self) -> None:
        try:
            db = self.db
            db.execute("PRAGMA journal_mode = WAL")
            found = db.execute("PRAGMA user_version").fetchone()[0]
            if found > schema.SCHEMA_VERSION:
                raise StoreTooNew(self.path, found, schema.SCHEMA_VERSION)
            check = db.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreCorrupt(self.path, str(check))
            if found < schema.SCHEMA_VERSION:
                with self.write() as tx:
                    again = tx.execute("PRAGMA user_version").fetchone()[0]  # raced?
                    if again < schema.SCHEMA_VERSION:
                        schema.migrate(tx, again)
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreCorrupt(self.path, str(exc)) from None
        except BaseException:
            self.close()
            raise

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: the write lock is taken up front)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def data_version(self) -> int:
        """Changes when another connection commits: a cheap 'did anything change?' poll."""
        return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    # ---- reading -----------------------------------------------------------------------------
    def jobs(self, states: Iterable[str] | None = None) -> list[QueueJob]:
        """Jobs in queue order: running first, then queued by position, then finished (newest)."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM jobs"
        args: list[Any] = []
        if states is not None:
            wanted = list(states)
            sql += f" WHERE state IN ({', '.join('?' for _ in wanted)})"
            args.extend(wanted)
        sql += (
            " ORDER BY CASE state WHEN 'running' THEN 0 WHEN 'queued' THEN 1 ELSE 2 END,"
            " CASE WHEN state IN ('running', 'queued') THEN position ELSE -COALESCE(finished, 0) END,"
            " id"
        )
        return [_job(row) for row in self.db.execute(sql, args)]

    def get(self, job_id: int) -> QueueJob:
        return self._get_in(self.db, job_id)

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(schema.JOB_STATES, 0)
        for state, n in self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            counts[state] = n
        return counts

    @property
    def paused(self) -> bool:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'paused'").fetchone()
        return bool(row) and row[0] == "1"

    def set_paused(self, paused: bool) -> None:
        with self.write() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES ('paused', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                ("1" if paused else "0",),
            )

    # ---- adding and ordering -----------------------------------------------------------------
    def add(self, requests: Iterable[dict[str, Any]], batch: str | None = None) -> list[int]:
        """Append requests (``to_dict()`` form) at the end, in order; returns their job ids."""
        now = time.time()
        ids: list[int] = []
        with self.write() as db:
            position = _next_position(db)
            for request in requests:
                text = json.dumps(request, ensure_ascii=False, sort_keys=True)
                cursor = db.execute(
                    "INSERT INTO jobs (position, state, request, label, batch, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (position, QUEUED, text, label_for(request), batch, now),
                )
                ids.append(int(cursor.lastrowid))
                position += 1
        return ids

    def move(self, job_id: int, index: int) -> None:
        """Put a queued job at ``index`` among the queued jobs (0 = next to run)."""
        with self.write() as db:
            job = self._get_in(db, job_id)
            if job.state != QUEUED:
                raise JobStateError(
                    f"Job {job_id} is {job.state}: only queued jobs can be moved.",
                    "Retry or duplicate it to queue it again.",
                )
            order = [
                row[0]
                for row in db.execute(
                    "SELECT id FROM jobs WHERE state = 'queued' ORDER BY position, id"
                )
            ]
            order.remove(job_id)
            order.insert(max(0, min(index, len(order))), job_id)
            base = _next_position(db)  # renumber above every position in use: no collisions
            db.executemany(
                "UPDATE jobs SET position = ? WHERE id = ?",
                [(base + n, jid) for n, jid in enumerate(order)],
            )

    def remove(self, job_ids: Iterable[int]) -> int:
        """Delete jobs that are not running; a running one must be cancelled first."""
        removed = 0
        with self.write() as db:
            for job_id in job_ids:
                job = self._get_in(db, job_id)
                if job.state == RUNNING:
                    raise JobStateError(
                        f"Job {job_id} is running and cannot be removed.",
                        f"Cancel it first (`wan-studio queue cancel {job_id}`).",
                    )
                removed += db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount
        return removed

    def clear(self, states: Iterable[str] = FINISHED_STATES) -> int:
        """Remove every job in ``states`` (running jobs are never removed)."""
        wanted = [s for s in states if s != RUNNING]
        if not wanted:
            return 0
        with self.write() as db:
            return db.execute(
                f"DELETE FROM jobs WHERE state IN ({', '.join('?' for _ in wanted)})", wanted
            ).rowcount

    def retry(self, job_id: int) -> None:
        """Queue a failed, cancelled or interrupted job again, at the end (same id, same seed)."""
        with self.write() as db:
            job = self._get_in(db, job_id)
            if job.state not in RETRYABLE_STATES:
                raise JobStateError(
                    f"Job {job_id} is {job.state}: only failed, cancelled or interrupted jobs "
                    "can be retried.",
                    "Duplicate it to run the same settings again.",
                )
            db.execute(
                "UPDATE jobs SET state = 'queued', position = ?, started = NULL, finished = NULL,"
                " output = NULL, error = NULL, hint = NULL, owner = NULL, heartbeat = NULL,"
                " cancel_requested = 0, progress = 0, stage = NULL, eta = NULL, duration = NULL"
                " WHERE id = ?",
                (_next_position(db), job_id),
            )

    def duplicate(self, job_id: int) -> int:
        """A new queued job with the same request (and seed), at the end."""
        job = self.get(job_id)
        return self.add([job.request], batch=job.batch)[0]

    # ---- running -----------------------------------------------------------------------------
    def claim(self, exclude: Iterable[int] = ()) -> QueueJob | None:
        """Take the next queued job for this process (atomic), or None (empty or paused).
        ``exclude``: queued jobs this process holds back (the GUI's jobs left from last time)."""
        now = time.time()
        skip = list(exclude)
        with self.write() as db:
            paused = db.execute("SELECT value FROM meta WHERE key = 'paused'").fetchone()
            if paused and paused[0] == "1":
                return None
            row = db.execute(
                "SELECT id FROM jobs WHERE state = 'queued'"
                f" AND id NOT IN ({', '.join('?' for _ in skip)})"
                " ORDER BY position, id LIMIT 1",
                skip,
            ).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', owner = ?, started = ?, heartbeat = ?,"
                " attempts = attempts + 1, progress = 0, stage = NULL, eta = NULL WHERE id = ?",
                (self.owner, now, now, row[0]),
            )
            return self._get_in(db, row[0])

    def plan_output(self, job_id: int, output: str) -> None:
        """Record where the running job will write its video (used by ``recover``)."""
        self._owned_update(job_id, "output = ?", (output,))

    def report(self, job_id: int, progress: float, stage: str | None, eta: float | None) -> bool:
        """Progress + heartbeat of a running job; returns True when a cancel was requested."""
        self._owned_update(
            job_id,
            "progress = ?, stage = ?, eta = ?, heartbeat = ?",
            (max(0.0, min(1.0, float(progress))), stage, eta, time.time()),
        )
        row = self.db.execute(
            "SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return bool(row and row[0])

    def finish(
        self,
        job_id: int,
        state: str,
        *,
        output: str | None = None,
        error: str | None = None,
        hint: str | None = None,
        request: dict[str, Any] | None = None,
    ) -> None:
        """End a job this process runs (done / failed / cancelled)."""
        if state not in (DONE, FAILED, CANCELLED):
            raise ValueError(f"a job cannot finish as {state!r}")
        now = time.time()
        with self.write() as db:
            job = self._get_in(db, job_id)
            if job.state != RUNNING or job.owner != self.owner:
                return  # recovered or taken over meanwhile: the store already tells its story
            db.execute(
                "UPDATE jobs SET state = ?, finished = ?, output = COALESCE(?, output),"
                " error = ?, hint = ?, progress = CASE WHEN ? = 'done' THEN 1 ELSE progress END,"
                " eta = NULL, duration = ? - COALESCE(started, ?),"
                " request = COALESCE(?, request) WHERE id = ?",
                (
                    state,
                    now,
                    output,
                    error,
                    hint,
                    state,
                    now,
                    now,
                    json.dumps(request, ensure_ascii=False, sort_keys=True) if request else None,
                    job_id,
                ),
            )

    def cancel(self, job_id: int) -> str:
        """Cancel a job: a queued one at once; a running one is asked to stop after its step.

        Returns the job's state afterwards ('cancelled', or 'running' while it stops)."""
        with self.write() as db:
            job = self._get_in(db, job_id)
            if job.state == QUEUED:
                db.execute(
                    "UPDATE jobs SET state = 'cancelled', finished = ?, error = ? WHERE id = ?",
                    (time.time(), "cancelled before it started", job_id),
                )
                return CANCELLED
            if job.state == RUNNING:
                db.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
                return RUNNING
            raise JobStateError(f"Job {job_id} is {job.state}: there is nothing to cancel.")

    def recover(self) -> list[int]:
        """Running jobs whose process is gone become interrupted (or done if they finished).

        A job that wrote its sidecar (the last file of a run) did finish: it becomes done. Any
        other leftover of its planned output (a temp file, a video without its sidecar) is
        removed, so no partial MP4 stays behind. Returns the ids that changed.
        """
        from core.queue.outputs import finished_output, remove_partial_output

        changed: list[int] = []
        now = time.time()
        with self.write() as db:
            rows = db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE state = 'running'"
            ).fetchall()
            for job in map(_job, rows):
                alive = owner_alive(job.owner)
                if alive is None:
                    alive = now - (job.heartbeat or 0.0) < STALE_HEARTBEAT_S
                if alive:
                    continue
                if job.output and finished_output(job.output):
                    db.execute(
                        "UPDATE jobs SET state = 'done', finished = ?, progress = 1 WHERE id = ?",
                        (now, job.id),
                    )
                else:
                    if job.output:
                        remove_partial_output(job.output)
                    percent = f" at {job.progress:.0%}" if job.progress else ""
                    db.execute(
                        "UPDATE jobs SET state = 'interrupted', finished = ?, error = ?, hint = ?"
                        " WHERE id = ?",
                        (
                            now,
                            f"interrupted{percent}: the process running it stopped "
                            "(closed, killed or a power loss)",
                            "Retry it to run it again from the start.",
                            job.id,
                        ),
                    )
                changed.append(job.id)
        return changed

    # ---- helpers -----------------------------------------------------------------------------
    def _get_in(self, db: sqlite3.Connection, job_id: int) -> QueueJob:
        row = db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return _job(row)

    def _owned_update(self, job_id: int, assignments: str, args: tuple[Any, ...]) -> None:
        with self.write() as db:
            db.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ? AND state = 'running' AND owner = ?",
                (*args, job_id, self.owner),
            )


def _next_position(db: sqlite3.Connection) -> int:
    row = db.execute("SELECT MAX(position) FROM jobs").fetchone()
    return int(row[0]) + 1 if row and row[0] is not None else 0


def _job(row: sqlite3.Row) -> QueueJob:
    data = dict(zip(_COLUMNS, tuple(row), strict=True))
    try:
        data["request"] = json.loads(data["request"])
    except ValueError:
        data["request"] = {}
    data["cancel_requested"] = bool(data["cancel_requested"])
    return QueueJob(**data)


def reset_store(path: str | Path | None = None) -> Path | None:
    """Set a damaged or too-new database aside (``<name>.corrupt-<time>``, with its -wal/-shm)
    so a fresh one starts. Only on the user's word: the file is never deleted."""
    source = Path(path).expanduser() if path is not None else default_store_path()
    if not source.exists():
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept = source.with_name(f"{source.name}.corrupt-{stamp}")
    n = 2
    while kept.exists():
        kept = source.with_name(f"{source.name}.corrupt-{stamp}-{n}")
        n += 1
    source.replace(kept)
    for suffix in ("-wal", "-shm"):
        side = source.with_name(source.name + suffix)
        if side.exists():
            side.replace(kept.with_name(kept.name + suffix))
    return kept


__all__ = [
    "CANCELLED",
    "DONE",
    "FAILED",
    "FINISHED_STATES",
    "INTERRUPTED",
    "QUEUED",
    "RETRYABLE_STATES",
    "RUNNING",
    "QueueError",
    "QueueJob",
    "QueueStore",
    "default_store_path",
    "label_for",
    "reset_store",
]
