"""History workspace (placeholder until its issue lands)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.bus import AppBus


class HistoryWorkspace(QWidget):
    TITLE = "History"

    def __init__(self, bus: AppBus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        layout = QVBoxLayout(self)
        label = QLabel("History")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(label)
