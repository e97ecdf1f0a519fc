"""Work off the GUI thread for the Models and Presets workspaces and the repack wizard.

Two shapes, because the work comes in two shapes:

- ``TaskThread``: one long, cancellable job with progress (a repack: minutes for a real model)
  on its own QThread, so it neither waits behind a generation on the engine thread nor holds
  one of the engine's two I/O threads for minutes. Cancel sets a ``core.progress.CancelToken``
  directly from the GUI thread (a queued slot could not run while the worker copies).
- ``LatestCall``: short reads (inspect a folder, plan a repack) on the engine's I/O pool
  (``bus.engine.run_io``). Only the newest result of a caller is delivered (a path typed
  letter by letter starts several checks; the last one wins) and nothing is delivered after
  ``close()``, so a closed wizard never receives a late answer.

Neither imports torch; the functions they run may (inside the worker).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QThread, Signal, Slot

from core.progress import Cancelled, CancelToken, ProgressCallback
from gui.engine import JobError

TaskFn = Callable[[ProgressCallback, CancelToken], Any]


class _TaskWorker(QObject):
    """Lives in the task's thread; runs the function once and reports how it ended."""

    progress = Signal(object)  # core.progress.Progress
    succeeded = Signal(object)
    failed = Signal(object)  # JobError
    cancelled = Signal(str)

    def __init__(self, fn: TaskFn, token: CancelToken) -> None:
        super().__init__()
        self._fn = fn
        self._token = token

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn(self.progress.emit, self._token)
        except Cancelled as exc:
            self.cancelled.emit(str(exc) or self._token.reason)
        except BaseException as exc:
            self.failed.emit(JobError.from_exception(exc))
        else:
            self.succeeded.emit(result)
        finally:
            QThread.currentThread().quit()


class TaskThread(QObject):
    """One cancellable background job on its own thread; signals arrive on the GUI thread.

    Exactly one of ``succeeded``, ``failed`` or ``cancelled`` is emitted, then ``finished``
    once the thread has stopped.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(object)
    cancelled = Signal(str)
    finished = Signal()

    def __init__(self, fn: TaskFn, name: str = "task", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.token = CancelToken()
        self._thread = QThread()
        self._thread.setObjectName(f"wan-studio-{name}")
        self._worker = _TaskWorker(fn, self.token)
        self._worker.moveToThread(self._thread)
        self._thread.started.connect(self._worker.run)
        self._worker.progress.connect(self.progress)
        self._worker.succeeded.connect(self.succeeded)
        self._worker.failed.connect(self.failed)
        self._worker.cancelled.connect(self.cancelled)
        self._thread.finished.connect(self._on_finished)
        self._started = False
        self._done = False

    def start(self) -> None:
        if self._started:
            raise RuntimeError("a TaskThread runs once")
        self._started = True
        self._thread.start()

    def cancel(self, reason: str = "cancelled by user") -> None:
        """Ask the job to stop at its next check (safe from the GUI thread)."""
        self.token.cancel(reason)

    @property
    def running(self) -> bool:
        return self._started and not self._done

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Block until the thread has stopped (for closing and tests). True when it stopped."""
        if not self._started:
            return True
        return self._thread.wait(timeout_ms)

    def _on_finished(self) -> None:
        self._done = True
        self.finished.emit()


class LatestCall(QObject):
    """Short reads on the engine's I/O pool; only the newest result reaches a live owner."""

    def __init__(self, bus: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bus = bus
        self._serial = itertools.count(1)
        self._latest = 0
        self._pending = 0
        self._closed = False

    @property
    def busy(self) -> bool:
        """True while a call whose result would still be delivered is running."""
        return self._pending > 0 and not self._closed

    def call(
        self,
        fn: Callable[[], Any],
        on_done: Callable[[Any], None],
        on_error: Callable[[JobError], None] | None = None,
    ) -> None:
        """Run ``fn()`` in the background; deliver its result unless a newer call was made."""
        if self._closed:
            return
        serial = self._latest = next(self._serial)
        self._pending += 1

        def deliver(callback: Callable[[Any], None] | None, value: Any) -> None:
            self._pending -= 1
            if self._closed or serial != self._latest or not shiboken6.isValid(self):
                return
            if callback is not None:
                callback(value)

        self._bus.engine.run_io(
            fn,
            on_done=lambda value: deliver(on_done, value),
            on_error=lambda error: deliver(on_error, error),
        )

    def forget(self) -> None:
        """Drop the result of any call in flight (its inputs changed)."""
        self._latest = next(self._serial)

    def close(self) -> None:
        self._closed = True
