"""Compare workspace: run a comparison of the Generate form's request, then play the variants
in sync (side by side or as a wipe) with the metrics table and the plots beside them.

A comparison is one engine job (Engine.submit) that runs every variant through the engine's
runner (core.compare.run_compare); its progress arrives as ``CompareProgress`` events. The view
itself only shows what a report folder holds, so "Open report…" shows a saved one the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class CompareProgress:
    """One runner event of variant ``index`` (of ``count``), as the GUI receives it."""

    index: int
    count: int
    label: str
    kind: str
    overall: float  # 0..1 of this variant
    text: str


def _progress(index: int, count: int, variant: Any, event: Any) -> CompareProgress:
    text = getattr(event, "label", "") or getattr(event, "kind", "")
    if getattr(event, "kind", "") == "step":
        text = f"step {event.overall_index}/{event.overall_total}"
    return CompareProgress(
        index, count, variant.label, event.kind, float(getattr(event, "overall", 0.0)), text
    )


class CompareWorkspace(QWidget):
    TITLE = "Compare"

    def __init__(self, bus: Any, request_source: Callable[[], Any] | None = None) -> None:
        super().__init__()
        self.bus = bus
        self.request_source = request_source
        self.report: dict[str, Any] | None = None
        self.job: Any = None

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

    def start(self, request: Any, specs: list[str], folder: Path) -> Any:
        """Submit the comparison as one engine job; returns the job."""
        from core.compare.variants import parse_variants

        variants = parse_variants(specs)
        count = len(variants)

        def run(ctx: Any) -> dict[str, Any]:
            from core.compare import run_compare

            def forward(index: int, variant: Any, event: Any) -> None:
                if getattr(event, "kind", "") != "preview":  # no live preview here
                    ctx.emit(_progress(index, count, variant, event))

            return run_compare(
                request, variants, folder, runner=ctx.runner(), on_event=forward, cancel=ctx.cancel
            )

        self.progress.setValue(0)
        self.progress.show()
        self.cancel_button.setEnabled(True)
        self.status.setText(f"Comparing {count} variants…")
        self.bus.show_workspace.emit(self.TITLE)
        self.job = self.bus.engine.submit(
            run,
            name="compare",
            on_event=self._on_progress,
            on_done=self._on_done,
            on_error=self._on_error,
            on_cancelled=self._on_cancelled,
        )
        return self.job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.status.setText("Cancelling…")

    def _on_progress(self, p: Any) -> None:
        if not isinstance(p, CompareProgress):
            return
        fraction = (p.index + min(1.0, max(0.0, p.overall))) / max(1, p.count)
        self.progress.setValue(round(fraction * 1000))
        self.status.setText(f"Variant {p.index + 1}/{p.count}: {p.label} — {p.text}")

    def _finished(self, text: str) -> None:
        self.job = None
        self.progress.hide()
        self.cancel_button.setEnabled(False)
        self.status.setText(text)

    def _on_done(self, report: dict[str, Any]) -> None:
        self._finished(f"Report written to {report['folder']}")
        self.show_report(report)

    def _on_error(self, error: Any) -> None:
        self._finished(f"The comparison failed: {error.message}")

    def _on_cancelled(self) -> None:
        self._finished("Comparison cancelled: no report was written.")

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
