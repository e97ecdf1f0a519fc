"""Where a run is: stage list with states, step and overall bars, it/s, ETA, expert switch, elapsed.

Fed with core events (``handle_event``) on the GUI thread. It never blocks and never calls
processEvents (apps.md: napari's re-entrant progress bar is the habit to avoid).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.lora_plan import LoraPlanLabel

PENDING, RUNNING, DONE, SKIPPED, FAILED, CANCELLED = (
    "pending",
    "running",
    "done",
    "skipped",
    "failed",
    "cancelled",
)
# (glyph, colour) per state: glyphs read without colour too (colour-blind users, monochrome).
_STATE_STYLE = {
    PENDING: ("○", "#8a9099"),
    RUNNING: ("▶", "#2f6fde"),
    DONE: ("✓", "#2e8b57"),
    SKIPPED: ("↷", "#8a9099"),
    FAILED: ("✕", "#c0392b"),
    CANCELLED: ("■", "#c87f0a"),
}

# Fallback labels when core.generate.events is not importable (kept in sync by the tests).
_DEFAULT_LABELS = {
    "load": "Loading model",
    "encode": "Encoding prompt",
    "denoise_high": "Denoising (high-noise expert)",
    "denoise_low": "Denoising (low-noise expert)",
    "denoise": "Denoising",
    "decode": "Decoding video (VAE)",
    "write": "Writing video",
}


def stage_labels() -> dict[str, str]:
    try:
        from core.generate.events import STAGE_LABELS

        return dict(STAGE_LABELS)
    except ImportError:
        return dict(_DEFAULT_LABELS)


def stages_for(experts: int) -> list[str]:
    """Stage ids a run goes through for a model with ``experts`` experts (events.py order)."""
    denoise = ["denoise_high", "denoise_low"] if experts == 2 else ["denoise"]
    return ["load", "encode", *denoise, "decode", "write"]


def format_seconds(seconds: float | None) -> str:
    """0:07, 1:05, 1:02:03 - a clock, because users compare it with one."""
    if seconds is None:
        return "--:--"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class _StageRow:
    glyph: QLabel
    label: QLabel
    info: QLabel
    state: str = PENDING


class StageList(QWidget):
    """One row per stage: state glyph, name, time taken (or the reason it was skipped)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(8)
        self._grid.setVerticalSpacing(3)
        self._grid.setColumnStretch(1, 1)
        self.rows: dict[str, _StageRow] = {}

    def set_stages(self, stages: list[str]) -> None:
        for row in self.rows.values():
            for widget in (row.glyph, row.label, row.info):
                self._grid.removeWidget(widget)
                widget.deleteLater()
        self.rows = {}
        labels = stage_labels()
        for i, stage in enumerate(stages):
            row = _StageRow(QLabel(), QLabel(labels.get(stage, stage)), QLabel())
            row.glyph.setFixedWidth(16)
            row.glyph.setAlignment(Qt.AlignmentFlag.AlignCenter)
            row.info.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self._grid.addWidget(row.glyph, i, 0)
            self._grid.addWidget(row.label, i, 1)
            self._grid.addWidget(row.info, i, 2)
            self.rows[stage] = row
            self.set_state(stage, PENDING)

    def ensure(self, stage: str) -> None:
        """Add a row for a stage the plan did not foresee (keeps the list honest)."""
        if stage not in self.rows:
            stages = [*self.rows, stage]
            states = {k: (r.state, r.info.text()) for k, r in self.rows.items()}
            self.set_stages(stages)
            for key, (state, info) in states.items():
                self.set_state(key, state, info)

    def set_state(self, stage: str, state: str, info: str = "") -> None:
        self.ensure(stage)
        row = self.rows[stage]
        row.state = state
        glyph, colour = _STATE_STYLE[state]
        row.glyph.setText(glyph)
        row.glyph.setStyleSheet(f"color: {colour}; font-weight: 700;")
        weight = "600" if state == RUNNING else "400"
        text_colour = "#8a9099" if state in (PENDING, SKIPPED) else "palette(text)"
        style = f"color: {text_colour}; font-weight: {weight};"
        if state == SKIPPED:
            style += " font-style: italic;"
        row.label.setStyleSheet(style)
        row.info.setText(info)
        row.info.setStyleSheet(f"color: {'#c0392b' if state == FAILED else '#6b7280'};")
        row.label.setToolTip(f"{row.label.text()}: {state}" + (f" ({info})" if info else ""))

    def state(self, stage: str) -> str:
        return self.rows[stage].state

    def states(self) -> dict[str, str]:
        return {k: r.state for k, r in self.rows.items()}

    def running(self) -> list[str]:
        return [k for k, r in self.rows.items() if r.state == RUNNING]


