"""The sampler ("solver") choice of a request, for the Generate form's Advanced section.

A field of its own because presets set it: the built-in "Lightning 4-step" preset picks Euler,
the sampler the 4-step distill LoRAs were trained with; without this field the form would drop
the preset's choice and a Lightning run would sample with the model folder's UniPC.
"""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QWidget

from core.generate.request import SOLVERS

SOLVER_LABELS = {
    "default": "Model default (the folder's scheduler)",
    "unipc": "UniPC (official Wan2.2 sampler)",
    "euler": "Euler (for 4-step distill LoRAs)",
}

SOLVER_NAMES = {"default": "the model's own", "unipc": "UniPC", "euler": "Euler"}


class SolverPicker(QComboBox):
    """One entry per core solver; ``value()`` / ``set_value()`` speak request values."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        for solver in SOLVERS:
            self.addItem(SOLVER_LABELS.get(solver, solver), solver)
        self.setToolTip(
            "The sampler: UniPC is the official one; Euler is what Lightning 4-step distill "
            "LoRAs are documented with (the Lightning preset selects it)"
        )

    def value(self) -> str:
        data = self.currentData()
        return data if isinstance(data, str) else "default"

    def set_value(self, solver: str) -> bool:
        """Select ``solver``; False (selection kept) when core does not know it."""
        index = self.findData(solver)
        if index >= 0:
            self.setCurrentIndex(index)
        return index >= 0
