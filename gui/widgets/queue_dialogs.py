"""The dialog for a queue database that cannot be used (damaged, or made by a newer version).

Why a question and not an automatic reset: the file may hold hours of queued work, or belong
to a newer Wan Studio the user runs too. It names the file and offers exactly two ways on;
the old file is never deleted (core.queue.store.reset_store sets it aside).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

FRESH_TEXT = "Start a fresh queue (keep the old file)"
CONTINUE_TEXT = "Continue without a queue"


def store_problem_box(parent: QWidget | None, problem: Any) -> QMessageBox:
    """A window-modal box (not shown yet) for ``problem`` (a core StoreUnusable).

    ``box.fresh_button`` / ``box.continue_button`` tell the answer after it closes."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("The job queue cannot be opened")
    box.setText(str(problem))
    box.setInformativeText(
        f"The file {problem.path} was left exactly as it is.\n\n"
        f"“{FRESH_TEXT}” moves it aside (renamed, not deleted) and starts an empty queue.\n"
        f"“{CONTINUE_TEXT}” keeps this session's jobs in a temporary queue that is not saved."
    )
    box.fresh_button = box.addButton(FRESH_TEXT, QMessageBox.ButtonRole.AcceptRole)  # type: ignore[attr-defined]
    box.continue_button = box.addButton(CONTINUE_TEXT, QMessageBox.ButtonRole.RejectRole)  # type: ignore[attr-defined]
    box.setDefaultButton(box.continue_button)  # type: ignore[attr-defined]
    box.setEscapeButton(box.continue_button)  # type: ignore[attr-defined]
    return box


__all__ = ["CONTINUE_TEXT", "FRESH_TEXT", "store_problem_box"]
