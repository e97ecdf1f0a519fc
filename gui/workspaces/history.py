"""History workspace: past videos of the output folder as poster thumbnails.

The sidecar JSON files in the output folder are the source of truth (core/generate/history.py),
indexed in the queue database (core/queue/history_index.py) so a folder of 10,000 videos opens in
a fraction of a second; the folder is scanned off the GUI thread, and the posters are decoded
there too, a chunk at a time, after the list shows. Selecting a video plays it
here; "Reuse settings" sends its request to Generate (bus.apply_settings); "Open folder" shows
it in the file manager. The list refreshes when a run finishes (bus.history_changed) or the
output folder changes.
"""

from __future__ import annotations

import time
from html import escape
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QIcon, QImage, QPixmap, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.bus import AppBus
from gui.widgets.player import PlayerWidget

THUMB = QSize(192, 112)
MAX_ENTRIES = 500


THUMB_CHUNK = 48  # posters decoded per I/O task: the first thumbnails show while the rest load


_INDEX_STORES: dict[Path, Any] = {}  # the queue database per path (tests change the home)


def _index_store() -> Any:
    """The queue database that holds the History index, or None when it cannot be used (then
    History reads the files alone). Opened once per path, off the GUI thread."""
    from core.queue.errors import StoreUnusable
    from core.queue.store import QueueStore, default_store_path

    path = default_store_path()
    if path not in _INDEX_STORES:
        try:
            _INDEX_STORES[path] = QueueStore(path, recover=False)
        except StoreUnusable:
            _INDEX_STORES[path] = None
    return _INDEX_STORES[path]


def scan_history(folder: Path) -> Any:
    """The newest MAX_ENTRIES entries of ``folder``, through the index (runs off the GUI thread)."""
    from core.generate.history import scan
    from core.queue.history_index import scan_indexed

    store = _index_store()
    if store is None:
        return scan(folder, limit=MAX_ENTRIES)
    return scan_indexed(folder, store, limit=MAX_ENTRIES)


def load_thumbnails(posters: list[tuple[int, str]]) -> list[tuple[int, QImage]]:
    """(row, poster path) -> (row, thumbnail-sized QImage); runs off the GUI thread."""
    thumbs = []
    for row, poster in posters:
        image = QImage(poster)
        if not image.isNull():
            thumbs.append(
                (
                    row,
                    image.scaled(
                        THUMB,
                        Qt.AspectRatioMode.KeepAspectRatio,
                        Qt.TransformationMode.SmoothTransformation,
                    ),
                )
            )
    return thumbs


def _model_text(model: str) -> str:
    """A demo model name reads as what it is; a folder path stays a path."""
    from core.generate.request import demo_family_or_none
    from core.models.catalog import get_family

    family = demo_family_or_none(model)
    if family is not None:
        return f"demo model ({get_family(family).name}, random weights)"
    return model


def describe(entry: Any) -> str:
    """Rich-text details of one history entry (what a user compares between runs)."""
    r = entry.request
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.created))
    model = _model_text(r.model)
    rows = [
        ("Prompt", escape(r.prompt) or "<i>(empty)</i>"),
        ("Model", escape(model)),
        (
            "Video",
            f"{r.width}×{r.height}, {r.frames} frames at {r.fps} fps "
            f"({r.frames / max(1, r.fps):.2f} s)",
        ),
        ("Steps", str(r.steps)),
        (
            "Guidance",
            f"{r.guidance_high:g}"
            + (f" / {r.guidance_low:g} (high / low-noise)" if r.guidance_low is not None else ""),
        ),
        ("Seed", str(entry.seed) if entry.seed is not None else "unknown"),
        ("Made", when),
    ]
    if r.image:
        rows.insert(1, ("Image", escape(Path(r.image).name)))
    if r.preset:
        rows.append(("Preset", escape(r.preset)))
    if r.loras:
        from gui.widgets.lora_format import choices_text

        rows.append(("LoRAs", escape(choices_text(r.loras))))
    html = (
        "<table cellspacing='3'>"
        + "".join(
            f"<tr><td style='color:#6b7280; padding-right:8px'>{k}</td><td>{v}</td></tr>"
            for k, v in rows
        )
        + "</table>"
    )
    if not entry.video_exists:
        html += "<p style='color:#c0392b'>The video file is missing; its settings remain.</p>"
    return html


