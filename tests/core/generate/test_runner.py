"""The staged runner on the demo models (CPU): stages, expert switch, cancel, failures, files."""

from __future__ import annotations

import math
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from core.generate import events as ev
from core.generate.runner import Runner
from core.generate.video import probe_video, read_record, read_request
from core.progress import CancelToken

from .conftest import Recorder, small_request


@pytest.fixture(scope="module")
def runner() -> Runner:
    """One runner per module: the demo model stays warm between tests like in the app."""
    return Runner(preview_fps=0)


def videos(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.mp4")) if folder.exists() else []


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_pre_hook(lambda _m, _a: calls.__setitem__(0, calls[0] + 1))
    return calls


# ---- two experts ----------------------------------------------------------------------------
def test_a14b_run_switches_experts_where_the_boundary_says(
    runner: Runner, demo_t2v: Path, out_dir: Path, recorder: Recorder
) -> None:
    request = small_request(demo_t2v, "t2v-a14b", out_dir, steps=8, frames=9)
    runner.run(small_request(demo_t2v, "t2v-a14b", out_dir))  # make sure the model is warm
    pipe = runner.loaded.pipe
    high_calls, low_calls = count_calls(pipe.transformer), count_calls(pipe.transformer_2)
    try:
        outcome = runner.run(request, recorder)
    finally:
        pipe.transformer._forward_pre_hooks.clear()
        pipe.transformer_2._forward_pre_hooks.clear()
    assert isinstance(outcome, ev.Done), getattr(outcome, "details", outcome)
    # Independent expectation: UniPC with shift 12 and 8 steps gives timesteps
    # 999, 988, 973, 952, 923, 878 (>= 875: high) and 800, 633 (low).
    switch = recorder.of("expert_switch")
    assert [(s.step, s.total) for s in switch] == [(6, 8)]
    assert switch[0].label == "high → low at step 6/8"
    plan = recorder.of("plan")[0]
    assert (plan.high_steps, plan.low_steps, plan.switch_step) == (6, 2, 6)
    steps = recorder.of("step")
    assert [s.expert for s in steps] == ["high"] * 6 + ["low"] * 2
    assert [s.overall_index for s in steps] == list(range(1, 9))
    assert [(s.index, s.total) for s in steps[5:7]] == [(6, 6), (1, 2)]
    assert [round(s.timestep) for s in steps] == [999, 988, 973, 952, 923, 878, 800, 633]
    # Guidance > 1: two transformer calls (cond + uncond) per step, each on the right expert.
    assert (high_calls[0], low_calls[0]) == (12, 4)
    assert recorder.stages_started() == ["encode", "denoise_high", "denoise_low", "decode", "write"]
    assert recorder.kinds()[0] == "started" and recorder.kinds()[-1] == "done"


def test_events_carry_a_monotonic_overall_fraction(
    runner: Runner, demo_t2v: Path, out_dir: Path, recorder: Recorder
) -> None:
    outcome = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir, steps=4), recorder)
    assert isinstance(outcome, ev.Done)
    fractions = [e.overall for e in recorder.events]
    assert fractions == sorted(fractions)
    assert fractions[-1] == pytest.approx(1.0)
    stamps = [e.timestamp for e in recorder.events]
    assert stamps == sorted(stamps)
    step = recorder.of("step")[-1]
    assert step.it_per_s > 0 and step.eta_seconds == pytest.approx(0.0)


def test_done_writes_a_playable_video_with_its_request(
    runner: Runner, demo_t2v: Path, out_dir: Path
) -> None:
    request = small_request(demo_t2v, "t2v-a14b", out_dir, frames=9, fps=16, seed=None)
    outcome = runner.run(request)
    assert isinstance(outcome, ev.Done)
    info = probe_video(outcome.video)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height, info.frames, info.fps) == (64, 64, 9, 16.0)
    assert 0 <= outcome.seed < 2**32  # a random seed was drawn and recorded
    restored = read_request(outcome.video)
    assert restored == request.replace(seed=outcome.seed)
    record = read_record(outcome.video)
    assert record.source == "metadata" and record.demo
    assert record.data["note"] == "demo model: random weights"
    assert info.tags["description"] == "demo model: random weights"
    sidecar = read_record(outcome.video).data
    assert sidecar["family"] == "t2v-a14b"
    import json

    side = json.loads(Path(outcome.sidecar).read_text("utf-8"))
    assert side["demo"] is True and side["seed"] == outcome.seed
    assert side["load_report"]["quant"] == "none"
    assert set(side["timings"]) >= {"encode", "denoise_high", "decode", "write", "total"}
    assert side["app"].startswith("wan-studio ")
    assert Image.open(outcome.poster).size == (64, 64)


