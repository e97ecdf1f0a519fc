"""Creating a demo model reports its steps (the GUI shows them so it never looks frozen)."""

from __future__ import annotations

from core.models.demo import DEMO_STEPS, create_demo_model, is_demo_model
from core.models.library import Library
from core.progress import Progress


def test_every_step_is_reported_in_order_before_it_runs(tmp_path) -> None:
    seen: list[Progress] = []
    folder = create_demo_model("ti2v-5b", tmp_path / "demo", progress=seen.append)
    assert is_demo_model(folder)
    assert [p.stage for p in seen] == [key for key, _ in DEMO_STEPS]
    assert [p.done for p in seen] == list(range(len(DEMO_STEPS)))
    assert {p.total for p in seen} == {len(DEMO_STEPS)}
    assert [p.message for p in seen] == [label for _, label in DEMO_STEPS]


def test_library_passes_progress_through_and_is_silent_when_the_model_exists() -> None:
    seen: list[Progress] = []
    entry = Library().ensure_demo("ti2v-5b", progress=seen.append)
    assert len(seen) == len(DEMO_STEPS) and is_demo_model(entry.path)
    again: list[Progress] = []
    assert Library().ensure_demo("ti2v-5b", progress=again.append).path == entry.path
    assert again == []  # nothing to make
