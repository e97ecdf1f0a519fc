"""Presets workspace: built-in and user generation presets per model family.

Left, every family's presets: the read-only built-ins (marked with a lock) and the user's own.
Right, the selected preset's values as a table (editable for user presets: each change is
saved at once), and the actions: Apply to Generate (``bus.apply_settings`` with the values,
the preset name and its family), Duplicate (the way to make a new preset), Rename, Delete,
Import and Export JSON files. Problems the store met reading the presets folder (a corrupt
file set aside, a file from a newer version left alone) show in a banner.

Generate saves its form as a preset itself (gui/widgets/preset_bar.py) and announces it with
``bus.preset_saved(family, name)``: this list then shows and selects the new preset.
``save_settings_as_preset(values)`` saves request values handed over from elsewhere.

Preset files are a few hundred bytes: they are read and written on the GUI thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.models.catalog import FAMILIES, get_family
from core.presets import Preset, PresetError, PresetStore, parse_document, read_preset_file
from gui.bus import AppBus
from gui.widgets.presets_values import OPTIONAL_KEYS, PresetValuesTable, lock_icon, parse_value

PRESET_ROLE = Qt.ItemDataRole.UserRole  # (family, name) on preset rows
LAST_FOLDER_KEY = "presets/last_folder"
SPLITTER_KEY = "presets/splitter"


class PresetsWorkspace(QWidget):
    """The Presets tab (see the module docstring)."""

    TITLE = "Presets"

    changed = Signal()  # the list was rebuilt (after a change here or elsewhere)

    def __init__(
        self,
        bus: AppBus,
        parent: QWidget | None = None,
        directory: str | Path | None = None,
    ) -> None:
        super().__init__(parent)
        self.bus = bus
        self.store = PresetStore(directory)
        self.warnings: list[str] = []
        self.current: Preset | None = None
        self._own_change = False
        self._build()
        bus.presets_changed.connect(self.reload)
        bus.preset_saved.connect(self.show_saved)
        self._collect_warnings()
        self._fill()
        self._restore_state()

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["Preset", "Kind"])
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._selection_changed)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._double_clicked(item))

        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Add a preset from a JSON file (the file is not changed)")
        self.import_button.clicked.connect(self.import_preset)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.tree, 1)
        row = QHBoxLayout()
        row.addWidget(self.import_button)
        row.addStretch(1)
        left_layout.addLayout(row)

        self.title = QLabel()
        font = QFont(self.title.font())
        font.setPointSizeF(font.pointSizeF() * 1.3)
        font.setBold(True)
        self.title.setFont(font)
        self.title.setWordWrap(True)
        self.kind = QLabel()
        self.kind.setWordWrap(True)
        self.kind.setStyleSheet("color: #555")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.read_only_note = QLabel(
            "Built-in presets are read-only. Duplicate one to make your own, then change its "
            "values here."
        )
        self.read_only_note.setWordWrap(True)
        self.read_only_note.setStyleSheet("color: #7a4b00")
        self.values = PresetValuesTable()
        self.values.edited.connect(self._value_edited)
        self.value_error = QLabel()
        self.value_error.setObjectName("fieldError")
        self.value_error.setWordWrap(True)
        self.value_error.hide()

        self.apply_button = QPushButton("Apply to Generate")
        self.apply_button.setObjectName("primary")
        self.apply_button.clicked.connect(self.apply_selected)
        self.duplicate_button = QPushButton("Duplicate…")
        self.duplicate_button.setToolTip("Save a copy under a new name: your own, editable preset")
        self.duplicate_button.clicked.connect(self.duplicate_selected)
        self.rename_button = QPushButton("Rename…")
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button = QPushButton("Delete…")
        self.delete_button.clicked.connect(self.delete_selected)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the preset to a JSON file to share it")
        self.export_button.clicked.connect(self.export_selected)
        actions = QHBoxLayout()
        actions.addWidget(self.apply_button)
        actions.addStretch(1)
        for button in (
            self.duplicate_button,
            self.rename_button,
            self.delete_button,
            self.export_button,
        ):
            actions.addWidget(button)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.title)
        right_layout.addWidget(self.kind)
        right_layout.addWidget(self.description)
        right_layout.addWidget(self.read_only_note)
        right_layout.addWidget(self.values, 1)
        right_layout.addWidget(self.value_error)
        right_layout.addLayout(actions)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)

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

        layout = QVBoxLayout(self)
        layout.addWidget(self.banner_box)
        layout.addWidget(self.splitter, 1)

    def _restore_state(self) -> None:
        from gui.app import settings

        state = settings().value(SPLITTER_KEY)
        if state is not None:
            self.splitter.restoreState(state)
        else:
            self.splitter.setSizes([420, 620])

    def save_state(self) -> None:
        from gui.app import settings

        settings().setValue(SPLITTER_KEY, self.splitter.saveState())

    # ---- the list ----------------------------------------------------------------------------
    def reload(self) -> None:
        """Read the presets folder again (another workspace or process may have changed it)."""
        if self._own_change:
            return  # our store already holds the change; the list was updated directly
        self.store.reload()
        self._collect_warnings()
        self._fill()

    def show_saved(self, family: str, name: str) -> None:
        """bus.preset_saved: another workspace saved a preset; list and select it."""
        self.store.reload()
        self._collect_warnings()
        self._fill(select=(family, name))

    def _collect_warnings(self) -> None:
        for warning in self.store.warnings:
            if warning not in self.warnings:
                self.warnings.append(warning)
        self.banner.setText("\n".join(f"⚠ {w}" for w in self.warnings))
        self.banner_box.setVisible(bool(self.warnings))

    def dismiss_warnings(self) -> None:
        self.warnings.clear()
        self._collect_warnings()

    def _fill(self, select: tuple[str, str] | None = None) -> None:
        wanted = select or self.selected_key()
        lock = lock_icon()
        blank = QPixmap(16, 16)
        blank.fill(Qt.GlobalColor.transparent)
        spacer = QIcon(blank)  # keeps user preset names aligned with the locked ones
        bold = QFont(self.tree.font())
        bold.setBold(True)
        self.tree.blockSignals(True)
        try:
            self.tree.clear()
            first: QTreeWidgetItem | None = None
            chosen: QTreeWidgetItem | None = None
            for family in FAMILIES.values():
                group = QTreeWidgetItem([family.title, ""])
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                group.setFont(0, bold)
                group.setFirstColumnSpanned(True)
                self.tree.addTopLevelItem(group)
                group.setFirstColumnSpanned(True)
                for preset in self.store.list(family.key):
                    kind = "built-in, read-only" if preset.builtin else "yours"
                    item = QTreeWidgetItem([preset.name, kind])
                    item.setData(0, PRESET_ROLE, (preset.family, preset.name))
                    item.setToolTip(0, preset.description or preset.name)
                    item.setIcon(0, lock if preset.builtin else spacer)
                    if preset.builtin:
                        item.setForeground(1, Qt.GlobalColor.darkGray)
                    group.addChild(item)
                    first = first or item
                    if wanted and (preset.family, preset.name.casefold()) == (
                        wanted[0],
                        wanted[1].casefold(),
                    ):
                        chosen = item
                group.setExpanded(True)
        finally:
            self.tree.blockSignals(False)
        target = chosen or first
        if target is not None:
            self.tree.setCurrentItem(target)
        self._selection_changed()
        self.changed.emit()

    def preset_keys(self) -> list[tuple[str, str, bool]]:
        """(family, name, built-in) of every listed preset, in list order."""
        keys = []
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                family, name = group.child(j).data(0, PRESET_ROLE)
                keys.append((family, name, group.child(j).text(1).startswith("built-in")))
        return keys

    def selected_key(self) -> tuple[str, str] | None:
        item = self.tree.currentItem()
        data = item.data(0, PRESET_ROLE) if item is not None else None
        return tuple(data) if data else None  # type: ignore[return-value]

    def select(self, family: str, name: str) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            for j in range(group.childCount()):
                item = group.child(j)
                fam, preset_name = item.data(0, PRESET_ROLE)
                if fam == family and preset_name.casefold() == name.casefold():
                    self.tree.setCurrentItem(item)
                    return True
        return False

    def _selection_changed(self) -> None:
        key = self.selected_key()
        self.value_error.hide()
        preset = None
        if key is not None:
            try:
                preset = self.store.find(*key)
            except KeyError:
                preset = None
        self.current = preset
        has = preset is not None
        user = has and not preset.builtin  # type: ignore[union-attr]
        for button in (self.apply_button, self.duplicate_button, self.export_button):
            button.setEnabled(has)
        self.rename_button.setEnabled(user)
        self.delete_button.setEnabled(user)
        for button in (self.rename_button, self.delete_button):
            button.setToolTip("" if user or not has else "Built-in presets cannot be changed")
        if preset is None:
            self.title.setText("No preset selected")
            self.kind.setText("")
            self.description.setText("")
            self.read_only_note.hide()
            self.values.show_values({}, editable=False)
            return
        family = get_family(preset.family)
        self.title.setText(preset.name)
        kind = "Built-in, read-only" if preset.builtin else "Your preset"
        where = f" · {preset.path}" if preset.path is not None else ""
        self.kind.setText(f"{family.name} · {kind}{where}")
        self.description.setText(preset.description)
        self.description.setVisible(bool(preset.description))
        self.read_only_note.setVisible(preset.builtin)
        self.values.show_values(preset.values, not preset.builtin, OPTIONAL_KEYS)

    def _double_clicked(self, item: QTreeWidgetItem) -> None:
        if item.data(0, PRESET_ROLE):
            self.apply_selected()

    # ---- actions -----------------------------------------------------------------------------
    def apply_selected(self) -> None:
        """Send the preset's values to Generate (with its name and family)."""
        preset = self.current
        if preset is None:
            return
        values = preset.request_values()
        values["preset"] = preset.name
        values["family"] = preset.family
        self.bus.apply_settings.emit(values)
        self.bus.show_workspace.emit("Generate")
        self.bus.status.emit(f"Preset {preset.name!r} applied in Generate")

    def duplicate_selected(self) -> None:
        preset = self.current
        if preset is None:
            return
        name = self._ask_name(
            "Duplicate preset",
            f"Name of the new {get_family(preset.family).name} preset:",
            self._free_name(preset.family, f"{preset.name} (copy)"),
        )
        if name is None:
            return
        self._change(
            lambda: self.store.duplicate(preset.family, preset.name, name),
            "The preset was not duplicated",
        )

    def rename_selected(self) -> None:
        preset = self.current
        if preset is None or preset.builtin:
            return
        name = self._ask_name("Rename preset", "New name:", preset.name)
        if name is None or name == preset.name:
            return
        self._change(
            lambda: self.store.rename(preset.family, preset.name, name),
            "The preset was not renamed",
        )

    def delete_selected(self) -> None:
        preset = self.current
        if preset is None or preset.builtin:
            return
        answer = QMessageBox.question(
            self,
            "Delete preset",
            f"Delete your preset {preset.name!r} ({get_family(preset.family).name})?\n\n"
            f"Its file {preset.path} is deleted; Export it first to keep a copy.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        if answer != QMessageBox.StandardButton.Yes:
            return

        def delete() -> None:
            self.store.delete(preset.family, preset.name)

        self._change(delete, "The preset was not deleted")

    def import_preset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a preset", self._last_folder(), "Wan Studio presets (*.json)"
        )
        if not path:
            return
        self._remember_folder(path)
        name = None
        incoming, notes = _peek(path)
        if incoming is not None and self._exists(incoming.family, incoming.name):
            name = self._ask_name(
                "Import preset",
                f"A {get_family(incoming.family).name} preset called {incoming.name!r} "
                "already exists. Import it as:",
                self._free_name(incoming.family, f"{incoming.name} (imported)"),
            )
            if name is None:
                return
        imported = self._change(
            lambda: self.store.import_file(path, name=name), "The preset was not imported"
        )
        if imported is not None and notes:  # settings the file had wrong were skipped: say so
            self.warnings += [f"imported {imported.name!r}: {n}" for n in notes]
            self._collect_warnings()

    def export_selected(self) -> None:
        preset = self.current
        if preset is None:
            return
        suggested = Path(self._last_folder()) / _file_name(preset)
        path, _ = QFileDialog.getSaveFileName(
            self, "Export preset", str(suggested), "Wan Studio presets (*.json)"
        )
        if not path:
            return
        target = Path(path)
        if target.suffix.lower() != ".json":
            target = target.with_name(target.name + ".json")
        self._remember_folder(str(target))
        try:
            # The file dialog already asked before replacing an existing file.
            written = self.store.export(preset.family, preset.name, target, overwrite=True)
        except (PresetError, KeyError, OSError) as exc:
            self._error("The preset was not exported", _message(exc))
            return
        self.bus.status.emit(f"Exported {preset.name!r} to {written}")

    def save_settings_as_preset(self, values: dict[str, Any]) -> Preset | None:
        """Save request values (e.g. Generate's form, with its ``family``) as a new preset."""
        family = values.get("family")
        if not isinstance(family, str) or family not in FAMILIES:
            self._error(
                "The settings were not saved",
                "They do not say which model family they are for.",
            )
            return None
        name = self._ask_name(
            "Save as preset",
            f"Name of the new {get_family(family).name} preset:",
            self._free_name(family, "My preset"),
        )
        if name is None:
            return None
        settings = {k: v for k, v in values.items() if k != "family"}
        return self._change(
            lambda: self.store.save(Preset(name, family, settings)), "The preset was not saved"
        )

    def _value_edited(self, key: str, text: str) -> None:
        preset = self.current
        if preset is None or preset.builtin:
            return
        try:
            value = parse_value(key, text)
            values = dict(preset.values)
            values[key] = value
            updated = Preset(preset.name, preset.family, values, False, preset.description)
            self.store.save(updated, overwrite=True)
        except (ValueError, PresetError, OSError) as exc:
            self.values.revert(key)
            self.value_error.setText(f"Not saved: {_message(exc)}")
            self.value_error.show()
            return
        self.value_error.hide()
        self.current = self.store.find(preset.family, preset.name)
        self.values.values = dict(self.current.values)
        self._notify()
        self.bus.status.emit(f"Saved {preset.name!r}")

    # ---- helpers -----------------------------------------------------------------------------
    def _change(self, action: Any, failure: str) -> Any:
        """Run a store change; on success reselect, and tell the other workspaces."""
        try:
            result = action()
        except (PresetError, KeyError, OSError) as exc:
            self._error(failure, _message(exc))
            return None
        target = (result.family, result.name) if isinstance(result, Preset) else None
        self._fill(select=target)
        self._notify()
        return result

    def _notify(self) -> None:
        """Tell the other workspaces (Generate's preset picker) that presets changed."""
        self._own_change = True
        try:
            self.bus.presets_changed.emit()
        finally:
            self._own_change = False

    def _exists(self, family: str, name: str) -> bool:
        try:
            self.store.find(family, name)
        except KeyError:
            return False
        return True

    def _free_name(self, family: str, base: str) -> str:
        name, n = base, 2
        while self._exists(family, name):
            name = f"{base} {n}"
            n += 1
        return name

    def _ask_name(self, title: str, label: str, default: str) -> str | None:
        name, ok = QInputDialog.getText(self, title, label, text=default)
        name = name.strip()
        return name if ok and name else None

    def _last_folder(self) -> str:
        from gui.app import settings

        return str(settings().value(LAST_FOLDER_KEY) or Path.home())

    def _remember_folder(self, path: str) -> None:
        from gui.app import settings

        settings().setValue(LAST_FOLDER_KEY, str(Path(path).parent))

    def _error(self, title: str, message: str) -> None:
        self.bus.status.emit(f"{title}: {message}")
        QMessageBox.warning(self, title, message)


def _message(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    return str(exc)


def _peek(path: str) -> tuple[Preset | None, list[str]]:
    """The preset a file holds and the settings it gets wrong; None when it cannot be read
    (the import itself then reports why)."""
    try:  # the checked reader: a FIFO named .json must not block the GUI thread
        return parse_document(read_preset_file(path), Path(path).name)
    except PresetError:
        return None, []


def _file_name(preset: Preset) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in preset.name.casefold()).strip("-")
    return f"{preset.family}--{slug or 'preset'}.json"
