"""A small dialog for a prompt list: one prompt per line, typed or loaded from a .txt file.

Each prompt becomes its own job (times the batch count). Lines starting with '#' are comments,
as in `wan-studio generate --prompts FILE` (core.queue.batch.parse_prompt_list).
"""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.queue.batch import BatchError, parse_prompt_list, read_prompt_file


class PromptListDialog(QDialog):
    """Edit the prompt list; ``prompts()`` after it is accepted."""

    def __init__(self, prompts: list[str], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Prompt list")
        self.resize(560, 360)
        intro = QLabel(
            "One prompt per line: each becomes its own job, with the form's other settings. "
            "Lines starting with # are ignored."
        )
        intro.setWordWrap(True)
        self.editor = QPlainTextEdit("\n".join(prompts))
        self.editor.setPlaceholderText("a red fox in the snow\na lighthouse at dusk\n…")
        self.editor.textChanged.connect(self._update_count)
        self.count_label = QLabel()
        self.count_label.setObjectName("hint")
        self.error_label = QLabel()
        self.error_label.setObjectName("fieldError")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        load = QPushButton("Load .txt…")
        load.clicked.connect(self.choose_file)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.editor.clear)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(load)
        row.addWidget(clear)
        row.addWidget(self.count_label, 1)
        row.addWidget(buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error_label)
        layout.addLayout(row)
        self._update_count()

    def prompts(self) -> list[str]:
        return parse_prompt_list(self.editor.toPlainText())

    def load_file(self, path: str) -> bool:
        """Replace the list with a text file's prompts; False (and the reason shown) if not."""
        try:
            prompts = read_prompt_file(path)
        except BatchError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return False
        self.error_label.hide()
        self.editor.setPlainText("\n".join(prompts))
        return True

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load a prompt list", "", "Text files (*.txt);;All files (*)"
        )
        if path:
            self.load_file(path)

    def _update_count(self) -> None:
        n = len(self.prompts())
        self.count_label.setText(f"{n} prompt{'s' if n != 1 else ''}" if n else "No prompts")


__all__ = ["PromptListDialog"]
