"""Compare workspace: run a comparison of the Generate form's request, then play the variants
in sync (side by side or as a wipe) with the metrics table and the plots beside them.

A comparison is one job of the persistent queue (core/compare/job.py): it waits its turn, runs
every variant through the engine's warm runner and shows in the Queue; its progress arrives as
``core.compare.job.CompareProgress`` events through the queue controller. The view
itself only shows what a report folder holds, so "Open report…" shows a saved one the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.compare_dialog import CompareDialog
from gui.widgets.sync_player import SyncPlayer


class CompareWorkspace(QWidget):
    TITLE = "Compare"

    def __init__(self, bus: Any, request_source: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.bus = bus
        self.request_source = request_source
        self.report: dict[str, Any] | None = None
        self.job_id: int | None = None  # the queued comparison this view follows
        self._listening = False

        self.status = QLabel("Run a comparison from Generate (“Compare…”) or open a saved report.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open report…")
        self.open_button.clicked.connect(self._choose_report)
        self.html_button = QPushButton("Open report.html")
        self.html_button.setEnabled(False)
        self.html_button.clicked.connect(self._open_html)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(self.open_button)
        top.addWidget(self.html_button)

        self.player = SyncPlayer(run_io=self._run_io)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.plots = QWidget()
        self.plots_layout = QVBoxLayout(self.plots)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.plots)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.table, "Metrics")
        self.tabs.addTab(scroll, "Plots")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.player)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

    # ---- running --------------------------------------------------------------------------
    def _run_io(self, fn: Callable[[], Any], **callbacks: Any) -> Any:
        return self.bus.engine.run_io(fn, **callbacks)

    def make_compare_button(self) -> QPushButton:
        """The "Compare…" button for the Generate form's run bar."""
        button = QPushButton("Compare…")
        button.setToolTip("Run the form's request under several variants (BF16, MXFP8 rules…)")
        button.clicked.connect(self.choose_and_run)
        return button

    def choose_and_run(self) -> None:
        if self.request_source is None:
            return
        from core.generate.request import errors

        request = self.request_source()
        problems = errors(request.validate())
        if problems:
            QMessageBox.warning(
                self, "Compare", "Fix the form first:\n" + "\n".join(str(p) for p in problems)
            )
            return
        from core.paths import output_dir

        base = Path(request.output) if request.output else output_dir()
        dialog = CompareDialog(base, has_loras=bool(request.loras), parent=self)
        if dialog.exec() != CompareDialog.DialogCode.Accepted:
            return
        self.start(request, dialog.specs(), Path(dialog.folder.text().strip()).expanduser())

    def start(self, request: Any, specs: list[str], folder: Path) -> int:
        """Queue the comparison as one job (core/compare/job.py); returns its job id. It runs
        when its turn comes, with the warm runner, and shows in the Queue like any job."""
        from core.compare.job import compare_job
        from core.compare.variants import parse_variants

        count = len(parse_variants(specs))  # the dialog checked them; fail loudly if not
        queue = self.bus.queue
        if not self._listening:
            queue.job_event.connect(self._on_job_event)
            queue.job_finished.connect(self._on_job_finished)
            self._listening = True
        (self.job_id,) = queue.add([compare_job(request, list(specs), str(folder))])
        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        waiting = queue.running or queue.paused
        self.status.setText(
            f"Comparing {count} variants…"
            if not waiting
            else f"{count} variants queued as job {self.job_id}: they run in their turn."
        )
        self.bus.show_workspace.emit(self.TITLE)
        return self.job_id

    def cancel(self) -> None:
        if self.job_id is not None:
            self.bus.queue.cancel(self.job_id)
            self.status.setText("Cancelling…")

    def _on_job_event(self, job_id: int, p: Any) -> None:
        from core.compare.job import CompareProgress

        if job_id != self.job_id or not isinstance(p, CompareProgress):
            return
        self.progress.setValue(round(p.overall * 1000))
        self.status.setText(f"Variant {p.index + 1}/{p.count}: {p.label} — {p.text}")

    def _on_job_finished(self, job: Any, outcome: Any) -> None:
        if job.id != self.job_id:
            return
        self.job_id = None
        kind = getattr(outcome, "kind", None)
        if kind == "done":
            self._finished(f"Report written to {outcome.video}")
            self.show_report(outcome.report)
        elif kind == "cancelled" or outcome is None:
            self._finished("Comparison cancelled: no report was written.")
        else:
            message = getattr(outcome, "message", "") or job.error or "failed"
            self._finished(f"The comparison failed: {message}")

    def _finished(self, text: str) -> None:
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.status.setText(text)

    # ---- showing a report -----------------------------------------------------------------
    def _choose_report(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a compare report folder")
        if folder:
            self.open_report(folder)

    def open_report(self, folder: str | Path) -> None:
        """Read a saved report folder on the I/O pool and show it."""
        from core.compare import load_report

        def failed(error: Any) -> None:
            self.status.setText(f"Cannot open {folder}: {error.message}")

        self._run_io(lambda: load_report(folder), on_done=self.show_report, on_error=failed)

    def show_report(self, report: dict[str, Any]) -> None:
        from core.compare.report import table_rows

        self.report = report
        folder = Path(report["folder"])
        self.html_button.setEnabled((folder / "report.html").is_file())
        self.status.setText(
            f"{folder.name}: {len(report['variants'])} variants, reference "
            f"{report['reference']}, seed {report['seed']}"
        )
        rows = table_rows(report)
        self.table.clear()
        self.table.setColumnCount(len(rows[0]))
        self.table.setRowCount(len(rows) - 1)
        self.table.setHorizontalHeaderLabels(rows[0])
        for r, row in enumerate(rows[1:]):
            for c, text in enumerate(row):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.table.setItem(r, c, item)
        self.table.resizeColumnsToContents()
        while self.plots_layout.count():
            item = self.plots_layout.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for name in (report.get("plots") or {}).values():
            label = QLabel()
            label.setPixmap(QPixmap(str(folder / name)))
            self.plots_layout.addWidget(label)
        self.plots_layout.addStretch(1)
        fps = float(report["request"].get("fps") or 16)
        self.player.load([(v["label"], str(folder / v["video"])) for v in report["variants"]], fps)

    def _open_html(self) -> None:
        if self.report is not None:
            path = Path(self.report["folder"]) / "report.html"
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))
