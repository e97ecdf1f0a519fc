"""The compare view: a saved report shows synced players, the metrics table and the plots; a
comparison runs as one queue job from the dialog's variants (shown in the Queue, followed by
the view, not by Generate); the Generate tab offers it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton

from core.compare.job import CompareProgress
from core.generate.request import GenerationRequest, defaults_for
from gui.widgets.compare_dialog import CompareDialog
from gui.workspaces.compare import CompareWorkspace


def _request(folder: Path) -> GenerationRequest:
    request = defaults_for("ti2v-5b", demo=True, model=str(folder))
    request.prompt = "a red fox"
    request.width = request.height = 64
    request.frames, request.steps, request.seed = 5, 2, 5
    return request


@pytest.fixture(scope="module")
def saved_report(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.compare import parse_variants, run_compare

    folder = tmp_path_factory.mktemp("compare-view") / "report"
    run_compare(_request(demo_models["ti2v-5b"]), parse_variants("bf16,mxfp8-online:floor"), folder)
    return folder


def test_open_report_shows_players_table_and_plots(qtbot, bus, saved_report: Path) -> None:
    ws = CompareWorkspace(bus)
    qtbot.addWidget(ws)
    ws.show()
    ws.open_report(saved_report)
    qtbot.waitUntil(lambda: ws.player.frame_count == 5, timeout=20000)
    player = ws.player
    assert [t.text() for t in player.tile_labels] == ["bf16", "mxfp8-online floor"]
    assert len(player.tiles) == 2 and all(t.image() is not None for t in player.tiles)
    player.stop()
    player.seek(3)  # every tile shows the same frame index
    for tile, frames in zip(player.tiles, player.frames, strict=True):
        assert tile.image() == frames[3]
    assert player.frames[0][3] != player.frames[1][3]  # MXFP8 changed the pixels
    table = ws.table
    assert table.rowCount() == 2
    headers = [table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]
    assert headers[:4] == ["variant", "quant", "dtype", "PSNR mean dB"]
    assert table.item(0, 0).text() == "bf16" and table.item(0, 3).text() == "∞"
    assert float(table.item(1, 3).text()) > 15  # finite PSNR of MXFP8 vs the reference
    pixmaps = [
        ws.plots_layout.itemAt(i).widget().pixmap()
        for i in range(ws.plots_layout.count())
        if ws.plots_layout.itemAt(i).widget() is not None
    ]
    assert len(pixmaps) == 5 and all(not p.isNull() for p in pixmaps)
    assert ws.html_button.isEnabled()
    player.mode.setCurrentIndex(1)  # wipe: reference left, the MXFP8 variant right
    assert player.wipe_controls.isVisibleTo(ws)
    assert player.wipe.a == player.frames[0][3] and player.wipe.b == player.frames[1][3]


def test_open_report_of_a_wrong_folder_says_why(qtbot, bus, tmp_path: Path) -> None:
    ws = CompareWorkspace(bus)
    qtbot.addWidget(ws)
    ws.open_report(tmp_path)
    qtbot.waitUntil(lambda: "Cannot open" in ws.status.text(), timeout=10000)
    assert "no report.json" in ws.status.text() and ws.report is None


def test_dialog_builds_core_variant_strings(qtbot, tmp_path: Path) -> None:
    dialog = CompareDialog(tmp_path, has_loras=True)
    qtbot.addWidget(dialog)
    assert dialog.specs() == ["bf16", "floor", "mse"]
    dialog.backend.setCurrentText("reference")
    dialog.checks["rceil"].setChecked(True)
    dialog.no_lora.setChecked(True)
    assert dialog.specs() == [
        "bf16", "floor:backend=reference", "rceil:backend=reference", "mse:backend=reference",
        "bf16:nolora",
    ]  # fmt: skip
    dialog.offline_path.setText(str(tmp_path))  # not a model folder: refused with core's words
    dialog.accept()
    assert "not a Diffusers model folder" in dialog.error.text() and dialog.result() == 0


def test_compare_runs_as_one_queue_job(qtbot, bus, demo_models: dict[str, Path], tmp_path) -> None:
    ws = CompareWorkspace(bus)
    qtbot.addWidget(ws)
    seen: list[CompareProgress] = []
    bus.queue.job_event.connect(lambda _id, p: seen.append(p))
    job_id = ws.start(_request(demo_models["ti2v-5b"]), ["bf16", "mse"], tmp_path / "r")
    job = bus.queue.store.get(job_id)
    assert job.label.startswith("Compare bf16, mse: a red fox") and ws.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: ws.report is not None, timeout=120000)
    assert (tmp_path / "r" / "report.html").is_file()
    assert {p.index for p in seen} == {0, 1} and {p.label for p in seen} == {
        "bf16",
        "mxfp8-online mse",
    }
    assert 0 < ws.progress.value() <= 1000
    done = bus.queue.store.get(job_id)
    assert done.state == "done" and done.output == str(tmp_path / "r")
    assert not ws.cancel_button.isEnabled() and ws.table.rowCount() == 2


def test_generate_tab_offers_compare(main_window) -> None:
    assert "Compare" in main_window.workspaces
    generate = main_window.workspaces["Generate"]
    buttons = [b.text() for b in generate.findChildren(QPushButton)]
    assert "Compare…" in buttons


def test_a_finished_comparison_in_the_queue_opens_its_report(
    qtbot, main_window, saved_report: Path
) -> None:
    from core.compare.job import compare_job

    queue = main_window.bus.queue
    entry = compare_job(_request(saved_report), ["bf16", "mse"], str(saved_report))
    (job_id,) = queue.store.add([entry])
    queue.store.set_paused(True)
    queue.store.db.execute(
        "UPDATE jobs SET state = 'done', output = ? WHERE id = ?", (str(saved_report), job_id)
    )
    queue.refresh()
    panel = main_window.workspaces["Queue"].panel
    panel.select_job(job_id)
    panel.play_selected()
    compare = main_window.workspaces["Compare"]
    qtbot.waitUntil(lambda: compare.report is not None, timeout=20000)
    assert main_window.tabs.currentWidget() is compare
