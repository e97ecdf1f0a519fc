"""Batches from the Generate form: a count with seed +1 or random seeds, a prompt list (typed
or from a .txt), the button saying how many jobs; seeds are fixed when the jobs are added."""

from __future__ import annotations

from core.generate.request import RANDOM_SEED_LIMIT
from core.queue.store import QUEUED
from tests.gui.queue_support import fill_tiny


def _paused_ws(window):
    window.bus.queue.set_paused(True)  # these tests look at the jobs, not at their runs
    return window.workspaces["Generate"]


def test_count_with_seed_plus_one(qtbot, queue_window) -> None:
    ws = _paused_ws(queue_window)
    fill_tiny(ws, "a fox", seed=100)
    assert not ws.run_bar.seed_mode.isEnabled()  # one job: nothing to vary
    ws.run_bar.count.setValue(3)
    assert ws.run_bar.seed_mode.isEnabled()
    assert ws.generate_button.text() == "Add 3 jobs"  # paused: they will not start at once
    ids = ws.generate()
    jobs = [queue_window.bus.queue.store.get(i) for i in ids]
    assert [job.seed for job in jobs] == [100, 101, 102]
    assert {job.state for job in jobs} == {QUEUED}
    assert len({job.batch for job in jobs}) == 1 and jobs[0].batch
    assert {job.request["prompt"] for job in jobs} == {"a fox"}


def test_count_with_random_seeds_fixed_at_add_time(qtbot, queue_window) -> None:
    ws = _paused_ws(queue_window)
    fill_tiny(ws, "a fox", seed=None)  # random seed in the form
    ws.run_bar.count.setValue(4)
    ws.run_bar.seed_mode.setCurrentIndex(ws.run_bar.seed_mode.findData("random"))
    ids = ws.generate()
    seeds = [queue_window.bus.queue.store.get(i).seed for i in ids]
    assert len(seeds) == 4 and len(set(seeds)) == 4
    assert all(isinstance(s, int) and 0 <= s < RANDOM_SEED_LIMIT for s in seeds)
    # The Queue panel shows the seed each job will use.
    panel = queue_window.workspaces["Queue"].panel
    shown = [panel.model.index(r, 3).data() for r in range(panel.model.rowCount())]
    assert shown == [str(s) for s in seeds]


def test_prompt_list_typed_and_loaded_from_a_file(qtbot, queue_window, tmp_path) -> None:
    ws = _paused_ws(queue_window)
    fill_tiny(ws, "the form's prompt", seed=5)
    bar = ws.run_bar
    bar.edit_prompts()
    dialog = bar.prompt_dialog
    dialog.editor.setPlainText("a red fox\n\n# a comment\na lighthouse at dusk\n")
    assert dialog.count_label.text() == "2 prompts"
    text = tmp_path / "prompts.txt"
    text.write_text("a paper boat\n# skip\na cat on a roof\na snowy owl\n", "utf-8")
    assert dialog.load_file(str(text))
    assert dialog.prompts() == ["a paper boat", "a cat on a roof", "a snowy owl"]
    assert not dialog.load_file(str(tmp_path / "missing.txt"))  # reason shown, list kept
    assert "is not a file" in dialog.error_label.text()
    assert dialog.prompts() == ["a paper boat", "a cat on a roof", "a snowy owl"]
    dialog.accept()
    assert bar.prompts == ["a paper boat", "a cat on a roof", "a snowy owl"]
    assert "3 prompts" in bar.prompts_label.text()
    bar.count.setValue(2)
    assert ws.generate_button.text() == "Add 6 jobs"
    ids = ws.generate()
    jobs = [queue_window.bus.queue.store.get(i) for i in ids]
    assert [job.label for job in jobs] == [
        "a paper boat",
        "a paper boat",
        "a cat on a roof",
        "a cat on a roof",
        "a snowy owl",
        "a snowy owl",
    ]
    assert [job.seed for job in jobs] == [5, 6, 7, 8, 9, 10]
    bar.clear_prompts.click()
    assert bar.prompts == [] and ws.generate_button.text() == "Add 2 jobs"


def test_an_idle_queue_says_generate_with_the_job_count(qtbot, queue_window) -> None:
    ws = queue_window.workspaces["Generate"]
    fill_tiny(ws, "a fox", seed=1)
    assert ws.generate_button.text() == "Generate"
    ws.run_bar.count.setValue(4)
    assert ws.generate_button.text() == "Generate 4 jobs"
    queue_window.bus.queue.set_paused(True)
    assert ws.generate_button.text() == "Add 4 jobs"
