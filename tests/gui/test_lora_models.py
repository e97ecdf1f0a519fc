"""LoRAs in the Models workspace (folders and their table) and in the progress panel.

The last test is a real demo-model run from the Generate form with a LoRA: the runner applies
it and the panel shows what its Plan event says was applied.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.humanize import human_bytes
from core.lora.fixtures import write_lora
from core.lora.library import add_folder, load_folders

HIGH = "Wan22_T2V_HIGH_lightx2v_4step_rank4.safetensors"
LOW = "Wan22_T2V_LOW_lightx2v_4step_rank4.safetensors"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A LoRA folder with a Lightning pair, a style LoRA and one made for another width."""
    base = tmp_path / "my-loras"
    write_lora(base / HIGH, "wan", seed=1)
    write_lora(base / LOW, "wan", seed=2)
    write_lora(base / "ink_style.safetensors", "diffusers", rank=8, seed=3)
    write_lora(base / "wide_HIGH_only.safetensors", "musubi", dim=128, ffn_dim=256)
    (base / "notes.txt").write_text("not a LoRA")
    return base


@pytest.fixture
def models(qtbot, bus):
    from gui.workspaces.models import ModelsWorkspace

    ws = ModelsWorkspace(bus)
    qtbot.addWidget(ws)
    ws.show()
    return ws


def _loaded(qtbot, library) -> None:
    with qtbot.waitSignal(library.reloaded, timeout=30000):
        library.reload()
    qtbot.waitUntil(lambda: len(library.infos) == len(library.items), timeout=30000)


def _rows(library) -> dict[str, dict[str, str]]:
    return {row["Name"]: row for row in library.row_texts()}


def test_a_folder_lists_a_pair_as_one_row_and_what_each_item_fits(qtbot, models, folder) -> None:
    add_folder(folder)
    library = models.loras
    _loaded(qtbot, library)

    rows = _rows(library)
    assert set(rows) == {
        "Wan22_T2V_HIGH+LOW_lightx2v_4step_rank4",
        "ink_style",
        "wide_HIGH_only",
    }
    pair = rows["Wan22_T2V_HIGH+LOW_lightx2v_4step_rank4"]
    assert pair["Experts"] == "pair (HIGH+LOW)"
    assert pair["Format"] == "original Wan / ComfyUI", [
        v[0] for v in library.infos.values() if isinstance(v[0], str)
    ]
    assert (pair["Rank"], pair["Dim"], pair["Fits"], pair["Layers"]) == ("4", "64", "demo", "20/20")
    size = (folder / HIGH).stat().st_size + (folder / LOW).stat().st_size
    assert pair["Size"] == human_bytes(size)
    assert pair["Folder"] == "my-loras"
    style = rows["ink_style"]
    assert (style["Experts"], style["Format"], style["Rank"]) == ("both", "diffusers / peft", "8")
    wide = rows["wide_HIGH_only"]
    assert (wide["Experts"], wide["Dim"], wide["Fits"]) == ("HIGH", "128", "none")
    assert wide["Layers"] == "0/20"

    assert library.select(str(folder / HIGH))
    assert "step-distillation" in library.details.text()
    assert "fits demo models (20/20 layers)" in library.details.text()


def test_use_in_generate_sends_the_pair_on_the_bus(qtbot, models, folder, bus) -> None:
    add_folder(folder)
    library = models.loras
    _loaded(qtbot, library)
    assert not library.use_button.isEnabled()
    assert library.select(str(folder / HIGH))
    with qtbot.waitSignal(bus.use_lora) as sent:
        library.use_button.click()
    assert sent.args[0] == {"path": str(folder / HIGH), "path_low": str(folder / LOW)}


def test_add_and_remove_folders(qtbot, models, folder, tmp_path, bus, monkeypatch) -> None:
    library = models.loras
    _loaded(qtbot, library)
    assert library.table.rowCount() == 0 and not library.empty_hint.isHidden()
    with qtbot.waitSignal(bus.lora_folders_changed), qtbot.waitSignal(library.reloaded):
        assert library.add_folder(folder)
    assert load_folders()[0] == [str(folder.resolve())]
    assert library.folder_list.count() == 1 and library.table.rowCount() == 3

    warned: list[str] = []
    from PySide6.QtWidgets import QMessageBox

    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warned.append(a[2]))
    assert not library.add_folder(tmp_path / "no-such-folder")
    assert warned and "not a folder" in warned[0]

    library.folder_list.setCurrentRow(0)
    with qtbot.waitSignal(library.reloaded):
        library.remove_button.click()
    assert load_folders()[0] == [] and library.table.rowCount() == 0
    assert folder.is_dir()  # files stay


