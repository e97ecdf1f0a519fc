"""Queue workspace: the job queue shared with `wan-studio queue` (gui/widgets/queue_panel.py).

A tab of its own next to Generate: a long queue needs the room of a table, and Generate keeps
a one-line summary of it (gui/widgets/run_bar.py) with a link here.
"""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.bus import AppBus
from gui.widgets.queue_panel import QueuePanel


class QueueWorkspace(QWidget):
    """The Queue tab."""

    TITLE = "Queue"

    def __init__(self, bus: AppBus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self.panel = QueuePanel(bus.queue, bus)
        where = QLabel(
            f"Jobs are kept in {bus.queue.store.path} and survive a restart; "
            "`wan-studio queue list|add|run` works on the same queue. Drag queued jobs to "
            "reorder them."
        )
        where.setObjectName("hint")
        where.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.panel, 1)
        layout.addWidget(where)
