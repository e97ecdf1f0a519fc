"""Plays a result in place: QMediaPlayer + QVideoWidget (looping, muted, play/pause, seek).

When QtMultimedia or its FFmpeg backend is missing (PySide6-Essentials without Addons, no
libpulse, a broken plugin) or it cannot play a file, a frame viewer takes over: frames are
decoded with imageio off the GUI thread and shown one by one, and a line says why.

The media backend is created on the first ``load`` rather than at start-up, so opening the
window does not pay for loading the multimedia plugin.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, QTimer, QUrl, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSlider,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.image_view import ImageView
from gui.widgets.progress_panel import format_seconds

log = logging.getLogger(__name__)

DISABLE_ENV = "WAN_STUDIO_NO_MULTIMEDIA"  # set to 1 to force the frame viewer (tests, support)
MAX_FALLBACK_FRAMES = 240
MAX_FALLBACK_WIDTH = 960

RunIo = Callable[..., Any]  # Engine.run_io(fn, on_done=..., on_error=...)


def multimedia_status() -> tuple[bool, str]:
    """(True, "") when QtMultimedia can play MP4 here, else (False, why not)."""
    if os.environ.get(DISABLE_ENV):
        return False, f"in-app playback is turned off ({DISABLE_ENV} is set)"
    try:
        from PySide6.QtMultimedia import QMediaFormat
        from PySide6.QtMultimediaWidgets import QVideoWidget  # noqa: F401
    except ImportError as exc:
        return False, (
            f"QtMultimedia is not available ({exc}); install PySide6-Addons (and libpulse0 on "
            "Linux) for smooth playback"
        )
    decodable = QMediaFormat().supportedFileFormats(QMediaFormat.ConversionMode.Decode)
    if QMediaFormat.FileFormat.MPEG4 not in decodable:
        return False, "the Qt multimedia backend cannot decode MP4 on this system"
    return True, ""


def _clock(ms: int, duration_ms: int) -> str:
    """m:ss, with tenths for clips under a minute (a 1 s clip would otherwise read 0:00 / 0:01)."""
    if duration_ms >= 60_000:
        return format_seconds(ms / 1000)
    seconds = max(0, ms) / 1000
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


class _DecodeSignals(QObject):
    done = Signal(object)
    failed = Signal(str)


class _DecodeTask(QRunnable):
    def __init__(self, fn: Callable[[], Any], signals: _DecodeSignals) -> None:
        super().__init__()
        self._fn = fn
        self._signals = signals

    def run(self) -> None:
        try:
            self._signals.done.emit(self._fn())
        except Exception as exc:
            self._signals.failed.emit(str(exc))


def decode_frames(path: str, max_frames: int = MAX_FALLBACK_FRAMES) -> tuple[list[QImage], float]:
    """Frames of a video as QImages (downscaled to at most MAX_FALLBACK_WIDTH) and its fps.

    Runs off the GUI thread: imageio + imageio-ffmpeg, QImage only (no QPixmap, thread-safe).
    """
    import imageio.v2 as imageio
    import numpy as np

    reader = imageio.get_reader(path, format="ffmpeg")
    try:
        fps = float(reader.get_meta_data().get("fps") or 16.0)
        frames: list[QImage] = []
        for i, frame in enumerate(reader):
            if i >= max_frames:
                break
            data = np.ascontiguousarray(frame[..., :3], dtype=np.uint8)
            h, w = data.shape[:2]
            image = QImage(data.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
            if w > MAX_FALLBACK_WIDTH:
                image = image.scaledToWidth(
                    MAX_FALLBACK_WIDTH, Qt.TransformationMode.SmoothTransformation
                )
            frames.append(image)
    finally:
        reader.close()
    return frames, fps


class FrameViewer(QWidget):
    """Fallback player: decoded frames in an image view, a slider and play/pause."""

    loaded = Signal(int)  # number of frames decoded
    position = Signal(int)  # current frame index

    def __init__(self, run_io: RunIo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run_io = run_io
        self.frames: list[QImage] = []
        self._index = 0
        self.view = ImageView("")
        self.reason_label = QLabel("")
        self.reason_label.setObjectName("fallbackReason")
        self.reason_label.setWordWrap(True)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._advance)
        self._signals = _DecodeSignals(self)
        self._signals.done.connect(self._on_decoded)
        self._signals.failed.connect(self._on_failed)
        self._token = 0
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.reason_label)

    def set_reason(self, reason: str) -> None:
        self.reason_label.setText(f"Frame viewer: {reason}." if reason else "")

    def load(self, path: str) -> None:
        self.stop()
        self.frames = []
        self._token += 1
        token = self._token
        self.view.set_image(None)
        self.view.set_placeholder("Decoding frames…")

        def work() -> tuple[int, Any]:
            return token, decode_frames(path)

        if self._run_io is not None:
            self._run_io(
                work,
                on_done=self._signals.done.emit,
                on_error=lambda err: self._signals.failed.emit(err.message),
            )
        else:
            QThreadPool.globalInstance().start(_DecodeTask(work, self._signals))

    def _on_decoded(self, result: tuple[int, tuple[list[QImage], float]]) -> None:
        token, (frames, fps) = result
        if token != self._token:
            return
        self.frames = frames
        self._timer.setInterval(max(10, round(1000 / max(1.0, fps))))
        if frames:
            self.frame_changed(0)
        self.loaded.emit(len(frames))

    def _on_failed(self, message: str) -> None:
        self.view.set_placeholder(f"Could not decode the video: {message}")

    def frame_changed(self, index: int) -> None:
        if 0 <= index < len(self.frames):
            self._index = index
            self.view.set_image(self.frames[index])
            self.position.emit(index)

    def _advance(self) -> None:
        if self.frames:
            self.frame_changed((self._index + 1) % len(self.frames))

    def play(self) -> None:
        if self.frames:
            self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    @property
    def playing(self) -> bool:
        return self._timer.isActive()


class PlayerWidget(QWidget):
    """The result player. ``load(path)`` plays a video in a loop, muted."""

    media_loaded = Signal(str)  # path, when the file is ready to play (either viewer)

    def __init__(self, run_io: RunIo | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._run_io = run_io
        self._source = ""
        self._duration_ms = 0
        self._seeking = False
        self.media_player: Any = None  # QMediaPlayer once created
        self.video_widget: Any = None  # QVideoWidget once created
        self.fallback_reason = ""

        self.caption = QLabel("")
        self.caption.setObjectName("playerCaption")
        self.caption.setWordWrap(True)
        self.caption.hide()
        self.placeholder = ImageView("The finished video plays here.")
        self.frame_viewer = FrameViewer(run_io)
        self.frame_viewer.loaded.connect(self._on_frames_loaded)
        self.frame_viewer.position.connect(self._on_frame_position)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.frame_viewer)

        self.play_button = QToolButton()
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.setShortcut(Qt.Key.Key_Space)
        self.play_button.clicked.connect(self.toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Seek")
        self.slider.sliderPressed.connect(self._seek_start)
        self.slider.sliderReleased.connect(self._seek_end)
        self.slider.valueChanged.connect(self._slider_moved)
        self.time_label = QLabel("0:00.0 / 0:00.0")
        self.time_label.setObjectName("metric")
        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time_label)
        self.controls = QWidget()
        self.controls.setLayout(controls)
        self.controls.setEnabled(False)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.controls)
        self._update_play_icon(False)

    # ---- public ---------------------------------------------------------------------------
    def source(self) -> str:
        return self._source

    def using_fallback(self) -> bool:
        return self.stack.currentWidget() is self.frame_viewer

    def load(self, path: str | os.PathLike[str], caption: str = "", autoplay: bool = True) -> None:
        """Show ``path`` (looping, muted); ``caption`` is shown under it (e.g. demo label)."""
        self._source = str(Path(path))
        self.caption.setText(caption)
        self.caption.setVisible(bool(caption))
        self.controls.setEnabled(True)
        if self._ensure_media_player():
            self.stack.setCurrentWidget(self.video_widget)
            self.media_player.setSource(QUrl.fromLocalFile(self._source))
            if autoplay:
                self.media_player.play()
        else:
            self._load_fallback(autoplay)

    def clear(self) -> None:
        self._source = ""
        if self.media_player is not None:
            self.media_player.stop()
            self.media_player.setSource(QUrl())
        self.frame_viewer.stop()
        self.stack.setCurrentWidget(self.placeholder)
        self.caption.hide()
        self.controls.setEnabled(False)
        self.time_label.setText("0:00.0 / 0:00.0")

    def prepare(self) -> None:
        """Create the media backend now (it loads a plugin on the GUI thread) if available."""
        self._ensure_media_player()

    def toggle_play(self) -> None:
        if self.using_fallback():
            if self.frame_viewer.playing:
                self.frame_viewer.stop()
            else:
                self.frame_viewer.play()
            self._update_play_icon(self.frame_viewer.playing)
        elif self.media_player is not None:
            from PySide6.QtMultimedia import QMediaPlayer

            if self.media_player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
                self.media_player.pause()
            else:
                self.media_player.play()

    def stop(self) -> None:
        """Stop playback (the window is closing or another video is about to load)."""
        if self.media_player is not None:
            self.media_player.stop()
        self.frame_viewer.stop()

    # ---- media player ---------------------------------------------------------------------
    def _ensure_media_player(self) -> bool:
        if self.media_player is not None:
            return True
        if self.fallback_reason:
            return False
        ok, reason = multimedia_status()
        if not ok:
            self.fallback_reason = reason
            return False
        from PySide6.QtMultimedia import QMediaPlayer
        from PySide6.QtMultimediaWidgets import QVideoWidget

        self.video_widget = QVideoWidget()
        self.video_widget.setMinimumSize(160, 120)
        self.stack.addWidget(self.video_widget)
        player = QMediaPlayer(self)
        from gui.qt_logging import quiet_ffmpeg

        quiet_ffmpeg()  # the backend's FFmpeg is loaded now: no container dump per video
        player.setVideoOutput(self.video_widget)  # no audio output: muted by design
        player.setLoops(QMediaPlayer.Loops.Infinite)
        player.durationChanged.connect(self._on_duration)
        player.positionChanged.connect(self._on_position)
        player.playbackStateChanged.connect(
            lambda state: self._update_play_icon(state == QMediaPlayer.PlaybackState.PlayingState)
        )
        player.mediaStatusChanged.connect(self._on_media_status)
        player.errorOccurred.connect(self._on_media_error)
        self.media_player = player
        return True

    def _on_media_status(self, status: Any) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if status in (QMediaPlayer.MediaStatus.LoadedMedia, QMediaPlayer.MediaStatus.BufferedMedia):
            self.media_loaded.emit(self._source)

    def _on_media_error(self, error: Any, message: str) -> None:
        from PySide6.QtMultimedia import QMediaPlayer

        if error == QMediaPlayer.Error.NoError or not self._source:
            return
        log.warning("media player error on %s: %s", self._source, message)
        self.media_player.stop()
        self.fallback_reason = f"the media player could not play this file ({message})"
        self._load_fallback(True)
        self.fallback_reason = ""  # try the real player again for the next file

    def _on_duration(self, duration_ms: int) -> None:
        self._duration_ms = max(0, duration_ms)
        self.slider.setRange(0, self._duration_ms)
        self._update_time(self.media_player.position() if self.media_player else 0)

    def _on_position(self, position_ms: int) -> None:
        if not self._seeking:
            self.slider.blockSignals(True)
            self.slider.setValue(position_ms)
            self.slider.blockSignals(False)
        self._update_time(position_ms)

    def _update_time(self, position_ms: int) -> None:
        self.time_label.setText(
            f"{_clock(position_ms, self._duration_ms)} / {_clock(self._duration_ms, self._duration_ms)}"
        )

    def _seek_start(self) -> None:
        self._seeking = True

    def _seek_end(self) -> None:
        self._seeking = False
        self._slider_moved(self.slider.value())

    def _slider_moved(self, value: int) -> None:
        if self.using_fallback():
            self.frame_viewer.frame_changed(value)
        elif self.media_player is not None:
            self.media_player.setPosition(value)

    # ---- fallback -------------------------------------------------------------------------
    def _load_fallback(self, autoplay: bool) -> None:
        self.stack.setCurrentWidget(self.frame_viewer)
        self.frame_viewer.set_reason(self.fallback_reason)
        self._autoplay_fallback = autoplay
        self.frame_viewer.load(self._source)

    def _on_frames_loaded(self, count: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, count - 1))
        self.slider.setValue(0)
        self.slider.blockSignals(False)
        self.time_label.setText(f"frame 1 / {count}")
        if count and getattr(self, "_autoplay_fallback", True):
            self.frame_viewer.play()
            self._update_play_icon(True)
        self.media_loaded.emit(self._source)

    def _on_frame_position(self, index: int) -> None:
        if not self._seeking:
            self.slider.blockSignals(True)
            self.slider.setValue(index)
            self.slider.blockSignals(False)
        self.time_label.setText(f"frame {index + 1} / {len(self.frame_viewer.frames)}")

    def _update_play_icon(self, playing: bool) -> None:
        icon = (
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        )
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.play_button.setText("Pause" if playing else "Play")
