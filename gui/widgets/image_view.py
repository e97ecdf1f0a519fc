"""An image area that scales its picture to fit, keeping the aspect ratio.

Painted by hand instead of a QLabel pixmap: a QLabel with a pixmap feeds its size hint back into
the layout and grows or jitters as previews of different sizes arrive.
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget


class ImageView(QWidget):
    """Shows one QImage centred and scaled (aspect kept), or a placeholder text."""

    def __init__(self, placeholder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self._caption = ""
        self._smooth = True
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.Window, QColor("#1e1f22"))
        self.setPalette(palette)

    def image(self) -> QImage | None:
        return self._image

    def set_image(self, image: QImage | None, caption: str = "") -> None:
        self._image = None if image is None or image.isNull() else image
        self._caption = caption
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        self.update()

    def clear(self) -> None:
        self.set_image(None)

    def sizeHint(self) -> QSize:
        return QSize(480, 320)

    def target_rect(self) -> QRect:
        """Where the image is drawn: the largest rectangle of its aspect inside the widget."""
        if self._image is None:
            return QRect()
        area = self.rect().adjusted(8, 8, -8, -8 - (22 if self._caption else 0))
        size = self._image.size().scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = area.x() + (area.width() - size.width()) // 2
        y = area.y() + (area.height() - size.height()) // 2
        return QRect(x, y, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        if self._image is None:
            painter.setPen(QColor("#9aa0a6"))
            painter.drawText(
                self.rect(),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self._placeholder,
            )
            return
        target = self.target_rect()
        # Tiny latent previews look better as crisp blocks than as blur when scaled up a lot.
        upscale = target.width() > 2 * self._image.width()
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, not upscale)
        painter.drawImage(target, self._image)
        if self._caption:
            painter.setPen(QColor("#c8ccd0"))
            caption_rect = QRect(0, self.height() - 26, self.width(), 22)
            painter.drawText(caption_rect, Qt.AlignmentFlag.AlignCenter, self._caption)
