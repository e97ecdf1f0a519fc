"""The main window: menu, status bar, one tab per workspace, and the app's engine thread.

Every workspace is built as ``cls(bus)`` from gui/workspaces/*; the bus carries the signals
between them and hands out the engine (gui/bus.py). Dropping a video made by the app anywhere
on the window restores its settings into Generate. Closing the window cancels any run, stops
the engine thread and saves the window geometry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget, QWidget

from core import __version__
from gui.app import settings
from gui.bus import AppBus
from gui.notifier import RunNotifier
from gui.queue_status import TitleUpdater
from gui.workspaces.compare import CompareWorkspace
from gui.workspaces.generate import GenerateWorkspace
from gui.workspaces.history import HistoryWorkspace
from gui.workspaces.models import ModelsWorkspace
from gui.workspaces.presets import PresetsWorkspace
from gui.workspaces.queue import QueueWorkspace

VIDEO_SUFFIXES = (".mp4", ".json")  # a video, or its sidecar


def dropped_video(mime: Any) -> str | None:
    """The first local .mp4 (or sidecar .json) among dropped URLs, or None."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile().lower().endswith(VIDEO_SUFFIXES):
            return url.toLocalFile()
    return None


def read_video_settings(path: str) -> tuple[dict, list[str]]:
    """The request dict a video (or its sidecar) was made with, and notes about reading it."""
    from core.generate.video import read_record

    source = Path(path)
    if source.suffix.lower() == ".json":  # a sidecar: read the video next to it if present
        video = source.with_suffix(".mp4")
        source = video if video.is_file() else source
    if source.suffix.lower() == ".json":
        import json

        from core.generate.request import GenerationRequest

        notes: list[str] = []
        data = json.loads(source.read_text("utf-8"))
        raw = data.get("request", data) if isinstance(data, dict) else data
        request = GenerationRequest.from_dict(raw, notes)
        if isinstance(data, dict) and isinstance(data.get("seed"), int):
            request.seed = data["seed"]
        return request.to_dict(), notes
    record = read_record(source)
    return record.request.to_dict(), list(record.warnings)


