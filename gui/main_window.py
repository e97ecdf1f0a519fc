"""The main window: menu, status bar and one tab per workspace."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QTabWidget, QWidget

from core import __version__
from gui.bus import AppBus
from gui.workspaces.generate import GenerateWorkspace
from gui.workspaces.history import HistoryWorkspace
from gui.workspaces.models import ModelsWorkspace
from gui.workspaces.presets import PresetsWorkspace


class MainWindow(QMainWindow):
    """Top-level window. Workspaces are tabs; each is a thin widget over core."""

    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Wan Studio")
        self.resize(1280, 800)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        self.workspaces: dict[str, QWidget] = {}
        self.bus = AppBus(self)
        for cls in (GenerateWorkspace, ModelsWorkspace, PresetsWorkspace, HistoryWorkspace):
            self.add_workspace(cls.TITLE, cls(self.bus))
        self.bus.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.bus.show_workspace.connect(self.show_workspace)
        self._build_menu()
        self.statusBar().showMessage("Ready")
        self._restore_geometry()

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
        self.tabs.setCurrentWidget(self.workspaces[title])

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
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
            "with MXFP8 linear layers on Ascend NPU (torch_npu), CUDA or CPU.</p>",
        )

    def _restore_geometry(self) -> None:
        settings = QSettings()
        geometry = settings.value("main_window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)

    def closeEvent(self, event) -> None:
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        super().closeEvent(event)
