"""A read-only table cell that sorts by a value of its own (sizes and ranks as numbers, names
case-insensitively), shared by the Models tables."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QTableWidgetItem

SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class SortedCell(QTableWidgetItem):
    """Read-only; compares by its SORT_ROLE value (``sort_key``, else the folded text)."""

    def __init__(self, text: str, sort_key: Any = None) -> None:
        super().__init__(text)
        self.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
        self.setData(SORT_ROLE, text.casefold() if sort_key is None else sort_key)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        try:
            return mine < theirs
        except TypeError:
            return str(mine) < str(theirs)
