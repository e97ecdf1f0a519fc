"""The engine thread: one long-lived QThread whose worker owns the core Runner.

Why this shape (shared/reference/apps.md, Anki's serial collection executor and napari's
workers): loading a Wan model takes seconds to minutes, so the runner lives in ONE worker
thread for the whole session and keeps models warm between jobs; jobs are queued to it through
a queued signal and run one at a time, in order. Everything the worker reports comes back as
queued Qt signals, so widgets only ever run on the GUI thread.

- ``Engine.submit(fn)`` runs ``fn(ctx)`` on the worker (``ctx`` gives the warm runner, the
  job's CancelToken and ``emit`` for core events). ``Engine.generate(request)`` is the
  generation job. ``Engine.run_io(fn)`` runs short work that never touches the runner (reading
  a video's metadata, scanning history, decoding frames) on a small thread pool, so it is not
  stuck behind a long generation.
- Cancel sets the job's ``core.progress.CancelToken`` directly from the GUI thread: a queued
  slot could not run while the worker is blocked inside a denoising step.
- Preview arrays become QImages on the worker (``QImage(...).copy()``), so the GUI thread only
  paints them.
- Nothing here imports torch or a core module that does at import time: the worker imports
  ``core.generate.runner`` lazily, inside the thread, on the first job.
"""

from __future__ import annotations

import itertools
import logging
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import (
    QCoreApplication,
    QObject,
    QRunnable,
    Qt,
    QThread,
    QThreadPool,
    QTimer,
    Signal,
    Slot,
)
from PySide6.QtGui import QImage

from core.progress import Cancelled, CancelToken

log = logging.getLogger(__name__)
_ORPHANED_THREADS: list[Any] = []  # engine threads still busy at shutdown (see Engine.shutdown)
# Idle jobs (the start-up warm-up) wait this long after the user's last edit: a step's GIL-bound
# import then never competes with typing.
IDLE_AFTER_ACTIVITY_S = 1.0


@dataclass
class JobError:
    """A job that raised: what happened, what to try, and the traceback for a details box."""

    message: str
    hint: str = ""
    details: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException) -> JobError:
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        message = str(exc) or type(exc).__name__
        return cls(message=message, hint=str(getattr(exc, "hint", "") or ""), details=details)


@dataclass
class PreviewFrame:
    """A core ``Preview`` event with its image already converted to a QImage (on the worker)."""

    image: QImage
    event: Any  # core.generate.events.Preview (its numpy ``image`` is dropped to save memory)


class JobContext:
    """What a job function receives on the worker thread."""

    def __init__(self, worker: _Worker, job_id: int, cancel: CancelToken) -> None:
        self._worker = worker
        self.job_id = job_id
        self.cancel = cancel

    def emit(self, event: Any) -> None:
        """Forward a core event to the GUI thread (queued); previews become QImages here."""
        self._worker.forward_event(self.job_id, event)

    def runner(self) -> Any:
        """The worker's warm ``core.generate.runner.Runner`` (created on first use)."""
        return self._worker.runner()


JobFn = Callable[[JobContext], Any]


@dataclass
class Job:
    """A submitted job, as the GUI sees it. ``cancel()`` is safe from the GUI thread."""

    id: int
    name: str
    token: CancelToken = field(default_factory=CancelToken)
    on_event: Callable[[Any], None] | None = None
    on_preview: Callable[[PreviewFrame], None] | None = None
    on_done: Callable[[Any], None] | None = None
    on_error: Callable[[JobError], None] | None = None
    on_cancelled: Callable[[], None] | None = None
    finished: bool = False
    background: bool = False  # housekeeping (device probe, warm-up): never worth a prompt

    def cancel(self, reason: str = "cancelled by user") -> None:
        # Directly, not through a signal: the worker polls the token between steps.
        self.token.cancel(reason)


