"""Start image for I2V / TI2V: a thumbnail, "Choose…" / "Clear", and drag and drop."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QImageReader, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
THUMB = QSize(96, 72)


def image_problem(path: str) -> str | None:
    """Why ``path`` cannot be a start image (header and file checks only), or None."""
    from core.generate.imagefile import ImageFileError, check_image_header

    try:
        check_image_header(path)
    except ImageFileError as exc:
        return str(exc)
    return None


def image_path_from_mime(mime) -> str | None:
    """The first local image file among dropped URLs, or None."""
    if not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile() and url.toLocalFile().lower().endswith(IMAGE_SUFFIXES):
            return url.toLocalFile()
    return None


class ImageInput(QWidget):
    """Pick or drop an image; ``path()`` is None when empty. Emits ``changed`` on every edit."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._path: str | None = None
        self._required = False
        self.setAcceptDrops(True)
        self.thumb = QLabel()
        self.thumb.setObjectName("imageThumb")
        self.thumb.setFixedSize(THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.thumb.setWordWrap(True)
        self.name_label = QLabel()
        self.name_label.setWordWrap(True)
        self.name_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.clicked.connect(self.choose)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(lambda: self.set_path(None))
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.clear_button)
        buttons.addStretch(1)
        side = QVBoxLayout()
        side.setContentsMargins(0, 0, 0, 0)
        side.addWidget(self.name_label)
        side.addLayout(buttons)
        side.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.thumb)
        layout.addLayout(side, 1)
        self._refresh()

    def path(self) -> str | None:
        return self._path

    def set_required(self, required: bool) -> None:
        self._required = required
        self._refresh()

    def set_path(self, path: str | None) -> None:
        path = str(path) if path else None
        if path == self._path:
            return
        self._path = path
        self._refresh()
        self.changed.emit()

    def choose(self) -> None:
        start = str(Path(self._path).parent) if self._path else ""
        pattern = " ".join(f"*{s}" for s in IMAGE_SUFFIXES)
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a start image", start, f"Images ({pattern})"
        )
        if path:
            self.set_path(path)

    def _refresh(self) -> None:
        self.clear_button.setEnabled(self._path is not None)
        if self._path is None:
            self.thumb.setPixmap(QPixmap())
            self.thumb.setText("Drop an\nimage here")
            need = "required" if self._required else "optional"
            self.name_label.setText(f"No image ({need}).")
            return
        problem = image_problem(self._path)
        if problem:  # never decode a FIFO, a device or a 20000x20000 PNG on the GUI thread
            self.thumb.setPixmap(QPixmap())
            self.thumb.setText("!")
            self.name_label.setText(f"{Path(self._path).name}\n{problem}")
            self.name_label.setToolTip(problem)
            return
        reader = QImageReader(self._path)
        reader.setAutoTransform(True)
        size = reader.size()
        if size.isValid():  # decode at thumbnail size: fast even for large photos
            reader.setScaledSize(size.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
        name = Path(self._path).name
        if image.isNull():
            self.thumb.setPixmap(QPixmap())
            self.thumb.setText("?")
            self.name_label.setText(name)
        else:
            self.thumb.setPixmap(QPixmap.fromImage(image))
            self.name_label.setText(f"{name}\n{size.width()}×{size.height()}")
        self.name_label.setToolTip(self._path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if image_path_from_mime(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        path = image_path_from_mime(event.mimeData())
        if path:
            self.set_path(path)
            event.acceptProposedAction()
        else:
            event.ignore()
