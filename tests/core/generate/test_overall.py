"""Overall progress: stage weights and a monotonic fraction."""

from __future__ import annotations

import pytest

from core.generate.overall import DECODE_SHARE, LOAD_STEPS, OverallProgress


def test_weights_follow_steps_and_the_vae() -> None:
    plan = OverallProgress.estimate(30, 10, two_experts=True, wan22_vae=False, loading=False)
    assert plan.weights["denoise_high"] == 30 and plan.weights["denoise_low"] == 10
    assert plan.weights["decode"] == pytest.approx(DECODE_SHARE["wan21"] * 40)
    assert "load" not in plan.weights
    ti2v = OverallProgress.estimate(50, 0, two_experts=False, wan22_vae=True, loading=True)
    assert ti2v.weights["load"] == LOAD_STEPS and ti2v.weights["denoise"] == 50
    assert ti2v.weights["decode"] == pytest.approx(35.0)


def test_fraction_is_monotonic_through_the_stages() -> None:
    plan = OverallProgress.estimate(6, 2, two_experts=True, wan22_vae=False, loading=True)
    points = []
    for stage in plan.weights:
        for f in (0.0, 0.5, 1.0):
            points.append(plan.at(stage, f))
    assert points == sorted(points)
    assert points[0] == 0.0 and points[-1] == pytest.approx(1.0)
    assert plan.at("not-a-stage", 0.5) == 0.0


def test_measured_seconds_replace_the_estimates() -> None:
    measured = {"encode": 1.0, "denoise_high": 6.0, "denoise_low": 2.0, "decode": 8.0, "write": 1.0}
    plan = OverallProgress.estimate(6, 2, True, False, loading=False, measured=measured)
    # 1 s per step, so weights equal the seconds: decode takes 8/18 of the job.
    assert plan.at("decode", 0.0) == pytest.approx(9 / 18)
    assert plan.at("write", 0.0) == pytest.approx(17 / 18)
