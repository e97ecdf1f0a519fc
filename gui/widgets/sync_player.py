"""Plays the variants of a comparison in sync: side by side, or as a wipe between two.

Frame-based rather than one QMediaPlayer per video: separate players drift apart, and a wipe
needs both frames in one paint. The frames are decoded off the GUI thread (player.py's
``decode_frames`` through the engine's I/O pool) and one QTimer advances every tile together,
so frame ``i`` of every variant is on screen at the same moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSlider,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.image_view import ImageView
from gui.widgets.player import decode_frames

RunIo = Callable[..., Any]
MODES = ("Side by side", "Wipe")


class WipeView(QWidget):
    """Frame ``a`` left of the divider, frame ``b`` right of it (same size: same request)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.a: QImage | None = None
        self.b: QImage | None = None
        self.labels = ("", "")
        self.split = 0.5
        self.setMinimumSize(160, 120)

    def set_frames(self, a: QImage | None, b: QImage | None) -> None:
        self.a, self.b = a, b
        self.update()

    def set_split(self, fraction: float) -> None:
        self.split = min(1.0, max(0.0, fraction))
        self.update()

    def target_rect(self) -> QRect:
        if self.a is None:
            return QRect()
        size = self.a.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x = (self.width() - size.width()) // 2
        y = (self.height() - size.height()) // 2
        return QRect(x, y, size.width(), size.height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(20, 20, 20))
        if self.a is None or self.b is None:
            return
        rect = self.target_rect()
        cut = rect.x() + round(rect.width() * self.split)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        painter.drawImage(rect, self.a)
        painter.save()
        painter.setClipRect(QRect(cut, rect.y(), rect.right() - cut + 1, rect.height()))
        painter.drawImage(rect, self.b)
        painter.restore()
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(cut, rect.top(), cut, rect.bottom())
        painter.drawText(rect.adjusted(6, 4, 0, 0), self.labels[0])
        painter.drawText(
            rect.adjusted(0, 4, -6, 0),
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop,
            self.labels[1],
        )