def test_the_lora_tab_comes_to_the_front_when_asked(qtbot, models, bus) -> None:
    assert models.sections.currentWidget() is not models.loras
    models.show_section("LoRAs")  # what MainWindow.show_workspace("Models/LoRAs") calls
    assert models.sections.currentWidget() is models.loras


def test_plan_label_shows_one_line_per_lora_and_flags_unmatched_layers(qtbot) -> None:
    from gui.widgets.lora_plan import LoraPlanLabel

    label = LoraPlanLabel()
    qtbot.addWidget(label)
    common = {"file": "x", "sha256": "", "component": "", "format": "wan", "rank": 4}
    label.show_applied(
        [
            {
                **common,
                "label": "pair",
                "expert": "high",
                "strength": 1.0,
                "matched": 20,
                "total": 20,
            },
            {
                **common,
                "label": "pair",
                "expert": "low",
                "strength": 0.5,
                "matched": 20,
                "total": 20,
            },
            {
                **common,
                "label": "style",
                "expert": "high",
                "strength": 0.8,
                "matched": 12,
                "total": 20,
            },
        ]
    )
    assert label.lines == [
        "LoRA pair: high 1, low 0.5 · 20/20 + 20/20 layers",
        "LoRA ⚠ style: high 0.8 · 12/20 layers",
    ]
    assert not label.isHidden() and "color" in label.text()
    label.show_applied([])
    assert label.isHidden()


def test_history_lists_a_runs_loras_with_their_strengths(tmp_path) -> None:
    from core.lora.choice import LoraChoice
    from gui.widgets.lora_format import choices_text

    pair = LoraChoice(path=str(tmp_path / HIGH), path_low=str(tmp_path / LOW), strength_low=0.5)
    off = LoraChoice(path=str(tmp_path / "ink.safetensors"), enabled=False)
    assert choices_text([pair, off]) == (
        "Wan22_T2V_HIGH+LOW_lightx2v_4step_rank4 1/0.5, ink 1/1 (off)"
    )


def test_a_demo_run_with_a_lora_shows_it_in_the_progress_panel(
    qtbot, installed_demo, tmp_path
) -> None:
    installed_demo("t2v-a14b")
    style = write_lora(tmp_path / "ink_style.safetensors", "wan", seed=5)
    from gui.main_window import MainWindow

    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    try:
        ws = window.workspaces["Generate"]
        ws.form.prompt.setPlainText("a red fox")
        ws.form.size.set_size(64, 64)
        ws.form.frames.setValue(9)
        ws.form.steps.setValue(4)
        row = ws.form.loras.add_file(style)
        row.high.setValue(0.8)
        row.low.setValue(0.5)
        ws.validate_now()
        assert ws.generate_button.isEnabled(), ws.reason.text()
        with qtbot.waitSignal(ws.run_finished, timeout=120000) as finished:
            ws.generate()
        outcome = finished.args[0]
        assert outcome.kind == "done", getattr(outcome, "message", outcome)
        assert ws.panel.loras_label.lines == [
            "LoRA ink_style: high 0.8, low 0.5 · 20/20 + 20/20 layers"
        ]
        assert not ws.panel.loras_label.isHidden()
    finally:
        window.bus.shutdown()
        window.close()


def test_a_corrupt_file_shows_as_unreadable_with_the_reason(qtbot, models, tmp_path) -> None:
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "half_downloaded.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    add_folder(folder)
    library = models.loras
    _loaded(qtbot, library)
    (row,) = library.row_texts()
    assert row["Format"] == "unreadable" and row["Fits"] == "-"
    assert library.select(str(folder / "half_downloaded.safetensors"))
    assert "half_downloaded" in library.details.text()