class MainWindow(QMainWindow):
    """Top-level window. Workspaces are tabs; each is a thin widget over core."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Wan Studio")
        self.resize(1280, 800)
        self.setAcceptDrops(True)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.workspaces: dict[str, QWidget] = {}
        self.bus = AppBus(self)
        workspaces = (
            GenerateWorkspace,
            QueueWorkspace,
            ModelsWorkspace,
            PresetsWorkspace,
            HistoryWorkspace,
        )
        for cls in workspaces:
            self.add_workspace(cls.TITLE, cls(self.bus))
        generate = self.workspaces[GenerateWorkspace.TITLE]
        compare = CompareWorkspace(self.bus, generate.build_request)
        self.add_workspace(CompareWorkspace.TITLE, compare)
        self.bus.open_report.connect(
            lambda folder: (compare.open_report(folder), self.show_workspace(compare.TITLE))
        )
        generate.run_buttons.addWidget(compare.make_compare_button())
        self.notifier = RunNotifier(self)
        self.workspaces[GenerateWorkspace.TITLE].run_finished.connect(self.notifier.run_finished)
        self._watch_queue()
        self.bus.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.bus.show_workspace.connect(self.show_workspace)
        self._build_menu()
        self.statusBar().showMessage("Ready")
        self._restore_geometry()
        self._closed = False

    # ---- the queue ----------------------------------------------------------------------------
    def _watch_queue(self) -> None:
        """Title and tray follow the queue; an unusable queue file is asked about once."""
        queue = self.bus.queue
        self.title_updater = TitleUpdater(queue, self.notifier)
        queue.queue_finished.connect(self._queue_finished)
        self.queue_box: QMessageBox | None = None
        if queue.problem is not None:
            QTimer.singleShot(0, self.ask_about_queue_store)
        if queue.held:
            n = len(queue.held)
            QTimer.singleShot(
                0,
                lambda: self.bus.status.emit(
                    f"{n} job{'s' if n != 1 else ''} waiting from last time — Resume them "
                    "in Generate or Queue"
                ),
            )

    def _queue_finished(self, counts: dict) -> None:
        if sum(counts.values()) > 1:  # one job: its own message already said it
            self.notifier.queue_finished(counts)

    def ask_about_queue_store(self) -> None:
        """The queue file is damaged or too new: fresh queue (old file kept) or go on without."""
        from gui.widgets.queue_dialogs import store_problem_box

        queue = self.bus.queue
        if queue.problem is None or self.queue_box is not None:
            return
        box = store_problem_box(self, queue.problem)
        self.queue_box = box

        def answered(_result: int) -> None:
            self.queue_box = None
            if box.clickedButton() is box.fresh_button:  # type: ignore[attr-defined]
                kept = queue.start_fresh()
                self.bus.status.emit(f"Started a fresh queue; the old file is kept as {kept}")
            else:
                self.bus.status.emit(
                    "Continuing without a saved queue: jobs added now are lost when the app closes"
                )

        box.finished.connect(answered)
        box.open()

    @property
    def engine(self) -> Any:
        """The app's engine thread (gui/engine.py), started on first use."""
        return self.bus.engine

    def add_workspace(self, title: str, widget: QWidget) -> None:
        """Add or replace the tab named ``title``."""
        if title in self.workspaces:
            index = self.tabs.indexOf(self.workspaces[title])
            self.tabs.removeTab(index)
            self.tabs.insertTab(index, widget, title)
        else:
            self.tabs.addTab(widget, title)
        self.workspaces[title] = widget

    def show_workspace(self, title: str) -> None:
        """Bring a workspace to the front; "Models/LoRAs" also opens that section of it."""
        name, _, section = title.partition("/")
        widget = self.workspaces.get(name)
        if widget is None:
            return
        self.tabs.setCurrentWidget(widget)
        if section and hasattr(widget, "show_section"):
            widget.show_section(section)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        open_video = QAction("&Restore Settings from Video…", self)
        open_video.setShortcut(QKeySequence.StandardKey.Open)
        open_video.triggered.connect(self._choose_video)
        file_menu.addAction(open_video)
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        view_menu = self.menuBar().addMenu("&View")
        for i, title in enumerate(self.workspaces):
            action = QAction(title, self)
            action.setShortcut(QKeySequence(f"Ctrl+{i + 1}"))
            action.triggered.connect(lambda _=False, t=title: self.show_workspace(t))
            view_menu.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Wan Studio", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About Wan Studio",
            f"<b>Wan Studio {__version__}</b><p>Generate videos locally with Wan2.2 models, "
            "with MXFP8 linear layers on Ascend NPU (torch_npu), CUDA or CPU.</p>"
            "<p>Drop a video made by Wan Studio on the window to restore its settings.</p>",
        )

    # ---- restoring settings from a video --------------------------------------------------
    def _choose_video(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(
            self, "Restore settings from a video", "", "Wan Studio videos (*.mp4 *.json)"
        )
        if path:
            self.restore_from_video(path)

    def restore_from_video(self, path: str) -> None:
        """Read a video's embedded settings off the GUI thread, then apply them in Generate."""
        self.statusBar().showMessage(f"Reading settings from {Path(path).name}…")

        def done(result: tuple[dict, list[str]]) -> None:
            values, notes = result
            self.bus.apply_settings.emit(values)
            if notes:
                self.bus.status.emit("; ".join(notes))

        def failed(error: Any) -> None:
            QMessageBox.warning(
                self,
                "No settings in this file",
                f"{Path(path).name}: {error.message}\n\nOnly videos made by Wan Studio (or "
                "their .json sidecars) carry their settings.",
            )

        self.engine.run_io(lambda: read_video_settings(path), on_done=done, on_error=failed)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_video(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = dropped_video(event.mimeData())
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        self.restore_from_video(path)

    # ---- state ----------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = settings().value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and self.bus.has_engine and self.engine.user_busy and self.isVisible():
            answer = QMessageBox.question(
                self,
                "Quit Wan Studio?",
                "A job is still running (a generation or a model being prepared). Quitting "
                "cancels it; nothing half-written is kept. Queued jobs stay in the queue "
                "for the next start.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        if not self._closed:
            self._closed = True
            settings().setValue("main_window/geometry", self.saveGeometry())
            for widget in self.workspaces.values():
                save = getattr(widget, "save_state", None)
                if callable(save):
                    save()
                stop = getattr(getattr(widget, "player", None), "stop", None)
                if callable(stop):
                    stop()
            self.bus.shutdown()
        super().closeEvent(event)
