"""A one-line label that elides its text to the width it gets (full text in the tooltip).

Word-wrapped QLabels whose text changes at run time make layouts in a scroll area overlap
(their height-for-width is not re-asked); one elided line keeps every row a fixed height.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class ElidedLabel(QLabel):
    """Plain text, one line, "…" in the middle or at the end when it does not fit."""

    def __init__(
        self,
        text: str = "",
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
        parent: QWidget | None = None,
        hide_when_empty: bool = True,
    ) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self._hide_when_empty = hide_when_empty
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.setMinimumWidth(40)
        self.set_full_text(text)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str, tooltip: str | None = None) -> None:
        """Show ``text`` (elided to fit); an empty text hides the label unless told not to."""
        self._full = text
        self.setToolTip(tooltip if tooltip is not None else text)
        if self._hide_when_empty:
            self.setVisible(bool(text))
        self._elide()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        super().setText(self.fontMetrics().elidedText(self._full, self._mode, width))
