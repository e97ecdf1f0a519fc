"""The main window: menu, status bar and one tab per workspace."""

from __future__ import annotations

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core import __version__


def _placeholder(title: str, text: str) -> QWidget:
    widget = QWidget()
    widget.setObjectName(f"workspace-{title.lower()}")
    layout = QVBoxLayout(widget)
    label = QLabel(text)
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    layout.addWidget(label)
    return widget


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
        for title, text in (
            ("Generate", "Pick a model and a preset, type a prompt and press Generate."),
            ("Models", "Your model folders, the demo model and the msmodelslim repack wizard."),
            ("Presets", "Official presets per model and your own."),
            ("History", "Videos you made, with the settings that made them."),
        ):
            self.add_workspace(title, _placeholder(title, text))
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

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        QSettings().setValue("main_window/geometry", self.saveGeometry())
        super().closeEvent(event)
