"""Generate workspace: pick a model and a preset, fill the form, watch the run, play the result.

Left: model picker (from the library; a banner offers the demo model when it is empty,
gui/widgets/demo_banner.py), the preset bar (choose, "modified", save the form as a preset:
gui/widgets/preset_bar.py) and the form (gui/widgets/generate_form.py), then the run bar
(gui/widgets/run_bar.py: batch, Generate / Add to queue, Cancel, the queue's state). Every run
goes through the persistent queue; gui/workspaces/generate_run.py adds the jobs and makes the
right-hand side follow whichever queued job runs. The form works before any model exists (the prompt
has the focus at start); only Generate waits. Right: the live preview during a run and the
player afterwards, above the progress panel (stages, steps, it/s, ETA, expert switch, elapsed)
and the device memory line (gui/widgets/memory_meter.py).

Start-up: the warm-up imports (gui/warmup.py) are queued as idle engine jobs once the window
shows, so anything the user starts runs first and form edits hold them back.

Rules live in core: every edit builds a GenerationRequest and shows ``validate()``'s issues at
their fields. All torch work (generation, creating the demo model, probing devices) runs on the
engine thread (gui/engine.py); this module never imports torch.
"""

from __future__ import annotations

import itertools
import logging
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from core import paths
from core.generate.request import (
    GenerationRequest,
    defaults_for,
    demo_model_name,
    errors,
)
from core.models.catalog import FAMILIES, get_family
from core.models.demo import DEMO_NOTE, is_demo_model
from gui.bus import AppBus
from gui.engine import JobError, probe_devices
from gui.warmup import preload_multimedia_libraries, warm_up_steps
from gui.widgets.demo_banner import DemoBanner
from gui.widgets.elided_label import ElidedLabel
from gui.widgets.form_state import FormState
from gui.widgets.generate_form import GenerateForm, ModelChoice
from gui.widgets.image_view import ImageView
from gui.widgets.memory_meter import MemoryMeter
from gui.widgets.player import PlayerWidget
from gui.widgets.preset_bar import PresetBar
from gui.widgets.progress_panel import ProgressPanel
from gui.widgets.run_bar import RunBar
from gui.workspaces.generate_loras import attach_loras
from gui.workspaces.generate_run import QueueRuns, error_box

log = logging.getLogger(__name__)

OUTPUT_DIR_KEY = "generate/output_dir"
PROBE_DELAY_MS = 300
PLAYER_WARM_UP_MS = 1500


def output_dir_setting() -> Path:
    """The folder new videos go to: the user's choice (persisted) or the default videos folder."""
    from gui.app import settings

    value = settings().value(OUTPUT_DIR_KEY)
    return Path(value) if value else paths.output_dir()


def _same_path(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).expanduser().absolute() == Path(b).expanduser().absolute()


def list_model_choices() -> tuple[list[ModelChoice], list[str]]:
    """Models from the library (plus demo folders the library does not list yet) and warnings."""
    from core.models.library import Library

    library = Library()
    choices: list[ModelChoice] = []
    for entry in library.list():
        choices.append(_choice_for(entry.name, entry.path, entry.family, entry.layout))
    for key in FAMILIES:
        folder = paths.demo_model_dir(key)
        if is_demo_model(folder) and not any(_same_path(c.path, str(folder)) for c in choices):
            name = f"Demo {get_family(key).name} (random weights)"
            choices.append(_choice_for(name, folder, key, "diffusers"))
    return choices, list(library.warnings)


def _choice_for(name: str, path: Path, family: str | None, layout: str | None) -> ModelChoice:
    folder = str(path)
    if not path.is_dir():
        return ModelChoice(
            f"{name}  (folder missing)",
            folder,
            None,
            path=folder,
            problem=f"{folder} is missing: reconnect the drive or remove it in Models",
        )
    if layout == "msmodelslim":
        return ModelChoice(
            f"{name}  (needs repack)",
            folder,
            None,
            path=folder,
            problem="an msmodelslim export: repack it in Models before generating",
        )
    demo = is_demo_model(path)
    if family is None:
        from core.generate.request import ModelError, model_family

        try:
            family = model_family(folder).key
        except ModelError as exc:
            return ModelChoice(f"{name}  (unusable)", folder, None, path=folder, problem=str(exc))
    model = folder
    if demo and _same_path(folder, str(paths.demo_model_dir(family))):
        model = demo_model_name(family)  # the runner and request validation know demo names
    return ModelChoice(name, model, family, demo=demo, path=folder)


