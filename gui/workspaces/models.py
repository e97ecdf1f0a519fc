"""Models workspace: the model library as a table, what each folder holds, and what to do next.

The table lists every registered folder (name, family, layout, quantization, transformers,
size, status); the details pane shows everything ``inspect_folder`` found. Actions: Add folder
(checked first; an msmodelslim export is recognised and the repack wizard offered, prefilled),
Create demo model, Repack…, Use in Generate, Rename, Remove (from the library only; files
stay), Delete files (typed-name confirmation), Refresh. Library warnings (a corrupt file set
aside, a newer read-only library) show in a banner.

Threads: folder inspection, adding and deleting run on the engine's I/O pool and the demo
model on the engine thread (gui/engine.py), each with its own ``Library`` instance; this
widget only re-reads the small library file afterwards. Other workspaces hear about changes
through ``bus.library_changed`` and send models to Generate through ``bus.use_model``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QCoreApplication, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QColor, QIcon
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStyle,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.models.catalog import FAMILIES
from core.models.library import Library, LibraryEntry, LibraryError
from gui.bus import AppBus
from gui.engine import JobError
from gui.widgets.lora_library import LoraLibrary
from gui.widgets.model_details import ModelDetails
from gui.widgets.models_dialogs import DeleteFilesDialog, ask_choice
from gui.widgets.models_format import (
    STATUS_CHECKING,
    STATUS_COLOURS,
    STATUS_LABELS,
    STATUS_MISSING,
    STATUS_OK,
    STATUS_PROBLEMS,
    STATUS_REPACK,
    family_label,
    human_bytes,
    layout_label,
    quantization_label,
    status_of,
    status_reason,
)
from gui.widgets.table_cells import SortedCell, list_table

log = logging.getLogger(__name__)

COLUMNS = ("Name", "Family", "Layout", "Quantization", "Experts", "Size", "Status")
COL_NAME, COL_FAMILY, COL_LAYOUT, COL_QUANT, COL_EXPERTS, COL_SIZE, COL_STATUS = range(7)
ID_ROLE = Qt.ItemDataRole.UserRole
LAST_FOLDER_KEY = "models/last_folder"
SPLITTER_KEY = "models/splitter"
HEADER_KEY = "models/header"


class ModelsWorkspace(QWidget):
    """The Models tab (see the module docstring)."""

    TITLE = "Models"

    reloaded = Signal()  # the table was rebuilt from the library file
    inspected = Signal(str)  # an entry's inspection arrived (entry id)
    busy_changed = Signal(bool)  # background work (add, delete, demo, inspection) started/ended

    def __init__(
        self,
        bus: AppBus,
        parent: QWidget | None = None,
        library_file: str | Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.bus = bus
        self.library_file = Path(library_file) if library_file is not None else None
        self.library = Library(self.library_file)
        self.infos: dict[str, Any] = {}  # entry id -> FolderInfo (read off the GUI thread)
        self.warnings: list[str] = []
        self.wizard: Any = None
        self._inspecting: dict[str, int] = {}  # entry id -> generation of the inspection
        self._generation = 0
        self._jobs = 0  # add / delete / demo in flight
        self._refreshing = False
        self._closed = False
        self._build()
        bus.library_changed.connect(self.reload)
        app = QCoreApplication.instance()
        if app is not None:  # a running repack must stop (and clean up) before the app exits
            app.aboutToQuit.connect(self.shutdown)
        self._collect_warnings()
        self.reload()
        self._restore_state()

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        style = self.style()
        icon = style.standardIcon
        self.add_button = QPushButton(icon(QStyle.StandardPixmap.SP_DirOpenIcon), "Add folder…")
        self.add_button.setToolTip("Register a Wan2.2 Diffusers folder or an msmodelslim export")
        self.add_button.clicked.connect(self.add_folder)
        self.demo_button = QPushButton("Create demo model")
        self.demo_button.setToolTip(
            "A tiny Wan2.2-shaped model with random weights, made here in seconds: it exercises "
            "every stage, and its videos are noise"
        )
        demo_menu = QMenu(self.demo_button)
        for family in FAMILIES.values():
            action = demo_menu.addAction(family.title)
            action.triggered.connect(lambda _=False, key=family.key: self.create_demo(key))
        self.demo_button.setMenu(demo_menu)
        self.repack_button = QPushButton("Repack…")
        self.repack_button.setToolTip(
            "Turn the selected msmodelslim export into a Diffusers folder this app can load"
        )
        self.repack_button.clicked.connect(self.repack_selected)
        self.use_button = QPushButton("Use in Generate")
        self.use_button.setObjectName("primary")
        self.use_button.clicked.connect(self.use_selected)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self.rename_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Forget the model; its files stay on disk")
        self.remove_button.clicked.connect(self.remove_selected)
        self.delete_button = QPushButton("Delete files…")
        self.delete_button.setToolTip("Delete the model's folder from disk (asks first)")
        self.delete_button.clicked.connect(self.delete_selected)
        self.refresh_button = QPushButton(icon(QStyle.StandardPixmap.SP_BrowserReload), "Refresh")
        self.refresh_button.setToolTip("Read every folder again")
        self.refresh_button.clicked.connect(self.refresh)

        bar = QHBoxLayout()
        for widget in (self.add_button, self.demo_button, self.repack_button):
            bar.addWidget(widget)
        bar.addSpacing(12)
        for widget in (self.rename_button, self.remove_button, self.delete_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.use_button)

        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.dismiss = QPushButton("Dismiss")
        self.dismiss.clicked.connect(self.dismiss_warnings)
        self.banner_box = QFrame()
        banner_row = QHBoxLayout(self.banner_box)
        banner_row.setContentsMargins(0, 0, 0, 0)
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.dismiss, 0, Qt.AlignmentFlag.AlignTop)
        self.banner_box.hide()

        self.table = list_table(COLUMNS, stretch=COL_NAME, min_section=48)
        header = self.table.horizontalHeader()
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # library order until clicked
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda _r, _c: self._activate())
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._context_menu)

        self.empty_hint = QLabel(
            "No models yet. <b>Add folder…</b> registers a Wan2.2 Diffusers folder or an "
            "msmodelslim export; <b>Create demo model</b> makes a tiny one to try the app with."
        )
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setStyleSheet("color: #555; padding: 6px")

        self.details = ModelDetails()
        self.reason = QLabel()
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #666")

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.table, 1)
        left_layout.addWidget(self.empty_hint)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.details, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        page = QWidget()  # the model library; the LoRA folders are the second tab
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.addWidget(self.banner_box)
        layout.addLayout(bar)
        layout.addWidget(self.reason)
        layout.addWidget(self.splitter, 1)
        self.loras = LoraLibrary(self.bus)  # gui/widgets/lora_library.py
        self.sections = QTabWidget()
        self.sections.addTab(page, "Model library")
        self.sections.addTab(self.loras, "LoRAs")
        QVBoxLayout(self).addWidget(self.sections)

    def show_section(self, section: str) -> None:
        """bus.show_workspace("Models/<section>"): the inner tab of that title."""
        for index in range(self.sections.count()):
            if self.sections.tabText(index) == section:
                self.sections.setCurrentIndex(index)

    def _restore_state(self) -> None:
        from gui.app import settings

        store = settings()
        splitter = store.value(SPLITTER_KEY)
        if splitter is not None:
            self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([780, 480])

    def save_state(self) -> None:
        """Called by the main window when it closes."""
        from gui.app import settings

        settings().setValue(SPLITTER_KEY, self.splitter.saveState())

    # ---- the library -------------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        return bool(self.library.read_only_reason)

    @property
    def busy(self) -> bool:
        """True while an inspection, add, delete or demo job of this workspace runs."""
        return bool(self._inspecting) or self._jobs > 0

    def reload(self) -> None:
        """Re-read the library file (another process or workspace may have changed it)."""
        if self._closed:
            return
        self.library.reload()
        self._collect_warnings()
        ids = {e.id for e in self.library.list()}
        self.infos = {k: v for k, v in self.infos.items() if k in ids}
        self._fill_table()
        self._inspect_missing()
        self.reloaded.emit()

    def refresh(self) -> None:
        """Forget every inspection and read all folders again."""
        self.infos.clear()
        self._inspecting.clear()
        self._generation += 1
        self._refreshing = True
        self.bus.status.emit("Reading the model folders again…")
        self.reload()
        self._refresh_done()

    def _refresh_done(self) -> None:
        if self._refreshing and not self._inspecting:
            self._refreshing = False
            self.bus.status.emit(f"Read {len(self.library)} model folder(s) again")

    def _collect_warnings(self) -> None:
        for warning in self.library.warnings:
            if warning not in self.warnings:
                self.warnings.append(warning)
        self._show_banner()

    def _show_banner(self) -> None:
        lines = list(self.warnings)
        if self.read_only and self.library.read_only_reason not in lines:
            lines.insert(0, self.library.read_only_reason or "")
        self.banner.setText("\n".join(f"⚠ {w}" for w in lines))
        self.banner_box.setVisible(bool(lines))
        self.dismiss.setVisible(not self.read_only)

    def dismiss_warnings(self) -> None:
        self.warnings.clear()
        self._show_banner()

    def entry_ids(self) -> list[str]:
        """Entry ids in table order."""
        return [self.table.item(r, COL_NAME).data(ID_ROLE) for r in range(self.table.rowCount())]

    def status(self, entry_id: str) -> str:
        entry = self.library.get(entry_id)
        return status_of(entry.path, self.infos.get(entry_id))

    def _fill_table(self) -> None:
        selected = self.selected_id()
        self.table.setSortingEnabled(False)
        self.table.setRowCount(0)
        entries = self.library.list()
        self.table.setRowCount(len(entries))
        for row, entry in enumerate(entries):
            self._fill_row(row, entry)
        self.table.setSortingEnabled(True)
        self.empty_hint.setVisible(not entries)
        if selected is not None:
            self.select(selected)
        if self.selected_id() is None and entries:
            self.table.selectRow(0)
        self._selection_changed()

    def _fill_row(self, row: int, entry: LibraryEntry) -> None:
        info = self.infos.get(entry.id)
        status = status_of(entry.path, info)
        known = info is not None and info.layout != "unknown"
        family = info.family if known and info.family else entry.family
        layout = info.layout if known else entry.layout
        name = SortedCell(entry.name)
        name.setData(ID_ROLE, entry.id)
        name.setToolTip(str(entry.path))
        cells = [
            name,
            SortedCell(family_label(family) if family else "—"),
            SortedCell(layout_label(layout, short=True) if layout else "—"),
            SortedCell(quantization_label(info.quantization, info.is_demo) if known else "—"),
            SortedCell(str(info.experts) if known else "—", info.experts if known else -1),
            SortedCell(
                human_bytes(info.size_bytes) if known else "—", info.size_bytes if known else -1
            ),
            self._status_item(status, info),
        ]
        for col, item in enumerate(cells):
            if col in (COL_EXPERTS, COL_SIZE):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, col, item)

    def _status_item(self, status: str, info: Any) -> QTableWidgetItem:
        item = SortedCell(STATUS_LABELS[status])
        fg, bg = STATUS_COLOURS[status]
        item.setForeground(QColor(fg))
        item.setBackground(QColor(bg))
        item.setToolTip(status_reason(status, info))
        icon = self._status_icon(status)
        if icon is not None:
            item.setIcon(icon)
        return item

    def _status_icon(self, status: str) -> QIcon | None:
        pixmap = {
            STATUS_OK: QStyle.StandardPixmap.SP_DialogApplyButton,
            STATUS_REPACK: QStyle.StandardPixmap.SP_BrowserReload,
            STATUS_PROBLEMS: QStyle.StandardPixmap.SP_MessageBoxWarning,
            STATUS_MISSING: QStyle.StandardPixmap.SP_MessageBoxCritical,
        }.get(status)
        return self.style().standardIcon(pixmap) if pixmap is not None else None

    def _row_of(self, entry_id: str) -> int:
        for row in range(self.table.rowCount()):
            if self.table.item(row, COL_NAME).data(ID_ROLE) == entry_id:
                return row
        return -1

    def _update_row(self, entry_id: str) -> None:
        row = self._row_of(entry_id)
        if row < 0:
            return
        try:
            entry = self.library.get(entry_id)
        except KeyError:
            return
        self.table.setSortingEnabled(False)
        self._fill_row(row, entry)
        self.table.setSortingEnabled(True)
        if self.selected_id() == entry_id:
            self._selection_changed()

    # ---- inspection (off the GUI thread) -----------------------------------------------------
    def _inspect_missing(self) -> None:
        for entry in self.library.list():
            if entry.id in self.infos or entry.id in self._inspecting:
                continue
            if not entry.path.is_dir():
                continue  # "Folder missing" needs no inspection
            self._inspect(entry)

    def _inspect(self, entry: LibraryEntry) -> None:
        from core.models.inspect import inspect_folder

        generation = self._generation
        self._inspecting[entry.id] = generation
        path = entry.path

        def done(info: Any) -> None:
            if not self._alive() or self._inspecting.get(entry.id) != generation:
                return
            del self._inspecting[entry.id]
            self.infos[entry.id] = info
            self._update_row(entry.id)
            self.inspected.emit(entry.id)
            self._busy_maybe_changed()
            self._refresh_done()

        def failed(error: JobError) -> None:
            if not self._alive() or self._inspecting.get(entry.id) != generation:
                return
            del self._inspecting[entry.id]
            log.warning("inspecting %s failed: %s", path, error.message)
            self._busy_maybe_changed()

        self.bus.engine.run_io(lambda: inspect_folder(path), on_done=done, on_error=failed)

    def _alive(self) -> bool:
        return not self._closed and shiboken6.isValid(self)

    def _busy_maybe_changed(self) -> None:
        self.busy_changed.emit(self.busy)

    # ---- selection ---------------------------------------------------------------------------
    def selected_id(self) -> str | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        item = self.table.item(rows[0].row(), COL_NAME)
        return item.data(ID_ROLE) if item is not None else None

    def selected_entry(self) -> LibraryEntry | None:
        entry_id = self.selected_id()
        if entry_id is None:
            return None
        try:
            return self.library.get(entry_id)
        except KeyError:
            return None

    def select(self, entry_id: str) -> bool:
        row = self._row_of(entry_id)
        if row >= 0:
            self.table.selectRow(row)
        return row >= 0

    def _selection_changed(self) -> None:
        entry = self.selected_entry()
        writable = not self.read_only
        self.add_button.setEnabled(writable)
        self.demo_button.setEnabled(writable and self._jobs == 0)
        if entry is None:
            self.details.clear_model()
            for button in (
                self.use_button,
                self.repack_button,
                self.rename_button,
                self.remove_button,
                self.delete_button,
            ):
                button.setEnabled(False)
            self.reason.setText("")
            self.reason.setVisible(False)
            return
        info = self.infos.get(entry.id)
        status = status_of(entry.path, info)
        self.details.show_model(entry, info, status)
        self.use_button.setEnabled(status == STATUS_OK)
        self.repack_button.setEnabled(status == STATUS_REPACK and writable)
        self.rename_button.setEnabled(writable)
        self.remove_button.setEnabled(writable)
        self.delete_button.setEnabled(writable and status != STATUS_MISSING and self._jobs == 0)
        reason = {
            STATUS_REPACK: "This is an msmodelslim export: Repack… turns it into a model "
            "Generate can load.",
            STATUS_PROBLEMS: "This model has problems (see the details) and cannot be used "
            "in Generate as it is.",
            STATUS_MISSING: "The folder is missing: reconnect its drive or Remove it.",
            STATUS_CHECKING: "Reading the folder…",
        }.get(status, "")
        if self.read_only:
            reason = "The library is read-only (see the message above)." + (
                f" {reason}" if reason else ""
            )
        self.reason.setText(reason)
        self.reason.setVisible(bool(reason))

    def _activate(self) -> None:
        """Double-click: use a ready model, repack an export."""
        entry = self.selected_entry()
        if entry is None:
            return
        status = self.status(entry.id)
        if status == STATUS_OK:
            self.use_selected()
        elif status == STATUS_REPACK and not self.read_only:
            self.repack_selected()

    def _context_menu(self, point: QPoint) -> None:
        if self.table.itemAt(point) is None:
            return
        menu = QMenu(self)
        for button in (
            self.use_button,
            self.repack_button,
            self.rename_button,
            self.remove_button,
            self.delete_button,
        ):
            action = QAction(button.text(), menu)
            action.setEnabled(button.isEnabled())
            action.triggered.connect(button.click)
            menu.addAction(action)
        menu.addSeparator()
        reveal = menu.addAction("Copy folder path")
        reveal.triggered.connect(self._copy_path)
        menu.exec(self.table.viewport().mapToGlobal(point))

    def _copy_path(self) -> None:
        from PySide6.QtWidgets import QApplication

        entry = self.selected_entry()
        if entry is not None:
            QApplication.clipboard().setText(str(entry.path))

    # ---- actions -----------------------------------------------------------------------------
    def use_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None or self.status(entry.id) != STATUS_OK:
            return
        try:
            self.library.mark_used(entry.id)
        except LibraryError as exc:  # read-only library: using the model still works
            log.info("not recording the use of %s: %s", entry.id, exc)
        self._selection_changed()  # "Last used" in the details
        self.bus.use_model.emit(str(entry.path))
        self.bus.show_workspace.emit("Generate")

    def add_folder(self) -> None:
        from gui.app import settings

        start = str(settings().value(LAST_FOLDER_KEY) or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Add a model folder", start)
        if folder:
            settings().setValue(LAST_FOLDER_KEY, str(Path(folder).parent))
            self.add_path(folder)

    def add_path(self, folder: str | Path) -> None:
        """Check a folder off the GUI thread, then add it (or offer the repack wizard)."""
        from core.models.inspect import inspect_folder

        path = Path(folder).expanduser().absolute()
        existing = self.library.find_folder(path)
        if existing is not None:
            self.select(existing.id)
            self.bus.status.emit(f"{path} is already in the library as {existing.name}")
            return
        self.bus.status.emit(f"Checking {path.name}…")
        self._start_job()
        self.bus.engine.run_io(
            lambda: inspect_folder(path),
            on_done=lambda info: self._job_done(lambda: self._add_checked(path, info)),
            on_error=lambda error: self._job_done(
                lambda: self._error("The folder could not be read", error.message)
            ),
        )

    def _add_checked(self, path: Path, info: Any) -> None:
        if info.layout == "unknown":
            self._error(
                "Not a model folder",
                "\n\n".join(info.problems) or f"{path} holds no Wan2.2 model.",
            )
            return
        if info.layout == "msmodelslim":
            answer = ask_choice(
                self,
                "An msmodelslim export",
                f"{path.name} is an msmodelslim export of "
                f"{family_label(info.family) if info.family else 'a Wan2.2 model'}.",
                "Wan Studio loads Diffusers folders: the repack wizard turns this export, with "
                "the original Diffusers model, into one (the export itself is not changed).",
                [
                    ("repack", "Repack…", QMessageBox.ButtonRole.AcceptRole),
                    ("add", "Add the export as it is", QMessageBox.ButtonRole.ActionRole),
                    ("cancel", "Cancel", QMessageBox.ButtonRole.RejectRole),
                ],
                default="repack",
            )
            if answer == "repack":
                self.open_wizard(path)
                return
            if answer != "add":
                return
        elif info.problems:
            answer = QMessageBox.warning(
                self,
                "This model has problems",
                f"{path.name} has problems that will stop it from loading:\n\n• "
                + "\n• ".join(info.problems)
                + "\n\nAdd it anyway (to fix it later)?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self._add(path, info)

    def _add(self, path: Path, info: Any) -> None:
        file = self.library_file
        self._start_job()
        self.bus.engine.run_io(
            lambda: Library(file).add(path),
            on_done=lambda entry: self._job_done(lambda: self._added(entry, info)),
            on_error=lambda error: self._job_done(
                lambda: self._error("The folder was not added", error.message)
            ),
        )

    def _added(self, entry: LibraryEntry, info: Any) -> None:
        self.infos[entry.id] = info
        self.reload()
        self.select(entry.id)
        self.bus.library_changed.emit()
        self.bus.status.emit(f"Added {entry.name} to the library")

    def create_demo(self, family: str) -> None:
        """Create (or find) a family's demo model on the engine thread and register it."""
        file = self.library_file

        def work(_ctx: Any) -> str:
            return Library(file).ensure_demo(family).id

        self.bus.status.emit(f"Creating the {family_label(family)} demo model…")
        self._start_job()
        self.bus.engine.submit(
            work,
            name="create demo model",
            on_done=lambda entry_id: self._job_done(lambda: self._demo_ready(entry_id)),
            on_error=lambda error: self._job_done(
                lambda: self._error("The demo model could not be created", error.message)
            ),
            on_cancelled=lambda: self._job_done(lambda: None),
        )

    def _demo_ready(self, entry_id: str) -> None:
        self.infos.pop(entry_id, None)
        self.reload()
        self.select(entry_id)
        self.bus.library_changed.emit()
        entry = self.library.get(entry_id)
        self.bus.status.emit(f"Demo model ready: {entry.name}")

    def rename_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        name, ok = QInputDialog.getText(
            self,
            "Rename model",
            "Name shown in Wan Studio (the folder keeps its name):",
            text=entry.name,
        )
        if not ok or name.strip() == entry.name:
            return
        try:
            self.library.rename(entry.id, name)
        except LibraryError as exc:
            self._error("The model was not renamed", str(exc))
            return
        self.reload()
        self.bus.library_changed.emit()

    def remove_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove from the library",
            f"Remove {entry.name} from the library?\n\nIts files stay on disk in "
            f"{entry.path}; you can add the folder again at any time.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        try:
            self.library.remove(entry.id)
        except LibraryError as exc:
            self._error("The model was not removed", str(exc))
            return
        self.infos.pop(entry.id, None)
        self.reload()
        self.bus.library_changed.emit()
        self.bus.status.emit(f"Removed {entry.name} from the library; its files are still there")

    def delete_selected(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        info = self.infos.get(entry.id)
        dialog = DeleteFilesDialog(
            entry.name, str(entry.path), info.size_bytes if info is not None else None, self
        )
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        file, entry_id = self.library_file, entry.id
        self.bus.status.emit(f"Deleting {entry.path}…")
        self._start_job()
        self.bus.engine.run_io(
            lambda: Library(file).delete_files(entry_id, confirm=True),
            on_done=lambda folder: self._job_done(lambda: self._deleted(entry, folder)),
            on_error=lambda error: self._job_done(lambda: self._deletion_failed(error)),
        )

    def _deleted(self, entry: LibraryEntry, folder: Path) -> None:
        self.infos.pop(entry.id, None)
        self.reload()
        self.bus.library_changed.emit()
        self.bus.status.emit(f"Deleted {folder} and removed {entry.name} from the library")

    def _deletion_failed(self, error: JobError) -> None:
        self.reload()  # the entry may be gone even when some files could not be deleted
        self.bus.library_changed.emit()
        self._error("The files were not deleted", error.message)

    # ---- repack ------------------------------------------------------------------------------
    def repack_selected(self) -> None:
        entry = self.selected_entry()
        if entry is not None and self.status(entry.id) == STATUS_REPACK:
            self.open_wizard(entry.path)

    def open_wizard(self, export: str | Path | None = None) -> Any:
        """Open the repack wizard, prefilled from ``export`` (one wizard at a time)."""
        from gui.wizard import RepackWizard

        old = self.wizard
        if old is not None and shiboken6.isValid(old):
            if old.isVisible():
                old.raise_()
                old.activateWindow()
                return old
            old.deleteLater()  # a finished wizard: its run thread has stopped
        self.wizard = RepackWizard(
            self.bus, export=export, library_file=self.library_file, parent=self
        )
        self.wizard.open()
        return self.wizard

    # ---- helpers -----------------------------------------------------------------------------
    def _start_job(self) -> None:
        self._jobs += 1
        self._selection_changed()
        self._busy_maybe_changed()

    def _job_done(self, then: Any) -> None:
        if not self._alive():
            return
        self._jobs -= 1
        try:
            then()
        finally:
            self._selection_changed()
            self._busy_maybe_changed()

    def _error(self, title: str, message: str) -> None:
        self.bus.status.emit(f"{title}: {message.splitlines()[0] if message else ''}")
        QMessageBox.warning(self, title, message)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Stop delivering results and stop a running repack (app closing, tests)."""
        self._closed = True
        if self.wizard is not None and shiboken6.isValid(self.wizard):
            return bool(self.wizard.shutdown(timeout_ms))
        return True

    def close_wizard(self) -> None:
        """Close the wizard if one is open (tests; the app closes it with its window)."""
        if self.wizard is not None and shiboken6.isValid(self.wizard):
            self.wizard.shutdown()
            self.wizard.done(0)
