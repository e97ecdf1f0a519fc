"""Generate's preset picker: choose a preset, see what the form changed, save the form as one.

The bar knows presets, not forms: the workspace hands it a ``settings()`` callable that returns
the form's current request values (``GenerationRequest.to_dict()`` of what Generate would run).
"Save as preset…" stores those values, minus per-run inputs (core.presets drops model, image,
output; the bar also leaves out the prompt, which users change per video), so a request field
added later is saved without this module changing. "Update preset" rewrites the selected user
preset with them; a "modified" mark shows when the form differs from the selected preset.

Presets are small JSON files (core.presets): read and written on the GUI thread. Other
workspaces hear of a save through ``bus.presets_changed`` and ``bus.preset_saved``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.presets import Preset, PresetError, PresetStore
from gui.bus import AppBus
from gui.widgets.elided_label import ElidedLabel

NO_PRESET = "— none —"
# Not part of a preset even though the request has them: what one run is about.
NOT_SAVED = frozenset({"prompt"})
# Friendlier names for the "Changed here" line.
FIELD_NAMES = {
    "width": "size",
    "height": "size",
    "negative_prompt": "negative prompt",
    "guidance_high": "guidance",
    "guidance_low": "guidance",
    "boundary": "expert switch",
}


def same_value(a: Any, b: Any) -> bool:
    """Equal as settings (numbers compared with a tolerance: spin boxes round)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) < 1e-9
    return a == b


def preset_values(settings: dict[str, Any]) -> dict[str, Any]:
    """The part of a request dict a preset keeps (core.presets drops the run inputs on save)."""
    return {k: v for k, v in settings.items() if k not in NOT_SAVED}


