"""The Models workspace's LoRA tab: the user's LoRA folders and what each LoRA fits.

Above, the folders (core.lora.library: add, remove); below, one row per item of every folder (a
HIGH/LOW pair is one row): name, format, rank, width (dim), experts, the families it fits, layers
matched, size, folder. "Use in Generate" (or a double click) adds the item to the Generate form
through ``bus.use_lora``.

Threads: listing the folders (scandir, stat) and reading each file's header (``inspect_lora``
imports torch) run on the engine's I/O pool; a newer listing drops the answers of the older one.
Nothing is read until the tab is first shown.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.humanize import human_bytes
from core.lora.errors import LoraError
from gui.widgets.lora_format import (
    WARN_COLOUR,
    alive,
    best_matched,
    experts_text,
    fits_text,
    rank_text,
    read_header,
)
from gui.widgets.table_cells import SortedCell, list_table

COLUMNS = ("Name", "Format", "Rank", "Dim", "Experts", "Fits", "Layers", "Size", "Folder")
(
    COL_NAME,
    COL_FORMAT,
    COL_RANK,
    COL_DIM,
    COL_EXPERTS,
    COL_FITS,
    COL_LAYERS,
    COL_SIZE,
    COL_FOLDER,
) = range(len(COLUMNS))
PATH_ROLE = Qt.ItemDataRole.UserRole
LAST_DIR_KEY = "models/lora_folder"


def _list_folders() -> tuple[list[str], list[tuple[str, Any, int]], str | None]:
    """Worker side: (folders, [(folder, LoraItem, bytes)], a note about the folder file)."""
    from core.lora.library import load_folders, scan_folder

    folders, problem = load_folders()
    rows = []
    for folder in folders:
        for item in scan_folder(folder):
            size = 0
            for file in filter(None, (item.path, item.path_low)):
                with contextlib.suppress(OSError):
                    size += os.stat(file).st_size
            rows.append((folder, item, size))
    return folders, rows, problem


def _inspect_item(path: str, path_low: str | None) -> tuple[Any, Any]:
    """Worker side: the header of the file and of its LOW partner (LoraInfo or reason text)."""
    return read_header(path), read_header(path_low) if path_low else None


def details_html(folder: str, item: Any, size: int, infos: tuple[Any, Any]) -> str:
    """The details pane of one item: files, header facts, fit per family, distill note."""
    from html import escape

    from core.lora.info import describe_fit
    from gui.widgets.lora_format import short_family

    info, low = infos
    files = [Path(f).name for f in filter(None, (item.path, item.path_low))]
    parts = [f"<b>{escape(item.label)}</b>"]
    rows = [("Files", "<br>".join(escape(f) for f in files)), ("Folder", escape(folder))]
    if info is None:
        parts.append("Reading the header…")
    elif isinstance(info, str):
        parts.append(f"<span style='color:{WARN_COLOUR}'>{escape(info)}</span>")
    else:
        rows += [
            ("Format", escape(info.format_label)),
            ("Rank", rank_text(info.ranks)),
            ("Width", f"{info.dim} (FFN {info.ffn_dim}), {info.blocks} blocks"),
            ("Weights", f"{info.layers} layers, {info.tensors} tensors, {escape(info.dtype)}"),
            ("Size", human_bytes(size)),
            ("Experts", experts_text(item.path_low, item.expert)),
        ]
        for fit in info.fits:
            mark = "✓" if fit.fits else ""
            rows.append((f"{short_family(fit.family)}", f"{fit.matched}/{fit.total} layers {mark}"))
        parts.append(escape(describe_fit(info)))
        if info.distill:
            steps = f"{info.distill_steps}-step " if info.distill_steps else ""
            parts.append(
                f"A {steps}step-distillation LoRA: picking it in Generate selects the Lightning "
                "preset (few steps, no CFG)."
            )
        if info.has_diff:
            parts.append("Holds full-weight deltas (diff) as well as low-rank pairs.")
        if info.dropped:
            parts.append(f"{info.dropped} key(s) are not applied (norm or modulation deltas).")
        if isinstance(low, str):
            parts.append(f"<span style='color:{WARN_COLOUR}'>LOW file: {escape(low)}</span>")
    table = "".join(
        f"<tr><td style='color:#6b7280; padding-right:8px'>{k}</td><td>{v}</td></tr>"
        for k, v in rows
    )
    return (
        parts[0]
        + f"<table cellspacing='2'>{table}</table>"
        + "".join(f"<p>{p}</p>" for p in parts[1:])
    )


class LoraLibrary(QWidget):
    """The LoRA tab of the Models workspace (see the module docstring)."""

    reloaded = Signal()  # the table was rebuilt from the folders
    inspected = Signal(str)  # a row's header details arrived (the item's path)

    def __init__(self, bus: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self.folders: list[str] = []
        self.items: dict[str, tuple[str, Any, int]] = {}  # path -> (folder, LoraItem, size)
        self.infos: dict[str, tuple[Any, Any]] = {}  # path -> (high info, low info)
        self._serial = itertools.count(1)
        self._latest = 0
        self._loaded = False

        self.add_button = QPushButton("Add folder…")
        self.add_button.setToolTip("A folder that holds LoRA .safetensors files (not recursive)")
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove folder")
        self.remove_button.setToolTip("Forget the selected folder; its files stay on disk")
        self.remove_button.clicked.connect(self.remove_selected_folder)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the folders and the files again")
        self.refresh_button.clicked.connect(self.reload)
        self.use_button = QPushButton("Use in Generate")
        self.use_button.setObjectName("primary")
        self.use_button.setToolTip("Add the selected LoRA to the Generate form")
        self.use_button.clicked.connect(self.use_selected)
        bar = QHBoxLayout()
        bar.addWidget(self.add_button)
        bar.addWidget(self.remove_button)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.use_button)

        self.folder_list = QListWidget()
        self.folder_list.setToolTip("Your LoRA folders")
        self.folder_list.setMinimumHeight(self.fontMetrics().lineSpacing() * 2 + 12)
        self.folder_list.currentRowChanged.connect(lambda _r: self._update_buttons())
        folders_box = QWidget()
        folders_layout = QVBoxLayout(folders_box)
        folders_layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel("LoRA folders")
        title.setObjectName("sectionTitle")
        folders_layout.addWidget(title)
        folders_layout.addWidget(self.folder_list, 1)

        self.table = list_table(COLUMNS, stretch=COL_NAME)
        header = self.table.horizontalHeader()
        header.setSortIndicator(COL_NAME, Qt.SortOrder.AscendingOrder)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda _r, _c: self.use_selected())
        self.note = QLabel()  # reading / the folder file was unreadable
        self.note.setObjectName("hint")
        self.note.setWordWrap(True)
        self.details = QLabel("Select a LoRA to see what it is and what it fits.")
        self.details.setObjectName("loraDetails")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.RichText)
        self.details.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumWidth(260)
        self.details.setContentsMargins(8, 4, 4, 4)
        self.empty_hint = QLabel(
            "No LoRA folders yet. <b>Add folder…</b> picks a folder of LoRA .safetensors files "
            "(HIGH/LOW pairs are shown as one item)."
        )
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setObjectName("hint")
        table_box = QWidget()
        table_layout = QVBoxLayout(table_box)
        table_layout.setContentsMargins(0, 0, 0, 0)
        table_layout.addWidget(self.table, 1)
        table_layout.addWidget(self.empty_hint)
        table_layout.addWidget(self.note)
        self.lower = QSplitter(Qt.Orientation.Horizontal)  # table | details of the selection
        self.lower.addWidget(table_box)
        self.lower.addWidget(self.details)
        self.lower.setStretchFactor(0, 3)
        self.lower.setStretchFactor(1, 1)
        self.lower.setSizes([960, 300])
        self.lower.setChildrenCollapsible(False)

        # Folders above the table: a user has a few folders and many files, and the table
        # needs the width (file names are long).
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(folders_box)
        self.splitter.addWidget(self.lower)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([80, 600])
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)
        self._update_buttons()

    # ---- listing -----------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._loaded:
            self.reload()

    def reload(self) -> None:
        """List the folders again (off the GUI thread); headers are read row by row after."""
        self._loaded = True
        serial = self._latest = next(self._serial)
        self.note.setText("Reading your LoRA folders…")
        self.note.show()

        def done(result: tuple[list[str], list[tuple[str, Any, int]], str | None]) -> None:
            if alive(self) and serial == self._latest:
                self._fill(serial, *result)

        def failed(error: Any) -> None:
            if alive(self) and serial == self._latest:
                self.note.setText(f"Could not read the LoRA folders: {error.message}")

        self.bus.engine.run_io(_list_folders, on_done=done, on_error=failed)

    def _fill(
        self,
        serial: int,
        folders: list[str],
        rows: list[tuple[str, Any, int]],
        problem: str | None,
    ) -> None:
        current = self.selected_path()
        self.folders = folders
        self.folder_list.clear()
        for folder in folders:
            self.folder_list.addItem(folder)
            if not Path(folder).is_dir():
                item = self.folder_list.item(self.folder_list.count() - 1)
                item.setText(f"{folder}  (missing)")
                item.setForeground(QColor(WARN_COLOUR))
        self.items = {item.path: (folder, item, size) for folder, item, size in rows}
        self.infos = {k: v for k, v in self.infos.items() if k in self.items}
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        for folder, item, size in rows:
            row = self.table.rowCount()
            self.table.insertRow(row)
            name = SortedCell(item.label)
            name.setData(PATH_ROLE, item.path)
            name.setToolTip("\n".join(filter(None, (item.path, item.path_low))))
            self.table.setItem(row, COL_NAME, name)
            self.table.setItem(
                row, COL_EXPERTS, SortedCell(experts_text(item.path_low, item.expert))
            )
            self.table.setItem(row, COL_SIZE, SortedCell(human_bytes(size), size))
            folder_cell = SortedCell(Path(folder).name or folder)
            folder_cell.setToolTip(folder)
            self.table.setItem(row, COL_FOLDER, folder_cell)
            for col in (COL_FORMAT, COL_RANK, COL_DIM, COL_FITS, COL_LAYERS):
                self.table.setItem(row, col, SortedCell("…"))
        self.table.setSortingEnabled(True)
        self.empty_hint.setVisible(not rows)
        if not folders:
            self.empty_hint.setText(
                "No LoRA folders yet. <b>Add folder…</b> picks a folder of LoRA .safetensors "
                "files (HIGH/LOW pairs are shown as one item)."
            )
        elif not rows:
            self.empty_hint.setText("No .safetensors files in these folders.")
        self.note.setText(problem or "")
        self.note.setVisible(bool(problem))
        if current is not None:
            self.select(current)
        self._update_buttons()
        self.reloaded.emit()
        for _folder, item, _size in rows:
            if item.path in self.infos:
                self._show_info(item.path)
            else:
                self._inspect(serial, item.path, item.path_low)

    def _inspect(self, serial: int, path: str, path_low: str | None) -> None:
        def done(result: tuple[Any, Any]) -> None:
            if alive(self) and serial == self._latest and path in self.items:
                self.infos[path] = result
                self._show_info(path)
                self.inspected.emit(path)

        def failed(error: Any) -> None:
            done((error.message, None))

        self.bus.engine.run_io(lambda: _inspect_item(path, path_low), on_done=done, on_error=failed)

    def _row_of(self, path: str) -> int:
        for row in range(self.table.rowCount()):
            cell = self.table.item(row, COL_NAME)
            if cell is not None and cell.data(PATH_ROLE) == path:
                return row
        return -1

    def _show_info(self, path: str) -> None:
        row = self._row_of(path)
        if row < 0:
            return
        info, low = self.infos[path]
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)  # a sort between cells would move the row
        if isinstance(info, str):
            cell = SortedCell("unreadable")
            cell.setForeground(QColor(WARN_COLOUR))
            cell.setToolTip(info)
            self.table.setItem(row, COL_FORMAT, cell)
            for col in (COL_RANK, COL_DIM, COL_FITS, COL_LAYERS):
                self.table.setItem(row, col, SortedCell("-"))
        else:
            self.table.setItem(row, COL_FORMAT, SortedCell(info.format_label))
            self.table.setItem(
                row, COL_RANK, SortedCell(rank_text(info.ranks), max(info.ranks or [0]))
            )
            dim = info.dim
            self.table.setItem(row, COL_DIM, SortedCell(str(dim) if dim else "?", dim or 0))
            fits = SortedCell(fits_text(info))
            layers = SortedCell(best_matched(info))
            if not info.fitting_families:
                fits.setForeground(QColor(WARN_COLOUR))
                layers.setForeground(QColor(WARN_COLOUR))
            if isinstance(low, str):
                fits.setText(f"{fits.text()} (LOW file unreadable)")
                fits.setForeground(QColor(WARN_COLOUR))
            self.table.setItem(row, COL_FITS, fits)
            self.table.setItem(row, COL_LAYERS, layers)
        self.table.setSortingEnabled(sorting)
        if self.selected_path() == path:
            self._selection_changed()

    # ---- selection and actions ---------------------------------------------------------------
    def selected_path(self) -> str | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        cell = self.table.item(rows[0].row(), COL_NAME)
        return cell.data(PATH_ROLE) if cell is not None else None

    def select(self, path: str) -> bool:
        row = self._row_of(path)
        if row >= 0:
            self.table.selectRow(row)
        return row >= 0

    def row_texts(self) -> list[dict[str, str]]:
        """Every row as column -> text (what the user reads; the tests check it)."""
        out = []
        for row in range(self.table.rowCount()):
            out.append(
                {
                    name: (self.table.item(row, col).text() if self.table.item(row, col) else "")
                    for col, name in enumerate(COLUMNS)
                }
            )
        return out

    def _selection_changed(self) -> None:
        self._update_buttons()
        path = self.selected_path()
        if path is None:
            return
        self.details.setText(details_html(*self.items[path], self.infos.get(path, (None, None))))

    def _update_buttons(self) -> None:
        self.use_button.setEnabled(self.selected_path() is not None)
        self.remove_button.setEnabled(self.folder_list.currentRow() >= 0)

    def use_selected(self) -> None:
        """Send the selected item to the Generate form (bus.use_lora)."""
        path = self.selected_path()
        if path is None:
            return
        _folder, item, _size = self.items[path]
        self.bus.use_lora.emit({"path": item.path, "path_low": item.path_low})

    def choose_folder(self) -> None:
        from gui.app import settings

        start = settings().value(LAST_DIR_KEY) or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Add a LoRA folder", str(start))
        if folder:
            settings().setValue(LAST_DIR_KEY, folder)
            self.add_folder(folder)

    def add_folder(self, folder: str | Path) -> bool:
        """Register a folder (a small JSON write), then list everything again."""
        from core.lora.library import add_folder

        try:
            add_folder(folder)
        except (LoraError, OSError) as exc:
            QMessageBox.warning(self, "Not added", str(exc))
            return False
        self.bus.lora_folders_changed.emit()
        self.bus.status.emit(f"Added LoRA folder {folder}")
        self.reload()
        return True

    def remove_selected_folder(self) -> None:
        from core.lora.library import remove_folder

        row = self.folder_list.currentRow()
        if not 0 <= row < len(self.folders):
            return
        folder = self.folders[row]
        try:
            remove_folder(folder)
        except OSError as exc:
            QMessageBox.warning(self, "Not removed", str(exc))
            return
        self.bus.lora_folders_changed.emit()
        self.bus.status.emit(f"Removed LoRA folder {folder} (its files stay)")
        self.reload()


__all__ = ["LoraLibrary"]
