"""Presets workspace (placeholder until its issue lands)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.bus import AppBus


class PresetsWorkspace(QWidget):
    TITLE = "Presets"

    def __init__(self, bus: AppBus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        layout = QVBoxLayout(self)
        label = QLabel("Presets")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(label)