def test_same_seed_same_video_and_warm_reuse(
    runner: Runner, demo_t2v: Path, out_dir: Path, recorder: Recorder
) -> None:
    first = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir, seed=11))
    loads = runner.loads
    second = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir, seed=11), recorder)
    assert runner.loads == loads  # no reload
    skipped = recorder.of("stage_skipped")
    # Two steps at shift 12 are both above the boundary: the low-noise expert never runs.
    assert [s.stage for s in skipped] == ["load", "denoise_low"]
    assert "low-noise expert is not used" in skipped[1].reason
    assert "load" not in recorder.stages_started() and "load" not in second.timings
    assert first.video != second.video  # a new name, never an overwrite
    a = np.stack(imageio.mimread(first.video, format="FFMPEG"))
    b = np.stack(imageio.mimread(second.video, format="FFMPEG"))
    assert np.array_equal(a, b)


def test_forced_swap_moves_experts_at_the_switch_and_changes_nothing(
    runner: Runner, demo_t2v: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    swapping = Runner(preview_fps=0, offload="swap")
    reference = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir, steps=8, seed=3))
    recorder = Recorder()
    moves: list[tuple[str, str, int]] = []
    original = Runner._move

    def record_move(self: Runner, module, device: str, onload: bool) -> None:
        pipe = self.loaded.pipe
        names = ("text_encoder", "transformer", "transformer_2", "vae")
        name = next(n for n in names if getattr(pipe, n) is module)
        moves.append((name, "on" if onload else "off", len(recorder.of("step"))))
        original(self, module, device, onload)

    monkeypatch.setattr(Runner, "_move", record_move)
    request = small_request(demo_t2v, "t2v-a14b", out_dir, steps=8, seed=3)
    swapped = swapping.run(request, recorder)
    assert recorder.of("plan")[0].offload == "swap"
    # Encode: only the text encoder on the device; denoise: the high-noise expert, swapped for
    # the low-noise one right after step 6 (the switch); decode: no expert on the device.
    assert moves == [
        ("transformer", "off", 0),
        ("transformer_2", "off", 0),
        ("text_encoder", "on", 0),
        ("text_encoder", "off", 0),
        ("transformer_2", "off", 0),
        ("transformer", "on", 0),
        ("transformer", "off", 6),
        ("transformer_2", "on", 6),
        ("transformer", "off", 8),
        ("transformer_2", "off", 8),
    ]
    a = np.stack(imageio.mimread(reference.video, format="FFMPEG"))
    b = np.stack(imageio.mimread(swapped.video, format="FFMPEG"))
    assert np.array_equal(a, b)


def test_previews_are_small_uint8_images(demo_t2v: Path, out_dir: Path, recorder: Recorder) -> None:
    runner = Runner(preview_fps=0.001, preview_frames=2)  # at most one preview per run
    outcome = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir, frames=9), recorder)
    assert isinstance(outcome, ev.Done)
    previews = recorder.of("preview")
    assert len(previews) == 1  # throttled: the first step only
    image = previews[0].image
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert previews[0].frames == [0, 2] and previews[0].step == 1
    assert image.shape == (8, 16, 3)  # 8x8 latents, two frames side by side
    assert image.std() > 0
    assert "preview" in outcome.timings


# ---- cancel and failures --------------------------------------------------------------------
def test_cancel_at_step_k_stops_before_decode_and_writes_nothing(
    runner: Runner, demo_t2v: Path, out_dir: Path, recorder: Recorder
) -> None:
    token = CancelToken()

    def on_event(event: ev.Event) -> None:
        recorder(event)
        if event.kind == "step" and event.overall_index == 2:
            token.cancel()

    outcome = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir, steps=4), on_event, token)
    assert isinstance(outcome, ev.Cancelled) and outcome.stage == "denoise_high"
    assert recorder.kinds()[-1] == "cancelled"
    assert [s.overall_index for s in recorder.of("step")] == [1, 2]
    assert "decode" not in recorder.stages_started()
    assert videos(out_dir) == [] and not (out_dir.exists() and any(out_dir.iterdir()))
    assert isinstance(runner.run(small_request(demo_t2v, "t2v-a14b", out_dir)), ev.Done)


