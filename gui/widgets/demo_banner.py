"""The first-launch banner of Generate: no models yet, so offer to create the demo model.

Creating it runs on the engine thread (it imports torch and diffusers, which can take a minute
on a busy machine) and reports each step (core.models.demo.DEMO_STEPS): the banner shows a
progress bar with the step and the elapsed time, so it never looks frozen, and the rest of the
window stays usable meanwhile. The default family is TI2V-5B, the lightest (one expert).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QElapsedTimer, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
)

from core.models.catalog import FAMILIES
from core.models.demo import DEMO_STEPS
from gui.bus import AppBus
from gui.engine import JobError
from gui.widgets.progress_panel import format_seconds

DEFAULT_FAMILY = "ti2v-5b"  # one expert and the smallest demo: the quickest to make and run
TICK_MS = 500
# The steps the bar counts: waiting for the engine to be free, then the core steps.
_WAITING = "Waiting for the engine"


class DemoBanner(QFrame):
    """ "No models yet" + family choice + Create, then a progress bar while it is made."""

    created = Signal(str, str)  # folder, family key
    failed = Signal(object)  # JobError
    step_changed = Signal(int, str)  # index (0: waiting for the engine), label

    def __init__(self, bus: AppBus, parent: QFrame | None = None) -> None:
        super().__init__(parent)
        self.bus = bus
        self.setObjectName("bannerFrame")
        self.job: Any = None
        text = QLabel(
            "<b>No models yet.</b> Add a Wan2.2 model folder in Models, or create the demo "
            "model to try the app now: a tiny model with random weights, made in seconds "
            "(its videos are noise). You can fill in the form meanwhile."
        )
        text.setWordWrap(True)
        self.family = QComboBox()
        for key, fam in FAMILIES.items():
            label = fam.name.replace("Wan2.2-", "")
            self.family.addItem(f"{label} (lightest)" if key == DEFAULT_FAMILY else label, key)
        self.family.setCurrentIndex(max(0, self.family.findData(DEFAULT_FAMILY)))
        self.family.setToolTip("The model family the demo model imitates")
        self.create_button = QPushButton("Create demo model")
        self.create_button.setObjectName("primary")
        self.create_button.clicked.connect(self.create)
        self.progress = QProgressBar()
        self.progress.setRange(0, len(DEMO_STEPS) + 1)
        self.progress.setTextVisible(True)
        self.progress.hide()
        row = QHBoxLayout()
        row.addWidget(self.family)
        row.addWidget(self.create_button)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addLayout(row)
        layout.addWidget(self.progress)

        self._clock = QElapsedTimer()
        self._step = (0, _WAITING)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._show_step)

    @property
    def running(self) -> bool:
        return self.job is not None and not self.job.finished

    def step_text(self) -> str:
        """What the bar says: "Step 2/7: Building the VAE · 0:04"."""
        index, label = self._step
        elapsed = format_seconds(self._clock.elapsed() / 1000 if self._clock.isValid() else 0)
        return f"Step {index + 1}/{self.progress.maximum()}: {label} · {elapsed}"

    def create(self) -> None:
        """Create (or find) the chosen family's demo model on the engine thread."""
        if self.running:
            return
        family = self.family.currentData()
        self.create_button.setEnabled(False)
        self.family.setEnabled(False)
        self.create_button.setText("Creating…")
        self._clock.start()
        self._set_step(0, _WAITING)  # until the engine finishes what it is doing
        self.progress.show()
        self._tick.start()
        self.bus.status.emit(f"Creating the {FAMILIES[family].name} demo model…")

        def work(ctx: Any) -> str:
            from core.models.library import Library

            library = Library()
            entry = library.ensure_demo(family, progress=ctx.emit)
            return str(entry.path)

        self.job = self.bus.engine.submit(
            work,
            name="create demo model",
            on_event=self._on_progress,
            on_done=lambda path: self._done(path, family),
            on_error=self._failed,
            on_cancelled=lambda: self._finish(),
        )

    def _on_progress(self, progress: Any) -> None:
        """A core ``Progress`` from the job: ``done`` is the index of the step starting."""
        done = getattr(progress, "done", None)
        if isinstance(done, (int, float)):
            self._set_step(int(done) + 1, progress.message)  # step 0 is the waiting

    def _set_step(self, index: int, label: str) -> None:
        self._step = (index, label)
        self.progress.setValue(index)
        self._show_step()
        self.step_changed.emit(index, label)

    def _show_step(self) -> None:
        self.progress.setFormat(self.step_text())

    def _done(self, path: str, family: str) -> None:
        self._finish()
        self.bus.status.emit(f"Demo model ready: {path}")
        self.created.emit(path, family)

    def _failed(self, error: JobError) -> None:
        self._finish()
        self.failed.emit(error)

    def _finish(self) -> None:
        self._tick.stop()
        self.progress.hide()
        self.create_button.setEnabled(True)
        self.family.setEnabled(True)
        self.create_button.setText("Create demo model")


__all__ = ["DEFAULT_FAMILY", "DemoBanner"]
