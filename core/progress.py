"""Progress reports and cancellation shared by every long operation (load, quantize, repack,
generate), so the CLI and the GUI drive all of them the same way.

A ``CancelToken`` is set from any thread (the GUI thread, a signal handler); the worker polls
it at safe points and raises ``Cancelled``. Nothing here imports torch or Qt.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class Cancelled(Exception):
    """Raised inside a worker when its CancelToken was set; callers treat it as a clean stop."""


class CancelToken:
    """Thread-safe cancel flag (a threading.Event with a reason)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled by user") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason or "cancelled")


@dataclass
class Progress:
    """One progress report: ``done`` of ``total`` units (bytes, tensors, steps) in ``stage``."""

    stage: str
    done: float
    total: float
    message: str = ""
    eta_seconds: float | None = None
    timestamp: float = field(default_factory=time.time)

    @property
    def fraction(self) -> float:
        return 0.0 if self.total <= 0 else min(1.0, max(0.0, self.done / self.total))


ProgressCallback = Callable[[Progress], None]


class RateMeter:
    """Rate and ETA from elapsed time since start (robust enough for steady work)."""

    def __init__(self, total: float) -> None:
        self.total = total
        self.start = time.perf_counter()

    def eta(self, done: float) -> float | None:
        elapsed = time.perf_counter() - self.start
        if done <= 0 or elapsed <= 0:
            return None
        return max(0.0, (self.total - done) * elapsed / done)

    def rate(self, done: float) -> float:
        elapsed = time.perf_counter() - self.start
        return done / elapsed if elapsed > 0 else 0.0
