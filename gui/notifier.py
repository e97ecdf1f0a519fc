"""Tell a user who looked away that their run ended: tray message, window title, taskbar alert.

Runs take minutes on real models, so users switch to other windows. When a run ends while the
main window is not the active window, the notifier shows a system tray message (when the
desktop has a tray), puts the outcome in the window title ("✓ Video ready — Wan Studio") and
asks the taskbar to flag the window. The title goes back to normal as soon as the window is
active again. Nothing happens while the user is looking at the window.

The title also carries the queue's state while it has work ("Wan Studio — 2 queued · 43 %",
``set_status``; gui/queue_status.py keeps it current), and the end of a queue of several jobs
gets its own message (``queue_finished``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow, QSystemTrayIcon

MESSAGE_MS = 8000


def outcome_message(outcome: Any) -> tuple[str, str, bool]:
    """(title, body, is_error) for a run's end: a core Done/Failed/Cancelled or a JobError."""
    kind = getattr(outcome, "kind", None)
    if kind == "done":
        return "✓ Video ready", Path(str(outcome.video)).name, False
    if kind == "cancelled" or outcome is None:
        return "Run cancelled", "Nothing was written.", False
    return "✕ Generation failed", str(getattr(outcome, "message", outcome)), True


def queue_message(counts: dict[str, int]) -> tuple[str, str, bool]:
    """(title, body, is_error) for the end of a stretch of queued jobs."""
    done = counts.get("done", 0)
    bad = counts.get("failed", 0)
    parts = [f"{done} video{'s' if done != 1 else ''} ready"]
    if bad:
        parts.append(f"{bad} failed")
    if counts.get("cancelled"):
        parts.append(f"{counts['cancelled']} cancelled")
    title = "✕ Queue finished with failures" if bad else "✓ Queue finished"
    return title, " · ".join(parts), bool(bad)


class RunNotifier(QObject):
    """Watches one main window; call ``run_finished(outcome)`` when a run ends."""

    def __init__(self, window: QMainWindow, tray: Any | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.base_title = window.windowTitle()
        self._tray = tray  # a QSystemTrayIcon-like object; made on first use when None
        self.notified: list[tuple[str, str]] = []  # (title, body) shown, newest last
        self._status = ""  # the queue's state, shown after the app name
        self._outcome = ""  # the last outcome, shown until the window is active again
        window.installEventFilter(self)

    def tray(self) -> Any | None:
        """The tray icon, created (and shown) on first use; None without a system tray."""
        if self._tray is None and QSystemTrayIcon.isSystemTrayAvailable():
            icon = QApplication.windowIcon()
            self._tray = QSystemTrayIcon(icon, self)
            self._tray.setToolTip(self.base_title)
            self._tray.activated.connect(lambda _reason: self._bring_back())
            self._tray.show()
        return self._tray

    def run_finished(self, outcome: Any) -> bool:
        """Notify when the window is not active; True when it did."""
        return self._notify(*outcome_message(outcome))

    def queue_finished(self, counts: dict[str, int]) -> bool:
        """The queue ran out of work after several jobs: one message with the tally."""
        title, body, error = queue_message(counts)
        return self._notify(title, body, error)

    def set_status(self, status: str) -> None:
        """The queue's state for the title ('' when idle)."""
        if status != self._status:
            self._status = status
            self._render()

    def _notify(self, title: str, body: str, error: bool) -> bool:
        if self.window.isActiveWindow():
            return False
        self._outcome = title
        self._render()
        tray = self.tray()
        real = isinstance(tray, QSystemTrayIcon)
        if tray is not None and (not real or QSystemTrayIcon.supportsMessages()):
            icon = (
                QSystemTrayIcon.MessageIcon.Critical
                if error
                else QSystemTrayIcon.MessageIcon.Information
            )
            tray.showMessage(title, body, icon, MESSAGE_MS)
        QApplication.alert(self.window)
        self.notified.append((title, body))
        return True

    def _render(self) -> None:
        title = self.base_title
        if self._status:
            title = f"{title} — {self._status}"
        if self._outcome:
            title = f"{self._outcome} — {title}"
        self.window.setWindowTitle(title)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.WindowActivate:
            self._outcome = ""
            self._render()
        return False

    def _bring_back(self) -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()


__all__ = ["RunNotifier", "outcome_message", "queue_message"]
