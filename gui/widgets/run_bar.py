"""Generate's run bar: batch controls, Generate / Add to queue, Cancel, the queue's one-line
state and the output folder.

Why the main button changes its words: it always adds the form's jobs to the queue, and it
says what will happen — "Generate" when the job starts at once (the queue is idle), "Add to
queue" when something runs or waits before it, "Generate 4 jobs" / "Add 4 jobs" for a batch.
A batch is a count (the seed +1 per job, or a random seed per job) times an optional prompt
list (gui/widgets/prompt_list.py); the seeds are fixed when the jobs are added.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.queue.batch import MAX_BATCH_JOBS
from gui.widgets.elided_label import ElidedLabel
from gui.widgets.prompt_list import PromptListDialog

SEED_MODES = (("increment", "seed +1 each"), ("random", "random seed each"))


class RunBar(QFrame):
    """See the module docstring. The workspace connects the buttons."""

    batch_changed = Signal()
    show_queue = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("runBar")
        self.prompts: list[str] = []
        self.count = QSpinBox()
        self.count.setRange(1, MAX_BATCH_JOBS)
        self.count.setPrefix("× ")
        self.count.setToolTip("How many videos to make with these settings (one job each)")
        self.count.valueChanged.connect(self._batch_edited)
        self.seed_mode = QComboBox()
        for value, label in SEED_MODES:
            self.seed_mode.addItem(label, value)
        self.seed_mode.setToolTip(
            "The seed of each further job: the form's seed +1, +2… or a new random seed"
        )
        self.seed_mode.currentIndexChanged.connect(self._batch_edited)
        self.prompts_button = QPushButton("Prompt list…")
        self.prompts_button.setToolTip("One prompt per line (typed or from a .txt): a job each")
        self.prompts_button.clicked.connect(self.edit_prompts)
        self.prompts_label = QLabel()
        self.prompts_label.setObjectName("hint")
        self.clear_prompts = QPushButton("Clear list")
        self.clear_prompts.clicked.connect(lambda: self.set_prompts([]))
        batch = QHBoxLayout()
        batch.addWidget(QLabel("Batch"))
        batch.addWidget(self.count)
        batch.addWidget(self.seed_mode)
        batch.addWidget(self.prompts_button)
        batch.addWidget(self.prompts_label, 1)
        batch.addWidget(self.clear_prompts)

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("primary")
        # Not the button's own shortcut: QAbstractButton.setText() replaces it (with the text's
        # mnemonic), and the text changes with the queue's state.
        self.shortcuts = []
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.activated.connect(self._shortcut)
            self.shortcuts.append(shortcut)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("danger")
        self.cancel_button.setToolTip("Stop after the current step; nothing is written (Esc)")
        self.cancel_button.setShortcut("Esc")
        self.cancel_button.setEnabled(False)
        buttons = self.buttons = QHBoxLayout()  # the main window adds "Compare…" here
        buttons.addWidget(self.generate_button, 1)
        buttons.addWidget(self.cancel_button)
        self.reason = QLabel("")
        self.reason.setObjectName("fieldError")
        self.reason.setWordWrap(True)

        self.queue_label = ElidedLabel()
        self.queue_label.setObjectName("hint")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Run the jobs left from last time")
        self.resume_button.hide()
        self.queue_button = QPushButton("Queue…")
        self.queue_button.setToolTip("Show the queue (reorder, retry, cancel…)")
        self.queue_button.clicked.connect(self.show_queue.emit)
        queue_row = QHBoxLayout()
        queue_row.addWidget(self.queue_label, 1)
        queue_row.addWidget(self.resume_button)
        queue_row.addWidget(self.queue_button)

        self.output_label = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.output_label.setObjectName("hint")
        self.output_change = QPushButton("Change…")
        self.output_change.setToolTip("Choose the folder new videos are saved in")
        out_row = QHBoxLayout()
        out_row.addWidget(self.output_label, 1)
        out_row.addWidget(self.output_change)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 6, 0)
        layout.addLayout(batch)
        layout.addLayout(buttons)
        layout.addWidget(self.reason)
        layout.addLayout(queue_row)
        layout.addLayout(out_row)
        self._batch_edited()

    def _shortcut(self) -> None:
        if self.generate_button.isEnabled():
            self.generate_button.click()

    # ---- batch ------------------------------------------------------------------------------
    def seed_mode_value(self) -> str:
        return str(self.seed_mode.currentData())

    def job_count(self) -> int:
        """Jobs one click adds: the count for each prompt of the list (or the form's prompt)."""
        return self.count.value() * max(1, len(self.prompts))

    def set_prompts(self, prompts: list[str]) -> None:
        self.prompts = list(prompts)
        self._batch_edited()

    def edit_prompts(self) -> None:
        dialog = PromptListDialog(self.prompts, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self.set_prompts(dialog.prompts()))
        self.prompt_dialog = dialog
        dialog.open()

    def _batch_edited(self, *_: object) -> None:
        n = len(self.prompts)
        self.prompts_label.setText(
            f"{n} prompt{'s' if n != 1 else ''} (the form's prompt is not used)" if n else ""
        )
        self.clear_prompts.setVisible(bool(n))
        self.seed_mode.setEnabled(self.count.value() > 1)
        self.batch_changed.emit()

    # ---- state ------------------------------------------------------------------------------
    def set_button(self, starts_now: bool, enabled: bool, reason: str) -> None:
        """The main button's words for what a click does (see the module docstring)."""
        jobs = self.job_count()
        if starts_now:
            text = "Generate" if jobs == 1 else f"Generate {jobs} jobs"
            tip = "Generate the video (Ctrl+Enter)" if jobs == 1 else "Add the jobs and start"
        else:
            text = "Add to queue" if jobs == 1 else f"Add {jobs} jobs"
            tip = "Add to the queue: it runs after the jobs before it (Ctrl+Enter)"
        self.generate_button.setText(text)
        self.generate_button.setEnabled(enabled and not reason)
        self.generate_button.setToolTip(reason or tip)
        self.reason.setText(reason)
        self.reason.setVisible(bool(reason))

    def set_queue_line(self, text: str, held: int) -> None:
        self.queue_label.set_full_text(f"Queue: {text}")
        self.resume_button.setVisible(held > 0)


__all__ = ["RunBar"]
