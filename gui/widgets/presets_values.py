"""A preset's values as a two-column table (setting, value), editable for user presets.

Values are GenerationRequest field names (core/presets.py). ``format_value`` and
``parse_value`` turn them into text and back with the same words the table shows ("random"
seed, "none" for a one-expert family's second guidance); the store's own validation
(``normalize_values(strict=True)`` on save) stays the authority on what is allowed.
"""

from __future__ import annotations

import json
import math
from typing import Any

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

LABELS = {
    "width": "Width (pixels)",
    "height": "Height (pixels)",
    "frames": "Frames",
    "fps": "Frames per second",
    "steps": "Steps",
    "guidance_high": "Guidance, high-noise expert",
    "guidance_low": "Guidance, low-noise expert",
    "boundary": "Expert switch (boundary)",
    "shift": "Shift",
    "seed": "Seed",
    "negative_prompt": "Negative prompt",
    "prompt": "Prompt",
    "quant": "Quantization",
    "device": "Device",
    "backend": "Backend",
    "image_fit": "Image fit",
    "solver": "Solver",
    "loras": "LoRAs",
    "lora_merge": "Merge LoRAs into weights",
}
ORDER = list(LABELS)
# Shown as text but changed in Generate (then "Update preset"): not typed into a cell.
READ_ONLY_KEYS = frozenset({"loras"})
INT_KEYS = frozenset({"width", "height", "frames", "fps", "steps"})
FLOAT_KEYS = frozenset({"guidance_high", "shift"})
OPTIONAL_FLOAT_KEYS = frozenset({"guidance_low", "boundary"})
TEXT_KEYS = frozenset(
    {"prompt", "negative_prompt", "quant", "device", "backend", "image_fit", "solver"}
)
NONE_WORDS = frozenset({"", "none", "null", "—", "-"})
KEY_ROLE = Qt.ItemDataRole.UserRole
NOT_SET = "not set"
OPTIONAL_KEYS = ("seed", "quant")  # settings a user preset may add to what it was copied from


def ordered_keys(values: dict[str, Any]) -> list[str]:
    known = [k for k in ORDER if k in values]
    return known + sorted(k for k in values if k not in LABELS)


def label_of(key: str) -> str:
    return LABELS.get(key, f"{key} (not used by this version)")


def format_value(key: str, value: Any) -> str:
    if key == "loras" and isinstance(value, list):
        return lora_summary(value)
    if value is None:
        return "random" if key == "seed" else "none"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def lora_summary(entries: list[Any]) -> str:
    """'style (high 0.8, low 0.3); Lightning HIGH+LOW (1, 1, off)' or 'none'."""
    from core.lora.choice import LoraChoice
    from core.lora.errors import LoraError

    parts = []
    for entry in entries:
        try:
            choice = LoraChoice.from_dict(entry)
        except LoraError:
            parts.append(json.dumps(entry, ensure_ascii=False))
            continue
        off = "" if choice.enabled else ", off"
        parts.append(
            f"{choice.label} (high {choice.strength_high:g}, low {choice.strength_low:g}{off})"
        )
    return "; ".join(parts) or "none"


