"""`wan-studio generate` pieces: option parsing, request building, presets, progress display."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from core.commands import generate, terminal
from core.commands import request_args as command
from core.generate import events as ev


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    generate.register(parser)
    return parser.parse_args(list(argv))


def test_parse_size_and_guidance() -> None:
    assert command.parse_size("1280x720") == (1280, 720)
    assert command.parse_size("832*480") == (832, 480)
    with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
        command.parse_size("big")
    assert command.parse_guidance("4,3", experts=2) == (4.0, 3.0)
    assert command.parse_guidance("3.5", experts=2) == (3.5, 3.5)
    assert command.parse_guidance("5", experts=1) == (5.0, None)
    with pytest.raises(ValueError, match="one expert"):
        command.parse_guidance("4,3", experts=1)
    with pytest.raises(ValueError, match="not a number"):
        command.parse_guidance("high", experts=2)


def test_family_defaults_fill_what_is_not_given(demo_t2v: Path) -> None:
    request = command.build_request(
        parse("--model", str(demo_t2v), "--prompt", "a fox", "--steps", "6")
    )
    # A folder that is a demo model gets the demo's small defaults, official everything else.
    assert (request.width, request.height, request.frames, request.steps) == (128, 128, 9, 6)
    assert (request.guidance_high, request.guidance_low, request.shift) == (4.0, 3.0, 12.0)
    request = command.build_request(
        parse(
            "--model",
            "demo",
            "--prompt",
            "p",
            "--size",
            "64x48",
            "--guidance",
            "2,1",
            "--seed",
            "9",
        )
    )
    assert (request.model, request.width, request.height) == ("demo", 64, 48)
    assert (request.guidance_high, request.guidance_low, request.seed) == (2.0, 1.0, 9)


def test_unknown_model_is_bad_input() -> None:
    with pytest.raises(ValueError, match=r"--model: .*does not exist"):
        command.build_request(parse("--model", "/no/such/folder", "--prompt", "x"))


def test_preset_values_apply_before_explicit_options() -> None:
    request = command.build_request(
        parse(
            "--model", "demo:ti2v-5b", "--prompt", "x", "--preset", "fast preview", "--steps", "3"
        )
    )
    assert request.preset == "Fast preview"
    assert (request.width, request.height, request.frames) == (640, 352, 49)
    assert request.steps == 3  # the explicit option wins
    with pytest.raises(ValueError, match=r"--preset: .*available"):
        command.build_request(parse("--model", "demo", "--prompt", "x", "--preset", "nope"))


def sample_events() -> list[ev.Event]:
    return [
        ev.Started(request={}, seed=5, family="t2v-a14b", demo=True),
        ev.StageStarted(stage="denoise_high", label="Denoising (high-noise expert)", overall=0.5),
        ev.Step(
            stage="denoise_high",
            expert="high",
            index=1,
            total=1,
            overall_index=1,
            overall_total=2,
            it_per_s=2.5,
            eta_seconds=75.0,
            timestep=999.0,
            overall=0.6,
        ),
        ev.ExpertSwitch(step=1, total=2),
        ev.StageFinished(stage="denoise_high", seconds=0.4, overall=0.6),
    ]


def test_plain_progress_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    display = terminal.TerminalProgress(stream)
    for event in sample_events():
        display.on_event(event)
    display.close()
    lines = stream.getvalue().splitlines()
    assert lines[0] == "seed 5, t2v-a14b (demo model: random weights)"
    assert " 60% step 1/2 (high expert 1/1) 2.50 it/s, ETA 1:15" in lines
    assert "switching experts: high → low at step 1/2" in lines
    assert "\r" not in stream.getvalue()


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_single_updating_line_on_a_terminal() -> None:
    stream = FakeTTY()
    display = terminal.TerminalProgress(stream)
    for event in sample_events():
        display.on_event(event)
    display.close()
    text = stream.getvalue()
    assert "\r\x1b[K 60% step 1/2 (high expert 1/1) 2.50 it/s, ETA 1:15" in text
    assert text.count("\n") == 2  # only the notes end lines: seed line and the expert switch


def test_summary_is_json_ready() -> None:
    failed = ev.Failed(message="boom", hint="try again", stage="decode")
    data = terminal.summary(failed)
    assert data["status"] == "failed" and next(iter(data)) == "status"
    assert data["message"] == "boom" and "overall" not in data