def test_cancel_inside_a_step_stops_before_the_next_block(
    runner: Runner, demo_t2v: Path, out_dir: Path, recorder: Recorder
) -> None:
    runner.run(small_request(demo_t2v, "t2v-a14b", out_dir / "warm-up"))
    blocks = runner.loaded.pipe.transformer.blocks
    token = CancelToken()
    second_block = [0]
    h1 = blocks[0].register_forward_hook(lambda *_: token.cancel("stop"))
    h2 = blocks[1].register_forward_hook(lambda *_: second_block.__setitem__(0, 1))
    try:
        outcome = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir), recorder, token)
    finally:
        h1.remove()
        h2.remove()
    assert isinstance(outcome, ev.Cancelled) and outcome.reason == "stop"
    assert second_block[0] == 0 and recorder.of("step") == []
    assert videos(out_dir) == []


def test_nan_latents_fail_with_a_hint_and_the_runner_recovers(
    runner: Runner, demo_t2v: Path, out_dir: Path, recorder: Recorder
) -> None:
    runner.run(small_request(demo_t2v, "t2v-a14b", out_dir / "warm-up"))
    transformer = runner.loaded.pipe.transformer

    def poison(_module, _args, _kwargs, output):
        return (torch.full_like(output[0], math.nan),)

    handle = transformer.register_forward_hook(poison, with_kwargs=True)
    try:
        outcome = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir), recorder)
    finally:
        handle.remove()
    assert isinstance(outcome, ev.Failed)
    assert "NaN/Inf" in outcome.message and "step 1/2 (high expert)" in outcome.message
    assert "bfloat16" in outcome.hint and "quantized" in outcome.hint
    assert outcome.stage == "denoise_high"
    assert "decode" not in recorder.stages_started() and videos(out_dir) == []
    assert isinstance(runner.run(small_request(demo_t2v, "t2v-a14b", out_dir)), ev.Done)


def test_out_of_memory_at_decode_fails_with_a_hint(
    runner: Runner, demo_t2v: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner.run(small_request(demo_t2v, "t2v-a14b", out_dir / "warm-up"))
    vae = runner.loaded.pipe.vae

    def no_memory(*_args, **_kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(vae, "decode", no_memory)
    outcome = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir))
    assert isinstance(outcome, ev.Failed) and outcome.stage == "decode"
    assert outcome.message == "out of memory while decoding video (vae)"
    assert "Reduce the size" in outcome.hint and "OutOfMemoryError" in outcome.details
    assert videos(out_dir) == []


def test_invalid_requests_fail_before_any_work(
    runner: Runner, demo_t2v: Path, out_dir: Path
) -> None:
    loads = runner.loads
    bad = small_request(demo_t2v, "t2v-a14b", out_dir, width=70, frames=6)
    recorder = Recorder()
    outcome = runner.run(bad, recorder)
    assert isinstance(outcome, ev.Failed)
    assert "width 70 is not a multiple of 16" in outcome.message
    assert "nearest valid: 5" in outcome.message or "nearest valid: 9" in outcome.message
    assert "(use 64)" in outcome.details
    assert recorder.kinds() == ["failed"] and runner.loads == loads


def test_unknown_model_fails_cleanly(runner: Runner, tmp_path: Path, out_dir: Path) -> None:
    outcome = runner.run(small_request(tmp_path / "nowhere", "t2v-a14b", out_dir))
    assert isinstance(outcome, ev.Failed) and "does not exist" in outcome.message


def test_a_failing_listener_cannot_hide_the_outcome(
    runner: Runner, demo_t2v: Path, out_dir: Path
) -> None:
    def explode(event: ev.Event) -> None:
        raise RuntimeError("listener bug")

    outcome = runner.run(small_request(demo_t2v, "t2v-a14b", out_dir), explode)
    assert isinstance(outcome, ev.Failed) and "listener bug" in outcome.message


def test_changing_quant_mode_reloads(
    runner: Runner, demo_t2v: Path, out_dir: Path, recorder: Recorder
) -> None:
    runner.run(small_request(demo_t2v, "t2v-a14b", out_dir, quant="none"), recorder)
    plan = recorder.of("plan")[0]
    assert (plan.quant, plan.backend, plan.quantized_layers) == ("none", None, 0)
    loads = runner.loads
    recorder.events.clear()
    outcome = runner.run(
        small_request(demo_t2v, "t2v-a14b", out_dir, quant="mxfp8-online"), recorder
    )
    plan = recorder.of("plan")[0]  # the user sees MXFP8 in use before the first step
    assert (plan.quant, plan.backend, plan.quantized_layers) == ("mxfp8-online", "reference", 40)
    assert isinstance(outcome, ev.Done), getattr(outcome, "details", outcome)
    assert runner.loads == loads + 1
    report = outcome.load_report
    assert report["quant"] == "mxfp8-online"
    # 10 block linears x 2 layers x 2 experts in the demo model.
    assert report["layers_quantized"] == 40
    assert read_request(outcome.video).quant == "mxfp8-online"