class HistoryWorkspace(QWidget):
    """The History tab (see the module docstring)."""

    TITLE = "History"

    refreshed = Signal(int)  # number of entries listed (their thumbnails follow)
    thumbnails_loaded = Signal()

    def __init__(self, bus: AppBus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self.entries: list[Any] = []
        self._stale = True
        self._scan_token = 0

        self.folder_label = QLabel("")
        self.folder_label.setObjectName("hint")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refresh)
        self.open_output = QPushButton("Open output folder")
        self.open_output.clicked.connect(lambda: self._open(self.folder()))
        top = QHBoxLayout()
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.refresh_button)
        top.addWidget(self.open_output)

        self.list = QListWidget()
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(THUMB)
        self.list.setGridSize(QSize(THUMB.width() + 24, THUMB.height() + 48))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setUniformItemSizes(True)
        self.list.setSpacing(4)
        self.list.currentRowChanged.connect(self._selected)
        self.list.itemDoubleClicked.connect(self._play_in_generate)
        self.empty = QLabel("")
        self.empty.setObjectName("hint")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)

        self.player = PlayerWidget(run_io=lambda fn, **kw: self.bus.engine.run_io(fn, **kw))
        self.details = QLabel("")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.reuse_button = QPushButton("Reuse settings")
        self.reuse_button.setObjectName("primary")
        self.reuse_button.setToolTip("Fill the Generate form with this video's settings and seed")
        self.reuse_button.clicked.connect(self.reuse_selected)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self._open_selected)
        buttons = QHBoxLayout()
        buttons.addWidget(self.reuse_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(6, 0, 0, 0)
        side_layout.addWidget(self.player, 3)
        side_layout.addLayout(buttons)
        side_layout.addWidget(self.details, 2)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.list, 1)
        left_layout.addWidget(self.empty, 1)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(side)
        splitter.setSizes([620, 640])
        splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self._set_selection_actions(None)

        bus.history_changed.connect(self._changed)
        bus.output_dir_changed.connect(lambda _folder: self._changed())

    # ---- folder and scanning -----------------------------------------------------------------
    def folder(self) -> Path:
        from gui.workspaces.generate import output_dir_setting

        return output_dir_setting()

    def _changed(self) -> None:
        """Rescan now when visible, else on the next show (no work for a hidden tab)."""
        self._stale = True
        if self.isVisible():
            self.refresh()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def refresh(self) -> None:
        """Scan the output folder off the GUI thread and list what it holds."""
        self._stale = False
        folder = self.folder()
        self.folder_label.setText(f"Videos in {folder}")
        self.folder_label.setToolTip(str(folder))
        self._scan_token += 1
        token = self._scan_token
        self.bus.engine.run_io(
            lambda: scan_history(folder),
            on_done=lambda result: self._show(token, result),
            on_error=lambda err: self.bus.status.emit(f"Could not read the history: {err.message}"),
        )

    def _show(self, token: int, history: Any) -> None:
        if token != self._scan_token:
            return  # a newer scan is on its way
        selected = self.selected_entry()
        keep = str(selected.video) if selected is not None else None
        self.entries = list(history.entries)
        self.list.blockSignals(True)
        self.list.clear()
        for entry in self.entries:
            when = time.strftime("%b %d %H:%M", time.localtime(entry.created))
            prompt = (
                entry.request.prompt.strip().splitlines()[0] if entry.request.prompt.strip() else ""
            )
            label = f"{when}\n{prompt[:28] + ('…' if len(prompt) > 28 else '')}"
            item = QListWidgetItem(label)
            item.setToolTip(f"{entry.video.name}\n{entry.request.prompt}")
            self.list.addItem(item)
        self.list.blockSignals(False)
        has = bool(self.entries)
        self.list.setVisible(has)
        self.empty.setVisible(not has)
        self.empty.setText(
            f"No videos yet in {self.folder()}.\nGenerate one in the Generate tab; it appears "
            "here when it is written."
        )
        if history.total > len(self.entries):
            self.folder_label.setText(
                f"Videos in {self.folder()} (the newest {len(self.entries):,} of {history.total:,})"
            )
        for problem in history.problems[:3]:
            self.bus.status.emit(f"History: skipped {problem}")
        row = next((i for i, e in enumerate(self.entries) if str(e.video) == keep), -1)
        if row >= 0:
            self.list.setCurrentRow(row)
        else:
            self._selected(-1)
        self.refreshed.emit(len(self.entries))
        posters = [(n, str(e.poster)) for n, e in enumerate(self.entries) if e.poster is not None]
        self._load_thumbnails(token, posters)

    def _load_thumbnails(self, token: int, posters: list[tuple[int, str]]) -> None:
        """Decode posters a chunk at a time off the GUI thread; a newer scan stops the chain."""
        if not posters or token != self._scan_token:
            if token == self._scan_token:
                self.thumbnails_loaded.emit()
            return
        chunk, rest = posters[:THUMB_CHUNK], posters[THUMB_CHUNK:]

        def show(thumbs: list[tuple[int, QImage]]) -> None:
            if token != self._scan_token:
                return
            for row, image in thumbs:
                item = self.list.item(row)
                if item is not None:
                    item.setIcon(QIcon(QPixmap.fromImage(image)))
            self._load_thumbnails(token, rest)

        self.bus.engine.run_io(lambda: load_thumbnails(chunk), on_done=show)

    # ---- selection ---------------------------------------------------------------------------
    def selected_entry(self) -> Any:
        row = self.list.currentRow()
        return self.entries[row] if 0 <= row < len(self.entries) else None

    def _selected(self, row: int) -> None:
        entry = self.entries[row] if 0 <= row < len(self.entries) else None
        self._set_selection_actions(entry)
        if entry is None:
            self.player.clear()
            self.details.setText("Select a video to play it and see its settings.")
            return
        self.details.setText(describe(entry))
        if entry.video_exists:
            caption = "demo model: random weights (its video is noise)" if entry.demo else ""
            self.player.load(entry.video, caption)
        else:
            self.player.clear()

    def _set_selection_actions(self, entry: Any) -> None:
        self.reuse_button.setEnabled(entry is not None)
        self.open_button.setEnabled(entry is not None)

    def _play_in_generate(self, _item: Any = None) -> None:
        entry = self.selected_entry()
        if entry is not None and entry.video_exists:
            self.player.stop()
            self.bus.play_video.emit(str(entry.video))

    def reuse_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self.bus.apply_settings.emit(entry.request.to_dict())

    def _open_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self._open(entry.video.parent)

    @staticmethod
    def _open(folder: Path) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def save_state(self) -> None:
        """Nothing to persist; stop playback when the window closes."""
        self.player.stop()
