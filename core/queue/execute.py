"""Run one claimed queue job through the runner, keeping the store up to date.

The one executor for the GUI's engine thread and for `wan-studio queue run`: it fixes the job's
output path (``QueueStore.plan_output``, so a crash can be cleaned up), runs the request with
``Runner.run`` (the only place that executes a request), and records the outcome. A heartbeat
thread writes progress to the store every ``HEARTBEAT_S`` and turns a cancel asked for by
another process (`wan-studio queue cancel`) into the run's CancelToken.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from core.progress import CancelToken
from core.queue.kinds import COMPARE_JOB
from core.queue.store import CANCELLED, DONE, FAILED, QueueJob, QueueStore

HEARTBEAT_S = 1.0


class _Heartbeat(threading.Thread):
    """Writes the latest progress and polls for a cancel request, off the runner's thread."""

    def __init__(self, store: QueueStore, job_id: int, cancel: CancelToken) -> None:
        super().__init__(name=f"queue-heartbeat-{job_id}", daemon=True)
        self.store = store
        self.job_id = job_id
        self.cancel = cancel
        self.progress = 0.0
        self.stage: str | None = None
        self.eta: float | None = None
        self._halt = threading.Event()

    def note(self, event: Any) -> None:
        self.progress = float(getattr(event, "overall", self.progress) or self.progress)
        stage = getattr(event, "stage", None)
        if isinstance(stage, str):
            self.stage = stage
        if getattr(event, "kind", "") == "step":
            self.eta = getattr(event, "eta_seconds", None)

    def run(self) -> None:
        while not self._halt.wait(HEARTBEAT_S):
            self.beat()
        self.store.close()  # this thread's connection

    def beat(self) -> None:
        try:
            if self.store.report(self.job_id, self.progress, self.stage, self.eta):
                self.cancel.cancel("cancelled from the queue")
        except Exception:  # a busy or vanished store must not take the run down
            pass

    def stop(self) -> None:
        self._halt.set()


def run_claimed(
    store: QueueStore,
    job: QueueJob,
    runner: Any,
    emit: Callable[[Any], None],
    cancel: CancelToken,
) -> Any:
    """Run ``job`` (already claimed by this process) and finish it; returns the outcome."""
    from core.generate import events as ev
    from core.generate.request import GenerationRequest, random_seed
    from core.generate.video import DEFAULT_TEMPLATE, run_video_path

    if job.request.get("kind") == COMPARE_JOB:
        return _run_compare(store, job, runner, emit, cancel)
    try:
        request = GenerationRequest.from_dict(dict(job.request), [])
        if request.seed is None or request.seed < 0:  # queued without a seed: fix it now,
            request.seed = random_seed()  # so the planned file name carries the real one
        video = run_video_path(
            request,
            request.seed,
            getattr(runner, "output_folder", None),
            getattr(runner, "name_template", None) or DEFAULT_TEMPLATE,
        )
        request.output = str(video)
        store.plan_output(job.id, str(video.absolute()))
    except Exception as exc:  # a bad stored request or an unusable output folder
        outcome = ev.Failed(message=f"Job {job.id} could not start: {exc}", hint="")
        store.finish(job.id, FAILED, error=outcome.message)
        emit(outcome)
        return outcome

    return _with_heartbeat(store, job, emit, cancel, lambda fwd: runner.run(request, fwd, cancel))


def _run_compare(
    store: QueueStore, job: QueueJob, runner: Any, emit: Callable[[Any], None], cancel: CancelToken
) -> Any:
    """A comparison job (core/compare/job.py): its report folder is its output."""
    from core.compare.job import run_job

    store.plan_output(job.id, str(job.request.get("output") or ""))
    return _with_heartbeat(
        store, job, emit, cancel, lambda fwd: run_job(dict(job.request), runner, fwd, cancel)
    )


def _with_heartbeat(
    store: QueueStore,
    job: QueueJob,
    emit: Callable[[Any], None],
    cancel: CancelToken,
    work: Callable[[Callable[[Any], None]], Any],
) -> Any:
    """Run ``work(forward)`` with the heartbeat going and record its outcome in the store."""
    heartbeat = _Heartbeat(store, job.id, cancel)
    heartbeat.start()

    def forward(event: Any) -> None:
        heartbeat.note(event)
        emit(event)

    try:
        outcome = work(forward)
    except BaseException as exc:
        heartbeat.stop()
        store.finish(job.id, FAILED, error=str(exc) or type(exc).__name__)
        raise
    heartbeat.stop()
    heartbeat.join(timeout=5)
    _record(store, job.id, outcome)
    return outcome


def _record(store: QueueStore, job_id: int, outcome: Any) -> None:
    kind = getattr(outcome, "kind", "")
    if kind == "done":
        store.finish(job_id, DONE, output=outcome.video)
    elif kind == "cancelled":
        store.finish(job_id, CANCELLED, error=getattr(outcome, "reason", "") or "cancelled")
    else:
        store.finish(
            job_id,
            FAILED,
            error=getattr(outcome, "message", "") or "failed",
            hint=getattr(outcome, "hint", "") or None,
        )
