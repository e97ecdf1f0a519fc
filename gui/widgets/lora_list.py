"""The Generate form's LoRA section: which LoRAs a run applies, in order, at what strength.

One row per item (a single file, or a HIGH/LOW pair shown as one): on/off, name, a strength
per expert (one "Strength" for the one-expert TI2V-5B), move up/down, remove, and a fit note
from the file's header (format, rank, whether it fits the selected model). Items come from
"Add file…", from "Add from library" (the LoRA folders of core.lora.library) or from elsewhere
(Models' "Use in Generate", a restored request).

Nothing here blocks the GUI thread: headers are read (``inspect_lora`` imports torch) and
recorded LoRAs located (``resolve_recorded`` hashes files) through ``run_io`` on a pool
thread; each answer is dropped when the row or the restore it was for is gone.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.lora.choice import MAX_STRENGTH, LoraChoice, choice_for_file
from core.lora.errors import LoraError
from core.lora.naming import is_step_distill
from gui.widgets.elided_label import ElidedLabel
from gui.widgets.fields import FieldMessage
from gui.widgets.lora_format import RunIo, alive, fit_note, read_header

LAST_DIR_KEY = "generate/lora_dir"

# path -> LoraInfo or the reason it could not be read; headers do not change under a session
# often enough to re-read them per row (a re-added file reuses its answer).
_info_cache: dict[str, Any] = {}


def _resolve(choices: list[LoraChoice]) -> tuple[list[LoraChoice], list[str], list[str]]:
    """Worker side: (choices found, messages about missing files, the missing file names)."""
    from core.lora.restore import resolve_recorded

    found: list[LoraChoice] = []
    messages: list[str] = []
    names: list[str] = []
    for choice in choices:
        hits, missing = resolve_recorded([choice])
        found += hits
        messages += missing
        names += [Path(m.path).name for m in missing]
    return found, messages, names


class LoraRow(QFrame):
    """One LoRA item: on/off, name, strength per expert, order and remove buttons, fit note."""

    changed = Signal()
    move_requested = Signal(object, int)  # the row, -1 (up) or +1 (down)
    remove_requested = Signal(object)

    def __init__(self, choice: LoraChoice, experts: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loraRow")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self._choice = dataclasses.replace(choice, sha256=None, sha256_low=None)
        self.infos: dict[str, Any] = {}  # file -> LoraInfo | reason (str)
        self.fits = True
        self.enabled = QCheckBox()
        self.enabled.setChecked(choice.enabled)
        self.enabled.setToolTip("Apply this LoRA in the next run")
        self.label = ElidedLabel(hide_when_empty=False)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.label.set_full_text(choice.label, tooltip="\n".join(choice.files()))
        self.up = QToolButton()
        self.up.setArrowType(Qt.ArrowType.UpArrow)
        self.up.setToolTip("Apply earlier (LoRAs are applied in list order)")
        self.down = QToolButton()
        self.down.setArrowType(Qt.ArrowType.DownArrow)
        self.down.setToolTip("Apply later")
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setToolTip("Remove from this run (the file stays)")
        self.high = self._spin(choice.strength_high)
        self.low = self._spin(choice.strength_low)
        self.high_caption = QLabel("High")
        self.low_caption = QLabel("Low")
        self.note = ElidedLabel(hide_when_empty=False)
        self.note.setObjectName("hint")

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(4)
        top.addWidget(self.enabled)
        top.addWidget(self.label, 1)
        for button in (self.up, self.down, self.remove):
            top.addWidget(button)
        strengths = QHBoxLayout()
        strengths.setContentsMargins(22, 0, 0, 0)
        strengths.setSpacing(6)
        for widget in (self.high_caption, self.high, self.low_caption, self.low):
            strengths.addWidget(widget)
        strengths.addStretch(1)
        note_row = QHBoxLayout()
        note_row.setContentsMargins(22, 0, 0, 0)
        note_row.addWidget(self.note, 1)
        column = QVBoxLayout(self)
        column.setContentsMargins(6, 4, 6, 4)
        column.setSpacing(3)
        column.addLayout(top)
        column.addLayout(strengths)
        column.addLayout(note_row)

        self.enabled.toggled.connect(self._enabled_changed)
        self.high.valueChanged.connect(lambda _v: self.changed.emit())
        self.low.valueChanged.connect(lambda _v: self.changed.emit())
        self.up.clicked.connect(lambda: self.move_requested.emit(self, -1))
        self.down.clicked.connect(lambda: self.move_requested.emit(self, +1))
        self.remove.clicked.connect(lambda: self.remove_requested.emit(self))
        self.set_experts(experts)
        self._enabled_changed(choice.enabled, emit=False)
        self.note.set_full_text("Reading the file…")

    @staticmethod
    def _spin(value: float) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(-MAX_STRENGTH, MAX_STRENGTH)
        spin.setSingleStep(0.05)
        spin.setDecimals(2)
        spin.setValue(value)
        spin.setToolTip("0 leaves this expert alone; LoRA authors document 0.1-2")
        return spin

    def set_experts(self, experts: int) -> None:
        """Two strengths for the A14B models, one for TI2V-5B (its only expert is 'high')."""
        two = experts == 2
        self.high_caption.setText("High" if two else "Strength")
        self.high.setToolTip(
            "Strength on the high-noise expert (early, layout-forming steps)"
            if two
            else "Strength of this LoRA"
        )
        self.low.setToolTip("Strength on the low-noise expert (late, detail steps)")
        self.low_caption.setVisible(two)
        self.low.setVisible(two)

    def _enabled_changed(self, on: bool, emit: bool = True) -> None:
        for widget in (self.label, self.high, self.low, self.high_caption, self.low_caption):
            widget.setEnabled(on)
        if emit:
            self.changed.emit()

    def choice(self) -> LoraChoice:
        """The item as the request takes it (strengths and on/off from the widgets)."""
        return dataclasses.replace(
            self._choice,
            enabled=self.enabled.isChecked(),
            strength_high=self.high.value(),
            strength_low=self.low.value(),
        )

    def files(self) -> list[str]:
        return self._choice.files()

    def show_fit(self, family: str, demo: bool) -> None:
        """The note under the strengths: format, rank, fit for the selected model."""
        first = self.infos.get(self._choice.path)
        if first is None:
            self.note.set_full_text("Reading the file…")
            self._set_note_style("hint")
            self.fits = True
            return
        problems = [v for v in (self.infos.get(f) for f in self.files()) if isinstance(v, str)]
        if problems:
            self.note.set_full_text(f"Cannot use: {problems[0]}")
            self._set_note_style("fieldError")
            self.fits = False
            return
        text, fits = fit_note(first, family, demo)
        low = self.infos.get(self._choice.path_low) if self._choice.path_low else None
        if low is not None and fits:
            low_text, low_fits = fit_note(low, family, demo)
            if not low_fits:
                text, fits = f"LOW file: {low_text}", False
        self.note.set_full_text(text)
        self._set_note_style("hint" if fits else "fieldWarning")
        self.fits = fits

    def _set_note_style(self, name: str) -> None:
        self.note.setObjectName(name)
        self.note.style().unpolish(self.note)
        self.note.style().polish(self.note)


class LoraList(QGroupBox):
    """The LoRA section of the Generate form (see the module docstring)."""

    changed = Signal()
    distill_picked = Signal(str)  # label of a step-distill LoRA the user just added
    notice = Signal(str)  # a one-line message for the status bar
    library_requested = Signal()  # "Manage LoRA folders…" (the Models workspace)
    info_ready = Signal(str)  # a file's header was read (path); for tests and screenshots
    restored = Signal(list)  # a restore finished: the messages about missing LoRAs

    def __init__(self, run_io: RunIo, parent: QWidget | None = None) -> None:
        """``run_io``: where header reads and restore look-ups run (``Engine.run_io``)."""
        super().__init__("LoRAs", parent)
        self.rows: list[LoraRow] = []
        self.family = "t2v-a14b"
        self.experts = 2
        self.demo = False
        self._run_io = run_io
        self._restore_serial = itertools.count(1)
        self._restore_latest = 0
        self._library: dict[str, list[Any]] | None = None
        self._library_reading = False
        self._library_again = False  # asked again while a read was in flight
        self._pending: list[LoraChoice] | None = None  # recorded choices being looked up
        self._sticky_note = False

        self.add_file_button = QPushButton("Add file…")
        self.add_file_button.setToolTip("Pick a LoRA .safetensors file (a HIGH file finds its LOW)")
        self.add_file_button.clicked.connect(self.choose_file)
        self.library_button = QPushButton("Add from library")
        self.library_button.setToolTip("A LoRA from your LoRA folders (Models → LoRAs)")
        self.library_menu = QMenu(self.library_button)
        self.library_menu.aboutToShow.connect(self._fill_library_menu)
        self.library_button.setMenu(self.library_menu)
        self.empty_hint = QLabel("No LoRA: the model runs as it is.")
        self.empty_hint.setObjectName("hint")
        self.note = QLabel()  # wraps like the form's field messages: a note must be read whole
        self.note.setObjectName("fieldNote")
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.hide()
        self.message = FieldMessage()  # validation issues of the request's "loras" field

        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        buttons.addWidget(self.add_file_button)
        buttons.addWidget(self.library_button)
        buttons.addStretch(1)
        self._rows_layout = QVBoxLayout()
        self._rows_layout.setContentsMargins(0, 0, 0, 0)
        self._rows_layout.setSpacing(4)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        layout.addLayout(buttons)
        layout.addWidget(self.empty_hint)
        layout.addLayout(self._rows_layout)
        layout.addWidget(self.note)
        layout.addWidget(self.message)

    # ---- wiring ------------------------------------------------------------------------------
    def set_family(self, family: str, experts: int, demo: bool) -> None:
        """The selected model: one or two strengths, fit notes against it."""
        self.family, self.experts, self.demo = family, experts, demo
        for row in self.rows:
            row.set_experts(experts)
            row.show_fit(family, demo)

    # ---- values ------------------------------------------------------------------------------
    @property
    def restoring(self) -> bool:
        """True while recorded LoRAs are being looked up (``restore``)."""
        return self._pending is not None

    def choices(self) -> list[LoraChoice]:
        """The rows' choices; during a restore look-up also the recorded ones as recorded, so a
        run started meanwhile applies them (or validation names the missing files)."""
        return [row.choice() for row in self.rows] + list(self._pending or [])

    def values(self) -> list[dict[str, Any]]:
        """The request's ``loras`` as JSON-ready dicts (what presets and the form state keep)."""
        return [choice.to_dict() for choice in self.choices()]

    # ---- adding ------------------------------------------------------------------------------
    def choose_file(self) -> None:
        from gui.app import settings

        start = settings().value(LAST_DIR_KEY) or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "Add a LoRA", str(start), "LoRA files (*.safetensors)"
        )
        if path:
            settings().setValue(LAST_DIR_KEY, str(Path(path).parent))
            self.add_file(path)

    def add_file(self, path: str | Path) -> LoraRow | None:
        """A picked file: a HIGH (or LOW) file with its partner next to it becomes one pair."""
        from core.lora.choice import check_lora_path

        problem = check_lora_path(str(path))
        if problem:
            self.show_note(problem, error=True)
            self.notice.emit(problem)
            return None
        return self.add_choice(choice_for_file(path, experts=self.experts), picked=True)

    def add_item(self, path: str, path_low: str | None = None) -> LoraRow | None:
        """An item of a LoRA folder (or Models' "Use in Generate"): a pair stays a pair on the
        two-expert models; the one-expert TI2V-5B takes the file itself."""
        if path_low and self.experts == 2:
            choice = LoraChoice(path=path, path_low=path_low)
        else:
            choice = choice_for_file(path, experts=self.experts)
        return self.add_choice(choice, picked=True)

    def add_choice(self, choice: LoraChoice, picked: bool = False) -> LoraRow | None:
        """Append an item; ``picked`` (the user chose it now) may select the distill preset."""
        taken = {f for row in self.rows for f in row.files()}
        same = [f for f in choice.files() if f in taken]
        if same:
            text = f"{Path(same[0]).name} is already in the list"
            self.show_note(text)
            self.notice.emit(text)
            return None
        row = LoraRow(choice, self.experts)
        row.changed.connect(self._emit_changed)
        row.move_requested.connect(self.move)
        row.remove_requested.connect(self.remove)
        self.rows.append(row)
        self._rows_layout.addWidget(row)
        self._update_buttons()
        self._read_headers(row)
        if picked and not self._sticky_note:
            self.show_note("")
            if choice.enabled and any(is_step_distill(f) for f in choice.files()):
                self.distill_picked.emit(row.label.full_text())
        self._emit_changed()
        return row

    def _read_headers(self, row: LoraRow) -> None:
        for file in row.files():
            cached = _info_cache.get(file)
            if cached is not None:
                row.infos[file] = cached
                continue

            def done(result: Any, file: str = file) -> None:
                _info_cache[file] = result
                if alive(row) and row in self.rows:
                    row.infos[file] = result
                    row.show_fit(self.family, self.demo)
                    self.info_ready.emit(file)

            self._run_io(
                lambda file=file: read_header(file),
                on_done=done,
                on_error=lambda error, file=file: done(error.message, file),
            )
        row.show_fit(self.family, self.demo)

    # ---- order and removal -------------------------------------------------------------------
    def move(self, row: LoraRow, delta: int) -> None:
        index = self.rows.index(row)
        target = index + delta
        if not 0 <= target < len(self.rows):
            return
        self.rows.insert(target, self.rows.pop(index))
        self._rows_layout.removeWidget(row)
        self._rows_layout.insertWidget(target, row)
        self._update_buttons()
        self._emit_changed()

    def remove(self, row: LoraRow) -> None:
        self.rows.remove(row)
        self._rows_layout.removeWidget(row)
        row.deleteLater()
        if not self.rows:
            self.show_note("")
        self._update_buttons()
        self._emit_changed()

    def clear(self) -> None:
        for row in list(self.rows):
            self._rows_layout.removeWidget(row)
            row.deleteLater()
        self.rows = []
        self._update_buttons()

    def _update_buttons(self) -> None:
        for i, row in enumerate(self.rows):
            row.up.setEnabled(i > 0)
            row.down.setEnabled(i < len(self.rows) - 1)
        self.empty_hint.setVisible(not self.rows)

    # ---- restoring ---------------------------------------------------------------------------
    def restore(self, entries: list[Any]) -> None:
        """Re-select recorded LoRAs (a preset, the form state, a history entry, a video).

        Entries without a recorded hash whose files are here are shown at once (the form's own
        memory); anything else is located off the GUI thread (``resolve_recorded`` hashes the
        files) and the rows appear when it answers, with a note naming what is missing.
        """
        serial = self._restore_latest = next(self._restore_serial)
        self.clear()
        self.show_note("")
        choices: list[LoraChoice] = []
        bad: list[str] = []
        for entry in entries:
            try:
                choices.append(LoraChoice.from_dict(entry))
            except LoraError as exc:
                bad.append(f"a recorded LoRA was skipped: {exc}")
        quick = all(
            c.sha256 is None and c.sha256_low is None and all(Path(f).is_file() for f in c.files())
            for c in choices
        )
        if quick:
            self._restored(serial, choices, bad)
            return
        self._pending = choices
        self.show_note(f"Looking for {len(choices)} recorded LoRA(s)…")

        def work() -> tuple[list[LoraChoice], list[str], list[str]]:
            return _resolve(choices)

        def failed(error: Any) -> None:
            text = f"the recorded LoRAs could not be checked: {error.message}"
            self._restored(serial, [], [*bad, text], [])

        self._run_io(
            work,
            on_done=lambda result: self._restored(serial, result[0], bad + result[1], result[2]),
            on_error=failed,
        )

    def _restored(
        self,
        serial: int,
        found: list[LoraChoice],
        missing: list[str],
        names: list[str] | None = None,
    ) -> None:
        if not alive(self) or serial != self._restore_latest:
            return  # a newer restore (or the form is gone)
        self._pending = None
        self.show_note("")
        for choice in found:
            self.add_choice(choice)
        if missing:
            short = (
                f"LoRA not found: {', '.join(names)} (not at the recorded path, nor in your "
                "LoRA folders)"
                if names
                else missing[0]
            )
            self.show_note(short, error=True, tooltip="\n".join(missing))
            self.notice.emit(short)
        self._emit_changed()
        self.restored.emit(missing)

    # ---- library menu ------------------------------------------------------------------------
    def library_changed(self) -> None:
        """The LoRA folders were edited (Models): read them again next time the menu opens."""
        self._library = None

    def _fill_library_menu(self) -> None:
        menu = self.library_menu
        menu.clear()
        if self._library is None:
            reading = menu.addAction("Reading your LoRA folders…")
            reading.setEnabled(False)
            self._read_library()
        else:
            self._add_library_actions(menu, self._library)
            self._read_library()  # files may have come or gone: refreshed while the menu is open
        menu.addSeparator()
        manage = menu.addAction("Manage LoRA folders…")
        manage.triggered.connect(self.library_requested.emit)

    def _read_library(self) -> None:
        if self._library_reading:
            self._library_again = True  # the read in flight may predate what changed
            return
        self._library_reading = True

        def done(items: dict[str, list[Any]]) -> None:
            self._library_reading = False
            if not alive(self):
                return
            changed = items != self._library
            self._library = items
            if changed and self.library_menu.isVisible():
                self._fill_library_menu()
            if self._library_again:
                self._library_again = False
                self._read_library()

        def failed(error: Any) -> None:
            self._library_reading = False
            if alive(self):
                self._library = {}
                self.notice.emit(f"Could not read the LoRA folders: {error.message}")

        from core.lora.library import all_items

        self._run_io(all_items, on_done=done, on_error=failed)

    def _add_library_actions(self, menu: QMenu, library: dict[str, list[Any]]) -> None:
        if not any(library.values()):
            empty = menu.addAction(
                "No LoRA folders yet" if not library else "No .safetensors files in your folders"
            )
            empty.setEnabled(False)
            return
        taken = {f for row in self.rows for f in row.files()}
        for folder, items in library.items():
            if not items:
                continue
            menu.addSection(Path(folder).name or folder)
            for item in items:
                action = menu.addAction(item.label)
                action.setToolTip(item.path + (f"\n{item.path_low}" if item.path_low else ""))
                action.setEnabled(item.path not in taken)
                action.triggered.connect(lambda _=False, i=item: self.add_item(i.path, i.path_low))

    # ---- notes -------------------------------------------------------------------------------
    def show_note(
        self, text: str, error: bool = False, tooltip: str | None = None, sticky: bool = False
    ) -> None:
        """A line under the rows (the distill preset was chosen, LoRAs are missing…); a
        ``sticky`` one stays when more LoRAs are picked, until the list is emptied or restored."""
        self._sticky_note = sticky and bool(text)
        self.note.setObjectName("fieldWarning" if error else "fieldNote")
        self.note.style().unpolish(self.note)
        self.note.style().polish(self.note)
        self.note.setText(text)
        self.note.setToolTip(tooltip or "")
        self.note.setVisible(bool(text))

    def _emit_changed(self) -> None:
        self.changed.emit()


__all__ = ["LoraList", "LoraRow"]