class SyncPlayer(QWidget):
    """``load([(label, path), ...])`` decodes the videos, then plays them in lock step."""

    loaded = Signal(int)  # number of videos ready

    def __init__(self, run_io: RunIo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run_io = run_io
        self.labels: list[str] = []
        self.frames: list[list[QImage]] = []
        self.index = 0
        self._generation = 0
        self.timer = QTimer(self)
        self.timer.timeout.connect(self._advance)

        self.tiles: list[ImageView] = []
        self.tile_labels: list[QLabel] = []
        self.grid = QGridLayout()
        self.grid.setContentsMargins(0, 0, 0, 0)
        side = QWidget()
        side.setLayout(self.grid)
        self.wipe = WipeView()
        self.stack = QStackedWidget()
        self.stack.addWidget(side)
        self.stack.addWidget(self.wipe)

        self.mode = QComboBox()
        self.mode.addItems(MODES)
        self.mode.setToolTip("Show every variant side by side, or wipe between two")
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.wipe_a = QComboBox()
        self.wipe_b = QComboBox()
        for combo, tip in ((self.wipe_a, "left of the divider"), (self.wipe_b, "right of it")):
            combo.setToolTip(f"Wipe: the variant shown {tip}")
            combo.currentIndexChanged.connect(self._show)
        self.split = QSlider(Qt.Orientation.Horizontal)
        self.split.setRange(0, 100)
        self.split.setValue(50)
        self.split.setToolTip("Wipe position")
        self.split.valueChanged.connect(lambda v: self.wipe.set_split(v / 100.0))
        self.wipe_controls = QWidget()
        wipe_row = QHBoxLayout(self.wipe_controls)
        wipe_row.setContentsMargins(0, 0, 0, 0)
        wipe_row.addWidget(self.wipe_a)
        wipe_row.addWidget(self.split, 1)
        wipe_row.addWidget(self.wipe_b)
        self.wipe_controls.hide()

        self.play_button = QToolButton()
        self.play_button.setText("Play")
        self.play_button.setToolTip("Play / pause every variant together")
        self.play_button.clicked.connect(self.toggle_play)
        self.position = QSlider(Qt.Orientation.Horizontal)
        self.position.setToolTip("Frame (all variants)")
        self.position.valueChanged.connect(self.seek)
        self.frame_label = QLabel("no videos")
        self.frame_label.setObjectName("metric")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.play_button)
        controls.addWidget(self.position, 1)
        controls.addWidget(self.frame_label)
        controls.addWidget(self.mode)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.wipe_controls)
        layout.addLayout(controls)

    # ---- public ---------------------------------------------------------------------------
    @property
    def frame_count(self) -> int:
        return min((len(f) for f in self.frames), default=0)

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def load(self, videos: list[tuple[str, str]], fps: float = 16.0) -> None:
        """Decode ``videos`` (label, path) off the GUI thread, then show and play them."""
        self.stop()
        self._generation += 1
        generation = self._generation
        self.labels = [label for label, _ in videos]
        self.frames = []
        self._build_tiles()
        self.frame_label.setText("decoding…")

        def work() -> tuple[int, list[list[QImage]], float]:
            decoded = [decode_frames(path) for _, path in videos]
            rate = decoded[0][1] if decoded else fps
            return generation, [frames for frames, _ in decoded], rate

        if self._run_io is not None:
            self._run_io(work, on_done=self._on_decoded)
        else:
            self._on_decoded(work())

    def toggle_play(self) -> None:
        if self.playing:
            self.stop()
        elif self.frame_count:
            self.timer.start()
            self.play_button.setText("Pause")

    def stop(self) -> None:
        self.timer.stop()
        self.play_button.setText("Play")

    def seek(self, index: int) -> None:
        if not self.frame_count:
            return
        self.index = max(0, min(index, self.frame_count - 1))
        self._show()

    # ---- internals ------------------------------------------------------------------------
    def _build_tiles(self) -> None:
        while self.grid.count():
            item = self.grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.tiles, self.tile_labels = [], []
        columns = 2 if len(self.labels) == 4 else min(3, max(1, len(self.labels)))
        for i, label in enumerate(self.labels):
            caption = QLabel(label)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setObjectName("playerCaption")
            tile = ImageView("decoding…")
            tile.setMinimumSize(120, 90)
            row, col = divmod(i, columns)
            self.grid.addWidget(caption, 2 * row, col)
            self.grid.addWidget(tile, 2 * row + 1, col)
            self.grid.setRowStretch(2 * row + 1, 1)
            self.tiles.append(tile)
            self.tile_labels.append(caption)
        for combo, default in ((self.wipe_a, 0), (self.wipe_b, min(1, len(self.labels) - 1))):
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(self.labels)
            combo.setCurrentIndex(max(0, default))
            combo.blockSignals(False)

    def _on_decoded(self, result: tuple[int, list[list[QImage]], float]) -> None:
        generation, frames, fps = result
        if generation != self._generation:
            return  # a newer load replaced this one
        self.frames = frames
        self.timer.setInterval(max(15, round(1000.0 / (fps or 16.0))))
        self.position.blockSignals(True)
        self.position.setRange(0, max(0, self.frame_count - 1))
        self.position.setValue(0)
        self.position.blockSignals(False)
        self.index = 0
        self._show()
        self.loaded.emit(len(frames))
        if self.frame_count:
            self.toggle_play()

    def _advance(self) -> None:
        if self.frame_count:
            self.index = (self.index + 1) % self.frame_count
            self.position.blockSignals(True)
            self.position.setValue(self.index)
            self.position.blockSignals(False)
            self._show()

    def _mode_changed(self, mode: int) -> None:
        self.stack.setCurrentIndex(mode)
        self.wipe_controls.setVisible(mode == 1)
        self._show()

    def _show(self) -> None:
        count = self.frame_count
        if not count:
            return
        i = self.index
        self.frame_label.setText(f"frame {i + 1} / {count}")
        if self.stack.currentIndex() == 0:
            for tile, frames in zip(self.tiles, self.frames, strict=False):
                tile.set_image(frames[i])
            return
        a, b = self.wipe_a.currentIndex(), self.wipe_b.currentIndex()
        if 0 <= a < len(self.frames) and 0 <= b < len(self.frames):
            self.wipe.labels = (self.labels[a], self.labels[b])
            self.wipe.set_frames(self.frames[a][i], self.frames[b][i])