class _Worker(QObject):
    """Lives in the engine thread; runs one job at a time in submission order."""

    event = Signal(int, object)  # job id, core event
    preview = Signal(int, object)  # job id, PreviewFrame
    done = Signal(int, object)  # job id, return value of the job function
    failed = Signal(int, object)  # job id, JobError
    cancelled = Signal(int)  # job id
    started = Signal(int)  # job id

    def __init__(self, runner_factory: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self._runner: Any = None
        self._runner_factory = runner_factory

    def runner(self) -> Any:
        if self._runner is None:
            if self._runner_factory is not None:
                self._runner = self._runner_factory()
            else:
                from core.generate.runner import Runner  # imports torch: worker thread only

                self._runner = Runner()
        return self._runner

    def forward_event(self, job_id: int, event: Any) -> None:
        image = getattr(event, "image", None)
        if image is not None and getattr(event, "kind", "") == "preview":
            qimage = _to_qimage(image)
            if qimage is not None:
                self.preview.emit(job_id, PreviewFrame(qimage, event))
            return
        self.event.emit(job_id, event)

    @Slot(int, object, object)
    def run_job(self, job_id: int, fn: JobFn, token: CancelToken) -> None:
        if token.cancelled:  # cancelled while it waited in the queue
            self.cancelled.emit(job_id)
            return
        self.started.emit(job_id)
        try:
            result = fn(JobContext(self, job_id, token))
        except Cancelled:
            self.cancelled.emit(job_id)
        except Exception as exc:
            log.exception("engine job %d failed", job_id)
            self.failed.emit(job_id, JobError.from_exception(exc))
        except BaseException as exc:
            self.failed.emit(job_id, JobError.from_exception(exc))
        else:
            self.done.emit(job_id, result)

    @Slot()
    def release(self) -> None:
        """Drop the runner (and the models it keeps warm) on the thread that made it."""
        runner, self._runner = self._runner, None
        unload = getattr(runner, "unload", None)
        if callable(unload):
            try:
                unload()
            except Exception:
                log.exception("closing the runner failed")


def _to_qimage(array: Any) -> QImage | None:
    """uint8 RGB [H, W, 3] numpy array -> a QImage that owns its pixels (worker thread)."""
    try:
        import numpy as np

        data = np.ascontiguousarray(array, dtype=np.uint8)
        if data.ndim != 3 or data.shape[2] != 3:
            return None
        height, width = data.shape[:2]
        return QImage(data.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()
    except Exception:
        log.exception("could not convert a preview image")
        return None


class _IoTask(QRunnable):
    """Short work off the GUI thread that never touches the runner (Anki's second executor)."""

    def __init__(self, engine: Engine, job: Job, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._engine = engine
        self._job = job
        self._fn = fn

    def run(self) -> None:
        try:
            result = self._fn()
        except Exception as exc:
            self._engine._io_failed.emit(self._job.id, JobError.from_exception(exc))
        else:
            self._engine._io_done.emit(self._job.id, result)


class Engine(QObject):
    """GUI-side handle of the engine thread. Create one per main window; call ``shutdown``."""

    _submit = Signal(int, object, object)  # queued into the worker thread
    _io_done = Signal(int, object)
    _io_failed = Signal(int, object)

    busy_changed = Signal(bool)  # True while a runner job runs or waits
    job_started = Signal(int)

    def __init__(
        self, parent: QObject | None = None, runner_factory: Callable[[], Any] | None = None
    ) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._jobs: dict[int, Job] = {}
        self._runner_jobs: list[int] = []  # submitted, not finished, in order
        self._thread = QThread()
        self._thread.setObjectName("wan-studio-engine")
        self._worker = _Worker(runner_factory)
        self._worker.moveToThread(self._thread)
        # finished is emitted on the engine thread itself: release the runner there, then delete.
        self._thread.finished.connect(self._worker.release, Qt.ConnectionType.DirectConnection)
        self._thread.finished.connect(self._worker.deleteLater)
        self._submit.connect(self._worker.run_job)
        self._worker.started.connect(self._on_started)
        self._worker.event.connect(self._on_event)
        self._worker.preview.connect(self._on_preview)
        self._worker.done.connect(self._on_done)
        self._worker.failed.connect(self._on_failed)
        self._worker.cancelled.connect(self._on_cancelled)
        self._io_done.connect(self._on_done)
        self._io_failed.connect(self._on_failed)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._shut_down = False
        # Idle jobs: GUI-side queue, fed to the worker one at a time when nothing else waits.
        self._idle: deque[tuple[str, Callable[[], Any], Any, Any]] = deque()
        self._idle_running = False
        self._last_activity = -IDLE_AFTER_ACTIVITY_S
        self._idle_timer = QTimer(self)
        self._idle_timer.setSingleShot(True)
        self._idle_timer.timeout.connect(self._pump_idle)
        app = QCoreApplication.instance()
        if app is not None:  # last line of defence: never leave the thread running at exit
            app.aboutToQuit.connect(self.shutdown)

    def _ensure_started(self) -> None:
        """The thread starts with the first job: an engine nobody used costs nothing."""
        if not self._thread.isRunning() and not self._shut_down:
            self._thread.start()

    # ---- submitting -----------------------------------------------------------------------
    def submit(
        self,
        fn: JobFn,
        *,
        name: str = "job",
        on_event: Callable[[Any], None] | None = None,
        on_preview: Callable[[PreviewFrame], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
        background: bool = False,
    ) -> Job:
        """Queue ``fn(ctx)`` on the engine thread; callbacks run on the GUI thread.

        ``background`` marks housekeeping the user did not ask for (``user_busy`` ignores it).

        After ``shutdown`` (a timer firing while the window closes) the job is dropped: it is
        returned already finished and cancelled, and no callback runs.
        """
        if self._shut_down:
            log.info("engine is shut down: %s dropped", name)
            return self._dropped(name)
        job = Job(
            next(self._ids),
            name,
            on_event=on_event,
            on_preview=on_preview,
            on_done=on_done,
            on_error=on_error,
            on_cancelled=on_cancelled,
            background=background,
        )
        self._ensure_started()
        self._jobs[job.id] = job
        self._runner_jobs.append(job.id)
        if len(self._runner_jobs) == 1:
            self.busy_changed.emit(True)
        self._submit.emit(job.id, fn, job.token)
        return job

    def generate(
        self,
        request: Any,
        *,
        on_event: Callable[[Any], None] | None = None,
        on_preview: Callable[[PreviewFrame], None] | None = None,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
        on_cancelled: Callable[[], None] | None = None,
    ) -> Job:
        """Run a ``GenerationRequest``; ``on_done`` receives the runner's outcome
        (``Done`` / ``Failed`` / ``Cancelled`` from core.generate.events)."""

        def run(ctx: JobContext) -> Any:
            return ctx.runner().run(request, ctx.emit, ctx.cancel)

        return self.submit(
            run,
            name="generate",
            on_event=on_event,
            on_preview=on_preview,
            on_done=on_done,
            on_error=on_error,
            on_cancelled=on_cancelled,
        )

    def run_io(
        self,
        fn: Callable[[], Any],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
    ) -> Job:
        """Run ``fn()`` on the I/O pool (not behind a generation); callbacks on the GUI thread."""
        if self._shut_down:
            return self._dropped("io")
        job = Job(next(self._ids), "io", on_done=on_done, on_error=on_error)
        self._jobs[job.id] = job
        self._pool.start(_IoTask(self, job, fn))
        return job

    def submit_idle(
        self,
        fn: Callable[[], Any],
        *,
        name: str,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
    ) -> None:
        """Queue housekeeping ``fn()`` that yields to everything else.

        Idle jobs run one at a time, in order, only when no other engine job runs or waits and
        the user has not edited anything for ``IDLE_AFTER_ACTIVITY_S``. So a job the user asks
        for (even one submitted after them) waits for at most the one idle job running.
        """
        if self._shut_down:
            return
        self._idle.append((name, fn, on_done, on_error))
        self._pump_idle()

    def note_user_activity(self) -> None:
        """The user is editing: hold back idle jobs for a moment (cheap; call it per edit)."""
        self._last_activity = time.monotonic()

    @property
    def idle_pending(self) -> bool:
        """Idle jobs are queued or one is running."""
        return bool(self._idle) or self._idle_running

    def _pump_idle(self) -> None:
        if self._shut_down or self._idle_running or not self._idle or self._runner_jobs:
            return  # _finish pumps again when the engine empties
        wait = self._last_activity + IDLE_AFTER_ACTIVITY_S - time.monotonic()
        if wait > 0:
            self._idle_timer.start(int(wait * 1000) + 1)
            return
        name, fn, on_done, on_error = self._idle.popleft()
        self._idle_running = True

        def finished(callback: Callable[..., None] | None, *args: Any) -> None:
            self._idle_running = False
            if callback is not None:
                callback(*args)
            self._pump_idle()

        self.submit(
            lambda ctx: fn(),
            name=name,
            background=True,
            on_done=lambda result: finished(on_done, result),
            on_error=lambda error: finished(
                on_error or (lambda e: log.warning("%s failed: %s", name, e.message)), error
            ),
            on_cancelled=lambda: finished(None),
        )

    def _dropped(self, name: str) -> Job:
        job = Job(next(self._ids), name, finished=True)
        job.token.cancel("the engine was shut down")
        return job

    # ---- state ----------------------------------------------------------------------------
    @property
    def is_shut_down(self) -> bool:
        return self._shut_down

    @property
    def busy(self) -> bool:
        return bool(self._runner_jobs)

    @property
    def user_busy(self) -> bool:
        """A job the user started (a generation, a demo model...) is running or waiting."""
        if self._shut_down:
            return False
        return any(not self._jobs[i].background for i in self._runner_jobs if i in self._jobs)

    def cancel_all(self, reason: str = "cancelled by user") -> None:
        for job_id in list(self._runner_jobs):
            self._jobs[job_id].cancel(reason)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel everything, stop the thread and wait for it. True when it stopped in time."""
        if self._shut_down:
            return True
        self._shut_down = True
        self._idle.clear()
        self._idle_running = False
        self._idle_timer.stop()
        self.cancel_all("the app is closing")
        if not self._thread.isRunning():
            self._pool.waitForDone(timeout_ms)
            return True
        self._thread.quit()
        stopped = self._thread.wait(timeout_ms)
        if not stopped:
            # Destroying a running QThread aborts the process: keep it referenced until exit.
            log.warning("the engine thread did not stop within %d ms", timeout_ms)
            _ORPHANED_THREADS.append((self._thread, self._worker))
        self._pool.waitForDone(timeout_ms)
        return stopped

    @property
    def is_running(self) -> bool:
        return self._thread.isRunning()

    # ---- results (GUI thread) -------------------------------------------------------------
    def _on_started(self, job_id: int) -> None:
        self.job_started.emit(job_id)

    def _on_event(self, job_id: int, event: Any) -> None:
        job = self._jobs.get(job_id)
        if job is not None and job.on_event is not None:
            _call(job.on_event, event)

    def _on_preview(self, job_id: int, frame: PreviewFrame) -> None:
        job = self._jobs.get(job_id)
        if job is not None and job.on_preview is not None and not job.token.cancelled:
            _call(job.on_preview, frame)

    def _finish(self, job_id: int) -> Job | None:
        job = self._jobs.pop(job_id, None)
        if job is not None:
            job.finished = True
        if job_id in self._runner_jobs:
            self._runner_jobs.remove(job_id)
            if not self._runner_jobs:
                self.busy_changed.emit(False)
                if not self._idle_running:
                    QTimer.singleShot(0, self._pump_idle)
        return job

    def _on_done(self, job_id: int, result: Any) -> None:
        job = self._finish(job_id)
        if job is not None and job.on_done is not None:
            _call(job.on_done, result)

    def _on_failed(self, job_id: int, error: JobError) -> None:
        job = self._finish(job_id)
        if job is None:
            return
        if job.on_error is not None:
            _call(job.on_error, error)
        else:
            log.error("engine job %s failed: %s\n%s", job.name, error.message, error.details)

    def _on_cancelled(self, job_id: int) -> None:
        job = self._finish(job_id)
        if job is not None and job.on_cancelled is not None:
            _call(job.on_cancelled)


def _call(callback: Callable[..., Any], *args: Any) -> None:
    """Run a GUI callback; an exception in one must not break the engine's bookkeeping."""
    try:
        callback(*args)
    except Exception:
        sys.excepthook(*sys.exc_info())


# ---- job functions (run on the worker thread; they may import torch) -----------------------
def probe_devices() -> list[tuple[str, str]]:
    """Devices this machine can run on, as (value, label), best first. Imports torch."""
    import torch

    found: list[tuple[str, str]] = []
    try:
        import torch_npu  # noqa: F401

        if torch.npu.is_available():  # type: ignore[attr-defined]
            for i in range(torch.npu.device_count()):  # type: ignore[attr-defined]
                name = torch.npu.get_device_name(i)  # type: ignore[attr-defined]
                found.append((f"npu:{i}" if i else "npu", f"NPU {i}: {name}"))
    except Exception:
        pass
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            found.append(
                (f"cuda:{i}" if i else "cuda", f"CUDA {i}: {torch.cuda.get_device_name(i)}")
            )
    found.append(("cpu", f"CPU ({torch.get_num_threads()} threads)"))
    return found
