"""The progress panel follows core events: stage states, step/overall bars, rate, ETA, expert
switch and the outcome."""

from __future__ import annotations

import dataclasses

from core.generate import events as ev
from gui.widgets.progress_panel import (
    _DEFAULT_LABELS,
    CANCELLED,
    DONE,
    FAILED,
    PENDING,
    RUNNING,
    SKIPPED,
    ProgressPanel,
    format_seconds,
    stages_for,
)


def _step(stage, expert, index, total, overall_index, overall_total, overall):
    return ev.Step(
        stage=stage,
        expert=expert,
        index=index,
        total=total,
        overall_index=overall_index,
        overall_total=overall_total,
        it_per_s=2.5,
        eta_seconds=65.0,
        timestep=500.0,
        overall=overall,
    )


def _plan(steps=8, switch=6):
    return ev.Plan(
        width=128,
        height=128,
        frames=9,
        fps=16,
        steps=steps,
        high_steps=switch,
        low_steps=steps - switch,
        switch_step=switch,
        device="cpu",
        dtype="float32",
        offload="none",
        memory={"peak": 3 * 2**30},
    )


def test_fallback_labels_match_core() -> None:
    assert _DEFAULT_LABELS == ev.STAGE_LABELS
    assert set(stages_for(2)) | set(stages_for(1)) == set(ev.STAGES)


def test_two_expert_run_walks_through_every_state(qtbot) -> None:
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.start(experts=2)
    assert panel.running
    assert set(panel.stages.states().values()) == {PENDING}
    panel.handle_event(ev.StageSkipped(stage="load", reason="model already loaded", overall=0.1))
    panel.handle_event(_plan())
    assert panel.expert_label.text() == "high-noise expert → low-noise at step 6/8"
    assert "128×128, 9 frames @ 16 fps on cpu" in panel.status_label.text()
    assert "MXFP8" not in panel.status_label.text()
    mxfp8 = dataclasses.replace(
        _plan(), quant="mxfp8-offline", backend="reference", quantized_layers=40
    )
    panel.handle_event(mxfp8)
    assert panel.status_label.text().endswith(", MXFP8: 40 layers via reference)")
    panel.handle_event(ev.StageStarted(stage="encode", label="Encoding prompt", overall=0.1))
    assert panel.stages.state("encode") == RUNNING
    panel.handle_event(ev.StageFinished(stage="encode", seconds=0.25, overall=0.15))
    panel.handle_event(ev.StageStarted(stage="denoise_high", label="", overall=0.15))
    panel.handle_event(_step("denoise_high", "high", 3, 6, 3, 8, 0.4))
    assert panel.step_bar.value() == 3 and panel.step_bar.maximum() == 8
    assert panel.step_bar.format() == "3/8  (high-noise 3/6)"
    assert panel.rate_label.text() == "2.50 it/s"
    assert panel.eta_label.text() == "ETA 1:05"
    assert panel.overall_bar.value() == 400
    panel.handle_event(ev.StageFinished(stage="denoise_high", seconds=1.0, overall=0.6))
    panel.handle_event(ev.ExpertSwitch(step=6, total=8, overall=0.6))
    assert "switched" in panel.expert_label.text()
    panel.handle_event(ev.StageStarted(stage="denoise_low", label="", overall=0.6))
    # an out-of-order overall value never moves the bar back
    panel.handle_event(_step("denoise_low", "low", 1, 2, 7, 8, 0.55))
    assert panel.overall_bar.value() == 600
    states = panel.stages.states()
    assert states == {
        "load": SKIPPED,
        "encode": DONE,
        "denoise_high": DONE,
        "denoise_low": RUNNING,
        "decode": PENDING,
        "write": PENDING,
    }
    assert panel.stages.rows["encode"].info.text() == "0.2 s"
    assert panel.stages.rows["load"].info.text() == "model already loaded"

    panel.handle_event(ev.Cancelled(stage="denoise_low", overall=0.6))
    assert panel.stages.state("denoise_low") == CANCELLED
    assert panel.outcome == CANCELLED and not panel.running
    assert "Nothing was written" in panel.status_label.text()


def test_failure_marks_the_stage_and_stops_the_clock(qtbot) -> None:
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.start(experts=1)
    panel.handle_event(ev.StageStarted(stage="decode", label="", overall=0.8))
    panel.handle_event(ev.Failed(message="NaN in latents", hint="use bf16", stage="decode"))
    assert panel.stages.state("decode") == FAILED
    assert panel.outcome == FAILED and not panel.running
    assert panel.status_label.text() == "Failed: NaN in latents"


def test_plan_where_the_low_noise_expert_never_runs(qtbot) -> None:
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    panel.start(experts=2)
    panel.handle_event(_plan(steps=2, switch=2))
    assert panel.expert_label.text().startswith("High-noise expert for all 2 steps")


def test_format_seconds() -> None:
    assert format_seconds(None) == "--:--"
    assert format_seconds(7.4) == "0:07"
    assert format_seconds(65) == "1:05"
    assert format_seconds(3723) == "1:02:03"


def test_idle_bars_show_no_words_only_values_once_running(qtbot) -> None:
    """An idle bar with "Steps" inside reads like a value; the captions sit beside the bars."""
    panel = ProgressPanel()
    qtbot.addWidget(panel)
    for bar in (panel.step_bar, panel.overall_bar):
        assert not bar.isTextVisible() and bar.text() == ""
    panel.start(experts=2)
    panel.handle_event(_plan())
    assert panel.step_bar.isTextVisible() and panel.step_bar.text() == "0/8"
    panel.handle_event(_step("denoise_high", "high", 1, 6, 1, 8, 0.25))
    assert panel.overall_bar.isTextVisible() and panel.overall_bar.text() == "25%"
    panel.reset(experts=2)
    for bar in (panel.step_bar, panel.overall_bar):
        assert not bar.isTextVisible() and bar.text() == ""
