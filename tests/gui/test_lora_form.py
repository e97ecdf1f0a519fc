"""The Generate form's LoRA section with the demo models and real (tiny) LoRA files.

Files come from core.lora.fixtures (real safetensors with real key names, width 64 like the
demo models); header reads and restore look-ups run off the GUI thread, so the tests wait for
their signals instead of sleeping.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.generate.request import demo_model_name
from core.lora.fixtures import write_lora
from core.lora.reader import file_sha256
from core.presets import DISTILL_PRESET

HIGH = "Wan22_T2V_HIGH_lightx2v_4step_rank4.safetensors"
LOW = "Wan22_T2V_LOW_lightx2v_4step_rank4.safetensors"


@pytest.fixture
def loras(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "loras"
    return {
        "high": write_lora(folder / HIGH, "wan", seed=1),
        "low": write_lora(folder / LOW, "wan", seed=2),
        "style": write_lora(folder / "paper_cutout_style.safetensors", "diffusers", seed=3),
        "wide": write_lora(folder / "wide_style.safetensors", "musubi", dim=128, ffn_dim=256),
    }


@pytest.fixture
def ws(installed_demo, qtbot, bus):
    """The Generate workspace with the T2V (two experts) and TI2V (one) demo models."""
    installed_demo("t2v-a14b")
    installed_demo("ti2v-5b")
    from gui.workspaces.generate import GenerateWorkspace

    workspace = GenerateWorkspace(bus)
    qtbot.addWidget(workspace)
    workspace.show()
    assert workspace.select_model(demo_model_name("t2v-a14b"))
    assert workspace.current_choice().family == "t2v-a14b"
    return workspace


def _wait_read(qtbot, row) -> None:
    qtbot.waitUntil(lambda: row.note.full_text() != "Reading the file…", timeout=30000)


def test_a_high_file_with_its_low_partner_is_one_pair_with_a_strength_per_expert(
    qtbot, ws, loras
) -> None:
    row = ws.form.loras.add_file(loras["high"])
    assert row is not None
    assert len(ws.form.loras.rows) == 1
    assert "HIGH+LOW" in row.label.full_text()
    assert not row.low.isHidden() and row.high_caption.text() == "High"
    row.high.setValue(1.0)
    row.low.setValue(0.5)

    (choice,) = ws.build_request().loras
    assert choice.path == str(loras["high"]) and choice.path_low == str(loras["low"])
    assert (choice.strength_high, choice.strength_low) == (1.0, 0.5)
    _wait_read(qtbot, row)
    assert row.note.full_text() == "original Wan / ComfyUI · rank 4 · fits the demo model (20/20)"
    assert row.note.objectName() == "hint"


def test_a_style_lora_adds_to_both_experts_and_a_wrong_width_is_flagged(qtbot, ws, loras) -> None:
    style = ws.form.loras.add_file(loras["style"])
    wide = ws.form.loras.add_file(loras["wide"])
    style.low.setValue(0.25)
    first, second = ws.build_request().loras
    assert first.path_low is None and (first.strength_high, first.strength_low) == (1.0, 0.25)
    assert second.path == str(loras["wide"])
    _wait_read(qtbot, style)
    _wait_read(qtbot, wide)
    assert style.note.full_text().startswith("diffusers / peft · rank 4 · fits")
    assert "does not fit the demo model (0/20 layers)" in wide.note.full_text()
    assert wide.note.objectName() == "fieldWarning" and not wide.fits
    # adding the same file twice is refused (the engine would refuse it too)
    assert ws.form.loras.add_file(loras["style"]) is None
    assert "already in the list" in ws.form.loras.note.text()
    assert len(ws.build_request().loras) == 2


def test_ti2v_shows_one_strength_and_takes_a_pair_file_alone(qtbot, ws, loras) -> None:
    assert ws.select_model(demo_model_name("ti2v-5b"))
    assert ws.current_choice().family == "ti2v-5b"
    row = ws.form.loras.add_file(loras["high"])
    assert row.high_caption.text() == "Strength"
    assert row.low.isHidden() and row.low_caption.isHidden()
    row.high.setValue(0.75)
    (choice,) = ws.build_request().loras
    assert choice.path == str(loras["high"]) and choice.path_low is None
    assert choice.strength_high == 0.75
    assert not [i for i in ws.validate_now() if i.field == "loras"]


def test_order_and_enable_reach_the_request(qtbot, ws, loras) -> None:
    lora_list = ws.form.loras
    style = lora_list.add_file(loras["style"])
    wide = lora_list.add_file(loras["wide"])
    assert not style.up.isEnabled() and not wide.down.isEnabled()
    wide.up.click()
    assert [c.path for c in ws.build_request().loras] == [str(loras["wide"]), str(loras["style"])]
    assert lora_list.rows == [wide, style] and not wide.up.isEnabled() and style.up.isEnabled()

    wide.enabled.setChecked(False)
    assert [c.enabled for c in ws.build_request().loras] == [False, True]
    assert not wide.high.isEnabled()
    style.remove.click()
    assert [c.path for c in ws.build_request().loras] == [str(loras["wide"])]


def test_picking_a_lightning_pair_selects_the_lightning_preset_and_says_so(
    qtbot, ws, loras
) -> None:
    ws.form.steps.setValue(30)
    assert ws.presets.combo.currentData() != DISTILL_PRESET
    messages: list[str] = []
    ws.bus.status.connect(messages.append)
    ws.form.loras.add_file(loras["low"])  # the LOW file of a pair finds its HIGH too
    assert ws.presets.combo.currentData() == DISTILL_PRESET
    assert ws.form.steps.value() == 4 and ws.form.guidance_high.value() == 1.0
    assert ws.form.guidance_low.value() == 1.0
    assert ws.build_request().solver == "euler"  # the sampler the distills are made for
    assert DISTILL_PRESET in ws.form.loras.note.text()
    assert "step-distillation" in ws.form.loras.note.text()
    assert messages[-1] == ws.form.loras.note.text()
    assert messages[-1].startswith("Wan22_T2V_HIGH+LOW_lightx2v_4step_rank4 is a step-distill")
    assert messages[-1].endswith("(4 steps, guidance 1, shift 5, Euler sampler)")
    (choice,) = ws.build_request().loras
    assert choice.path == str(loras["high"]) and choice.path_low == str(loras["low"])
    ws.form.loras.add_file(loras["style"])  # the note stays while more LoRAs are picked
    assert DISTILL_PRESET in ws.form.loras.note.text()


def test_a_style_lora_leaves_the_preset_alone(qtbot, ws, loras) -> None:
    before = ws.presets.combo.currentData()
    ws.form.loras.add_file(loras["style"])
    assert ws.presets.combo.currentData() == before


def test_restoring_settings_reselects_present_loras_and_names_the_missing_one(
    qtbot, ws, loras, tmp_path
) -> None:
    values = ws.build_request().to_dict()
    values["loras"] = [
        {
            "path": str(loras["high"]),
            "path_low": str(loras["low"]),
            "strength_high": 0.8,
            "strength_low": 0.6,
            "sha256": file_sha256(loras["high"]),
            "sha256_low": file_sha256(loras["low"]),
        },
        {"path": str(tmp_path / "gone" / "vanished_style.safetensors"), "sha256": "0" * 64},
    ]
    messages: list[str] = []
    ws.bus.status.connect(messages.append)
    with qtbot.waitSignal(ws.form.loras.restored, timeout=30000) as restored:
        ws.apply_settings(values)
        # while the files are hashed off the GUI thread, the request holds what was recorded
        # and validation names the missing file: Generate cannot start without it silently
        assert ws.form.loras.restoring
        assert [c.strength_high for c in ws.build_request().loras] == [0.8, 1.0]
        issues = [i.message for i in ws.validate_now() if i.field == "loras"]
        assert any("vanished_style.safetensors" in m for m in issues)
    assert not ws.form.loras.restoring
    assert len(restored.args[0]) == 1 and "vanished_style.safetensors" in restored.args[0][0]
    (row,) = ws.form.loras.rows
    assert (row.high.value(), row.low.value()) == (0.8, 0.6)
    (choice,) = ws.build_request().loras
    assert choice.path_low == str(loras["low"])
    note = ws.form.loras.note.text()
    assert "vanished_style.safetensors" in note and ws.form.loras.note.objectName() == (
        "fieldWarning"
    )
    assert any("vanished_style.safetensors" in m for m in messages)


def test_a_changed_file_counts_as_missing_on_restore(qtbot, ws, loras) -> None:
    values = ws.build_request().to_dict()
    values["loras"] = [{"path": str(loras["style"]), "sha256": "f" * 64}]
    with qtbot.waitSignal(ws.form.loras.restored, timeout=30000) as restored:
        ws.apply_settings(values)
    assert ws.form.loras.rows == []
    assert "paper_cutout_style.safetensors" in restored.args[0][0]


def test_the_form_remembers_loras_per_model(qtbot, ws, loras) -> None:
    ws.form.loras.add_file(loras["style"]).high.setValue(0.4)
    assert ws.select_model(demo_model_name("ti2v-5b"))
    assert ws.form.loras.rows == []  # a fresh model starts without LoRAs
    assert ws.select_model(demo_model_name("t2v-a14b"))
    (row,) = ws.form.loras.rows
    assert row.high.value() == 0.4


def test_library_menu_lists_folder_items_and_adds_one(qtbot, ws, loras) -> None:
    from core.lora.library import add_folder

    add_folder(loras["style"].parent)
    lora_list = ws.form.loras
    lora_list._fill_library_menu()  # what opening the menu does
    qtbot.waitUntil(lambda: lora_list._library is not None, timeout=30000)
    lora_list._fill_library_menu()
    actions = {a.text(): a for a in lora_list.library_menu.actions() if a.text()}
    pair = next(t for t in actions if "HIGH+LOW" in t)
    actions[pair].trigger()
    (choice,) = ws.build_request().loras
    assert choice.path_low == str(loras["low"])
    assert ws.presets.combo.currentData() == DISTILL_PRESET

    # a file that appears in the folder later is listed the next time the menu opens
    write_lora(loras["style"].parent / "new_motion.safetensors", "wan", seed=9)
    lora_list._fill_library_menu()
    qtbot.waitUntil(
        lambda: any(
            "new_motion" in i.label
            for i in lora_list._library[str(loras["style"].parent.resolve())]
        ),
        timeout=30000,
    )
    lora_list._fill_library_menu()
    assert "new_motion" in [a.text() for a in lora_list.library_menu.actions()]


def test_a_pickle_file_is_refused_without_opening_it(qtbot, ws, tmp_path) -> None:
    bad = tmp_path / "style.ckpt"
    bad.write_bytes(b"not read")
    assert ws.form.loras.add_file(bad) is None
    assert "never unpickles" in ws.form.loras.note.text()
    assert ws.build_request().loras == []


def test_use_lora_from_the_bus_adds_it(qtbot, ws, loras) -> None:
    ws.bus.use_lora.emit({"path": str(loras["style"]), "path_low": None})
    assert [c.path for c in ws.build_request().loras] == [str(loras["style"])]


def test_a_list_on_its_own_reads_headers_off_the_gui_thread(qtbot, bus, loras) -> None:
    from gui.widgets.lora_list import LoraList

    lora_list = LoraList(bus.engine.run_io)  # no workspace: only the engine's I/O pool
    qtbot.addWidget(lora_list)
    lora_list.set_family("ti2v-5b", 1, demo=False)
    with qtbot.waitSignal(lora_list.info_ready, timeout=30000):
        row = lora_list.add_file(loras["style"])
    assert row.high_caption.text() == "Strength"
    assert "does not fit Wan2.2-TI2V-5B (0/20 layers)" in row.note.full_text()
    assert row.note.full_text().endswith("fits demo")


def test_save_as_preset_keeps_the_loras_and_reapplies_them(qtbot, ws, loras, monkeypatch) -> None:
    """The user's own LoRA preset: saved from the form with its LoRAs and strengths, and
    applying it later puts the same LoRAs back."""
    from PySide6.QtWidgets import QInputDialog

    from core.presets import PresetStore

    row = ws.form.loras.add_file(loras["style"])
    row.high.setValue(0.8)
    row.low.setValue(0.3)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Paper look", True))
    ws.presets.save_as_button.click()
    stored = PresetStore().find("t2v-a14b", "Paper look").values["loras"]
    assert [(Path(c["path"]).name, c["strength_high"], c["strength_low"]) for c in stored] == [
        ("paper_cutout_style.safetensors", 0.8, 0.3)
    ]
    row.remove.click()
    qtbot.waitUntil(lambda: not ws.form.loras.rows, timeout=5000)
    ws.apply_preset("Paper look")
    qtbot.waitUntil(lambda: len(ws.build_request().loras) == 1, timeout=30000)
    (choice,) = ws.build_request().loras
    assert (Path(choice.path).name, choice.strength_high, choice.strength_low) == (
        "paper_cutout_style.safetensors",
        0.8,
        0.3,
    )