class GenerateWorkspace(QWidget):
    """The Generate tab (see the module docstring)."""

    TITLE = "Generate"

    run_started = Signal(object)  # the GenerationRequest
    run_finished = Signal(object)  # Done | Failed | Cancelled (core events) or JobError
    event_received = Signal(object)  # every core event of the current run, in order
    models_reloaded = Signal()
    validated = Signal(list)  # the ValidationIssues shown

    def __init__(self, bus: AppBus, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self.state = FormState(writer=lambda write: bus.engine.run_io(write))  # fsync off
        self.choices: list[ModelChoice] = []
        self.last_outcome: Any = None
        self.error_box: QMessageBox | None = None
        self.issues: list[Any] = []
        self._current: ModelChoice | None = None
        self._probed = False
        self._form_started = False  # the no-model form was filled once (keep what was typed)
        self._validate_timer = QTimer(self)
        self._validate_timer.setSingleShot(True)
        self._validate_timer.setInterval(120)  # image checks decode the file: not per keystroke
        self._validate_timer.timeout.connect(self.validate_now)

        self._build()
        self.runs = QueueRuns(self)
        attach_loras(self)
        self.form.changed.connect(self._validate_timer.start)
        self.form.changed.connect(self._user_edited)
        bus.library_changed.connect(self.reload_models)
        bus.presets_changed.connect(self._presets_changed)
        bus.apply_settings.connect(self.apply_settings)
        bus.use_model.connect(self.select_model_path)
        bus.play_video.connect(self.runs.play)
        self.reload_models()
        if self.state.warning:
            QTimer.singleShot(0, lambda: bus.status.emit(self.state.warning or ""))

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        # model and preset
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(20)
        self.model_combo.currentIndexChanged.connect(self._model_selected)
        self.manage_models = QPushButton("Models…")
        self.manage_models.setToolTip("Add, inspect or repack models")
        self.manage_models.clicked.connect(lambda: self.bus.show_workspace.emit("Models"))
        self.model_info = ElidedLabel()
        self.model_info.setObjectName("hint")
        self.demo_note = QLabel(f"{DEMO_NOTE}: videos from it are noise")
        self.demo_note.setObjectName("demoNote")
        self.demo_note.hide()
        self.banner = DemoBanner(self.bus)
        self.banner.created.connect(self._demo_created)
        self.banner.failed.connect(self._demo_failed)
        self.banner.family.currentIndexChanged.connect(self._demo_family_changed)
        self.banner.hide()
        self.presets = PresetBar(self.bus, self.preset_settings)
        self.presets.chosen.connect(self._preset_chosen)

        model_group = QGroupBox("Model")
        mg = QVBoxLayout(model_group)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.manage_models)
        mg.addLayout(row)
        mg.addWidget(self.model_info)
        mg.addWidget(self.demo_note)
        mg.addWidget(self.banner)
        mg.addWidget(self.presets)

        self.form = GenerateForm(self._run_io)
        column = QWidget()
        column_layout = QVBoxLayout(column)
        column_layout.setContentsMargins(0, 0, 6, 0)
        column_layout.addWidget(model_group)
        column_layout.addWidget(self.form, 1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(column)

        # run bar: batch, Generate / Add to queue, Cancel, the queue's state, output folder
        self.run_bar = RunBar()
        self.generate_button = self.run_bar.generate_button
        self.cancel_button = self.run_bar.cancel_button
        self.reason = self.run_bar.reason
        self.output_label = self.run_bar.output_label
        self.output_change = self.run_bar.output_change
        self.output_change.clicked.connect(self.choose_output_dir)
        run_bar = self.run_bar
        self.run_buttons = run_bar.buttons  # MainWindow adds "Compare…" here

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(scroll, 1)
        left_layout.addWidget(run_bar)
        # Never narrower than the form needs: the scroll area only scrolls vertically.
        scrollbar = scroll.verticalScrollBar().sizeHint().width()
        left_width = column.minimumSizeHint().width() + scrollbar + 4
        left.setMinimumWidth(left_width)

        # viewer: live preview during a run, the player afterwards
        self.preview = ImageView("The live preview appears here during a run.")
        self.player = PlayerWidget(run_io=self._run_io)
        self.viewer = QStackedWidget()
        self.viewer.addWidget(self.preview)
        self.viewer.addWidget(self.player)
        self.viewer_title = QLabel("Preview")
        self.viewer_title.setObjectName("sectionTitle")
        self.result_info = ElidedLabel(hide_when_empty=False)
        self.result_info.setObjectName("hint")
        self.open_folder = QPushButton("Open folder")
        self.open_folder.setEnabled(False)
        self.open_folder.clicked.connect(lambda: self.runs.open_result_folder())
        self.show_preview = QPushButton("Last preview")
        self.show_preview.setToolTip("Show the last live preview instead of the video")
        self.show_preview.setCheckable(True)
        self.show_preview.setEnabled(False)
        self.show_preview.toggled.connect(lambda shown: self.runs.toggle_last_preview(shown))
        head = QHBoxLayout()
        head.addWidget(self.viewer_title)
        head.addWidget(self.result_info, 1)
        head.addWidget(self.show_preview)
        head.addWidget(self.open_folder)
        self.panel = ProgressPanel()
        self.memory = MemoryMeter(self._run_io)
        progress_group = QGroupBox("Progress")
        progress_layout = QVBoxLayout(progress_group)
        progress_layout.addWidget(self.panel)
        progress_layout.addWidget(self.memory)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(6, 0, 0, 0)
        right_layout.addLayout(head)
        right_layout.addWidget(self.viewer, 1)
        right_layout.addWidget(progress_group)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([max(460, left_width), 1280 - max(460, left_width)])
        self.splitter.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.splitter)
        self._show_output_dir()
        self._set_tab_order()

    def tab_chain(self) -> list[QWidget]:
        """Tab order: down the left column, then the run bar, then the result's buttons."""
        return [
            self.model_combo,
            self.manage_models,
            self.banner.family,
            self.banner.create_button,
            self.presets.combo,
            self.presets.update_button,
            self.presets.save_as_button,
            *self.form.tab_chain(),
            self.run_bar.count,
            self.run_bar.seed_mode,
            self.run_bar.prompts_button,
            self.generate_button,
            self.cancel_button,
            self.output_change,
            self.show_preview,
            self.open_folder,
        ]

    def _set_tab_order(self) -> None:
        for first, second in itertools.pairwise(self.tab_chain()):
            QWidget.setTabOrder(first, second)

    def _run_io(self, fn: Any, **callbacks: Any) -> Any:
        return self.bus.engine.run_io(fn, **callbacks)

    # ---- start-up ----------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._probed:
            self._probed = True
            self.form.prompt.setFocus(Qt.FocusReason.OtherFocusReason)
            # After the window is up and painted: the probe imports torch on the engine
            # thread, which would compete with the first paint for the GIL.
            QTimer.singleShot(PROBE_DELAY_MS, self._probe_devices)

    def _probe_devices(self) -> None:
        """Warm-up steps as idle jobs (gui/warmup.py), the device probe right after torch."""
        engine = self.bus.engine
        for name, step in warm_up_steps():
            engine.submit_idle(step, name=name)
            if name == "import torch":
                engine.submit_idle(
                    probe_devices,
                    name="probe devices",
                    on_done=self.form.set_devices,
                    on_error=lambda err: self.form.device.setToolTip(
                        f"Device detection failed: {err.message}"
                    ),
                )
        # The media backend loads on the GUI thread: do it now, not when the first result
        # arrives in the middle of a run's end; its native libraries are loaded first, off the
        # GUI thread and without the GIL (gui/warmup.py).
        QTimer.singleShot(PLAYER_WARM_UP_MS, self._prepare_player)

    def _prepare_player(self) -> None:
        self.bus.engine.run_io(
            preload_multimedia_libraries,
            on_done=lambda _loaded: self.player.prepare(),
            on_error=lambda _error: self.player.prepare(),
        )

    # ---- models ------------------------------------------------------------------------------
    def reload_models(self) -> None:
        """Re-read the library; keep the selection (and unsaved edits) when still there."""
        wanted = self._current.model if self._current else self.state.last_model
        if self._current is not None and self._current.family is not None:
            self.state.remember(self._current.model, self._snapshot())
        try:
            choices, warnings = list_model_choices()
        except Exception as exc:  # a broken library must not take the workspace down
            log.exception("could not list models")
            choices, warnings = [], [f"could not read the model library: {exc}"]
        for warning in warnings:
            self.bus.status.emit(warning)
        self.choices = choices
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        for choice in choices:
            self.model_combo.addItem(choice.label, choice.model)
            self.model_combo.setItemData(
                self.model_combo.count() - 1,
                choice.problem or choice.path,
                Qt.ItemDataRole.ToolTipRole,
            )
        index = next((i for i, c in enumerate(choices) if c.model == wanted), 0)
        self.model_combo.setCurrentIndex(index if choices else -1)
        self.model_combo.blockSignals(False)
        self.banner.setVisible(not choices)
        self.model_combo.setEnabled(bool(choices))
        self._current = None
        self._model_selected(self.model_combo.currentIndex())
        self.models_reloaded.emit()

    def current_choice(self) -> ModelChoice | None:
        return self._current

    def _model_selected(self, index: int) -> None:
        previous = self._current
        if previous is not None and previous.family is not None:
            self.state.remember(previous.model, self._snapshot())
        choice = self.choices[index] if 0 <= index < len(self.choices) else None
        self._current = choice
        self.form.clear_notes()
        self.demo_note.setVisible(choice is not None and choice.demo)
        if choice is None or choice.family is None:
            # The form stays usable without a model (type the prompt while the demo model is
            # made); it shows the family the banner would create.
            if not self._form_started:
                family = self.banner.family.currentData()
                self.form.set_family(family, demo=True)
                self.form.set_values(defaults_for(family, demo=True).to_dict())
                self._form_started = True
                if not self.running:
                    self.panel.reset(get_family(family).experts)
            self.model_info.set_full_text(choice.problem if choice else "")
            self.model_info.setObjectName("fieldError" if choice else "hint")
            self._repolish(self.model_info)
            self.presets.set_family(None)
            self.validate_now()
            return
        fam = get_family(choice.family)
        self.form.set_family(fam.key, choice.demo)
        experts = "two experts (high-noise → low-noise)" if fam.experts == 2 else "one expert"
        self.model_info.set_full_text(
            f"{fam.name} · {experts} · {fam.fps} fps", tooltip=choice.path
        )
        self.model_info.setObjectName("hint")
        self._repolish(self.model_info)
        remembered = self.state.get(choice.model)
        values = (
            remembered if remembered is not None else defaults_for(fam, demo=choice.demo).to_dict()
        )
        if remembered is None and previous is None and self._typed_prompt():
            values = {**values, **self._typed_before_a_model(fam.key)}
        self._form_started = True
        self.form.set_values(values)
        self.presets.set_family(
            fam.key,
            select=values.get("preset")
            if remembered is not None
            else ("Demo" if choice.demo else "Official"),
        )
        if not self.running:  # a library change during a run must not wipe its progress
            self.panel.reset(fam.experts)
        self.validate_now()

    def _snapshot(self) -> dict[str, Any]:
        """The form's values plus the chosen preset (what is remembered per model)."""
        return {**self.form.values(), "preset": self.presets.current_name()}

    def _typed_prompt(self) -> bool:
        return bool(self.form.prompt.text().strip())

    def _typed_before_a_model(self, family: str) -> dict[str, Any]:
        """What the user set in the no-model form: all of it for the family it showed."""
        if self.form.family.key == family:
            return self.form.values()
        return {"prompt": self.form.prompt.text()}

    def _demo_family_changed(self) -> None:
        """Without a model the form shows the family the banner would create."""
        if self._current is None or self._current.family is None:
            family = self.banner.family.currentData()
            self.form.set_family(family, demo=True)
            if not self.running:
                self.panel.reset(get_family(family).experts)

    def _user_edited(self) -> None:
        """Form edits hold back the start-up warm-up's imports (they compete for the GIL)."""
        if self.bus.has_engine:
            self.bus.engine.note_user_activity()

    def select_model(self, model: str) -> bool:
        """Select the picker entry whose request value or folder is ``model``."""
        for i, choice in enumerate(self.choices):
            if choice.model == model or (choice.path and _same_path(choice.path, model)):
                if i != self.model_combo.currentIndex():
                    self.model_combo.setCurrentIndex(i)
                return True
        return False

    def select_model_path(self, path: str) -> None:
        """bus.use_model: the model may be new in the library, so re-read it first."""
        self.reload_models()
        if self.select_model(path):
            self.bus.show_workspace.emit(self.TITLE)

    def create_demo_model(self) -> None:
        """Create (or find) the banner's demo model family on the engine thread (see banner)."""
        self.banner.create()

    def _demo_created(self, path: str, family: str) -> None:
        self.bus.library_changed.emit()  # reloads this picker too
        self.select_model(path) or self.select_model(demo_model_name(family))

    def _demo_failed(self, error: JobError) -> None:
        self.show_error(
            "The demo model could not be created", error.message, error.hint, error.details
        )

    # ---- presets ----------------------------------------------------------------------------
    def preset_settings(self) -> dict[str, Any]:
        """What a preset saved now would hold: the request Generate would run, as a dict."""
        return self.build_request().to_dict()

    def _presets_changed(self) -> None:
        self.presets.reload()

    def _preset_chosen(self, preset: Any) -> None:
        self.form.set_values(preset.values)
        self.presets.refresh()

    def apply_preset(self, name: str) -> None:
        """Select and apply a preset of the current model's family by name."""
        self.presets.apply(name)

    # ---- settings from elsewhere -------------------------------------------------------------
    def apply_settings(self, values: dict) -> None:
        """Fill the form from a request dict (preset, history entry, dropped video)."""
        model = values.get("model")
        note = ""
        if isinstance(model, str) and model.strip() and not self.select_model(model):
            current = self._current.label if self._current else "no model"
            note = f" (its model {model} is not in the library; kept {current})"
        self.form.set_values(values)
        self.presets.select(values.get("preset"))
        self.validate_now()
        self.bus.show_workspace.emit(self.TITLE)
        self.bus.status.emit("Settings restored" + note)

    # ---- output folder -----------------------------------------------------------------------
    def output_dir(self) -> Path:
        return output_dir_setting()

    def set_output_dir(self, folder: str | Path) -> None:
        from gui.app import settings

        settings().setValue(OUTPUT_DIR_KEY, str(folder))
        self._show_output_dir()
        self.bus.output_dir_changed.emit(str(folder))
        self.bus.history_changed.emit()

    def choose_output_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Save new videos in", str(self.output_dir())
        )
        if folder:
            self.set_output_dir(folder)

    def _show_output_dir(self) -> None:
        folder = self.output_dir()
        self.output_label.set_full_text(f"Saving to {folder}", tooltip=str(folder))

    # ---- validation --------------------------------------------------------------------------
    def build_request(self) -> GenerationRequest:
        choice = self._current
        values = self.form.values()
        return GenerationRequest(
            model=choice.model if choice else "",
            output=str(self.output_dir()),
            preset=self.presets.current_name(),
            **values,
        )

    def validate_now(self) -> list[Any]:
        """Validate the form with core's rules, show the issues at their fields, gate Generate."""
        self._validate_timer.stop()
        choice = self._current
        if choice is None:
            self.issues = []
            self.form.show_issues([])
            self._update_run_state("Choose a model first (or create the demo model).")
            self.validated.emit([])
            return []
        if choice.family is None:
            self.issues = []
            self._update_run_state(f"This model cannot run: {choice.problem}")
            self.validated.emit([])
            return []
        request = self.build_request()
        try:
            issues = request.validate()
        except Exception as exc:  # validation must never take the form down
            log.exception("validation failed")
            issues = []
            self._update_run_state(f"Could not check the settings: {exc}")
            return issues
        issues = [i for i in issues if i.field != "output" or i.severity == "error"]
        self.issues = issues
        self.form.show_issues(issues)
        self.presets.refresh()
        blocking = errors(issues)
        model_issue = next((i for i in blocking if i.field == "model"), None)
        if model_issue is not None:
            self.model_info.set_full_text(model_issue.message)
        if blocking:
            first = blocking[0]
            more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
            self._update_run_state(f"Can't generate yet: {first.message}{more}")
        else:
            self._update_run_state("")
        self.validated.emit(issues)
        return issues

    def _update_run_state(self, reason: str) -> None:
        self._blocked_reason = reason
        self.runs.update_buttons()

    # ---- running (gui/workspaces/generate_run.py) ----------------------------------------------
    @property
    def running(self) -> bool:
        """A queue job of this app's runs (Generate follows it)."""
        return self.bus.queue.running

    @property
    def job(self) -> Any:
        """The engine job of the running queue job (its ``token`` is the run's CancelToken)."""
        return self.bus.queue.engine_job

    def generate(self) -> list[int]:
        """Add the form's job(s) to the queue; it starts at once when the queue is idle."""
        return self.runs.add_from_form()

    def cancel(self) -> None:
        self.runs.cancel()

    def play(self, path: str) -> None:
        self.runs.play(path)

    def show_error(self, title: str, message: str, hint: str = "", details: str = "") -> None:
        box = error_box(self, title, message, hint, details)
        box.finished.connect(lambda _=0: setattr(self, "error_box", None))
        self.error_box = box
        box.open()

    # ---- shutdown ----------------------------------------------------------------------------
    def save_state(self) -> None:
        """Remember the current model's settings (the main window calls this on close)."""
        if self._current is not None and self._current.family is not None:
            self.state.remember(self._current.model, self._snapshot())

    @staticmethod
    def _repolish(widget: QWidget) -> None:
        widget.style().unpolish(widget)
        widget.style().polish(widget)
