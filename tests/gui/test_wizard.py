"""The repack wizard driven end to end with qtbot on msmodelslim-style exports of the demo
models (each family): one click through prefilled pages, cancel mid-run, bad folders."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from core.models.inspect import inspect_folder
from core.models.library import Library
from tests.gui import test_wizard_support as support
from tests.gui.test_wizard_support import (
    EXPORT,
    ORIGINAL,
    TIMEOUT,
    Button,
    click_next,
    leftovers,
    make_wizard,
    tree_hash,
    wait_next,
)

# Fixtures shared with the other repack GUI tests.
pristine_pairs = support.pristine_pairs
repack_pair = support.repack_pair
wizards = support.wizards


@pytest.mark.parametrize("family", ["t2v-a14b", "i2v-a14b", "ti2v-5b"])
def test_a_detected_export_is_one_click_every_page_prefilled(
    qtbot, bus, wizards, repack_pair, family
) -> None:
    pair = repack_pair(family)
    export, original = pair / EXPORT, pair / ORIGINAL
    before = (tree_hash(export), tree_hash(original))
    wizard = make_wizard(bus, wizards, qtbot, export=export)

    # 1: the export, family detected, findings listed
    wait_next(qtbot, wizard)
    page = wizard.export_page
    assert wizard.findings is not None and wizard.findings.family == family
    facts = {k: label.text() for k, label in page.facts.items()}
    experts = 2 if family != "ti2v-5b" else 1
    assert facts["family"].startswith(wizard.findings.family_name)
    assert facts["types"].count("20 W8A8_MXFP8 layers") == experts  # 2 blocks x 10 linears
    assert facts["files"].count("quant_model_weight_w8a8_mxfp8.safetensors") == experts
    if family == "t2v-a14b":  # the w8a8f8 recipe: rotations + FA3 entries, ignored
        assert "4 QuaRot rotation tensor(s) and 2 FA3" in facts["attention"]
        assert "will be ignored" in facts["attention"]
    else:
        assert facts["attention"].startswith("none")
    click_next(qtbot, wizard)

    # 2: the original, found next to the export and checked against it
    wait_next(qtbot, wizard)
    assert Path(wizard.original_page.field.path()) == original
    assert "next to the export" in wizard.original_page.source.text()
    assert "match the export" in wizard.original_page.notice.plain_text()
    click_next(qtbot, wizard)

    # 3: a new output folder next to the export, space checked against the plan
    wait_next(qtbot, wizard)
    output = Path(wizard.output_page.field.path())
    assert output == pair / f"{EXPORT}-diffusers"
    assert "free in" in wizard.output_page.space.text()
    assert wizard.planned is not None and wizard.planned.plan.family == family
    click_next(qtbot, wizard)

    # 4: summary; Next reads "Repack"
    assert wizard.button(Button.NextButton).text() == "Repack"
    summary = wizard.summary_page.view.toPlainText()
    assert "Read" in summary and "Write" in summary and "Renamed" in summary
    assert "blocks.0.self_attn.q.weight → blocks.0.attn1.to_q.weight" in summary
    wizard.button(Button.NextButton).click()

    # 5 -> 6: the run ends on the report page
    qtbot.waitUntil(lambda: wizard.currentId() == wizard.DONE, timeout=TIMEOUT)
    report = wizard.done_page.view.toPlainText()
    assert "Repacked and verified" in report
    assert "no NaN scale" in report
    assert wizard.done_page.add.isChecked()
    assert not wizard.done_page.open.isChecked()
    assert output.is_dir() and leftovers(output) == []

    # Finish adds the output to the library
    with qtbot.waitSignal(bus.library_changed, timeout=TIMEOUT):
        wizard.button(Button.FinishButton).click()
    entry = Library().find_folder(output)
    assert entry is not None and entry.layout == "diffusers" and entry.family == family
    info = inspect_folder(output)
    assert info.problems == [] and info.quantization == "mxfp8-offline"
    assert (tree_hash(export), tree_hash(original)) == before, "an input was modified"


def test_cancel_mid_run_leaves_nothing_behind_and_says_so(
    qtbot, bus, wizards, repack_pair, monkeypatch
) -> None:
    import core.repack.runner as runner

    entered, gate = threading.Event(), threading.Event()
    real_copy = runner.copy_range

    def gated_copy(*args, **kwargs):  # hold the first copy until the test pressed Cancel
        entered.set()
        assert gate.wait(20), "the test never released the copy"
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(runner, "copy_range", gated_copy)
    pair = repack_pair("ti2v-5b")
    before = tree_hash(pair)
    wizard = make_wizard(bus, wizards, qtbot, export=pair / EXPORT)
    for _ in range(3):
        click_next(qtbot, wizard)
    output = Path(wizard.output_page.field.path())
    wizard.button(Button.NextButton).click()  # Repack
    assert wizard.currentId() == wizard.RUN
    qtbot.waitUntil(entered.is_set, timeout=TIMEOUT)
    assert leftovers(output), "the run writes into a hidden temporary folder"
    cancel = wizard.button(Button.CancelButton)
    assert cancel.isVisible() and not wizard.button(Button.BackButton).isVisible()

    cancel.click()
    assert wizard.run_page.state == "cancelling"
    gate.set()
    qtbot.waitUntil(lambda: wizard.run_page.state == "cancelled", timeout=TIMEOUT)

    assert not output.exists()
    assert leftovers(output) == []
    assert "nothing was written and no temporary folder was left behind" in (
        wizard.run_page.notice.plain_text()
    )
    assert wizard.isVisible(), "cancelling the run must not close the wizard"
    assert wizard.button(Button.CancelButton).text() == "Close"
    assert wizard.button(Button.BackButton).isVisible()
    assert tree_hash(pair) == before

    # Back re-plans; a second Repack then succeeds.
    monkeypatch.setattr(runner, "copy_range", real_copy)
    wizard.button(Button.BackButton).click()
    assert wizard.currentId() == wizard.SUMMARY
    wait_next(qtbot, wizard)
    wizard.button(Button.NextButton).click()
    qtbot.waitUntil(lambda: wizard.currentId() == wizard.DONE, timeout=TIMEOUT)
    assert output.is_dir()


def test_a_diffusers_folder_is_not_an_export_and_next_stays_disabled(
    qtbot, bus, wizards, repack_pair
) -> None:
    pair = repack_pair("ti2v-5b")
    wizard = make_wizard(bus, wizards, qtbot, export=pair / ORIGINAL)
    page = wizard.export_page
    qtbot.waitUntil(lambda: page.notice.problems != [], timeout=TIMEOUT)
    assert "is a Diffusers model folder, not an msmodelslim export" in page.notice.plain_text()
    assert not wizard.button(Button.NextButton).isEnabled()

    empty = pair / "empty"
    empty.mkdir()
    page.field.set_path(str(empty))
    qtbot.waitUntil(lambda: "neither" in page.notice.plain_text(), timeout=TIMEOUT)
    assert not wizard.button(Button.NextButton).isEnabled()

    page.field.set_path(str(pair / EXPORT))  # fixing the field enables Next
    wait_next(qtbot, wizard)


def test_an_export_missing_an_expert_is_refused_with_the_reason(
    qtbot, bus, wizards, repack_pair
) -> None:
    import shutil

    pair = repack_pair("t2v-a14b")
    shutil.rmtree(pair / EXPORT / "low_noise_model")
    wizard = make_wizard(bus, wizards, qtbot, export=pair / EXPORT)
    page = wizard.export_page
    qtbot.waitUntil(lambda: page.notice.problems != [], timeout=TIMEOUT)
    assert "low_noise_model" in page.notice.plain_text()
    assert not wizard.button(Button.NextButton).isEnabled()


def test_the_wrong_original_is_refused_at_its_field(qtbot, bus, wizards, repack_pair) -> None:
    t2v, i2v, ti2v = repack_pair("t2v-a14b"), repack_pair("i2v-a14b"), repack_pair("ti2v-5b")
    wizard = make_wizard(bus, wizards, qtbot, export=t2v / EXPORT, original=ti2v / ORIGINAL)
    click_next(qtbot, wizard)
    page = wizard.original_page
    qtbot.waitUntil(lambda: page.notice.problems != [], timeout=TIMEOUT)
    assert Path(page.field.path()) == ti2v / ORIGINAL, "a given original is never replaced"
    assert "different models" in page.notice.plain_text()
    assert not wizard.button(Button.NextButton).isEnabled()

    # Same experts, other family: T2V export against the I2V original.
    page.field.set_path(str(i2v / ORIGINAL))
    qtbot.waitUntil(
        lambda: bool(page.notice.problems) and "different model" in page.notice.plain_text(),
        timeout=TIMEOUT,
    )
    assert not wizard.button(Button.NextButton).isEnabled()

    page.field.set_path(str(t2v / ORIGINAL))
    wait_next(qtbot, wizard)


def test_an_existing_output_is_refused_and_the_default_is_always_free(
    qtbot, bus, wizards, repack_pair
) -> None:
    pair = repack_pair("ti2v-5b")
    taken = pair / f"{EXPORT}-diffusers"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    wizard = make_wizard(bus, wizards, qtbot, export=pair / EXPORT)
    click_next(qtbot, wizard)
    click_next(qtbot, wizard)
    wait_next(qtbot, wizard)
    assert Path(wizard.output_page.field.path()) == pair / f"{EXPORT}-diffusers-2"

    wizard.output_page.field.set_path(str(taken))
    page = wizard.output_page
    qtbot.waitUntil(lambda: page.notice.problems != [], timeout=TIMEOUT)
    assert "already exists and is not empty" in page.notice.plain_text()
    assert not wizard.button(Button.NextButton).isEnabled()
    assert (taken / "keep.txt").read_text() == "mine"


def test_open_in_generate_sends_the_new_model_after_it_is_in_the_library(
    qtbot, bus, wizards, repack_pair
) -> None:
    pair = repack_pair("ti2v-5b")
    wizard = make_wizard(bus, wizards, qtbot, export=pair / EXPORT)
    for _ in range(3):
        click_next(qtbot, wizard)
    wizard.button(Button.NextButton).click()
    qtbot.waitUntil(lambda: wizard.currentId() == wizard.DONE, timeout=TIMEOUT)
    done = wizard.done_page
    done.name.setText("TI2V MXFP8")
    done.open.setChecked(True)
    used, shown = [], []
    bus.use_model.connect(used.append)
    bus.show_workspace.connect(shown.append)
    with qtbot.waitSignal(bus.use_model, timeout=TIMEOUT):
        wizard.button(Button.FinishButton).click()
    output = pair / f"{EXPORT}-diffusers"
    assert used == [str(output)] and shown == ["Generate"]
    assert Library().find_folder(output).name == "TI2V MXFP8"

    # Unchecking "Add to library" also disables "Open in Generate" (it picks from the library).
    done.add.setChecked(False)
    assert not done.open.isEnabled() and not done.open.isChecked()


def test_inputs_changed_after_planning_fail_cleanly_and_back_plans_again(
    qtbot, bus, wizards, repack_pair
) -> None:
    pair = repack_pair("ti2v-5b")
    wizard = make_wizard(bus, wizards, qtbot, export=pair / EXPORT)
    for _ in range(3):
        click_next(qtbot, wizard)
    output = Path(wizard.output_page.field.path())
    weights = next((pair / EXPORT).glob("quant_model_weight*.safetensors"))
    weights.write_bytes(weights.read_bytes())  # same bytes, new mtime: "changed"
    wizard.button(Button.NextButton).click()
    qtbot.waitUntil(lambda: wizard.run_page.state == "failed", timeout=TIMEOUT)
    text = wizard.run_page.notice.plain_text()
    assert "changed" in text and "No temporary folder was left behind" in text
    assert not output.exists() and leftovers(output) == []

    wizard.button(Button.BackButton).click()
    wait_next(qtbot, wizard)  # the summary planned again against the current files
    wizard.button(Button.NextButton).click()
    qtbot.waitUntil(lambda: wizard.currentId() == wizard.DONE, timeout=TIMEOUT)


def test_closing_the_window_during_a_run_cancels_it_then_closes(
    qtbot, bus, wizards, repack_pair, monkeypatch
) -> None:
    import core.repack.runner as runner

    entered, gate = threading.Event(), threading.Event()
    real_copy = runner.copy_range

    def gated_copy(*args, **kwargs):
        entered.set()
        gate.wait(20)
        return real_copy(*args, **kwargs)

    monkeypatch.setattr(runner, "copy_range", gated_copy)
    pair = repack_pair("ti2v-5b")
    wizard = make_wizard(bus, wizards, qtbot, export=pair / EXPORT)
    for _ in range(3):
        click_next(qtbot, wizard)
    output = Path(wizard.output_page.field.path())
    wizard.button(Button.NextButton).click()
    qtbot.waitUntil(entered.is_set, timeout=TIMEOUT)
    wizard.close()
    assert wizard.isVisible(), "it closes only once the run has stopped"
    gate.set()
    qtbot.waitUntil(lambda: not wizard.isVisible(), timeout=TIMEOUT)
    assert not output.exists() and leftovers(output) == []


# ---- pure helpers ----------------------------------------------------------------------------


def test_check_original_keeps_input_problems_and_drops_the_probe_location(repack_pair) -> None:
    from gui.wizard.findings import check_original

    pair = repack_pair("ti2v-5b")
    ok = check_original(pair / ORIGINAL, pair / EXPORT, "ti2v-5b")
    assert ok.ok and ok.family == "ti2v-5b" and ok.transformers == ["transformer"]
    assert ok.is_demo
    # A family stated by the export's native config that the original contradicts.
    wrong = check_original(pair / ORIGINAL, pair / EXPORT, "t2v-a14b")
    assert not wrong.ok and "Wan2.2-T2V-A14B" in wrong.problems[0]
    missing = check_original(pair / "nope", pair / EXPORT)
    assert missing.problems == [f"{pair / 'nope'} does not exist"]


def test_default_output_picks_a_free_name_next_to_the_export(tmp_path) -> None:
    from gui.wizard.findings import default_output

    export = tmp_path / "export"
    export.mkdir()
    assert default_output(export) == tmp_path / "export-diffusers"
    (tmp_path / "export-diffusers").mkdir()
    (tmp_path / "export-diffusers-2").write_text("")
    assert default_output(export) == tmp_path / "export-diffusers-3"


def test_examine_export_reads_description_counts(repack_pair) -> None:
    from gui.wizard.findings import examine_export

    pair = repack_pair("t2v-a14b")
    findings = examine_export(pair / EXPORT)
    assert findings.ok and findings.family == "t2v-a14b"
    assert [e.name for e in findings.experts] == ["high_noise_model", "low_noise_model"]
    high = findings.experts[0]
    assert high.quantized_layers == 20
    assert sorted(high.rotations) == ["blocks.1.self_attn.k_rot", "blocks.1.self_attn.q_rot"]
    assert high.attention_metadata == ["blocks.1.self_attn.quant_type"]
    description = json.loads(
        (pair / EXPORT / "high_noise_model" / high.description_file).read_text("utf-8")
    )
    # FLOAT tensors of the model: the rotations are FLOAT too, but listed (and skipped) apart.
    floats = [k for k, v in description.items() if v == "FLOAT" and not k.endswith("_rot")]
    assert high.float_tensors == len(floats) == 49


def test_latest_call_delivers_only_the_newest_result_and_nothing_after_close(qtbot, bus) -> None:
    from gui.wizard.background import LatestCall

    caller = LatestCall(bus)
    slow = threading.Event()
    got = []

    def first() -> str:
        slow.wait(10)
        return "first"

    caller.call(first, got.append)
    caller.call(lambda: "second", got.append)
    qtbot.waitUntil(lambda: got == ["second"], timeout=TIMEOUT)
    assert caller.busy  # the superseded call is still running
    slow.set()
    qtbot.waitUntil(lambda: not caller.busy, timeout=TIMEOUT)
    assert got == ["second"], "a stale answer must never be delivered"

    caller.call(lambda: "late", got.append)
    caller.close()
    bus.engine.shutdown(20000)  # waits for the pool: the call has finished
    qtbot.wait(50)
    assert got == ["second"]


def test_task_thread_reports_progress_result_and_cancel(qtbot) -> None:
    from core.progress import Progress
    from gui.wizard.background import TaskThread

    def work(progress, cancel):
        for i in range(3):
            progress(Progress("step", i + 1, 3))
        return "result"

    seen, results = [], []
    task = TaskThread(work)
    task.progress.connect(lambda p: seen.append(p.done))
    task.succeeded.connect(results.append)
    with qtbot.waitSignals([task.succeeded, task.finished], timeout=TIMEOUT):
        task.start()
    assert seen == [1, 2, 3] and results == ["result"]
    assert not task.running and task.wait(1000)

    release = threading.Event()

    def waits(progress, cancel):
        release.wait(10)
        cancel.raise_if_cancelled()
        return "never"

    stopped = TaskThread(waits)
    with qtbot.waitSignal(stopped.cancelled, timeout=TIMEOUT) as cancelled:
        stopped.start()
        stopped.cancel("stop please")
        release.set()
    assert cancelled.args == ["stop please"]
    assert stopped.wait(5000)