class PresetBar(QWidget):
    """Preset combo + modified mark + Save as… / Update, with the description and changes."""

    chosen = Signal(object)  # Preset: apply its values to the form
    saved = Signal(object)  # Preset: just saved from the form (new or updated)

    def __init__(
        self,
        bus: AppBus,
        settings: Callable[[], dict[str, Any]],
        parent: QWidget | None = None,
        store: PresetStore | None = None,
    ) -> None:
        super().__init__(parent)
        self.bus = bus
        self._settings = settings
        self._store = store
        self.family: str | None = None

        self.combo = QComboBox()
        self.combo.activated.connect(self._chosen)
        self.modified = QLabel("● modified")
        self.modified.setObjectName("modifiedMark")
        self.modified.setToolTip("The form differs from this preset")
        self.modified.hide()
        self.save_as_button = QPushButton("Save as preset…")
        self.save_as_button.setToolTip("Save the form's settings (not the prompt) as a preset")
        self.save_as_button.clicked.connect(self.save_as)
        self.update_button = QPushButton("Update preset")
        self.update_button.setToolTip("Save the form's settings into the selected preset")
        self.update_button.clicked.connect(self.update_preset)
        self.update_button.hide()
        self.info = ElidedLabel()
        self.info.setObjectName("hint")
        self.changed = ElidedLabel()
        self.changed.setObjectName("hint")

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Preset"))
        row.addWidget(self.combo, 1)
        row.addWidget(self.modified)
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addStretch(1)
        buttons.addWidget(self.update_button)
        buttons.addWidget(self.save_as_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addWidget(self.info)
        layout.addWidget(self.changed)
        layout.addLayout(buttons)

    # ---- state -------------------------------------------------------------------------------
    @property
    def store(self) -> PresetStore:
        if self._store is None:
            self._store = PresetStore()
        return self._store

    def current_name(self) -> str | None:
        """The selected preset's name, or None for "none"."""
        return self.combo.currentData() or None

    def current(self) -> Preset | None:
        name = self.current_name()
        if not name or self.family is None:
            return None
        try:
            return self.store.find(self.family, name)
        except KeyError:
            return None

    def changed_fields(self) -> list[str]:
        """Settings of the selected preset that the form now has different (friendly names)."""
        preset = self.current()
        if preset is None:
            return []
        values = preset_values(self._settings())
        return sorted(
            {
                FIELD_NAMES.get(k, k)
                for k, v in preset.values.items()
                if k in values and not same_value(values[k], v)
            }
        )

    def is_modified(self) -> bool:
        return bool(self.changed_fields())

    # ---- filling -----------------------------------------------------------------------------
    def set_family(
        self, family: str | None, select: str | None = None, reread: bool = True
    ) -> None:
        """Offer ``family``'s presets (None: no usable model, only "none"); keep or pick one."""
        self.family = family
        self.reload(select, reread)

    def reload(self, select: str | None = None, reread: bool = True) -> None:
        """Rebuild the list (re-reading the folder when ``reread``), keeping the selection."""
        current = select if select is not None else self.current_name()
        self.combo.clear()
        self.combo.addItem(NO_PRESET, None)
        if self.family is not None:
            if reread:
                self.store.reload()
            for preset in self.store.list(self.family):
                label = preset.name if preset.builtin else f"{preset.name}  (yours)"
                self.combo.addItem(label, preset.name)
                self.combo.setItemData(
                    self.combo.count() - 1, preset.description, Qt.ItemDataRole.ToolTipRole
                )
        index = self.combo.findData(current) if current else -1
        self.combo.setCurrentIndex(max(0, index))
        self.save_as_button.setEnabled(self.family is not None)
        self.refresh()

    def select(self, name: str | None) -> None:
        """Select a preset by name without applying it (e.g. values restored from a video)."""
        index = self.combo.findData(name) if name else -1
        self.combo.setCurrentIndex(max(0, index))
        self.refresh()

    def refresh(self) -> None:
        """Description, "Changed here", the modified mark and Update (call after form edits)."""
        preset = self.current()
        changed = self.changed_fields() if preset is not None else []
        self.info.set_full_text(preset.description if preset is not None else "")
        self.changed.set_full_text(f"Changed here: {', '.join(changed)}" if changed else "")
        self.modified.setVisible(bool(changed))
        self.update_button.setVisible(preset is not None and not preset.builtin and bool(changed))

    # ---- choosing ----------------------------------------------------------------------------
    def _chosen(self, index: int) -> None:
        preset = self.current()
        if preset is not None:
            self.chosen.emit(preset)
            self.bus.status.emit(f"Preset {preset.name!r} applied")
        self.refresh()

    def apply(self, name: str) -> None:
        """Select and apply a preset of the current family by name."""
        index = self.combo.findData(name)
        if index >= 0:
            self.combo.setCurrentIndex(index)
            self._chosen(index)

    # ---- saving ------------------------------------------------------------------------------
    def save_as(self) -> Preset | None:
        """Ask for a name (overwrite confirmation for an existing one), save, select it."""
        if self.family is None:
            return None
        current = self.current()
        default = current.name if current is not None and not current.builtin else "My preset"
        name = self.ask_name(default)
        if not name:
            return None
        existing = self._existing(name)
        if existing is not None and existing.builtin:
            self._error(f"{existing.name!r} is a built-in preset, which is read-only.")
            return None
        if existing is not None and not self.confirm_overwrite(existing.name):
            return None
        description = existing.description if existing is not None else ""
        return self._save(name, description, overwrite=existing is not None)

    def update_preset(self) -> Preset | None:
        """Rewrite the selected user preset with the form's settings."""
        preset = self.current()
        if preset is None or preset.builtin:
            return None
        return self._save(preset.name, preset.description, overwrite=True)

    def _save(self, name: str, description: str, overwrite: bool) -> Preset | None:
        assert self.family is not None
        values = preset_values(self._settings())
        try:
            saved = self.store.save(
                Preset(name, self.family, values, False, description), overwrite
            )
        except (PresetError, OSError) as exc:
            self._error(str(exc))
            return None
        self.reload(select=saved.name, reread=False)
        self.bus.presets_changed.emit()
        self.bus.preset_saved.emit(saved.family, saved.name)
        self.bus.status.emit(f"Saved preset {saved.name!r}")
        self.saved.emit(saved)
        return saved

    def _existing(self, name: str) -> Preset | None:
        assert self.family is not None
        try:
            return self.store.find(self.family, name)
        except KeyError:
            return None

    # ---- dialogs (tests replace these) -------------------------------------------------------
    def ask_name(self, default: str) -> str | None:
        name, ok = QInputDialog.getText(
            self,
            "Save as preset",
            "Name of the preset (a new name, or an existing one):",
            text=default,
        )
        return name.strip() if ok and name.strip() else None

    def confirm_overwrite(self, name: str) -> bool:
        answer = QMessageBox.question(
            self,
            "Replace preset?",
            f"A preset called {name!r} already exists. Replace its settings with the form's?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _error(self, message: str) -> None:
        self.bus.status.emit(f"The preset was not saved: {message}")
        QMessageBox.warning(self, "The preset was not saved", message)


__all__ = ["NO_PRESET", "PresetBar", "preset_values", "same_value"]
