"""The Queue panel: every job with its state, progress and ETA, and the actions on them.

Top: a banner for work left from an earlier session ("3 jobs waiting from last time —
Resume") and for jobs a crash interrupted ("Retry"); the whole queue's state, progress and time
left; Pause/Resume. Then the table (gui/widgets/queue_model.py; drag queued rows to reorder)
with a toolbar and a context menu: Cancel, Retry, Duplicate, Remove (Delete), Play (Enter or
double-click; plays in Generate's player), Show in folder, Clear finished. Below it the
selected job's error and what to do about it.

Everything goes through ``QueueController``; the panel keeps no queue state of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    Qt,
    QUrl,
)
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from core.queue.store import DONE, FINISHED_STATES, QUEUED, RETRYABLE_STATES, RUNNING, QueueJob
from gui.queue_status import line_status
from gui.widgets.queue_model import COLUMNS, JOB_ROLE, PROGRESS, PROGRESS_ROLE, QueueModel


def job_folder(job: QueueJob) -> Path:
    """Where the job's video is (or will be): its output, its request's folder or the default."""
    from core import paths

    if job.output:
        return Path(job.output).parent
    target = job.request.get("output")
    if target:
        path = Path(str(target))
        return path.parent if path.suffix.lower() == ".mp4" else path
    return paths.output_dir()


class ProgressDelegate(QStyledItemDelegate):
    """Draws the Progress column as a bar (and error text for failed rows as plain text)."""

    def paint(
        self,
        painter: Any,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        fraction = index.data(PROGRESS_ROLE)
        if not isinstance(fraction, (int, float)):
            super().paint(painter, option, index)
            return
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[operator]
            painter.fillRect(option.rect, option.palette.highlight())
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(4, 5, -4, -5)  # type: ignore[attr-defined]
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = round(max(0.0, min(1.0, float(fraction))) * 1000)
        bar.text = f"{fraction * 100:.0f} %"
        bar.textVisible = True
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal  # type: ignore[attr-defined]
        bar.palette = option.palette  # type: ignore[attr-defined]
        style = option.widget.style() if option.widget else QApplication.style()  # type: ignore[attr-defined]
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)  # type: ignore[attr-defined]


class QueueTable(QTableView):
    """The job table: whole rows, several at once, internal drag-and-drop."""

    def __init__(self, model: QueueModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setModel(model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.setDragEnabled(True)
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.setDragDropOverwriteMode(False)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(28)
        self.setItemDelegateForColumn(PROGRESS, ProgressDelegate(self))
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.horizontalHeader()
        header.setHighlightSections(False)
        widths = {"State": 110, "Model": 150, "Seed": 100, "Progress": 190, "Time": 80}
        for column, name in enumerate(COLUMNS):
            if name == "Prompt":
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
            else:
                header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
                self.setColumnWidth(column, widths[name])


class QueuePanel(QWidget):
    """See the module docstring."""

    def __init__(self, controller: Any, bus: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.bus = bus
        self.model = QueueModel(controller, self)
        self._selected_ids: list[int] = []
        self._build()
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        controller.changed.connect(self.refresh)
        controller.job_event.connect(lambda *_: self._update_summary())
        self.refresh()

    # ---- layout -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.banner = QFrame()
        self.banner.setObjectName("queueBanner")
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setObjectName("primary")
        self.resume_button.clicked.connect(self.controller.resume_held)
        self.retry_recovered_button = QPushButton("Retry interrupted")
        self.retry_recovered_button.clicked.connect(self.controller.retry_recovered)
        banner_layout = QHBoxLayout(self.banner)
        banner_layout.setContentsMargins(10, 6, 10, 6)
        banner_layout.addWidget(self.banner_label, 1)
        banner_layout.addWidget(self.retry_recovered_button)
        banner_layout.addWidget(self.resume_button)

        self.summary = QLabel()
        self.summary.setObjectName("sectionTitle")
        self.overall = QProgressBar()
        self.overall.setRange(0, 1000)
        self.overall.setMaximumWidth(260)
        self.overall.setTextVisible(True)
        self.pause_button = QPushButton("Pause queue")
        self.pause_button.setCheckable(True)
        self.pause_button.setToolTip(
            "Pause: the running job finishes, no new job starts (also for `wan-studio queue run`)"
        )
        self.pause_button.toggled.connect(self._pause_toggled)
        head = QHBoxLayout()
        head.addWidget(self.summary, 1)
        head.addWidget(self.overall)
        head.addWidget(self.pause_button)

        self.table = QueueTable(self.model)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.table.doubleClicked.connect(lambda _i: self.play_selected())
        self.table.customContextMenuRequested.connect(self._context_menu)

        self.actions: dict[str, QAction] = {}
        toolbar = QToolBar()
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for name, text, shortcut, slot, tip in (
            ("cancel", "Cancel", "", self.cancel_selected, "Stop the job (after its step)"),
            ("retry", "Retry", "Ctrl+R", self.retry_selected, "Queue it again, same seed"),
            ("duplicate", "Duplicate", "Ctrl+D", self.duplicate_selected, "Same settings again"),
            ("remove", "Remove", "Delete", self.remove_selected, "Remove from the queue"),
            ("play", "Play", "Return", self.play_selected, "Play the video in Generate"),
            ("folder", "Show in folder", "", self.show_selected_folder, "Open its folder"),
        ):
            action = QAction(text, self)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                tip = f"{tip} ({QKeySequence(shortcut).toString()})"
            action.setToolTip(tip)
            action.triggered.connect(slot)
            self.table.addAction(action)
            toolbar.addAction(action)
            self.actions[name] = action
        toolbar.addSeparator()
        self.clear_action = QAction("Clear finished", self)
        self.clear_action.setToolTip("Remove every done, failed, cancelled and interrupted job")
        self.clear_action.triggered.connect(self.controller.clear_finished)
        toolbar.addAction(self.clear_action)

        self.details = QLabel()
        self.details.setObjectName("hint")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.banner)
        layout.addLayout(head)
        layout.addWidget(toolbar)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)

    # ---- state --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Banner, summary, pause button and actions from the controller's current state."""
        controller = self.controller
        held, recovered = len(controller.held), len(controller.recovered)
        parts = []
        if held:
            parts.append(
                f"{held} job{'s' if held != 1 else ''} waiting from last time — not started "
                "by itself"
            )
        if recovered:
            parts.append(
                f"{recovered} job{'s were' if recovered != 1 else ' was'} interrupted when "
                "Wan Studio last stopped (nothing half-written was kept)"
            )
        problem = getattr(controller, "problem", None)
        if problem is not None and not controller.persistent:
            parts.append("This session's queue is not saved: the queue file could not be used")
        self.banner_label.setText(" · ".join(parts))
        self.banner.setVisible(bool(parts))
        self.resume_button.setVisible(bool(held))
        self.retry_recovered_button.setVisible(bool(recovered))
        paused = controller.paused
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.blockSignals(False)
        self.pause_button.setText("Resume queue" if paused else "Pause queue")
        self.clear_action.setEnabled(any(j.state in FINISHED_STATES for j in controller.jobs))
        self._update_summary()
        self._selection_changed()

    def _update_summary(self) -> None:
        summary = self.controller.summary()
        self.summary.setText(line_status(summary))
        fraction = self.whole_progress()
        self.overall.setVisible(fraction is not None)
        if fraction is not None:
            self.overall.setValue(round(fraction * 1000))
            self.overall.setFormat(f"Queue {fraction * 100:.0f} %")

    def whole_progress(self) -> float | None:
        """Share of this stretch of work done: finished jobs plus the running one's fraction."""
        controller = self.controller
        ended = controller.ended_in_stretch
        running = [job for job in controller.jobs if job.state == RUNNING]
        waiting = [
            job for job in controller.jobs if job.state == QUEUED and job.id not in controller.held
        ]
        total = ended + len(running) + len(waiting)
        if not running and not waiting:
            return None
        done = ended + sum(controller.live_progress(job)[0] for job in running)
        return done / total if total else None

    def selected_jobs(self) -> list[QueueJob]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.model.rows[row] for row in rows if row < len(self.model.rows)]

    def select_job(self, job_id: int) -> None:
        """Select exactly this job's row (not selectRow: it toggles while Ctrl is held)."""
        row = self.model.row_of(job_id)
        if row >= 0:
            flags = QItemSelectionModel.SelectionFlag
            self.table.selectionModel().select(
                self.model.index(row, 0), flags.ClearAndSelect | flags.Rows
            )
            self.table.selectionModel().setCurrentIndex(self.model.index(row, 0), flags.NoUpdate)

    def _remember_selection(self) -> None:
        self._selected_ids = [job.id for job in self.selected_jobs()]

    def _restore_selection(self) -> None:
        selection = self.table.selectionModel()
        for job_id in self._selected_ids:
            row = self.model.row_of(job_id)
            if row >= 0:
                selection.select(
                    self.model.index(row, 0),
                    selection.SelectionFlag.Select | selection.SelectionFlag.Rows,
                )

    def _selection_changed(self, *_: Any) -> None:
        jobs = self.selected_jobs()
        states = {job.state for job in jobs}
        self.actions["cancel"].setEnabled(bool(states & {QUEUED, RUNNING}))
        self.actions["retry"].setEnabled(bool(states & set(RETRYABLE_STATES)))
        self.actions["duplicate"].setEnabled(bool(jobs))
        self.actions["remove"].setEnabled(any(job.state != RUNNING for job in jobs))
        one_done = len(jobs) == 1 and jobs[0].state == DONE and bool(jobs[0].output)
        self.actions["play"].setEnabled(one_done)
        self.actions["folder"].setEnabled(len(jobs) == 1)
        self.details.setText(self._details(jobs[0]) if len(jobs) == 1 else "")

    @staticmethod
    def _details(job: QueueJob) -> str:
        if job.error:
            hint = f" {job.hint}" if job.hint else ""
            return f"Job {job.id}: {job.error}.{hint}"
        if job.state == DONE and job.output:
            return f"Job {job.id}: {job.output}"
        return ""

    # ---- actions ------------------------------------------------------------------------------
    def _pause_toggled(self, paused: bool) -> None:
        self.controller.set_paused(paused)

    def cancel_selected(self) -> None:
        for job in self.selected_jobs():
            if job.state in (QUEUED, RUNNING):
                self.controller.cancel(job.id)

    def retry_selected(self) -> None:
        for job in self.selected_jobs():
            if job.state in RETRYABLE_STATES:
                self.controller.retry(job.id)

    def duplicate_selected(self) -> None:
        for job in self.selected_jobs():
            self.controller.duplicate(job.id)

    def remove_selected(self) -> None:
        jobs = self.selected_jobs()
        if jobs:
            self.controller.remove([job.id for job in jobs])

    def play_selected(self) -> None:
        jobs = self.selected_jobs()
        if len(jobs) == 1 and jobs[0].state == DONE and jobs[0].output:
            if Path(jobs[0].output).is_file():
                self.bus.play_video.emit(jobs[0].output)
            elif Path(jobs[0].output).is_dir():  # a comparison's report folder
                self.bus.open_report.emit(jobs[0].output)
            else:
                self.bus.status.emit(f"{jobs[0].output} is gone (moved or deleted)")

    def show_selected_folder(self) -> None:
        jobs = self.selected_jobs()
        if len(jobs) != 1:
            return
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(job_folder(jobs[0]))))

    def _context_menu(self, point: QPoint) -> None:
        index = self.table.indexAt(point)
        if index.isValid() and not self.table.selectionModel().isRowSelected(index.row()):
            self.select_job(self.model.rows[index.row()].id)
        menu = self.context_menu()
        menu.exec(self.table.viewport().mapToGlobal(point))

    def context_menu(self) -> QMenu:
        """The menu for the selected rows (the same actions as the toolbar)."""
        menu = QMenu(self)
        for name in ("play", "folder", None, "cancel", "retry", "duplicate", None, "remove"):
            if name is None:
                menu.addSeparator()
            else:
                menu.addAction(self.actions[name])
        return menu

    def job_for_index(self, index: QModelIndex) -> QueueJob | None:
        job = index.data(JOB_ROLE)
        return job if isinstance(job, QueueJob) else None


__all__ = ["QueuePanel", "QueueTable"]
