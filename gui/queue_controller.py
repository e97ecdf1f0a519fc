"""The GUI's side of the persistent job queue (core/queue): runs queued jobs on the engine.

Why a controller and not widgets talking to the store: the queue outlives every widget (the
Generate form adds to it, the Queue panel edits it, the window title and the tray report it),
and one object must decide when the next job starts. It

- owns the app's ``QueueStore`` (the SQLite file shared with ``wan-studio queue``);
- starts the next job when none of its own runs and the queue is not paused: the claim and the
  run happen inside ONE engine job (gui/engine.py), so the job is taken only when the engine is
  really free, and the same warm Runner runs job after job (a model used twice in a row is not
  reloaded);
- forwards the running job's events, previews and outcome as signals (Generate's progress
  panel, preview and player follow them);
- polls ``data_version()`` once a second, so jobs added, cancelled or run by another process
  show up, and a job another process added starts here when this app is idle;
- at start-up never starts work left from an earlier session by itself: those jobs are *held*
  ("3 jobs waiting from last time — Resume") until the user resumes; jobs added in this session
  run as usual. Jobs a crash interrupted show as interrupted (retry in one click).

A damaged or too-new database is never replaced silently: the controller falls back to a
session-only queue in a temporary folder and reports ``problem``; the main window asks the user
(gui/widgets/queue_dialogs.py) and only ``start_fresh()`` sets the old file aside.

Store calls on the GUI thread are single short SQLite transactions (milliseconds; the
benchmark bench/queue.py measures them); nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from core.queue.errors import QueueError, StoreUnusable
from core.queue.store import (
    FINISHED_STATES,
    QUEUED,
    RETRYABLE_STATES,
    RUNNING,
    QueueJob,
    QueueStore,
    reset_store,
)

if TYPE_CHECKING:
    from gui.bus import AppBus
    from gui.engine import Job, JobContext, JobError, PreviewFrame

log = logging.getLogger(__name__)
POLL_MS = 1000


@dataclass
class Claimed:
    """Emitted on the engine thread right after the claim: which queue job this run is."""

    job: QueueJob
    kind: str = "queue_claimed"


@dataclass
class Live:
    """The running job's latest progress, from its events (fresher than the store's heartbeat)."""

    progress: float = 0.0
    eta: float | None = None
    stage: str | None = None


class QueueController(QObject):
    """See the module docstring. One per main window, handed out by the bus (``bus.queue``)."""

    changed = Signal()  # the job list, a state or the pause changed: re-read ``jobs``
    job_started = Signal(object)  # QueueJob claimed by this app
    job_event = Signal(int, object)  # job id, core event of the running job
    job_preview = Signal(int, object)  # job id, PreviewFrame
    job_finished = Signal(object, object)  # QueueJob as finished, outcome (core event/JobError)
    queue_finished = Signal(dict)  # outcome counts since the queue last started
    problem_found = Signal(object)  # StoreUnusable: the main window asks the user

    def __init__(
        self,
        bus: AppBus,
        path: str | Path | None = None,
        parent: QObject | None = None,
        poll_ms: int = POLL_MS,
    ) -> None:
        super().__init__(parent)
        self.bus = bus
        self.path = Path(path) if path is not None else None
        self.problem: StoreUnusable | None = None
        self.jobs: list[QueueJob] = []
        self.held: set[int] = set()
        self.recovered: list[int] = []  # interrupted by a crash, found at this start
        self.current: QueueJob | None = None
        self.live: dict[int, Live] = {}
        self.engine_job: Job | None = None
        self._stretch: Counter[str] = Counter()
        self._version = -1
        self._closed = False
        self._session_dir: tempfile.TemporaryDirectory[str] | None = None
        self.store = self._open()
        self.refresh()
        self.held = {job.id for job in self.jobs if job.state == QUEUED}
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    # ---- the store ----------------------------------------------------------------------------
    def _open(self) -> QueueStore:
        try:
            store = QueueStore(self.path, recover=False)
        except StoreUnusable as exc:
            log.warning("queue store unusable: %s", exc)
            self.problem = exc
            return self._session_store()
        self.recovered = store.recover()
        return store

    def _session_store(self) -> QueueStore:
        """A queue for this session only (the real file is unusable and kept untouched)."""
        self._session_dir = tempfile.TemporaryDirectory(prefix="wan-studio-queue-")
        return QueueStore(Path(self._session_dir.name) / "queue.sqlite3")

    @property
    def persistent(self) -> bool:
        """False while the queue lives in a temporary file (after a store problem)."""
        return self._session_dir is None

    def start_fresh(self) -> Path | None:
        """The user agreed: set the unusable file aside, open a fresh one, carry jobs over.

        Returns where the old file was kept. Queued jobs of the session queue move along."""
        problem = self.problem
        if problem is None:
            return None
        kept = reset_store(problem.path)
        carried = [job.request for job in self.store.jobs([QUEUED])]
        fresh = QueueStore(problem.path)
        if carried:
            fresh.add(carried)
        self.store.close()
        self.store = fresh
        self.problem = None
        self._session_dir = None  # the temporary folder goes with the old object
        self.refresh()
        self.pump()
        return kept

    # ---- reading ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-read the jobs (and the version the next poll compares with); emits ``changed``."""
        try:
            self._version = self.store.data_version()
            self.jobs = self.store.jobs()
        except Exception:  # a locked or vanished file must not take the window down
            log.exception("could not read the queue")
        self.held &= {job.id for job in self.jobs if job.state == QUEUED}
        self.changed.emit()

    def poll(self) -> None:
        """Timer: pick up changes made by other connections (another process, the heartbeat)."""
        if self._closed:
            return
        try:
            version = self.store.data_version()
        except Exception:
            return
        if version != self._version:
            self.refresh()
            self.pump()

    def job(self, job_id: int) -> QueueJob | None:
        return next((job for job in self.jobs if job.id == job_id), None)

    def counts(self) -> Counter[str]:
        return Counter(job.state for job in self.jobs)

    @property
    def paused(self) -> bool:
        """Paused by the user (in this app or with `wan-studio queue`): nothing starts."""
        try:
            return self.store.paused
        except Exception:
            return False

    @property
    def running(self) -> bool:
        """A job of this app's is running or about to (its engine job is submitted)."""
        return self.engine_job is not None and not self.engine_job.finished

    def foreign_running(self) -> QueueJob | None:
        """A job another process (e.g. `wan-studio queue run`) runs right now."""
        for job in self.jobs:
            if job.state == RUNNING and job.owner != self.store.owner:
                return job
        return None

    def next_job(self) -> QueueJob | None:
        """The job this app would start next (None while paused or when nothing may run)."""
        if self.paused:
            return None
        return next(
            (job for job in self.jobs if job.state == QUEUED and job.id not in self.held), None
        )

    def will_start_now(self) -> bool:
        """Would a job added now start at once? (Generate's button says so.)"""
        return (
            not self.running
            and not self.paused
            and self.foreign_running() is None
            and self.next_job() is None
        )

    @property
    def ended_in_stretch(self) -> int:
        """Jobs that ended since the queue last ran dry (the whole-queue progress counts them)."""
        return sum(self._stretch.values())

    def live_progress(self, job: QueueJob) -> tuple[float, float | None]:
        """(fraction, ETA seconds) of a job: live for this app's run, else the heartbeat's."""
        live = self.live.get(job.id)
        if live is not None and job.state == RUNNING:
            return live.progress, live.eta
        return job.progress, job.eta

    # ---- changing -----------------------------------------------------------------------------
    def add(self, requests: list[dict[str, Any]], batch: str | None = None) -> list[int]:
        """Append jobs (request dicts with their seeds fixed) and start one if idle."""
        ids = self.store.add(requests, batch=batch)
        self.refresh()
        self.pump()
        return ids

    def move(self, job_id: int, index: int) -> None:
        """Put a queued job at ``index`` among the queued jobs (0 = next)."""
        self._apply(self.store.move, job_id, index)

    def remove(self, job_ids: list[int]) -> int:
        """Remove jobs that are not running; returns how many went."""
        removable = [i for i in job_ids if (j := self.job(i)) is not None and j.state != RUNNING]
        removed = self._apply(self.store.remove, removable) or 0
        if len(removable) < len(job_ids):
            self.bus.status.emit("A running job cannot be removed: cancel it first")
        return int(removed)

    def retry(self, job_id: int) -> None:
        self.held.discard(job_id)
        self._apply(self.store.retry, job_id)

    def duplicate(self, job_id: int) -> int | None:
        return self._apply(self.store.duplicate, job_id)

    def cancel(self, job_id: int) -> None:
        """Cancel a job: a queued one at once; a running one after its current step."""
        if self.current is not None and self.current.id == job_id and self.engine_job:
            self.engine_job.cancel("cancelled from the queue")  # the token: reaches the step
        self._apply(self.store.cancel, job_id)

    def cancel_current(self) -> bool:
        """Cancel the job this app runs (Generate's Cancel); False when none runs."""
        if self.current is not None:
            self.cancel(self.current.id)
            return True
        if self.running and self.engine_job is not None:
            self.engine_job.cancel()  # submitted, not claimed yet
            return True
        return False

    def clear_finished(self) -> int:
        return int(self._apply(self.store.clear, FINISHED_STATES) or 0)

    def set_paused(self, paused: bool) -> None:
        """Pause (the running job finishes; nothing new starts) or resume (held jobs too)."""
        if not paused:
            self.held.clear()
        self._apply(self.store.set_paused, paused)

    def resume_held(self) -> None:
        """The banner's Resume: run the jobs left from last time."""
        self.held.clear()
        if self.paused:
            self._apply(self.store.set_paused, False)
        else:
            self.refresh()
            self.pump()

    def retry_recovered(self) -> int:
        """Retry every job interrupted by the crash found at start-up."""
        count = 0
        for job_id in list(self.recovered):
            job = self.job(job_id)
            if job is not None and job.state in RETRYABLE_STATES:
                self._apply(self.store.retry, job_id, refresh=False)
                count += 1
        self.recovered = []
        self.refresh()
        self.pump()
        return count

    def _apply(self, fn: Any, *args: Any, refresh: bool = True) -> Any:
        try:
            result = fn(*args)
        except QueueError as exc:
            self.bus.status.emit(f"{exc} {exc.hint}".strip())
            result = None
        if refresh:
            self.refresh()
            self.pump()
        return result

    # ---- running ------------------------------------------------------------------------------
    def pump(self) -> None:
        """Start the next job when none of ours runs, nothing is paused and the engine is up."""
        if self._closed or self.running:
            return
        engine = self.bus.engine
        if engine.is_shut_down:
            return
        if self.next_job() is None or self.foreign_running() is not None:
            self._maybe_finished()
            return
        store, held = self.store, frozenset(self.held)

        def run(ctx: JobContext) -> Any:
            from core.queue.execute import run_claimed

            job = store.claim(exclude=held)
            if job is None:
                return None
            ctx.emit(Claimed(job))
            outcome = run_claimed(store, job, ctx.runner(), ctx.emit, ctx.cancel)
            return store.get(job.id), outcome

        self.engine_job = engine.submit(
            run,
            name="queue job",
            on_event=self._on_event,
            on_preview=self._on_preview,
            on_done=self._on_done,
            on_error=self._on_error,
            on_cancelled=self._on_cancelled,
        )

    def _on_event(self, event: Any) -> None:
        if isinstance(event, Claimed):
            self.current = event.job
            self.live = {event.job.id: Live()}
            self.refresh()
            self.job_started.emit(event.job)
            return
        job = self.current
        if job is None:
            return
        live = self.live.setdefault(job.id, Live())
        overall = getattr(event, "overall", None)
        if isinstance(overall, (int, float)) and overall >= live.progress:
            live.progress = float(overall)
        if getattr(event, "kind", "") == "step":
            live.eta = getattr(event, "eta_seconds", None)
        stage = getattr(event, "stage", None)
        if isinstance(stage, str):
            live.stage = stage
        self.job_event.emit(job.id, event)

    def _on_preview(self, frame: PreviewFrame) -> None:
        if self.current is not None:
            self.job_preview.emit(self.current.id, frame)

    def _on_done(self, result: Any) -> None:
        self.engine_job = None
        if result is None:  # nothing could be claimed (taken elsewhere, paused meanwhile)
            self.current = None
            self.refresh()
            return
        job, outcome = result
        self._ended(job, outcome, getattr(outcome, "kind", "failed"))

    def _on_error(self, error: JobError) -> None:
        """run_claimed raised (it recorded the job as failed first)."""
        self.engine_job = None
        job = self.current
        if job is None:
            self.refresh()
            self.bus.status.emit(f"The queue could not start a job: {error.message}")
            return
        with contextlib.suppress(QueueError):
            job = self.store.get(job.id)
        self._ended(job, error, "failed")

    def _on_cancelled(self) -> None:
        """The engine dropped the job before it ran (cancelled while waiting, or shutdown)."""
        self.engine_job = None
        job = self.current
        self.current = None
        self.refresh()
        if job is not None:
            self.job_finished.emit(job, None)

    def _ended(self, job: QueueJob, outcome: Any, kind: str) -> None:
        self.current = None
        self.live.pop(job.id, None)
        self._stretch[kind] += 1
        self.refresh()
        self.job_finished.emit(job, outcome)
        if not self._closed:
            self.pump()

    def _maybe_finished(self) -> None:
        """Nothing more will start here: report the stretch of jobs that just ended."""
        if self._stretch and not self.running:
            counts, self._stretch = dict(self._stretch), Counter()
            self.queue_finished.emit(counts)

    # ---- summary ------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What the title bar and Generate's queue line show: counts, progress, ETA."""
        from gui.queue_eta import queue_remaining

        counts = self.counts()
        live_eta = {job_id: live.eta for job_id, live in self.live.items()}
        remaining, complete = queue_remaining(self.jobs, live_eta)
        running = [job for job in self.jobs if job.state == RUNNING]
        progress = None
        if running:
            progress = self.live_progress(running[0])[0]
        return {
            "queued": counts.get(QUEUED, 0),
            "running": len(running),
            "held": len(self.held),
            "failed": counts.get("failed", 0),
            "interrupted": counts.get("interrupted", 0),
            "progress": progress,
            "remaining": remaining if (remaining or complete) else None,
            "eta_complete": complete,
            "paused": self.paused,
        }

    def close(self) -> None:
        """Stop polling (the main window closes; the engine cancels the running job)."""
        self._closed = True
        self._timer.stop()


__all__ = ["Claimed", "QueueController"]
