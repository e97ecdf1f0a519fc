"""The queue in a few words: for the window title, Generate's queue line and the Queue panel.

One place formats the summary (``QueueController.summary()``) so the three never disagree:
"2 queued · 43 %" in the title, "1 running · 2 queued · about 3:20 left" in the app.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QTimer

from gui.widgets.progress_panel import format_seconds

TITLE_REFRESH_MS = 500  # step events arrive many times a second; the title need not


def title_status(summary: dict[str, Any]) -> str:
    """Short state for the window title ("2 queued · 43 %"); '' when the queue is idle."""
    parts = []
    if summary.get("queued"):
        parts.append(f"{summary['queued']} queued")
    progress = summary.get("progress")
    if summary.get("running") and isinstance(progress, (int, float)):
        parts.append(f"{progress * 100:.0f} %")
    elif summary.get("running"):
        parts.append("running")
    if summary.get("paused") and (summary.get("queued") or summary.get("running")):
        parts.append("paused")
    return " · ".join(parts)


def remaining_text(summary: dict[str, Any]) -> str:
    """'about 3:20 left', 'at least 1:10 left' (some jobs not estimable) or ''."""
    remaining = summary.get("remaining")
    if not isinstance(remaining, (int, float)) or remaining <= 0:
        return ""
    prefix = "about" if summary.get("eta_complete") else "at least"
    return f"{prefix} {format_seconds(remaining)} left"


def line_status(summary: dict[str, Any]) -> str:
    """Generate's and the panel's queue line: what runs, what waits, how long it takes."""
    parts = []
    if summary.get("running"):
        progress = summary.get("progress")
        percent = f" ({progress * 100:.0f} %)" if isinstance(progress, (int, float)) else ""
        parts.append(f"{summary['running']} running{percent}")
    waiting = summary.get("queued", 0) - summary.get("held", 0)
    if waiting > 0:
        parts.append(f"{waiting} queued")
    if summary.get("held"):
        parts.append(f"{summary['held']} waiting from last time")
    if summary.get("paused") and (waiting > 0 or summary.get("held")):
        parts.append("paused")
    left = remaining_text(summary)
    if left:
        parts.append(left)
    if summary.get("failed"):
        parts.append(f"{summary['failed']} failed")
    if summary.get("interrupted"):
        parts.append(f"{summary['interrupted']} interrupted")
    return " · ".join(parts) if parts else "Queue empty"


class TitleUpdater(QObject):
    """Keeps the notifier's title status in step with the queue (at most twice a second)."""

    def __init__(self, queue: Any, notifier: Any) -> None:
        super().__init__(notifier)
        self.queue = queue
        self.notifier = notifier
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(TITLE_REFRESH_MS)
        self._timer.timeout.connect(self.update_now)
        queue.changed.connect(self.update_now)
        queue.job_event.connect(lambda *_: self._timer.isActive() or self._timer.start())
        self.update_now()

    def update_now(self) -> None:
        self._timer.stop()
        self.notifier.set_status(title_status(self.queue.summary()))


__all__ = ["TitleUpdater", "line_status", "remaining_text", "title_status"]
