"""Every LoRA format users have, applied by Wan Studio, gives exactly what diffusers' own
``load_lora_weights`` (peft) gives on a BF16/FP32 model; high/low routing hits only the chosen
expert; removing a LoRA restores the base output bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.lora.apply import LoraManager
from core.lora.choice import LoraChoice
from core.lora.fixtures import write_lora
from tests.core.lora.helpers import forward, inputs

FORMATS = [
    ("diffusers", {"with_bias": True}),
    ("wan", {"alpha": 2.0, "with_bias": True}),
    ("musubi", {"alpha": 8.0}),
]


def _pipe(folder: Path, dtype: torch.dtype):
    from diffusers import WanPipeline

    pipe = WanPipeline.from_pretrained(folder, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize(("fmt", "extra"), FORMATS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_side_branch_equals_diffusers_load_lora_weights(
    demo_t2v: Path, tmp_path: Path, fmt: str, extra: dict, dtype: torch.dtype
) -> None:
    lora = write_lora(tmp_path / f"{fmt}.safetensors", fmt, rank=4, dtype=dtype, **extra)
    ours = _pipe(demo_t2v, dtype)
    base = forward(ours.transformer, dtype)
    manager = LoraManager()
    report = manager.apply(
        {"transformer": ours.transformer, "transformer_2": ours.transformer_2},
        [LoraChoice(path=str(lora), strength_high=0.7, strength_low=0.0)],
        dtype,
    )
    assert report.layers == 20 and [a.component for a in report.applied] == ["transformer"]
    with_lora = forward(ours.transformer, dtype)

    theirs = _pipe(demo_t2v, dtype)
    theirs.load_lora_weights(str(lora), adapter_name="style")
    theirs.set_adapters(["style"], [0.7])
    expected = forward(theirs.transformer, dtype)

    assert not torch.equal(with_lora, base)
    assert torch.equal(with_lora, expected)

    manager.apply({"transformer": ours.transformer, "transformer_2": ours.transformer_2}, [], dtype)
    assert torch.equal(forward(ours.transformer, dtype), base)


def test_pair_routes_each_file_to_its_expert_only(demo_t2v: Path, tmp_path: Path) -> None:
    high = write_lora(tmp_path / "style_HIGH.safetensors", "wan", seed=1, dtype=torch.float32)
    low = write_lora(tmp_path / "style_LOW.safetensors", "wan", seed=2, dtype=torch.float32)
    pipe = _pipe(demo_t2v, torch.float32)
    experts = {"transformer": pipe.transformer, "transformer_2": pipe.transformer_2}
    base = {k: forward(m) for k, m in experts.items()}
    manager = LoraManager()

    # HIGH only: the low-noise expert is untouched, bit for bit.
    manager.apply(experts, [LoraChoice(path=str(high), strength_low=0.0)], torch.float32)
    assert not torch.equal(forward(pipe.transformer), base["transformer"])
    assert torch.equal(forward(pipe.transformer_2), base["transformer_2"])

    # The pair: each expert gets its own file, compared with diffusers' routing
    # (load_into_transformer_2 for the LOW file).
    choice = LoraChoice(path=str(high), path_low=str(low), strength_high=1.0, strength_low=0.5)
    report = manager.apply(experts, [choice], torch.float32)
    assert {(a.component, Path(a.file).name, a.strength) for a in report.applied} == {
        ("transformer", high.name, 1.0),
        ("transformer_2", low.name, 0.5),
    }
    ref = _pipe(demo_t2v, torch.float32)
    ref.load_lora_weights(str(high), adapter_name="high")
    ref.load_lora_weights(str(low), adapter_name="low", load_into_transformer_2=True)
    ref.transformer.set_adapters(["high"], [1.0])
    ref.transformer_2.set_adapters(["low"], [0.5])
    assert torch.equal(forward(pipe.transformer), forward(ref.transformer))
    assert torch.equal(forward(pipe.transformer_2), forward(ref.transformer_2))


def test_weight_delta_and_bias_delta_follow_the_formula(demo_t2v: Path, tmp_path: Path) -> None:
    """``diff`` (full weight delta; diffusers drops it) and ``diff_b`` are applied too."""
    from core.lora.reader import read_lora

    lora = write_lora(
        tmp_path / "d.safetensors", "wan", with_bias=True, with_diff=True, dtype=torch.float32
    )
    pipe = _pipe(demo_t2v, torch.float32)
    layer = pipe.transformer.blocks[0].attn1.to_q
    x = torch.randn(3, layer.in_features, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        base = layer(x)
    LoraManager().apply(
        {"transformer": pipe.transformer}, [LoraChoice(path=str(lora))], torch.float32
    )
    raw = read_lora(lora).tensors
    key = "diffusion_model.blocks.0.self_attn.q"
    down, up = raw[f"{key}.lora_down.weight"], raw[f"{key}.lora_up.weight"]
    delta = (x @ down.T) @ up.T + raw[f"{key}.diff_b"] + x @ raw[f"{key}.diff"].T
    with torch.no_grad():
        torch.testing.assert_close(layer(x), base + delta, rtol=1e-5, atol=1e-6)


def test_strength_scales_the_delta_linearly(demo_t2v: Path, tmp_path: Path) -> None:
    lora = write_lora(tmp_path / "s.safetensors", "diffusers", dtype=torch.float32)
    pipe = _pipe(demo_t2v, torch.float32)
    layer = pipe.transformer.blocks[1].ffn.net[2]
    x = torch.randn(2, layer.in_features, generator=torch.Generator().manual_seed(3))
    manager = LoraManager()
    experts = {"transformer": pipe.transformer}
    with torch.no_grad():
        base = layer(x)
        manager.apply(experts, [LoraChoice(path=str(lora), strength_high=1.0)], torch.float32)
        one = layer(x) - base
        manager.apply(experts, [LoraChoice(path=str(lora), strength_high=-2.0)], torch.float32)
        minus_two = layer(x) - base
    torch.testing.assert_close(minus_two, -2.0 * one, rtol=1e-5, atol=1e-6)


def test_same_set_again_is_free_and_inputs_are_unchanged(demo_t2v: Path, tmp_path: Path) -> None:
    lora = write_lora(tmp_path / "free.safetensors", "wan", dtype=torch.float32)
    before = lora.read_bytes()
    pipe = _pipe(demo_t2v, torch.float32)
    manager = LoraManager()
    choice = [LoraChoice(path=str(lora))]
    first = manager.apply({"transformer": pipe.transformer}, choice, torch.float32)
    second = manager.apply({"transformer": pipe.transformer}, choice, torch.float32)
    assert first.changed and not second.changed
    assert second.applied == first.applied
    assert lora.read_bytes() == before
    assert inputs(pipe.transformer)[0].shape[1] == pipe.transformer.config.in_channels
