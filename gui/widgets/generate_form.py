"""The Generate form: every request setting as a field, adapted to the chosen model's family.

The form knows widgets, not rules: ``values()`` returns GenerationRequest field values,
``set_values()`` fills fields from a request dict (a preset, a history entry, a dropped video),
and ``show_issues()`` places the ValidationIssues of ``GenerationRequest.validate()`` under the
fields they name. Family facts (sizes, pixel multiple, fps, experts, inputs) come from the
catalog.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator, QTextLayout
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.generate.limits import LIMITS
from core.models.catalog import Family, get_family
from gui.widgets.fields import FieldMessage, SizePicker
from gui.widgets.image_input import ImageInput
from gui.widgets.lora_list import LoraList
from gui.widgets.solver_picker import SolverPicker

QUANT_CHOICES = (
    ("auto", "Auto (offline MXFP8 when the folder has it)"),
    ("none", "None (full precision)"),
    ("mxfp8-online", "MXFP8, quantized at load"),
)
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model picker."""

    label: str
    model: str  # the request's ``model`` value: a folder path or "demo" / "demo:<family>"
    family: str | None  # family key; None when the folder cannot be used as it is
    demo: bool = False
    path: str = ""
    problem: str = ""  # why it cannot run (e.g. an msmodelslim export that needs a repack)


def _duration_text(frames: int, fps: int) -> str:
    if fps <= 0:
        return ""
    seconds = frames / fps
    return f"= {seconds:.2f} s at {fps} fps"


