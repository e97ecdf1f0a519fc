"""LoRAs through the runner: applied per expert and reported, recorded in the MP4 and sidecar,
changed between runs without reloading, removed with the base output restored bit for bit;
the Lightning preset runs 4 transformer forwards where the official defaults run 80."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from core.generate.request import GenerationRequest, defaults_for
from core.generate.runner import Runner
from core.generate.video import read_request, sidecar_path
from core.lora.choice import LoraChoice
from core.lora.fixtures import write_lora
from core.presets import DISTILL_PRESET, builtin_presets
from tests.core.generate.conftest import Recorder, small_request


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner(preview_fps=0)


@pytest.fixture(scope="module")
def loras(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loras")
    return {
        "style": write_lora(root / "style.safetensors", "wan", seed=1, magnitude=0.2),
        "high": write_lora(root / "Wan22_T2V_HIGH_lightx2v_4step.safetensors", "wan", seed=2),
        "low": write_lora(root / "Wan22_T2V_LOW_lightx2v_4step.safetensors", "wan", seed=3),
        "wide": write_lora(root / "wide.safetensors", "wan", dim=96, ffn_dim=192),
    }


def _frames(video: str) -> np.ndarray:
    return np.stack(list(iio.imiter(video)))


def _run(runner: Runner, request: GenerationRequest) -> tuple[object, Recorder]:
    recorder = Recorder()
    return runner.run(request, recorder), recorder


def test_loras_are_reported_recorded_swapped_and_removed(
    runner: Runner, demo_t2v: Path, tmp_path: Path, loras: dict[str, Path]
) -> None:
    base, _ = _run(runner, small_request(demo_t2v, "t2v-a14b", tmp_path / "a"))
    loads = runner.loads

    pair = LoraChoice(path=str(loras["high"]), path_low=str(loras["low"]), strength_low=0.5)
    request = small_request(demo_t2v, "t2v-a14b", tmp_path / "b", loras=[pair])
    done, rec = _run(runner, request)
    assert done.kind == "done", getattr(done, "message", "")
    plan = rec.of("plan")[0]
    assert [
        (e["component"], Path(e["file"]).name, e["strength"], e["matched"]) for e in plan.loras
    ] == [
        ("transformer", loras["high"].name, 1.0, 20),
        ("transformer_2", loras["low"].name, 0.5, 20),
    ]
    assert runner.loads == loads  # LoRAs never reload the base weights
    assert request.loras[0].sha256 is None  # the caller's request is not modified
    import hashlib

    recorded = read_request(done.video).loras[0]
    assert recorded.sha256 == hashlib.sha256(loras["high"].read_bytes()).hexdigest()
    assert recorded.sha256_low == hashlib.sha256(loras["low"].read_bytes()).hexdigest()
    assert (recorded.strength_high, recorded.strength_low) == (1.0, 0.5)
    sidecar = json.loads(sidecar_path(Path(done.video)).read_text("utf-8"))
    assert sidecar["request"]["loras"][0]["path_low"] == str(loras["low"])
    assert not np.array_equal(_frames(done.video), _frames(base.video))

    # another LoRA, then none: no reload, and the base video comes back bit for bit
    styled, _ = _run(
        runner,
        small_request(
            demo_t2v, "t2v-a14b", tmp_path / "c", loras=[LoraChoice(str(loras["style"]))]
        ),
    )
    again, rec = _run(runner, small_request(demo_t2v, "t2v-a14b", tmp_path / "d"))
    assert runner.loads == loads
    assert rec.of("plan")[0].loras == []
    assert np.array_equal(_frames(again.video), _frames(base.video))
    assert not np.array_equal(_frames(styled.video), _frames(base.video))


def test_a_bad_lora_fails_clearly_and_the_model_stays_usable(
    runner: Runner, demo_t2v: Path, tmp_path: Path, loras: dict[str, Path]
) -> None:
    request = small_request(
        demo_t2v,
        "t2v-a14b",
        tmp_path / "x",
        loras=[LoraChoice(str(loras["style"])), LoraChoice(str(loras["wide"]))],
    )
    failed, _ = _run(runner, request)
    assert failed.kind == "failed"
    assert failed.message.startswith(
        "the LoRAs could not be applied: LoRA wide.safetensors does not fit transformer"
    )
    assert not (tmp_path / "x").exists() or not list((tmp_path / "x").iterdir())
    ok, _ = _run(runner, small_request(demo_t2v, "t2v-a14b", tmp_path / "y"))
    assert ok.kind == "done"


def test_merged_loras_cost_a_reload_only_when_they_change(
    demo_t2v: Path, tmp_path: Path, loras: dict[str, Path]
) -> None:
    runner = Runner(preview_fps=0)
    style = [LoraChoice(str(loras["style"]))]
    merged, rec = _run(
        runner,
        small_request(
            demo_t2v, "t2v-a14b", tmp_path / "m", quant="mxfp8-online", loras=style, lora_merge=True
        ),
    )
    assert merged.kind == "done" and all(e["merged"] for e in rec.of("plan")[0].loras)
    _run(
        runner,
        small_request(
            demo_t2v, "t2v-a14b", tmp_path / "n", quant="mxfp8-online", loras=style, lora_merge=True
        ),
    )
    assert runner.loads == 1
    _branch, rec = _run(
        runner,
        small_request(demo_t2v, "t2v-a14b", tmp_path / "o", quant="mxfp8-online", loras=style),
    )
    assert runner.loads == 2 and not any(e["merged"] for e in rec.of("plan")[0].loras)


def test_lightning_preset_runs_4_forwards_where_official_runs_80(
    demo_t2v: Path, tmp_path: Path, loras: dict[str, Path]
) -> None:
    runner = Runner(preview_fps=0)
    official = defaults_for("t2v-a14b", model=str(demo_t2v))
    official.prompt, official.seed = "a red fox", 3
    official.width, official.height, official.frames = 64, 64, 5
    official.output = str(tmp_path / "o")
    assert (official.steps, official.guidance_high, official.guidance_low) == (40, 4.0, 3.0)
    _run(runner, official)  # load once, then count
    pipe = runner.loaded.pipe
    calls = [0]
    for model in (pipe.transformer, pipe.transformer_2):
        model.register_forward_pre_hook(lambda _m, _a: calls.__setitem__(0, calls[0] + 1))
    done, _ = _run(runner, official.replace(output=str(tmp_path / "o2")))
    assert done.kind == "done" and calls[0] == 80

    preset = next(p for p in builtin_presets()["t2v-a14b"] if p.name == DISTILL_PRESET)
    lightning = official.replace(output=str(tmp_path / "l"), **preset.request_values())
    lightning.loras = [LoraChoice(path=str(loras["high"]), path_low=str(loras["low"]))]
    calls[0] = 0
    done, rec = _run(runner, lightning)
    assert done.kind == "done" and calls[0] == 4
    plan = rec.of("plan")[0]
    assert (plan.steps, plan.high_steps, plan.low_steps) == (4, 2, 2)