def test_demo_name_creates_the_demo_model_when_missing(app_home: Path, out_dir: Path) -> None:
    recorder = Recorder()
    outcome = Runner(preview_fps=0).run(
        small_request(Path("demo"), "t2v-a14b", out_dir).replace(model="demo"), recorder
    )
    assert isinstance(outcome, ev.Done), getattr(outcome, "details", outcome)
    created = app_home / "data" / "models" / "demo-t2v-a14b"
    assert (created / "model_index.json").is_file() and (created / "wan_studio.json").is_file()
    assert any("created it (random weights)" in w.message for w in recorder.of("warning"))
    assert outcome.demo and outcome.load_report["folder"] == str(created)


# ---- image families -------------------------------------------------------------------------
def test_ti2v_text_only(runner: Runner, demo_ti2v: Path, out_dir: Path, recorder: Recorder) -> None:
    outcome = runner.run(small_request(demo_ti2v, "ti2v-5b", out_dir), recorder)
    assert isinstance(outcome, ev.Done), getattr(outcome, "details", outcome)
    assert recorder.stages_started() == ["load", "encode", "denoise", "decode", "write"]
    assert recorder.of("expert_switch") == []
    assert {s.expert for s in recorder.of("step")} == {"single"}
    assert probe_video(outcome.video).frames == 5


def test_ti2v_with_an_image_follows_its_aspect(
    runner: Runner, demo_ti2v: Path, out_dir: Path, tmp_path: Path, recorder: Recorder
) -> None:
    picture = tmp_path / "wide.png"
    Image.new("RGB", (200, 100), (255, 0, 0)).save(picture)
    request = small_request(demo_ti2v, "ti2v-5b", out_dir, image=str(picture), width=96, height=96)
    outcome = runner.run(request, recorder)
    assert isinstance(outcome, ev.Done), getattr(outcome, "details", outcome)
    plan = recorder.of("plan")[0]
    assert (plan.width, plan.height) == (128, 64)  # 2:1 within 96x96's area, multiples of 32
    info = probe_video(outcome.video)
    assert (info.width, info.height) == (128, 64)
    assert read_request(outcome.video).image == str(picture)
    # The expand_timesteps pipeline keeps the first latent frame equal to the image's latents,
    # so with an image the run differs from a text-only run of the same seed.
    text_only = runner.run(small_request(demo_ti2v, "ti2v-5b", out_dir, width=128, height=64))
    a = np.stack(imageio.mimread(outcome.video, format="FFMPEG"))
    b = np.stack(imageio.mimread(text_only.video, format="FFMPEG"))
    assert not np.array_equal(a, b)


def test_i2v_with_an_image(
    runner: Runner, demo_i2v: Path, out_dir: Path, tmp_path: Path, recorder: Recorder
) -> None:
    picture = tmp_path / "tall.jpg"
    Image.new("RGB", (90, 160), (0, 128, 255)).save(picture)
    request = small_request(demo_i2v, "i2v-a14b", out_dir, image=str(picture), steps=4)
    outcome = runner.run(request, recorder)
    assert isinstance(outcome, ev.Done), getattr(outcome, "details", outcome)
    plan = recorder.of("plan")[0]
    assert plan.width < plan.height and plan.width % 16 == 0 and plan.height % 16 == 0
    assert plan.width * plan.height <= 64 * 64
    assert recorder.of("expert_switch")[0].step == plan.high_steps
    assert picture.read_bytes()[:2] == b"\xff\xd8"  # the input is untouched (still a JPEG)


def test_i2v_image_fit_crop_gives_the_exact_size(
    runner: Runner, demo_i2v: Path, out_dir: Path, tmp_path: Path
) -> None:
    picture = tmp_path / "tall.png"
    Image.new("RGB", (90, 160), (0, 128, 255)).save(picture)
    request = small_request(
        demo_i2v, "i2v-a14b", out_dir, image=str(picture), image_fit="crop", width=96, height=64
    )
    outcome = runner.run(request)
    assert isinstance(outcome, ev.Done)
    assert (outcome.width, outcome.height) == (96, 64)
