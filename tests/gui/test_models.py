"""The Models workspace: add / remove / rename / delete / demo / use-in-generate through the
real library file, the msmodelslim export route into the wizard, and the warning banner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox

from core import paths
from core.models.library import Library
from gui.widgets.models_dialogs import DeleteFilesDialog
from gui.widgets.models_format import STATUS_LABELS
from tests.gui import test_wizard_support as support
from tests.gui.test_wizard_support import (
    EXPORT,
    ORIGINAL,
    TIMEOUT,
    Button,
    click_next,
)

# Fixtures shared with the other repack GUI tests.
pristine_pairs = support.pristine_pairs
repack_pair = support.repack_pair


@pytest.fixture
def workspace(qtbot, bus):
    from gui.workspaces.models import ModelsWorkspace

    ws = ModelsWorkspace(bus)
    qtbot.addWidget(ws)
    ws.resize(1200, 700)
    ws.show()
    yield ws
    assert ws.shutdown(20000), "a repack thread did not stop"
    ws.close_wizard()


def settle(qtbot, ws) -> None:
    """Wait until every inspection, add, delete or demo job of the workspace has finished."""
    qtbot.waitUntil(lambda: not ws.busy, timeout=TIMEOUT)


def status_text(ws, entry_id: str) -> str:
    return ws.table.item(ws._row_of(entry_id), 6).text()


def add_through_dialog(qtbot, ws, monkeypatch, folder: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    with qtbot.waitSignal(ws.bus.library_changed, timeout=TIMEOUT):
        ws.add_button.click()
    settle(qtbot, ws)


def test_an_empty_library_explains_itself_and_disables_model_actions(workspace) -> None:
    ws = workspace
    assert ws.entry_ids() == []
    assert ws.empty_hint.isVisible()
    assert ws.add_button.isEnabled() and ws.demo_button.isEnabled()
    for button in (ws.use_button, ws.repack_button, ws.rename_button, ws.remove_button):
        assert not button.isEnabled()
    assert not ws.banner_box.isVisible()


def test_add_folder_validates_adds_inspects_and_tells_the_others(
    qtbot, workspace, repack_pair, monkeypatch
) -> None:
    ws = workspace
    original = repack_pair("t2v-a14b") / ORIGINAL
    add_through_dialog(qtbot, ws, monkeypatch, original)

    (entry,) = Library().list()
    assert entry.path == original and entry.family == "t2v-a14b"
    assert ws.entry_ids() == [entry.id] and ws.selected_id() == entry.id
    row = ws._row_of(entry.id)
    cells = [ws.table.item(row, c).text() for c in range(7)]
    assert cells[1:5] == ["Wan2.2-T2V-A14B", "Diffusers", "Demo · FP32", "2"]
    assert cells[6] == STATUS_LABELS["ok"]
    details = ws.details.toPlainText()
    assert "transformer_2 (low-noise expert)" in details
    assert "MXFP8 online (quantized at load)" in details  # memory estimate per mode
    assert ws.use_button.isEnabled()

    # The same folder again is not a second entry.
    statuses = []
    ws.bus.status.connect(statuses.append)
    ws.add_path(original)
    assert len(Library().list()) == 1 and "already in the library" in statuses[-1]


def test_a_folder_that_is_no_model_is_refused_with_the_reason(
    qtbot, workspace, tmp_path, monkeypatch
) -> None:
    ws = workspace
    warnings = []
    monkeypatch.setattr(
        QMessageBox, "warning", lambda parent, title, text, *a, **k: warnings.append(text)
    )
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tmp_path))
    ws.add_button.click()
    qtbot.waitUntil(lambda: warnings != [], timeout=TIMEOUT)
    assert "neither a Diffusers model folder" in warnings[0]
    assert Library().list() == []


def test_an_added_export_offers_the_wizard_prefilled(
    qtbot, workspace, repack_pair, monkeypatch
) -> None:
    ws = workspace
    export = repack_pair("ti2v-5b") / EXPORT
    asked = []

    def answer(parent, title, text, details, answers, default=None):
        asked.append((text, [a[0] for a in answers], default))
        return "repack"

    monkeypatch.setattr("gui.workspaces.models.ask_choice", answer)
    ws.add_path(export)
    qtbot.waitUntil(lambda: ws.wizard is not None, timeout=TIMEOUT)
    assert "msmodelslim export of Wan2.2-TI2V-5B" in asked[0][0]
    assert asked[0][1:] == (["repack", "add", "cancel"], "repack")
    wizard = ws.wizard
    assert Path(wizard.export_page.field.path()) == export
    click_next(qtbot, wizard)  # the export page passed its checks: prefilled and valid
    assert Library().list() == [], "choosing Repack does not register the export itself"


def test_an_export_added_as_is_needs_repack_and_the_wizard_output_joins_the_library(
    qtbot, workspace, repack_pair, monkeypatch
) -> None:
    ws = workspace
    pair = repack_pair("ti2v-5b")
    monkeypatch.setattr("gui.workspaces.models.ask_choice", lambda *a, **k: "add")
    with qtbot.waitSignal(ws.bus.library_changed, timeout=TIMEOUT):
        ws.add_path(pair / EXPORT)
    settle(qtbot, ws)
    (entry,) = Library().list()
    assert status_text(ws, entry.id) == STATUS_LABELS["repack"]
    assert ws.repack_button.isEnabled() and not ws.use_button.isEnabled()
    assert "Repack… turns it into a model" in ws.reason.text()

    ws.repack_button.click()
    wizard = ws.wizard
    for _ in range(3):
        click_next(qtbot, wizard)
    wizard.button(Button.NextButton).click()
    qtbot.waitUntil(lambda: wizard.currentId() == wizard.DONE, timeout=TIMEOUT)
    with qtbot.waitSignal(ws.bus.library_changed, timeout=TIMEOUT):
        wizard.button(Button.FinishButton).click()
    settle(qtbot, ws)
    output = pair / f"{EXPORT}-diffusers"
    new = Library().find_folder(output)
    assert new is not None and new.id in ws.entry_ids()
    assert status_text(ws, new.id) == STATUS_LABELS["ok"]
    assert ws.table.item(ws._row_of(new.id), 3).text() == "Demo · MXFP8 (offline)"


def test_remove_says_files_stay_and_keeps_them(qtbot, workspace, repack_pair, monkeypatch) -> None:
    ws = workspace
    original = repack_pair("ti2v-5b") / ORIGINAL
    add_through_dialog(qtbot, ws, monkeypatch, original)
    questions = []

    def question(parent, title, text, *args, **kwargs):
        questions.append(text)
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", question)
    with qtbot.waitSignal(ws.bus.library_changed, timeout=TIMEOUT):
        ws.remove_button.click()
    assert "files stay on disk" in questions[0] and str(original) in questions[0]
    assert Library().list() == [] and ws.entry_ids() == []
    assert (original / "model_index.json").is_file()


def test_rename_changes_the_display_name_only(qtbot, workspace, repack_pair, monkeypatch) -> None:
    ws = workspace
    original = repack_pair("ti2v-5b") / ORIGINAL
    add_through_dialog(qtbot, ws, monkeypatch, original)
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("  My TI2V  ", True))
    with qtbot.waitSignal(ws.bus.library_changed, timeout=TIMEOUT):
        ws.rename_button.click()
    (entry,) = Library().list()
    assert entry.name == "My TI2V" and entry.path == original
    assert ws.table.item(ws._row_of(entry.id), 0).text() == "My TI2V"

    errors = []
    monkeypatch.setattr(QMessageBox, "warning", lambda p, t, text, *a, **k: errors.append(text))
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("   ", True))
    ws.rename_button.click()
    assert "empty" in errors[0] and Library().list()[0].name == "My TI2V"


def test_delete_files_needs_the_typed_name_then_deletes_the_folder(
    qtbot, workspace, repack_pair, monkeypatch
) -> None:
    ws = workspace
    original = repack_pair("ti2v-5b") / ORIGINAL
    add_through_dialog(qtbot, ws, monkeypatch, original)
    entry = Library().list()[0]

    dialog = DeleteFilesDialog(entry.name, str(entry.path), 1234, ws)
    assert not dialog.delete_button.isEnabled()
    dialog.typed.setText(entry.name[:-1])
    dialog.accept()  # Enter with the wrong name must not confirm
    assert dialog.result() != QDialog.DialogCode.Accepted and not dialog.delete_button.isEnabled()
    dialog.typed.setText(entry.name)
    assert dialog.delete_button.isEnabled()

    def confirm(self) -> int:
        self.typed.setText(self.expected)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(DeleteFilesDialog, "exec", confirm)
    with qtbot.waitSignal(ws.bus.library_changed, timeout=TIMEOUT):
        ws.delete_button.click()
    settle(qtbot, ws)
    assert not original.exists()
    assert Library().list() == [] and ws.entry_ids() == []
    assert list(original.parent.glob(f".{original.name}.deleting-*")) == []


def test_create_demo_then_use_in_generate(qtbot, workspace) -> None:
    ws = workspace
    with qtbot.waitSignal(ws.bus.library_changed, timeout=60000):
        ws.create_demo("ti2v-5b")
    settle(qtbot, ws)
    (entry,) = Library().list()
    assert entry.path == paths.demo_model_dir("ti2v-5b")
    assert (entry.path / "wan_studio.json").is_file(), "created on the engine thread"
    assert ws.selected_id() == entry.id
    assert status_text(ws, entry.id) == STATUS_LABELS["ok"]

    used, shown = [], []
    ws.bus.use_model.connect(used.append)
    ws.bus.show_workspace.connect(shown.append)
    ws.use_button.click()
    assert used == [str(entry.path)] and shown == ["Generate"]
    assert Library().get(entry.id).last_used is not None


def test_a_vanished_folder_shows_as_missing_after_refresh(
    qtbot, workspace, repack_pair, monkeypatch
) -> None:
    import shutil

    ws = workspace
    original = repack_pair("ti2v-5b") / ORIGINAL
    add_through_dialog(qtbot, ws, monkeypatch, original)
    shutil.rmtree(original)
    ws.refresh_button.click()
    settle(qtbot, ws)
    entry_id = ws.entry_ids()[0]
    assert status_text(ws, entry_id) == STATUS_LABELS["missing"]
    assert not ws.use_button.isEnabled() and not ws.delete_button.isEnabled()
    assert ws.remove_button.isEnabled()


def test_a_corrupt_library_file_is_set_aside_and_the_banner_says_so(qtbot, bus) -> None:
    from gui.workspaces.models import ModelsWorkspace

    library = paths.library_file()
    library.write_text("{ not json", "utf-8")
    ws = ModelsWorkspace(bus)
    qtbot.addWidget(ws)
    ws.show()
    assert ws.banner_box.isVisible()
    assert "set aside" in ws.banner.text() and ".corrupt" in ws.banner.text()
    assert library.with_name(library.name + ".corrupt").is_file()
    assert ws.entry_ids() == [] and ws.add_button.isEnabled()
    ws.reload()  # the warning outlives a reload until dismissed
    assert ws.banner_box.isVisible()
    ws.dismiss.click()
    assert not ws.banner_box.isVisible()


def test_a_newer_library_is_read_only_and_left_unchanged(qtbot, bus) -> None:
    from gui.workspaces.models import ModelsWorkspace

    library = paths.library_file()
    doc = {"schema": "wan-studio-library", "version": 99, "models": []}
    library.write_text(json.dumps(doc), "utf-8")
    before = library.read_bytes()
    ws = ModelsWorkspace(bus)
    qtbot.addWidget(ws)
    ws.show()
    assert ws.read_only
    assert "newer Wan Studio" in ws.banner.text() and not ws.dismiss.isVisible()
    assert not ws.add_button.isEnabled() and not ws.demo_button.isEnabled()
    assert library.read_bytes() == before


def test_status_and_size_labels() -> None:
    from gui.widgets.models_format import human_bytes, human_duration

    assert human_bytes(None) == "—"
    assert human_bytes(999) == "999 B"
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(1000 * 1024) == "0.98 MB"
    assert human_bytes(5 * 2**30) == "5.0 GB"
    assert human_duration(2.345) == "2.3 s"
    assert human_duration(200) == "3 min 20 s"
    assert human_duration(3 * 3600 + 300) == "3 h 05 min"
