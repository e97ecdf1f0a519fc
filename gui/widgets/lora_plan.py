"""The progress panel's LoRA lines: what the run's Plan event says it applied, per LoRA.

One compact line per LoRA item (label, strength per expert, layers matched), in amber with a
warning mark when some of its layers matched nothing in the model; hidden when a run applies
no LoRA. Kept apart from progress_panel.py so that file stays about stages and steps.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from gui.widgets.lora_format import WARN_COLOUR, plan_lines


class LoraPlanLabel(QLabel):
    """'LoRA Wan22_…_HIGH+LOW_lightx2v: high 1, low 1 · 20/20 + 20/20 layers', one per item."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("loraPlan")
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)  # not in a scroll area: a long file name wraps, never cut
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.lines: list[str] = []
        self.hide()

    def show_applied(self, applied: list[dict[str, Any]]) -> None:
        """Show the Plan event's ``loras`` (an empty list hides the label)."""
        from html import escape

        entries = plan_lines(applied)
        self.lines = [f"LoRA {text}" for text, _complete in entries]
        html = []
        for line, (_text, complete) in zip(self.lines, entries, strict=True):
            colour = "" if complete else f' style="color: {WARN_COLOUR}"'
            html.append(f"<span{colour}>{escape(line)}</span>")
        self.setText("<br>".join(html))
        self.setToolTip("\n".join(str(e.get("file", "")) for e in applied))
        self.setVisible(bool(entries))
