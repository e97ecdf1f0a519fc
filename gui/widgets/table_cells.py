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


def list_table(columns: tuple[str, ...], stretch: int = 0, min_section: int = 44) -> Any:
    """A read-only, row-selecting, sortable table as both Models tables use it: column
    ``stretch`` takes the spare width, the others fit their contents."""
    from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget

    table = QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(list(columns))
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.setShowGrid(False)
    header = table.horizontalHeader()
    for col in range(len(columns)):
        mode = (
            QHeaderView.ResizeMode.Stretch
            if col == stretch
            else QHeaderView.ResizeMode.ResizeToContents
        )
        header.setSectionResizeMode(col, mode)
    header.setMinimumSectionSize(min_section)
    table.setSortingEnabled(True)
    return table
