"""The queue as a Qt table model: one row per job, drag-and-drop reordering of queued jobs.

Rows are ``QueueController.jobs`` (running first, then queued in order, then finished, newest
first). Dropping queued rows calls ``QueueController.move``: the store renumbers, the
controller refreshes and the model is reset, so the view always shows the store's order, not a
guess. The running row's progress and ETA come from the controller's live events
(``job_event``) and update in place.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from core.queue.store import CANCELLED, DONE, FAILED, INTERRUPTED, QUEUED, RUNNING, QueueJob
from gui.queue_eta import EtaModel
from gui.widgets.progress_panel import format_seconds

MIME_TYPE = "application/x-wan-studio-job-ids"
COLUMNS = ("State", "Prompt", "Model", "Seed", "Progress", "Time")
STATE, PROMPT, MODEL, SEED, PROGRESS, TIME = range(len(COLUMNS))
HELD = "held"  # not a store state: queued, but waiting for the user's Resume
JOB_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2  # float 0..1, or None when no bar is drawn
# (glyph, label, colour): glyphs read without colour too (the progress panel's convention).
STATE_STYLE = {
    QUEUED: ("○", "Queued", "#4b5563"),
    HELD: ("⏸", "Waiting", "#8a6d1a"),
    RUNNING: ("▶", "Running", "#2f6fde"),
    DONE: ("✓", "Done", "#2e8b57"),
    FAILED: ("✕", "Failed", "#c0392b"),
    CANCELLED: ("■", "Cancelled", "#c87f0a"),
    INTERRUPTED: ("⚠", "Interrupted", "#b35c00"),
}
ModelIndex = QModelIndex | QPersistentModelIndex


def model_name(model: str) -> str:
    """What a model is called in a row: the demo's family or the folder's name."""
    if model.startswith("demo:"):
        return f"Demo {model.partition(':')[2].upper()}"
    return Path(model).name or model


class QueueModel(QAbstractTableModel):
    """Rows of ``controller.jobs`` (see the module docstring)."""

    def __init__(self, controller: Any, parent: Any = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.rows: list[QueueJob] = []
        self._eta = EtaModel([])
        controller.changed.connect(self.reload)
        controller.job_event.connect(self._job_progress)
        self.reload()

    # ---- contents -----------------------------------------------------------------------------
    def reload(self) -> None:
        self.beginResetModel()
        self.rows = list(self.controller.jobs)
        self._eta = EtaModel(self.rows)
        self.endResetModel()

    def row_of(self, job_id: int) -> int:
        return next((i for i, job in enumerate(self.rows) if job.id == job_id), -1)

    def state_of(self, job: QueueJob) -> str:
        return HELD if job.state == QUEUED and job.id in self.controller.held else job.state

    def _job_progress(self, job_id: int, _event: Any) -> None:
        row = self.row_of(job_id)
        if row >= 0:
            self.dataChanged.emit(self.index(row, PROGRESS), self.index(row, TIME))

    # ---- QAbstractTableModel --------------------------------------------------------------------
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.rows):
            return None
        job = self.rows[index.row()]
        column = index.column()
        if role == JOB_ROLE:
            return job
        if role == PROGRESS_ROLE and column == PROGRESS:
            return self._bar(job)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(job, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(job)
        colored = column == STATE or (column == PROGRESS and job.state in (FAILED, INTERRUPTED))
        if role == Qt.ItemDataRole.ForegroundRole and colored:
            return QBrush(QColor(STATE_STYLE[self.state_of(job)][2]))
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (SEED, TIME):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _text(self, job: QueueJob, column: int) -> str:
        if column == STATE:
            glyph, label, _ = STATE_STYLE[self.state_of(job)]
            return f"{glyph} {label}"
        if column == PROMPT:
            return job.label
        if column == MODEL:
            return model_name(job.model)
        if column == SEED:
            return "" if job.seed is None else str(job.seed)
        if column == PROGRESS:
            if job.state in (FAILED, INTERRUPTED, CANCELLED):
                return (job.error or "").splitlines()[0] if job.error else ""
            return ""  # drawn as a bar by the delegate
        if column == TIME:
            return self._time_text(job)
        return ""

    def _time_text(self, job: QueueJob) -> str:
        if job.state == RUNNING:
            _, eta = self.controller.live_progress(job)
            return f"{format_seconds(eta)} left" if eta is not None else "…"
        if job.state == QUEUED:
            estimate = self._eta.estimate(job)
            return f"~{format_seconds(estimate)}" if estimate is not None else ""
        if job.duration:
            return format_seconds(job.duration)
        return ""

    def _bar(self, job: QueueJob) -> float | None:
        if job.state == RUNNING:
            return self.controller.live_progress(job)[0]
        if job.state == DONE:
            return 1.0
        return None  # queued: no empty bar; failed/cancelled: the reason as text instead

    def _tooltip(self, job: QueueJob) -> str:
        request = job.request
        lines = [str(request.get("prompt") or job.label)]
        size = f"{request.get('width')}×{request.get('height')}, {request.get('frames')} frames"
        lines.append(f"{model_name(job.model)} · {size} · {request.get('steps')} steps")
        if job.seed is not None:
            lines.append(f"seed {job.seed}")
        if job.output and job.state == DONE:
            lines.append(job.output)
        if job.error:
            lines.append(job.error)
        if job.hint:
            lines.append(job.hint)
        return "\n".join(lines)

    # ---- drag and drop ------------------------------------------------------------------------
    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if not index.isValid():
            return base | Qt.ItemFlag.ItemIsDropEnabled
        if self.rows[index.row()].state == QUEUED:
            base |= Qt.ItemFlag.ItemIsDragEnabled
        return base

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:
        return [MIME_TYPE]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # type: ignore[override]
        ids = []
        for index in indexes:
            job = self.rows[index.row()]
            if job.state == QUEUED and job.id not in ids:
                ids.append(job.id)
        mime = QMimeData()
        mime.setData(MIME_TYPE, json.dumps(ids).encode())
        return mime

    def dropMimeData(
        self,
        data: QMimeData,
        action: Qt.DropAction,
        row: int,
        column: int,
        parent: ModelIndex,
    ) -> bool:
        """Queued jobs dropped before ``row`` (or on ``parent``'s row): move them there."""
        if action != Qt.DropAction.MoveAction or not data.hasFormat(MIME_TYPE):
            return False
        try:
            ids = [int(i) for i in json.loads(bytes(data.data(MIME_TYPE).data()).decode())]
        except (ValueError, TypeError):
            return False
        if not ids:
            return False
        if row < 0:
            row = parent.row() if parent.isValid() else len(self.rows)
        self.move_jobs(ids, row)
        return True

    def move_jobs(self, ids: list[int], row: int) -> None:
        """Put jobs before table row ``row``, keeping their order (the store does the moving)."""
        before = [job.id for job in self.rows[:row] if job.state == QUEUED and job.id not in ids]
        target = len(before)
        for offset, job_id in enumerate(ids):
            self.controller.move(job_id, target + offset)


__all__ = ["COLUMNS", "HELD", "JOB_ROLE", "MIME_TYPE", "PROGRESS_ROLE", "QueueModel"]