def parse_value(key: str, text: str) -> Any:
    """The value typed for ``key``; ValueError says what is expected."""
    clean = text.strip()
    if key in INT_KEYS:
        try:
            return int(clean)
        except ValueError:
            raise ValueError(f"{label_of(key)} must be a whole number, not {clean!r}") from None
    if key == "seed":
        if clean.casefold() in NONE_WORDS | {"random"}:
            return None
        try:
            return int(clean)
        except ValueError:
            raise ValueError(f"Seed must be a whole number or 'random', not {clean!r}") from None
    if key in FLOAT_KEYS or key in OPTIONAL_FLOAT_KEYS:
        if key in OPTIONAL_FLOAT_KEYS and clean.casefold() in NONE_WORDS:
            return None
        try:
            number = float(clean)
        except ValueError:
            raise ValueError(f"{label_of(key)} must be a number, not {clean!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"{label_of(key)} must be a finite number")
        return number
    if key in TEXT_KEYS:
        return text
    try:  # a setting this version does not know: keep its JSON type when it has one
        return json.loads(clean)
    except ValueError:
        return text


def lock_icon(colour: str = "#8a8a8a") -> QIcon:
    """A small padlock marking read-only presets (Qt's standard icons have none)."""
    pixmap = QPixmap(16, 16)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    pen = QPen(QColor(colour), 1.6)
    painter.setPen(pen)
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawArc(QRectF(4.5, 1.5, 7, 8), 0, 180 * 16)  # the shackle
    painter.drawLine(4.5, 5.5, 4.5, 8)
    painter.drawLine(11.5, 5.5, 11.5, 8)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(colour))
    painter.drawRoundedRect(QRectF(2.5, 7.5, 11, 7.5), 1.5, 1.5)  # the body
    painter.end()
    return QIcon(pixmap)


class PresetValuesTable(QTableWidget):
    """Setting / value rows; ``edited(key, text)`` when the user changes an editable value."""

    edited = Signal(str, str)

    def __init__(self) -> None:
        super().__init__(0, 2)
        self.setHorizontalHeaderLabels(["Setting", "Value"])
        self.verticalHeader().hide()
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(
            QAbstractItemView.EditTrigger.DoubleClicked
            | QAbstractItemView.EditTrigger.EditKeyPressed
            | QAbstractItemView.EditTrigger.AnyKeyPressed
        )
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.values: dict[str, Any] = {}
        self._loading = False
        self.itemChanged.connect(self._changed)

    def show_values(
        self, values: dict[str, Any], editable: bool, optional: tuple[str, ...] = ()
    ) -> None:
        """Show ``values``; ``optional`` settings the preset lacks get a "not set" row that
        can be filled in (editable tables only)."""
        self._loading = True
        try:
            self.values = dict(values)
            absent = [k for k in optional if k not in values] if editable else []
            keys = ordered_keys({**values, **dict.fromkeys(absent)})
            self.setRowCount(len(keys))
            for row, key in enumerate(keys):
                name = QTableWidgetItem(label_of(key))
                name.setFlags(Qt.ItemFlag.ItemIsEnabled)
                name.setToolTip(key)
                name.setData(KEY_ROLE, key)
                if key in values:
                    value = QTableWidgetItem(format_value(key, values[key]))
                    value.setToolTip("Double-click to change" if editable else "")
                else:
                    value = QTableWidgetItem(NOT_SET)
                    value.setForeground(Qt.GlobalColor.gray)
                    value.setToolTip(
                        "Not part of this preset: Generate keeps its own value. Double-click "
                        "to add it."
                    )
                flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                if editable and key in READ_ONLY_KEYS:
                    value.setToolTip("Change the LoRAs in Generate, then Update preset")
                elif editable:
                    flags |= Qt.ItemFlag.ItemIsEditable
                value.setFlags(flags)
                value.setData(KEY_ROLE, key)
                self.setItem(row, 0, name)
                self.setItem(row, 1, value)
            self.resizeRowsToContents()
        finally:
            self._loading = False

    def value_item(self, key: str) -> QTableWidgetItem | None:
        for row in range(self.rowCount()):
            item = self.item(row, 1)
            if item is not None and item.data(KEY_ROLE) == key:
                return item
        return None

    def revert(self, key: str) -> None:
        item = self.value_item(key)
        if item is not None:
            self._loading = True
            try:
                text = format_value(key, self.values[key]) if key in self.values else NOT_SET
                item.setText(text)
            finally:
                self._loading = False

    def _changed(self, item: QTableWidgetItem) -> None:
        if self._loading or item.column() != 1:
            return
        self.edited.emit(item.data(KEY_ROLE), item.text())