class ProgressPanel(QWidget):
    """Stage list + step bar + overall bar + rate/ETA + expert switch + elapsed time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.stages = StageList()
        # Idle bars carry no text: their captions sit beside them, and a word inside a bar
        # reads like its value. Text appears with the first real value.
        self.step_bar = QProgressBar()
        self.overall_bar = QProgressBar()
        self.overall_bar.setRange(0, 1000)
        self.rate_label = QLabel("")
        self.eta_label = QLabel("")
        self.elapsed_label = QLabel("")
        self.expert_label = QLabel("")
        self.expert_label.setObjectName("expertSwitch")
        self.expert_label.setWordWrap(True)
        self.loras_label = LoraPlanLabel()  # the LoRAs the run applies (gui/widgets/lora_plan.py)
        self.status_label = QLabel("Idle: fill in the form and press Generate.")
        self.status_label.setObjectName("runStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        for label in (self.rate_label, self.eta_label, self.elapsed_label):
            label.setObjectName("metric")

        bars = QGridLayout()
        bars.setHorizontalSpacing(8)
        bars.addWidget(QLabel("Step"), 0, 0)
        bars.addWidget(self.step_bar, 0, 1)
        bars.addWidget(QLabel("Overall"), 1, 0)
        bars.addWidget(self.overall_bar, 1, 1)
        metrics = QHBoxLayout()
        metrics.addWidget(self.rate_label)
        metrics.addWidget(self.eta_label)
        metrics.addStretch(1)
        metrics.addWidget(self.elapsed_label)

        right = QVBoxLayout()
        right.addLayout(bars)
        right.addLayout(metrics)
        right.addWidget(self.expert_label)
        right.addWidget(self.loras_label)
        right.addWidget(self.status_label)
        right.addStretch(1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.stages.setMinimumWidth(250)
        layout.addWidget(self.stages, 0, Qt.AlignmentFlag.AlignTop)
        layout.addSpacing(12)
        layout.addLayout(right, 1)

        self._clock = QElapsedTimer()
        self._tick = QTimer(self)
        self._tick.setInterval(500)
        self._tick.timeout.connect(self._update_elapsed)
        self._switch: tuple[int, int] | None = None
        self._switched = False
        self.outcome: str | None = None
        self.reset(2)

    # ---- lifecycle ------------------------------------------------------------------------
    def reset(self, experts: int) -> None:
        """Back to idle with the stages of a model with ``experts`` experts, all pending."""
        self._tick.stop()
        self.stages.set_stages(stages_for(experts))
        self.step_bar.setRange(0, 1)
        self.step_bar.setValue(0)
        self.step_bar.setFormat("")
        self.step_bar.setTextVisible(False)
        self.overall_bar.setValue(0)
        self.overall_bar.setFormat("")
        self.overall_bar.setTextVisible(False)
        self.rate_label.setText("")
        self.eta_label.setText("")
        self.elapsed_label.setText("")
        self.expert_label.setText("")
        self.loras_label.show_applied([])
        self._switch = None
        self._switched = False
        self.outcome = None

    def start(self, experts: int) -> None:
        self.reset(experts)
        self.status_label.setText("Starting…")
        self._clock.start()
        self._tick.start()
        self._update_elapsed()

    @property
    def running(self) -> bool:
        return self._tick.isActive()

    def elapsed_seconds(self) -> float:
        return self._clock.elapsed() / 1000.0 if self._clock.isValid() else 0.0

    def _update_elapsed(self) -> None:
        self.elapsed_label.setText(f"Elapsed {format_seconds(self.elapsed_seconds())}")

    def _stop(self, outcome: str) -> None:
        self._tick.stop()
        self._update_elapsed()
        self.outcome = outcome

    # ---- events ---------------------------------------------------------------------------
    def handle_event(self, event: Any) -> None:
        """Update the panel from one core event (unknown kinds are ignored)."""
        handler = getattr(self, f"_on_{getattr(event, 'kind', '')}", None)
        if handler is not None:
            handler(event)
        overall = getattr(event, "overall", None)
        if isinstance(overall, (int, float)) and self.outcome is None:
            self._set_overall(overall)

    def _set_overall(self, fraction: float) -> None:
        value = round(max(0.0, min(1.0, fraction)) * 1000)
        self.overall_bar.setValue(max(value, self.overall_bar.value()))
        self.overall_bar.setFormat(f"{self.overall_bar.value() / 10:.0f}%")
        self.overall_bar.setTextVisible(True)

    def _on_started(self, event: Any) -> None:
        self.status_label.setText(f"Seed {event.seed}")

    def _on_plan(self, event: Any) -> None:
        self.step_bar.setRange(0, max(1, event.steps))
        self.step_bar.setValue(0)
        self.step_bar.setFormat(f"0/{event.steps}")
        self.step_bar.setTextVisible(True)
        if event.switch_step is not None:
            self._switch = (event.switch_step, event.steps)
            if event.switch_step >= event.steps:
                self.expert_label.setText(
                    f"High-noise expert for all {event.steps} steps (the low-noise expert "
                    "takes over only with more steps)"
                )
            else:
                self.expert_label.setText(
                    f"high-noise expert → low-noise at step {event.switch_step}/{event.steps}"
                )
        self.loras_label.show_applied(getattr(event, "loras", None) or [])
        memory = event.memory or {}
        peak = memory.get("peak")
        peak_text = f", peak ≈ {_bytes_text(peak)}" if isinstance(peak, int) and peak else ""
        offload = "" if event.offload in ("none", "", None) else f", offload: {event.offload}"
        layers = event.quantized_layers
        mxfp8 = f", MXFP8: {layers} layers via {event.backend}" if layers else ""
        self.status_label.setText(
            f"{event.width}×{event.height}, {event.frames} frames @ {event.fps} fps on "
            f"{event.device} ({event.dtype}{offload}{peak_text}{mxfp8})"
        )

    def _on_stage_started(self, event: Any) -> None:
        for stage in self.stages.running():  # a stage never finishes silently
            self.stages.set_state(stage, DONE)
        self.stages.set_state(event.stage, RUNNING)

    def _on_stage_progress(self, event: Any) -> None:
        pct = round(100 * max(0.0, min(1.0, event.fraction)))
        self.stages.set_state(event.stage, RUNNING, f"{pct}%")

    def _on_stage_finished(self, event: Any) -> None:
        self.stages.set_state(event.stage, DONE, f"{event.seconds:.1f} s")

    def _on_stage_skipped(self, event: Any) -> None:
        self.stages.set_state(event.stage, SKIPPED, event.reason)

    def _on_step(self, event: Any) -> None:
        self.step_bar.setRange(0, max(1, event.overall_total))
        self.step_bar.setValue(event.overall_index)
        expert = {"high": "high-noise", "low": "low-noise"}.get(event.expert)
        inner = f"  ({expert} {event.index}/{event.total})" if expert else ""
        self.step_bar.setFormat(f"{event.overall_index}/{event.overall_total}{inner}")
        self.step_bar.setTextVisible(True)
        self.rate_label.setText(_rate_text(event.it_per_s))
        self.eta_label.setText(f"ETA {format_seconds(event.eta_seconds)}")
        self.stages.set_state(event.stage, RUNNING, f"{event.index}/{event.total}")

    def _on_expert_switch(self, event: Any) -> None:
        self._switched = True
        self.expert_label.setText(
            f"high-noise expert → low-noise at step {event.step}/{event.total}  ✓ switched"
        )

    def _on_warning(self, event: Any) -> None:
        self.status_label.setText(f"⚠ {event.message}")

    def _on_done(self, event: Any) -> None:
        for stage, state in self.stages.states().items():
            if state in (RUNNING,):
                self.stages.set_state(stage, DONE)
        self.eta_label.setText("")
        self._stop(DONE)
        self.overall_bar.setValue(1000)
        self.overall_bar.setFormat("100%")
        self.overall_bar.setTextVisible(True)
        total = event.timings.get("total") if isinstance(event.timings, dict) else None
        took = f" in {total:.1f} s" if isinstance(total, (int, float)) else ""
        self.status_label.setText(f"Done{took}: {Path(event.video).name}")
        self.status_label.setToolTip(event.video)

    def _on_failed(self, event: Any) -> None:
        self.fail(event.message, getattr(event, "stage", None))

    def _on_cancelled(self, event: Any) -> None:
        self.cancelled(getattr(event, "stage", None), getattr(event, "reason", ""))

    def fail(self, message: str, stage: str | None = None) -> None:
        """Mark the run failed (also used when the job raised instead of returning Failed)."""
        targets = [stage] if stage else self.stages.running()
        for name in targets:
            self.stages.set_state(name, FAILED, "failed")
        self.eta_label.setText("")
        self._stop(FAILED)
        self.status_label.setText(f"Failed: {message}")

    def cancelled(self, stage: str | None = None, reason: str = "") -> None:
        targets = [stage] if stage else self.stages.running()
        for name in targets:
            self.stages.set_state(name, CANCELLED, "cancelled")
        self.eta_label.setText("")
        self._stop(CANCELLED)
        self.status_label.setText(
            "Cancelled" + (f": {reason}" if reason else "") + ". Nothing was written."
        )


def _bytes_text(count: int) -> str:
    if count >= 2**30:
        return f"{count / 2**30:.1f} GiB"
    return f"{max(1, round(count / 2**20))} MiB"


def _rate_text(it_per_s: float) -> str:
    if it_per_s <= 0:
        return ""
    if it_per_s < 1:  # real models on slow devices: seconds per step reads better
        return f"{1 / it_per_s:.1f} s/it"
    return f"{it_per_s:.2f} it/s"


__all__ = ["ProgressPanel", "StageList", "format_seconds", "stages_for"]
