"""Small widgets the repack wizard and the Models workspace share: a folder field with a
Browse button, and a notice that lists problems, warnings and good news in plain words."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import ClassVar

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

TYPING_PAUSE_MS = 350  # a path typed letter by letter is checked once the typing pauses

PROBLEM_COLOUR = "#b03a2e"
WARNING_COLOUR = "#8a5a00"
GOOD_COLOUR = "#1e7b34"
BUSY_COLOUR = "#555555"
BREAK = "\u200b"  # zero-width space: a line may break here


class PathField(QWidget):
    """A folder path: typed, pasted or chosen with Browse; ``changed`` once it settles."""

    changed = Signal(str)
    picked = Signal(str)  # chosen by the user with Browse (before ``changed``)

    def __init__(
        self, placeholder: str, browse_caption: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.browse_caption = browse_caption
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setClearButtonEnabled(True)
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(self.browse)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(TYPING_PAUSE_MS)
        self._timer.timeout.connect(self._settled)
        self.edit.textEdited.connect(lambda _text: self._timer.start())
        self.edit.editingFinished.connect(self._settled)
        self._last = ""

    def path(self) -> str:
        return self.edit.text().strip()

    def set_path(self, path: str) -> None:
        """Set the field (prefill, Browse) and report it at once."""
        self.edit.setText(path)
        self._settled()

    def _settled(self) -> None:
        self._timer.stop()
        if self.path() != self._last:
            self._last = self.path()
            self.changed.emit(self._last)

    def choose(self) -> str | None:
        """Ask for a folder (Browse); None when the dialog was cancelled."""
        folder = QFileDialog.getExistingDirectory(self, self.browse_caption, self.path())
        return folder or None

    def _browse(self) -> None:
        chosen = self.choose()
        if chosen:
            self.picked.emit(chosen)
            self.set_path(chosen)


class StageList(QWidget):
    """The run's stages as a checklist: ○ to come, ▶ running, ✔ done, ✖ stopped."""

    MARKS: ClassVar[dict[str, tuple[str, str]]] = {
        "pending": ("○", "#888888"),
        "running": ("▶", "#1f5fa8"),
        "done": ("✔", GOOD_COLOUR),
        "stopped": ("✖", PROBLEM_COLOUR),
    }

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.stages: list[str] = []
        self.states: dict[str, str] = {}
        self._labels: dict[str, QLabel] = {}
        self._titles: dict[str, str] = {}

    def set_stages(self, stages: list[tuple[str, str]]) -> None:
        """(stage key, title) in run order; all pending."""
        for label in self._labels.values():
            label.deleteLater()
        self.stages = [key for key, _ in stages]
        self._titles = dict(stages)
        self._labels = {}
        for key, _title in stages:
            label = QLabel()
            label.setTextFormat(Qt.TextFormat.RichText)
            self._layout.addWidget(label)
            self._labels[key] = label
        self.states = dict.fromkeys(self.stages, "pending")
        self._show()

    def reach(self, stage: str) -> None:
        """``stage`` started: every earlier stage is done."""
        if stage not in self.states:
            return
        index = self.stages.index(stage)
        for i, key in enumerate(self.stages):
            self.states[key] = "done" if i < index else "running" if i == index else "pending"
        self._show()

    def finish(self) -> None:
        self.states = dict.fromkeys(self.stages, "done")
        self._show()

    def stop(self) -> None:
        for key, state in self.states.items():
            if state == "running":
                self.states[key] = "stopped"
        self._show()

    def _show(self) -> None:
        for key, label in self._labels.items():
            mark, colour = self.MARKS[self.states[key]]
            weight = "600" if self.states[key] == "running" else "400"
            label.setText(
                f"<span style='color:{colour}'>{mark}</span>&nbsp;&nbsp;"
                f"<span style='font-weight:{weight}'>{html.escape(self._titles[key])}</span>"
            )


class Notice(QLabel):
    """Problems (red), warnings (amber), good news (green) or a busy line, as rich text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.setObjectName("notice")
        self.problems: list[str] = []
        self.hide()

    def show_messages(
        self,
        problems: Iterable[str] = (),
        warnings: Iterable[str] = (),
        good: Iterable[str] = (),
    ) -> None:
        self.problems = list(problems)
        lines = [_line("✖", PROBLEM_COLOUR, p) for p in self.problems]
        lines += [_line("⚠", WARNING_COLOUR, w) for w in warnings]
        lines += [_line("✔", GOOD_COLOUR, g) for g in good]
        self._set_lines(lines)

    def show_busy(self, text: str) -> None:
        self.problems = []
        self._set_lines([_line("…", BUSY_COLOUR, text)])

    def clear_messages(self) -> None:
        self.problems = []
        self._set_lines([])

    def _set_lines(self, lines: list[str]) -> None:
        self.setText("".join(lines))
        self.setVisible(bool(lines))

    def plain_text(self) -> str:
        """The notice without markup (tests and accessibility)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.text())
        return doc.toPlainText().replace(BREAK, "")


def breakable(text: str) -> str:
    """HTML-escaped text whose paths may wrap after each "/" (a QLabel wraps only at spaces,
    and a long path would otherwise widen the whole dialog)."""
    return html.escape(text).replace("/", "/" + BREAK)


def _line(mark: str, colour: str, text: str) -> str:
    return (
        f"<p style='margin:2px 0'><span style='color:{colour}; font-weight:600'>{mark}</span>"
        f"&nbsp;<span style='color:{colour}'>{breakable(text)}</span></p>"
    )
