"""Dialogs of the Models workspace: the typed-name confirmation for deleting a model's files,
and a question with named answers (QMessageBox with custom buttons, returning a key)."""

from __future__ import annotations

import html

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.widgets.models_format import human_bytes


class DeleteFilesDialog(QDialog):
    """Deleting a model's files cannot be undone: the user types its name to confirm.

    Why typed and not a Yes button: "Remove" (keeps files) and "Delete files" sit next to each
    other; a reflex click on the wrong one must not cost tens of gigabytes of downloads.
    """

    def __init__(
        self, name: str, folder: str, size: int | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.expected = name
        self.setWindowTitle("Delete model files")
        size_text = f" ({human_bytes(size)})" if size else ""
        message = QLabel(
            f"<p>This permanently deletes the folder<br><code>{html.escape(folder)}</code><br>"
            f"and everything in it{size_text} from the disk, and removes "
            f"<b>{html.escape(name)}</b> from the library.</p>"
            "<p><b>This cannot be undone.</b> To keep the files, use Remove instead.</p>"
        )
        message.setWordWrap(True)
        prompt = QLabel(f"Type the model's name, <b>{html.escape(name)}</b>, to confirm:")
        prompt.setWordWrap(True)
        self.typed = QLineEdit()
        self.typed.setPlaceholderText(name)
        self.buttons = QDialogButtonBox()
        self.delete_button = QPushButton("Delete files")
        self.delete_button.setObjectName("danger")
        self.delete_button.setEnabled(False)
        self.buttons.addButton(self.delete_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.typed.textChanged.connect(self._typed)
        layout = QVBoxLayout(self)
        layout.addWidget(message)
        layout.addWidget(prompt)
        layout.addWidget(self.typed)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(480)

    def _typed(self, text: str) -> None:
        self.delete_button.setEnabled(self.confirmed)

    @property
    def confirmed(self) -> bool:
        return self.typed.text().strip() == self.expected.strip()

    def accept(self) -> None:
        if self.confirmed:  # Enter in the field must not bypass the check
            super().accept()


def ask_choice(
    parent: QWidget | None,
    title: str,
    text: str,
    details: str,
    answers: list[tuple[str, str, QMessageBox.ButtonRole]],
    default: str | None = None,
) -> str | None:
    """Ask a question whose answers are named actions; returns the chosen key or None
    (closed / Escape)."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    box.setInformativeText(details)
    buttons = {}
    for key, label, role in answers:
        button = box.addButton(label, role)
        buttons[button] = key
        if key == default:
            box.setDefaultButton(button)
    box.exec()
    return buttons.get(box.clickedButton())
