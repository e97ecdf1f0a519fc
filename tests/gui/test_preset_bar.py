"""Generate's "Save as preset…" and "Update preset" (issue #15, item 4), in the real window.

The form's settings are saved in one step (name prompt, overwrite confirmation, the preset
selected afterwards) and show up, selected, in the Presets workspace; a changed form shows a
"modified" mark and can update the selected user preset; built-ins stay read-only.
"""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from core.generate.request import GenerationRequest
from core.presets import PresetStore


@pytest.fixture
def t2v_installed(installed_demo) -> None:
    installed_demo("t2v-a14b")


@pytest.fixture
def window(t2v_installed, main_window):
    """conftest's main window, created after the T2V demo model is in place."""
    return main_window


def answer(monkeypatch, names: list[str], overwrite: list[bool] | None = None) -> dict:
    """Scripted dialogs: the name prompt returns ``names`` in turn, the overwrite question
    ``overwrite`` in turn; records what was asked and warned."""
    asked: dict[str, list] = {"names": [], "overwrite": [], "warnings": []}
    names, replies = list(names), list(overwrite or [])

    def get_text(parent, title, label, *args, **kwargs):
        asked["names"].append(kwargs.get("text"))
        return (names.pop(0), True) if names else ("", False)

    def question(parent, title, text, *args, **kwargs):
        asked["overwrite"].append(text)
        yes = replies.pop(0) if replies else False
        return QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No

    def warning(parent, title, text, *args, **kwargs):
        asked["warnings"].append(text)
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    monkeypatch.setattr(QMessageBox, "question", question)
    monkeypatch.setattr(QMessageBox, "warning", warning)
    return asked


def _stored(name: str) -> dict:
    return PresetStore().find("t2v-a14b", name).values


def test_save_as_preset_stores_the_form_selects_it_and_presets_lists_it(
    window, monkeypatch
) -> None:
    ws = window.workspaces["Generate"]
    presets_ws = window.workspaces["Presets"]
    bar = ws.presets
    ws.form.prompt.setPlainText("a red fox")
    ws.form.steps.setValue(7)
    ws.form.guidance_high.setValue(3.5)
    answer(monkeypatch, ["Fox study"])

    bar.save_as_button.click()

    values = _stored("Fox study")
    assert values["steps"] == 7 and values["guidance_high"] == 3.5
    assert values["negative_prompt"] == ws.form.negative_prompt.text()
    for run_input in ("prompt", "model", "output", "image", "preset", "kind", "schema"):
        assert run_input not in values
    assert bar.current_name() == "Fox study"
    assert bar.combo.currentText() == "Fox study  (yours)"
    assert not bar.modified.isVisible() and not bar.update_button.isVisible()
    # Presets shows it, selected, with the saved values.
    assert presets_ws.selected_key() == ("t2v-a14b", "Fox study")
    assert presets_ws.values.value_item("steps").text() == "7"
    # And the run records the preset it came from.
    assert ws.build_request().preset == "Fox study"


def test_saving_over_an_existing_name_asks_first_and_built_ins_are_refused(
    window, monkeypatch
) -> None:
    ws = window.workspaces["Generate"]
    bar = ws.presets
    asked = answer(monkeypatch, ["Mine", "Mine", "Mine", "official"], overwrite=[False, True])
    ws.form.steps.setValue(5)
    bar.save_as()
    assert _stored("Mine")["steps"] == 5 and asked["overwrite"] == []

    ws.form.steps.setValue(9)
    ws.validate_now()  # what the form's 120 ms debounce does
    assert bar.modified.isVisible()
    assert bar.save_as() is None  # "No": nothing changed
    assert "'Mine' already exists" in asked["overwrite"][0]
    assert _stored("Mine")["steps"] == 5
    assert bar.save_as() is not None  # "Yes": replaced
    assert _stored("Mine")["steps"] == 9
    assert asked["names"][1] == "Mine"  # the selected user preset is offered as the name

    assert bar.save_as() is None  # a built-in's name (any case) is refused
    assert "built-in" in asked["warnings"][0]
    assert PresetStore().find("t2v-a14b", "Official").builtin


def test_modified_mark_and_update_preset(window, monkeypatch) -> None:
    ws = window.workspaces["Generate"]
    bar = ws.presets
    answer(monkeypatch, ["Quick"])
    ws.form.steps.setValue(6)
    bar.save_as()
    assert not bar.modified.isVisible()

    ws.form.steps.setValue(12)
    ws.form.shift.setValue(7.0)
    ws.validate_now()
    assert bar.modified.isVisible()
    assert bar.update_button.isVisible()
    assert "steps" in bar.changed.full_text() and "shift" in bar.changed.full_text()
    bar.update_button.click()
    assert _stored("Quick")["steps"] == 12 and _stored("Quick")["shift"] == 7.0
    assert not bar.modified.isVisible() and not bar.update_button.isVisible()

    # The prompt is not a preset setting: typing one does not mark the preset modified.
    ws.form.prompt.setPlainText("something else")
    ws.validate_now()
    assert not bar.modified.isVisible()

    # A built-in shows the mark but cannot be updated (Save as… makes a copy).
    bar.apply("Official")
    ws.form.steps.setValue(3)
    ws.validate_now()
    assert bar.current_name() == "Official"
    assert bar.modified.isVisible() and not bar.update_button.isVisible()


def test_request_fields_added_later_are_saved_without_code_changes(window, monkeypatch) -> None:
    """A field a later version adds to GenerationRequest (LoRA choices, say) is saved as is."""
    ws = window.workspaces["Generate"]
    original = GenerationRequest.to_dict
    loras = [{"path": "/loras/style.safetensors", "weight": 0.8}]
    monkeypatch.setattr(
        GenerationRequest, "to_dict", lambda self: {**original(self), "loras": loras}
    )
    answer(monkeypatch, ["With LoRA"])
    ws.presets.save_as()
    assert _stored("With LoRA")["loras"] == loras