class PromptEdit(QPlainTextEdit):
    """Plain text that shows exactly ``lines`` whole lines and moves focus on Tab.

    Why measured: the official negative prompt is Chinese, drawn from a fallback CJK font whose
    lines are taller than the widget font's ``lineSpacing``; a height from that cut the second
    line in half. The height is the real laid-out line height of mixed Latin and CJK text, and
    the bottom margin is a viewport margin, so the next line never peeks in half-drawn.
    """

    SAMPLE = "Ag色调艳丽"  # Latin + CJK: the tallest line either script makes

    def __init__(self, lines: int, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.lines = lines
        self.setTabChangesFocus(True)
        # Lines wrap, so a horizontal bar is never needed; shown transiently it ate a line.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setPlaceholderText(placeholder)
        self._fit_height()

    def line_height(self) -> float:
        """Height of one laid-out line of this box's text (font fallback included)."""
        layout = QTextLayout(self.SAMPLE, self.font())
        layout.beginLayout()
        line = layout.createLine()
        layout.endLayout()
        return line.height()

    def _fit_height(self) -> None:
        margin = round(self.document().documentMargin())
        self.setViewportMargins(0, 0, 0, margin)  # breathing room that never shows text
        text = math.ceil(self.line_height() * self.lines)
        self.setFixedHeight(2 * self.frameWidth() + margin + text + margin)

    def text(self) -> str:
        return self.toPlainText()

    def set_text(self, text: str) -> None:
        if text != self.toPlainText():
            self.setPlainText(text)


class GenerateForm(QWidget):
    """All generation settings. Emits ``changed`` on every edit."""

    changed = Signal()

    def __init__(self, run_io: Any, parent: QWidget | None = None) -> None:
        """``run_io``: the engine's I/O pool, for what the form reads off the GUI thread."""
        super().__init__(parent)
        self.family: Family = get_family("t2v-a14b")
        self.demo = False
        self.messages: dict[str, FieldMessage] = {}
        self._loading = False

        # ---- prompt ------------------------------------------------------------------------
        self.prompt = PromptEdit(3, "Describe the video, e.g. a red fox running through snow")
        self.negative_prompt = PromptEdit(2, "What to avoid (the official negative prompt)")
        self.reset_negative = QToolButton()
        self.reset_negative.setText("Default")
        self.reset_negative.setToolTip("Restore the model's official negative prompt")
        self.reset_negative.clicked.connect(
            lambda: self.negative_prompt.set_text(self.family.negative_prompt)
        )
        self.image = ImageInput()

        # ---- video -------------------------------------------------------------------------
        self.size = SizePicker()
        self.frames = QSpinBox()
        self.frames.setRange(1, int(LIMITS["frames"].high))
        self.frames.setSingleStep(4)
        self.frames.setToolTip("Frame count: 4n + 1 (the VAE packs 4 frames per latent frame)")
        self.duration = QLabel()
        self.duration.setObjectName("hint")
        self.fps = QSpinBox()
        self.fps.setRange(1, int(LIMITS["fps"].high))
        self.fps.setSuffix(" fps")
        self.fps_lock = QCheckBox("Locked to the model")
        self.fps_lock.setChecked(True)
        self.fps_lock.setToolTip(
            "Each Wan2.2 model was trained for one frame rate (16 fps for A14B, 24 for TI2V-5B); "
            "another rate changes the speed of motion. Untick to choose."
        )
        self.steps = QSpinBox()
        self.steps.setRange(1, int(LIMITS["steps"].high))

        # ---- guidance and seed ---------------------------------------------------------------
        self.guidance_high = QDoubleSpinBox()
        self.guidance_low = QDoubleSpinBox()
        for spin in (self.guidance_high, self.guidance_low):
            spin.setRange(0.0, LIMITS["guidance_high"].high)
            spin.setSingleStep(0.5)
            spin.setDecimals(2)
        self.seed_random = QCheckBox("Random")
        self.seed_random.setChecked(True)
        self.seed = QLineEdit()
        self.seed.setPlaceholderText("random each run")
        self.seed.setValidator(QRegularExpressionValidator(r"^-?\d{0,19}$"))
        self.seed.setEnabled(False)
        self.last_seed = QLabel("")
        self.last_seed.setObjectName("hint")
        self.reuse_seed = QPushButton("Reuse")
        self.reuse_seed.setToolTip("Fix the seed to the last run's, to vary other settings")
        self.reuse_seed.hide()
        self.reuse_seed.clicked.connect(self._reuse_last_seed)
        self._last_seed: int | None = None

        # ---- advanced ------------------------------------------------------------------------
        self.shift = QDoubleSpinBox()
        self.shift.setRange(0.1, LIMITS["shift"].high)
        self.shift.setSingleStep(0.5)
        self.shift.setDecimals(2)
        self.shift.setToolTip("Flow-matching shift (official: 12 for T2V-A14B, 5 otherwise)")
        self.boundary = QDoubleSpinBox()
        self.boundary.setRange(0.01, 0.99)
        self.boundary.setSingleStep(0.005)
        self.boundary.setDecimals(3)
        self.boundary.setToolTip(
            "Expert switch: the high-noise expert runs while t ≥ boundary × 1000 "
            "(official 0.875 for T2V, 0.9 for I2V)"
        )
        self.quant = QComboBox()
        for value, label in QUANT_CHOICES:
            self.quant.addItem(label, value)
        self.device = QComboBox()
        self.device.addItem("Auto (NPU, then CUDA, then CPU)", "auto")
        self.device.setToolTip("Detecting devices…")
        self._pending_device = "auto"
        self.solver = SolverPicker()
        self.loras = LoraList(run_io)  # the LoRA section (gui/widgets/lora_list.py)
        self.messages["loras"] = self.loras.message

        self._build_layout()
        for signal in (
            self.prompt.textChanged,
            self.negative_prompt.textChanged,
            self.image.changed,
            self.size.changed,
            self.frames.valueChanged,
            self.fps.valueChanged,
            self.steps.valueChanged,
            self.guidance_high.valueChanged,
            self.guidance_low.valueChanged,
            self.seed.textChanged,
            self.seed_random.toggled,
            self.shift.valueChanged,
            self.boundary.valueChanged,
            self.quant.currentIndexChanged,
            self.device.currentIndexChanged,
            self.loras.changed,
            self.solver.currentIndexChanged,
        ):
            signal.connect(self._emit_changed)
        self.seed_random.toggled.connect(self._seed_mode_changed)
        self.seed_random.toggled.connect(self._update_reuse_seed)
        self.seed.textChanged.connect(self._update_reuse_seed)
        self.fps_lock.toggled.connect(self._fps_lock_changed)
        self.frames.valueChanged.connect(self._update_duration)
        self.fps.valueChanged.connect(self._update_duration)
        self.size.snapped.connect(lambda text: self.messages["width"].show_message(text, "note"))
        for message in set(self.messages.values()):
            message.use_suggestion.connect(self._use_suggestion)
        self.set_family("t2v-a14b", demo=False)

    # ---- layout ------------------------------------------------------------------------------
    def _field(self, form: QFormLayout, label: str, widget: QWidget, *names: str) -> QLabel:
        """Add a row whose message line (under the widget) serves the issues of ``names``."""
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(widget)
        message = FieldMessage()
        column.addWidget(message)
        for name in names:
            self.messages[name] = message
        caption = QLabel(label)
        form.addRow(caption, box)
        return caption

    @staticmethod
    def _form(group: QGroupBox) -> QFormLayout:
        form = QFormLayout(group)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        return form

    @staticmethod
    def _row(*widgets: QWidget, stretch_last: bool = True) -> QWidget:
        box = QWidget()
        row = QHBoxLayout(box)
        row.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            row.addWidget(widget)
        if stretch_last:
            row.addStretch(1)
        return box

    def _build_layout(self) -> None:
        prompt_group = QGroupBox("Prompt")
        form = self._form(prompt_group)
        self._field(form, "Prompt", self.prompt, "prompt")
        negative = QWidget()
        neg_row = QHBoxLayout(negative)
        neg_row.setContentsMargins(0, 0, 0, 0)
        neg_row.addWidget(self.negative_prompt, 1)
        neg_row.addWidget(self.reset_negative, 0, Qt.AlignmentFlag.AlignTop)
        self._field(form, "Negative", negative, "negative_prompt")
        self.image_caption = self._field(form, "Start image", self.image, "image", "image_fit")
        self._image_form = form

        video_group = QGroupBox("Video")
        form = self._form(video_group)
        self._field(form, "Size", self.size, "width", "height")
        self._field(form, "Frames", self._row(self.frames, self.duration), "frames")
        self._field(form, "Frame rate", self._row(self.fps, self.fps_lock), "fps")
        self._field(form, "Steps", self._row(self.steps), "steps")

        guidance_group = QGroupBox("Guidance and seed")
        form = self._form(guidance_group)
        self.guidance_high_caption = self._field(
            form, "Guidance", self._row(self.guidance_high), "guidance_high"
        )
        self.guidance_low_caption = self._field(
            form, "Low-noise expert", self._row(self.guidance_low), "guidance_low"
        )
        self._guidance_form = form
        seed_row = self._row(self.seed_random, self.seed, stretch_last=False)
        self._field(form, "Seed", seed_row, "seed")
        self.last_seed_row = self._row(self.last_seed, self.reuse_seed)
        form.addRow("", self.last_seed_row)
        form.setRowVisible(self.last_seed_row, False)

        self.advanced_toggle = QToolButton()
        self.advanced_toggle.setText("Advanced")
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_toggle.setArrowType(Qt.ArrowType.RightArrow)
        self.advanced_toggle.setObjectName("sectionToggle")
        self.advanced = QGroupBox()
        self.advanced.setObjectName("advanced")
        form = self._form(self.advanced)
        self._field(form, "Shift", self._row(self.shift), "shift")
        self.boundary_caption = self._field(
            form, "Expert switch", self._row(self.boundary), "boundary"
        )
        self._advanced_form = form
        self._field(form, "Solver", self.solver, "solver")
        self._field(form, "Quantization", self.quant, "quant", "backend")
        self._field(form, "Device", self.device, "device")
        self.advanced_form = form  # the workspace adds its output-folder row here
        self.advanced.setVisible(False)
        self.advanced_toggle.toggled.connect(self._toggle_advanced)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        for group in (prompt_group, video_group, guidance_group, self.loras):
            layout.addWidget(group)
        layout.addWidget(self.advanced_toggle)
        layout.addWidget(self.advanced)
        layout.addStretch(1)

    def tab_chain(self) -> list[QWidget]:
        """The form's focusable widgets in reading order (the workspace chains them)."""
        size = self.size
        return [
            self.prompt,
            self.negative_prompt,
            self.reset_negative,
            self.image.choose_button,
            self.image.clear_button,
            size.combo,
            size.width_spin,
            size.height_spin,
            self.frames,
            self.fps,
            self.fps_lock,
            self.steps,
            self.guidance_high,
            self.guidance_low,
            self.seed_random,
            self.seed,
            self.reuse_seed,
            self.advanced_toggle,
            self.shift,
            self.boundary,
            self.quant,
            self.device,
        ]

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.setVisible(shown)
        self.advanced_toggle.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )

    # ---- family ------------------------------------------------------------------------------
    def set_family(self, family: str, demo: bool) -> None:
        """Adapt the fields to a model family (sizes, experts, image input, fps)."""
        from core.models.demo import DEMO_DEFAULTS

        self.family = get_family(family)
        self.demo = demo
        fam = self.family
        self._loading = True
        demo_size = tuple(DEMO_DEFAULTS[fam.key]["size"]) if demo else None
        self.size.set_options(list(fam.sizes), fam.pixel_multiple, demo_size)
        two = fam.experts == 2
        self._set_row_visible(self._guidance_form, self.guidance_low_caption, two)
        self._set_row_visible(self._advanced_form, self.boundary_caption, two)
        self.guidance_high_caption.setText("High-noise expert" if two else "Guidance")
        self.guidance_high.setToolTip(
            "Classifier-free guidance of the high-noise expert (early, layout-forming steps)"
            if two
            else "Classifier-free guidance scale"
        )
        self.guidance_low.setToolTip(
            "Classifier-free guidance of the low-noise expert (late, detail steps)"
        )
        takes_image = fam.image != "none"
        self._set_row_visible(self._image_form, self.image_caption, takes_image)
        self.image.set_required(fam.image == "required")
        self.image_caption.setText(
            "Start image" if fam.image == "required" else "Start image\n(optional)"
        )
        self.fps_lock.setText(f"Locked to the model ({fam.fps} fps)")
        if self.fps_lock.isChecked():
            self.fps.setValue(fam.fps)
        self._fps_lock_changed(self.fps_lock.isChecked())
        self.loras.set_family(fam.key, fam.experts, demo)
        self._loading = False
        self._update_duration()
        self._emit_changed()

    @staticmethod
    def _set_row_visible(form: QFormLayout, caption: QLabel, visible: bool) -> None:
        form.setRowVisible(caption, visible)

    # ---- values ------------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The form as GenerationRequest field values (without model and output)."""
        fam = self.family
        two = fam.experts == 2
        width, height = self.size.size()
        return {
            "prompt": self.prompt.text(),
            "negative_prompt": self.negative_prompt.text(),
            "image": self.image.path() if fam.image != "none" else None,
            "width": width,
            "height": height,
            "frames": self.frames.value(),
            "fps": self.fps.value(),
            "steps": self.steps.value(),
            "guidance_high": self.guidance_high.value(),
            "guidance_low": self.guidance_low.value() if two else None,
            "boundary": self.boundary.value() if two else None,
            "shift": self.shift.value(),
            "seed": self.seed_value(),
            "quant": self.quant.currentData(),
            "device": self.device_value(),
            "loras": self.loras.values(),
            "solver": self.solver.value(),
        }

    def seed_value(self) -> int | None:
        """None for random; the typed number otherwise (validation flags bad ones)."""
        if self.seed_random.isChecked():
            return None
        text = self.seed.text().strip()
        if not text or text == "-":
            return None
        return int(text)

    def device_value(self) -> str:
        data = self.device.currentData()
        return data if isinstance(data, str) else self._pending_device

    def set_values(self, values: dict[str, Any]) -> None:
        """Fill fields from request values; keys the form does not show are ignored."""
        self._loading = True
        try:
            self._set_values(values)
        finally:
            self._loading = False
        self._update_duration()
        self._emit_changed()

    def _set_values(self, v: dict[str, Any]) -> None:
        if isinstance(v.get("prompt"), str):
            self.prompt.set_text(v["prompt"])
        if isinstance(v.get("negative_prompt"), str):
            self.negative_prompt.set_text(v["negative_prompt"])
        if "image" in v and self.family.image != "none":
            self.image.set_path(v["image"] or None)
        if isinstance(v.get("width"), int) and isinstance(v.get("height"), int):
            self.size.set_size(v["width"], v["height"])
        if isinstance(v.get("frames"), int):
            self.frames.setValue(v["frames"])
        if isinstance(v.get("fps"), int):
            self.fps_lock.setChecked(v["fps"] == self.family.fps)
            self.fps.setValue(v["fps"])
        if isinstance(v.get("steps"), int):
            self.steps.setValue(v["steps"])
        for name in ("guidance_high", "guidance_low", "shift", "boundary"):
            value = v.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                getattr(self, name).setValue(float(value))
        if "seed" in v:
            seed = v["seed"]
            random = seed is None or seed == -1
            self.seed_random.setChecked(random)
            self.seed.setText("" if random else str(seed))
        if isinstance(v.get("quant"), str):
            index = self.quant.findData(v["quant"])
            if index >= 0:
                self.quant.setCurrentIndex(index)
        if isinstance(v.get("device"), str):
            self.set_device(v["device"])
        if isinstance(v.get("solver"), str):
            self.solver.set_value(v["solver"])
        if isinstance(v.get("loras"), list):
            self.loras.restore(v["loras"])

    # ---- devices -----------------------------------------------------------------------------
    def set_devices(self, devices: list[tuple[str, str]]) -> None:
        """Offer probed devices (value, label) after "auto"; keeps the wanted choice."""
        wanted = self.device_value()
        self.device.blockSignals(True)
        self.device.clear()
        self.device.addItem("Auto (NPU, then CUDA, then CPU)", "auto")
        for value, label in devices:
            self.device.addItem(label, value)
        self.device.blockSignals(False)
        self.device.setToolTip("Found: " + ", ".join(label for _, label in devices))
        self.set_device(wanted)

    def set_device(self, device: str) -> None:
        self._pending_device = device
        index = self.device.findData(device)
        if index < 0 and device != "auto":  # not detected (yet): keep it selectable, flagged
            self.device.addItem(f"{device} (not detected)", device)
            index = self.device.count() - 1
        self.device.setCurrentIndex(max(0, index))

    # ---- seed ---------------------------------------------------------------------------------
    def show_last_seed(self, seed: int | None) -> None:
        self._last_seed = seed
        self.last_seed.setText("" if seed is None else f"Seed used: {seed}")
        self._guidance_form.setRowVisible(self.last_seed_row, seed is not None)
        self._update_reuse_seed()

    def _update_reuse_seed(self) -> None:
        """ "Reuse" only when it would change something (the seed is random or another one)."""
        last = self._last_seed
        self.reuse_seed.setVisible(last is not None and self.seed_value() != last)

    def _reuse_last_seed(self) -> None:
        if self._last_seed is not None:
            self.seed_random.setChecked(False)
            self.seed.setText(str(self._last_seed))

    def _seed_mode_changed(self, random: bool) -> None:
        self.seed.setEnabled(not random)
        self.seed.setPlaceholderText("random each run" if random else "a whole number")
        if not random and not self.seed.text() and self._last_seed is not None:
            self.seed.setText(str(self._last_seed))

    # ---- misc -----------------------------------------------------------------------------------
    def _fps_lock_changed(self, locked: bool) -> None:
        if locked:
            self.fps.setValue(self.family.fps)
        self.fps.setEnabled(not locked)

    def _update_duration(self) -> None:
        self.duration.setText(_duration_text(self.frames.value(), self.fps.value()))

    def _emit_changed(self, *_: Any) -> None:
        if not self._loading:
            self.changed.emit()

    def _use_suggestion(self, name: str, value: Any) -> None:
        if value is None:
            return
        if name in ("width", "height"):
            width, height = self.size.size()
            self.size.set_size(
                value if name == "width" else width, value if name == "height" else height
            )
        elif name == "seed":
            self.seed_random.setChecked(True)
        elif name in ("frames", "fps", "steps"):
            getattr(self, name).setValue(int(value))
        elif name in ("guidance_high", "guidance_low", "shift", "boundary"):
            getattr(self, name).setValue(float(value))

    def show_issues(self, issues: list[Any]) -> None:
        """Put each ValidationIssue under its field (errors first); clear the others."""
        by_message: dict[FieldMessage, Any] = {}
        for issue in sorted(issues, key=lambda i: i.severity != "error"):
            message = self.messages.get(issue.field)
            if message is not None and message not in by_message:
                by_message[message] = issue
        for message in set(self.messages.values()):
            issue = by_message.get(message)
            if issue is not None:
                message.show_message(issue.message, issue.severity, issue.suggestion, issue.field)
            elif message.severity != "note":
                message.clear_message()

    def clear_notes(self) -> None:
        for message in set(self.messages.values()):
            if message.severity == "note":
                message.clear_message()
