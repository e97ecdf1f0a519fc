"""Small form helpers: a message line under a field (error / warning / note) and a size picker.

Messages come from ``GenerationRequest.validate()`` so the rules live in core; the form only
places each ValidationIssue under the field it names.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from core.generate.limits import LIMITS

CUSTOM = "custom"


def _key(width: int, height: int) -> str:
    # Item data as text: Python tuples do not survive the round trip through QVariant.
    return f"{width}x{height}"


class FieldMessage(QLabel):
    """A line under a field: red for errors, amber for warnings, grey for notes; hidden if empty.

    A suggestion (the nearest valid value) shows as a link; clicking it emits ``use_suggestion``.
    """

    use_suggestion = Signal(str, object)  # field name, suggested value

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.linkActivated.connect(lambda _: self.use_suggestion.emit(self.field, self._suggestion))
        self._suggestion: object = None
        self.field = ""
        self.severity = ""
        self.plain = ""
        self.hide()

    def show_message(
        self, text: str, severity: str = "error", suggestion: object = None, field: str = ""
    ) -> None:
        from html import escape

        self.plain, self.severity, self._suggestion, self.field = text, severity, suggestion, field
        self.setObjectName(
            {"error": "fieldError", "warning": "fieldWarning"}.get(severity, "fieldNote")
        )
        self.style().unpolish(self)
        self.style().polish(self)
        html = escape(text)
        if suggestion is not None and severity == "error":
            html += f' <a href="use">Use {escape(str(suggestion))}</a>'
        self.setText(html)
        self.setVisible(bool(text))

    def clear_message(self) -> None:
        self.plain, self.severity, self._suggestion = "", "", None
        self.setText("")
        self.hide()


class SizePicker(QWidget):
    """Official sizes of a family (plus the demo size for demo models) and "Custom…".

    Custom width/height step by the family's pixel multiple and snap to it when editing ends,
    so a typed 1000 becomes 1008 for a multiple of 16 (a note says so).
    """

    changed = Signal()
    snapped = Signal(str)  # note for the user after a custom value was snapped

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.combo = QComboBox()
        self.width_spin = QSpinBox()
        self.height_spin = QSpinBox()
        for spin, name in ((self.width_spin, "width"), (self.height_spin, "height")):
            spin.setRange(1, int(LIMITS[name].high))
            spin.setAccelerated(True)
            spin.setToolTip(f"Custom {name} in pixels")
            spin.valueChanged.connect(self._custom_changed)
            spin.editingFinished.connect(self._snap)
        self.times = QLabel("×")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.combo, 1)
        layout.addWidget(self.width_spin)
        layout.addWidget(self.times)
        layout.addWidget(self.height_spin)
        self.multiple = 16
        self._updating = False
        self.combo.currentIndexChanged.connect(self._combo_changed)
        self.set_options([(1280, 720)], 16)

    def set_options(
        self,
        sizes: list[tuple[int, int]],
        multiple: int,
        demo_size: tuple[int, int] | None = None,
    ) -> None:
        """Offer ``sizes`` (official) and ``demo_size``; keeps the current size when possible."""
        current = self.size()
        self.multiple = multiple
        self._updating = True
        self.combo.clear()
        if demo_size is not None:
            self.combo.addItem(f"{demo_size[0]} × {demo_size[1]}  (demo)", _key(*demo_size))
        for w, h in sizes:
            kind = "landscape" if w > h else "portrait" if h > w else "square"
            self.combo.addItem(f"{w} × {h}  ({kind})", _key(w, h))
        self.combo.addItem("Custom…", CUSTOM)
        for spin in (self.width_spin, self.height_spin):
            spin.setSingleStep(multiple)
        self._updating = False
        self.set_size(*current)

    def size(self) -> tuple[int, int]:
        return self.width_spin.value(), self.height_spin.value()

    def is_custom(self) -> bool:
        return self.combo.currentData() == CUSTOM

    def set_size(self, width: int, height: int) -> None:
        """Select the listed size, or Custom with these values (not snapped: validation flags it)."""
        self._updating = True
        index = self.combo.findData(_key(width, height))
        self.combo.setCurrentIndex(index if index >= 0 else self.combo.count() - 1)
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)
        self._updating = False
        self._show_spins()
        self.changed.emit()

    def _show_spins(self) -> None:
        custom = self.is_custom()
        for w in (self.width_spin, self.times, self.height_spin):
            w.setVisible(custom)

    def _combo_changed(self) -> None:
        if self._updating:
            return
        data = self.combo.currentData()
        if data != CUSTOM and data is not None:
            width, height = (int(v) for v in data.split("x"))
            self._updating = True
            self.width_spin.setValue(width)
            self.height_spin.setValue(height)
            self._updating = False
        self._show_spins()
        self.changed.emit()

    def _custom_changed(self) -> None:
        if not self._updating:
            self.changed.emit()

    def _snap(self) -> None:
        """Round custom values to the pixel multiple when the user leaves the field."""
        from core.models.catalog import snap_to_multiple

        notes = []
        for spin, name in ((self.width_spin, "width"), (self.height_spin, "height")):
            value = spin.value()
            snapped = snap_to_multiple(value, self.multiple)
            if snapped != value:
                spin.setValue(snapped)
                notes.append(f"{name} {value} → {snapped}")
        if notes:
            self.snapped.emit(
                f"Snapped {', '.join(notes)}: this model needs multiples of {self.multiple}."
            )
