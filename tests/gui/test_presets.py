"""The Presets workspace over the real preset store: built-ins read-only, user presets
duplicated / edited / renamed / deleted / exported / imported, apply to Generate, banner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QInputDialog, QMessageBox

from core import paths
from core.presets import PresetStore, official_values
from gui.widgets.presets_values import format_value, parse_value


@pytest.fixture
def workspace(qtbot, bus):
    from gui.workspaces.presets import PresetsWorkspace

    ws = PresetsWorkspace(bus)
    qtbot.addWidget(ws)
    ws.resize(1100, 700)
    ws.show()
    return ws


def answer_names(monkeypatch, *names: str) -> list[str]:
    """QInputDialog.getText returns these names in turn; returns the prompts it was shown."""
    queue, prompts = list(names), []

    def get_text(parent, title, label, *args, **kwargs):
        prompts.append(label)
        return (queue.pop(0), True) if queue else ("", False)

    monkeypatch.setattr(QInputDialog, "getText", get_text)
    return prompts


def test_builtins_are_listed_per_family_marked_and_read_only(workspace) -> None:
    ws = workspace
    keys = ws.preset_keys()
    for family in ("t2v-a14b", "i2v-a14b", "ti2v-5b"):
        names = [n for f, n, builtin in keys if f == family and builtin]
        assert names[:2] == ["Official", "Fast preview"]
    assert ws.select("t2v-a14b", "Official")
    assert ws.kind.text().startswith("Wan2.2-T2V-A14B · Built-in, read-only")
    assert ws.read_only_note.isVisible()
    assert not ws.rename_button.isEnabled() and not ws.delete_button.isEnabled()
    assert ws.duplicate_button.isEnabled() and ws.apply_button.isEnabled()
    item = ws.values.value_item("steps")
    assert item.text() == "40"
    assert not item.flags() & item.flags().ItemIsEditable


def test_apply_sends_the_values_with_name_and_family(qtbot, workspace) -> None:
    ws = workspace
    ws.select("ti2v-5b", "Official")
    with qtbot.waitSignal(ws.bus.apply_settings) as applied:
        ws.apply_button.click()
    values = applied.args[0]
    assert values["family"] == "ti2v-5b" and values["preset"] == "Official"
    expected = official_values("ti2v-5b")
    assert {k: values[k] for k in expected} == expected


def test_duplicate_edit_rename_delete_round_trip(qtbot, workspace, monkeypatch) -> None:
    ws = workspace
    changes = []
    ws.bus.presets_changed.connect(lambda: changes.append(1))
    ws.select("t2v-a14b", "Official")
    prompts = answer_names(monkeypatch, "Quick draft")
    ws.duplicate_button.click()
    assert "Wan2.2-T2V-A14B" in prompts[0]
    assert ws.selected_key() == ("t2v-a14b", "Quick draft")
    assert ("t2v-a14b", "Quick draft", False) in ws.preset_keys()
    assert ws.rename_button.isEnabled() and not ws.read_only_note.isVisible()
    file = ws.current.path
    assert file is not None and file.parent == paths.presets_dir()
    assert len(changes) == 1

    # Edit a value in the table: saved at once, in the file.
    ws.values.value_item("steps").setText("12")
    assert PresetStore().find("t2v-a14b", "Quick draft").values["steps"] == 12
    ws.values.value_item("seed").setText("1234")
    assert json.loads(file.read_text("utf-8"))["values"]["seed"] == 1234
    # A bad value is refused with the reason and the cell goes back.
    ws.values.value_item("frames").setText("lots")
    assert ws.value_error.isVisible() and "whole number" in ws.value_error.text()
    assert ws.values.value_item("frames").text() == "81"
    ws.values.value_item("frames").setText("-3")
    assert "positive" in ws.value_error.text()
    assert PresetStore().find("t2v-a14b", "Quick draft").values["frames"] == 81

    answer_names(monkeypatch, "Draft 12 steps")
    ws.rename_button.click()
    assert ws.selected_key() == ("t2v-a14b", "Draft 12 steps")
    assert not file.exists() and ws.current.path.is_file()

    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    path = ws.current.path
    ws.delete_button.click()
    assert not path.exists()
    assert all(n != "Draft 12 steps" for _f, n, _b in ws.preset_keys())
    assert len(changes) == 5  # duplicate, 2 edits, rename, delete


def test_export_then_import_round_trips_and_a_clash_asks_for_a_name(
    qtbot, workspace, monkeypatch, tmp_path
) -> None:
    ws = workspace
    ws.select("i2v-a14b", "Fast preview")
    answer_names(monkeypatch, "Mine")
    ws.duplicate_button.click()
    ws.values.value_item("shift").setText("7.5")
    original = PresetStore().find("i2v-a14b", "Mine")

    target = tmp_path / "shared" / "mine"
    target.parent.mkdir()
    monkeypatch.setattr(
        QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), "Wan Studio presets (*.json)")
    )
    ws.export_button.click()
    exported = target.with_name("mine.json")
    doc = json.loads(exported.read_text("utf-8"))
    assert doc["name"] == "Mine" and doc["values"]["shift"] == 7.5

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(exported), ""))
    prompts = answer_names(monkeypatch, "Mine from a friend")
    ws.import_button.click()
    assert "already exists" in prompts[0]
    imported = PresetStore().find("i2v-a14b", "Mine from a friend")
    assert imported.values == original.values
    assert ws.selected_key() == ("i2v-a14b", "Mine from a friend")
    assert json.loads(exported.read_text("utf-8")) == doc, "import never changes the file"


def test_a_bad_import_is_refused_with_the_reason(workspace, monkeypatch, tmp_path) -> None:
    ws = workspace
    errors = []
    monkeypatch.setattr(QMessageBox, "warning", lambda p, t, text, *a, **k: errors.append(text))
    before = ws.preset_keys()
    for content, reason in (
        ("{ not json", "is not a JSON preset file"),
        (
            json.dumps(
                {
                    "schema": "wan-studio-preset",
                    "version": 7,
                    "name": "x",
                    "family": "t2v-a14b",
                    "values": {},
                }
            ),
            "newer Wan Studio",
        ),
    ):
        bad = tmp_path / "bad.json"
        bad.write_text(content, "utf-8")
        chosen = (str(bad), "")
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, c=chosen, **k: c)
        ws.import_button.click()
        assert reason in errors[-1]
    assert len(errors) == 2 and ws.preset_keys() == before


def test_an_import_with_a_wrong_setting_keeps_the_rest_and_says_what_was_skipped(
    workspace, monkeypatch, tmp_path
) -> None:
    ws = workspace
    odd = tmp_path / "odd.json"
    odd.write_text(
        json.dumps(
            {
                "schema": "wan-studio-preset",
                "version": 2,
                "name": "Odd",
                "family": "t2v-a14b",
                "values": {"steps": "many", "fps": 16},
            }
        ),
        "utf-8",
    )
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(odd), ""))
    ws.import_button.click()
    assert PresetStore().find("t2v-a14b", "Odd").values == {"fps": 16}
    assert ws.banner_box.isVisible()
    assert "steps must be a positive whole number" in ws.banner.text()


def test_store_warnings_show_in_a_banner(qtbot, bus) -> None:
    from gui.workspaces.presets import PresetsWorkspace

    folder = paths.presets_dir()
    (folder / "t2v-a14b--broken.json").write_text("{ nope", "utf-8")
    newer = {
        "schema": "wan-studio-preset",
        "version": 9,
        "name": "Future",
        "family": "t2v-a14b",
        "values": {},
    }
    (folder / "t2v-a14b--future.json").write_text(json.dumps(newer), "utf-8")
    ws = PresetsWorkspace(bus)
    qtbot.addWidget(ws)
    ws.show()
    text = ws.banner.text()
    assert ws.banner_box.isVisible()
    assert "broken.json.corrupt" in text or ".corrupt" in text
    assert "newer Wan Studio" in text
    assert (folder / "t2v-a14b--future.json").is_file(), "a newer file is left alone"
    ws.reload()  # the set-aside warning stays until dismissed
    assert ".corrupt" in ws.banner.text()
    ws.dismiss.click()
    assert "corrupt" not in ws.banner.text()


def test_changes_made_elsewhere_show_up(qtbot, workspace) -> None:
    from core.presets import Preset

    ws = workspace
    PresetStore().save(Preset("From the CLI", "ti2v-5b", {"steps": 20}))
    ws.bus.presets_changed.emit()
    assert ("ti2v-5b", "From the CLI", False) in ws.preset_keys()


def test_save_settings_as_preset_keeps_settings_and_drops_run_inputs(
    workspace, monkeypatch
) -> None:
    ws = workspace
    answer_names(monkeypatch, "From Generate")
    values = {
        "family": "t2v-a14b",
        "model": "/x",
        "output": "/y",
        "steps": 8,
        "width": 832,
        "height": 480,
        "seed": 7,
    }
    saved = ws.save_settings_as_preset(values)
    assert saved is not None
    stored = PresetStore().find("t2v-a14b", "From Generate").values
    assert stored == {"steps": 8, "width": 832, "height": 480, "seed": 7}
    assert ws.selected_key() == ("t2v-a14b", "From Generate")


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("steps", " 12 ", 12),
        ("seed", "random", None),
        ("seed", "-5", -5),
        ("guidance_low", "none", None),
        ("guidance_high", "3.5", 3.5),
        ("negative_prompt", " keep spaces ", " keep spaces "),
        ("future_knob", "[1, 2]", [1, 2]),
    ],
)
def test_values_parse_back_from_their_text(key, text, value) -> None:
    assert parse_value(key, text) == value
    if value is not None and not isinstance(value, str):
        assert parse_value(key, format_value(key, value)) == value


def test_values_refuse_nonsense() -> None:
    for key, text in (("steps", "2.5"), ("shift", "nan"), ("seed", "abc"), ("boundary", "x")):
        with pytest.raises(ValueError):
            parse_value(key, text)
    assert Path(paths.presets_dir()).is_dir()


def test_a_preset_with_loras_lists_them_readably_and_read_only(qtbot) -> None:
    from PySide6.QtCore import Qt

    from gui.widgets.presets_values import PresetValuesTable, format_value

    entries = [
        {
            "path": "/l/Wan22_HIGH_lightx2v_4step.safetensors",
            "path_low": "/l/Wan22_LOW_lightx2v_4step.safetensors",
        },
        {
            "path": "/l/style.safetensors",
            "strength_high": 0.8,
            "strength_low": 0.3,
            "enabled": False,
        },
    ]
    assert format_value("loras", entries) == (
        "Wan22_HIGH+LOW_lightx2v_4step (high 1, low 1); style (high 0.8, low 0.3, off)"
    )
    table = PresetValuesTable()
    qtbot.addWidget(table)
    table.show_values({"steps": 4, "loras": entries}, editable=True)
    assert table.item(1, 0).text() == "LoRAs"
    assert not table.value_item("loras").flags() & Qt.ItemFlag.ItemIsEditable
    assert table.value_item("steps").flags() & Qt.ItemFlag.ItemIsEditable
