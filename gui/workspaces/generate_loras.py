"""Wires the Generate form's LoRA section to the workspace and the app bus.

Kept out of gui/workspaces/generate.py so that file stays about running: here, a picked
step-distill LoRA selects the "Lightning 4-step" preset (as the CLI does), Models' "Use in
Generate" adds a LoRA, LoRA notes reach the status bar, and the header reads and restore
look-ups use the engine's I/O pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gui.workspaces.generate import GenerateWorkspace

LORA_SECTION = "Models/LoRAs"  # bus.show_workspace title: Models, on its LoRA tab


def attach_loras(ws: GenerateWorkspace) -> None:
    """Connect ``ws.form.loras`` (call once, after the workspace is built)."""
    loras = ws.form.loras
    loras.notice.connect(ws.bus.status.emit)
    loras.distill_picked.connect(lambda label: select_distill_preset(ws, label))
    loras.library_requested.connect(lambda: ws.bus.show_workspace.emit(LORA_SECTION))
    ws.bus.use_lora.connect(lambda item: use_lora(ws, item))
    ws.bus.lora_folders_changed.connect(loras.library_changed)


def select_distill_preset(ws: GenerateWorkspace, label: str) -> str:
    """A step-distill LoRA was picked: select the family's Lightning preset and say so."""
    from core.presets import DISTILL_PRESET
    from gui.widgets.solver_picker import SOLVER_NAMES

    if ws.presets.combo.findData(DISTILL_PRESET) < 0:
        text = (
            f"{label} is a step-distillation LoRA, but this model has no '{DISTILL_PRESET}' "
            "preset: set steps and guidance by hand"
        )
    else:
        ws.apply_preset(DISTILL_PRESET)
        form = ws.form
        solver = form.solver.value()
        text = (
            f"{label} is a step-distillation LoRA: selected the '{DISTILL_PRESET}' preset "
            f"({form.steps.value()} steps, guidance {form.guidance_high.value():g}, shift "
            f"{form.shift.value():g}, {SOLVER_NAMES.get(solver, solver)} sampler)"
        )
    ws.form.loras.show_note(text, sticky=True)
    ws.bus.status.emit(text)
    return text


def use_lora(ws: GenerateWorkspace, item: dict[str, Any]) -> None:
    """bus.use_lora: add the item to the form and show Generate."""
    path = item.get("path")
    if not isinstance(path, str):
        return
    row = ws.form.loras.add_item(path, item.get("path_low"))
    ws.bus.show_workspace.emit(ws.TITLE)
    if row is not None:
        ws.bus.status.emit(f"Added LoRA {row.label.full_text()}")
