"""LoRAs on MXFP8 layers: the side branch on ``Mxfp8Linear`` (reference backend and npu
backend through the strict torch_npu double) equals the dequantized layer plus the low-rank
term; online merging quantizes exactly ``W + s * B @ A``; removal restores the base bit for bit."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.lora.apply import LoraManager
from core.lora.choice import LoraChoice
from core.lora.fixtures import NATIVE, write_lora
from core.lora.merge import merge_factory
from core.lora.reader import read_lora
from core.mx import dequantize_mx, quantize_mx
from core.quant.layer import Mxfp8Linear
from core.quant.streaming import load_transformer
from tests.core.lora.helpers import forward, load


def _lowrank(path: Path, block: int, name: str) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B, alpha/rank) of one layer, read straight from a Wan-format file."""
    raw = read_lora(path).tensors
    key = f"diffusion_model.blocks.{block}.{NATIVE[name]}"
    down, up = raw[f"{key}.lora_down.weight"], raw[f"{key}.lora_up.weight"]
    alpha = raw.get(f"{key}.alpha")
    scale = float(alpha) / down.shape[0] if alpha is not None else 1.0
    return down.float(), up.float(), scale


@pytest.mark.parametrize("quant", ["mxfp8-online"])
def test_side_branch_equals_dequantized_layer_plus_low_rank(
    demo_t2v: Path, tmp_path: Path, quant: str
) -> None:
    lora = write_lora(tmp_path / "l.safetensors", "wan", rank=8, alpha=4.0)
    model = load(demo_t2v / "transformer", quant=quant)
    layer = model.blocks[0].attn2.to_v
    assert isinstance(layer, Mxfp8Linear)
    x = torch.randn(5, layer.in_features, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        base = layer(x)
    LoraManager().apply(
        {"transformer": model}, [LoraChoice(path=str(lora), strength_high=0.6)], torch.float32
    )
    down, up, scale = _lowrank(lora, 0, "attn2.to_v")
    with torch.no_grad():
        got = layer(x)
    torch.testing.assert_close(got, base + 0.6 * scale * (x @ down.T) @ up.T, rtol=1e-5, atol=1e-6)
    # base itself is the reference MXFP8 linear: activations cast to bf16 (as on the NPU) and
    # quantized per token, exact dequantization
    xq, xs = quantize_mx(x.to(torch.bfloat16), "floor")
    w = dequantize_mx(layer.weight, layer.weight_scale, torch.float32)
    reference = dequantize_mx(xq, xs, torch.float32) @ w.T + layer.bias.float()
    torch.testing.assert_close(base, reference, rtol=1e-5, atol=1e-5)


def test_side_branch_on_the_npu_backend_matches_reference(
    demo_t2v: Path, tmp_path: Path, fake_torch_npu
) -> None:
    from core.backends import NpuBackend, ReferenceBackend

    lora = write_lora(tmp_path / "n.safetensors", "musubi", rank=4, dtype=torch.bfloat16)
    outputs = {}
    for name, backend in (("reference", ReferenceBackend()), ("npu", NpuBackend())):
        model = load(
            demo_t2v / "transformer", quant="mxfp8-online", backend=backend, dtype=torch.bfloat16
        )
        base = forward(model, torch.bfloat16)
        manager = LoraManager()
        manager.apply({"transformer": model}, [LoraChoice(path=str(lora))], torch.bfloat16)
        outputs[name] = forward(model, torch.bfloat16)
        assert not torch.equal(outputs[name], base)
        manager.apply({"transformer": model}, [], torch.bfloat16)
        assert torch.equal(forward(model, torch.bfloat16), base)
    assert torch.equal(outputs["npu"], outputs["reference"])


def test_removing_restores_mxfp8_codes_and_output_bit_for_bit(
    demo_t2v: Path, tmp_path: Path
) -> None:
    lora = write_lora(tmp_path / "r.safetensors", "diffusers", rank=4)
    model = load(demo_t2v / "transformer", quant="mxfp8-online")
    codes = {n: p.clone() for n, p in model.state_dict().items()}
    base = forward(model)
    manager = LoraManager()
    experts = {"transformer": model}
    manager.apply(experts, [LoraChoice(path=str(lora), strength_high=1.5)], torch.float32)
    changed = forward(model)
    manager.apply(experts, [LoraChoice(path=str(lora), strength_high=0.5)], torch.float32)
    manager.apply(experts, [], torch.float32)
    assert not torch.equal(changed, base)
    assert torch.equal(forward(model), base)
    for name, tensor in model.state_dict().items():
        assert torch.equal(
            tensor.view(torch.uint8) if tensor.dtype == torch.float8_e4m3fn else tensor,
            codes[name].view(torch.uint8)
            if codes[name].dtype == torch.float8_e4m3fn
            else codes[name],
        ), name


def test_online_merge_quantizes_w_plus_s_b_a(demo_t2v: Path, tmp_path: Path) -> None:
    lora = write_lora(tmp_path / "m.safetensors", "wan", rank=4, alpha=2.0, with_bias=True)
    folder = demo_t2v / "transformer"
    plain = load(folder, quant="none")  # fp32 weights as on disk
    merged_into: dict = {}
    factory = merge_factory(
        [LoraChoice(path=str(lora), strength_high=0.8)], LoraManager(), merged_into
    )
    from core.backends import ReferenceBackend

    model, _report = load_transformer(
        folder,
        quant="mxfp8-online",
        dtype=torch.float32,
        backend=ReferenceBackend(),
        rule="floor",  # the weight rule the expectation below uses (the default is mse)
        transform_factory=factory,
    )
    assert [a.matched for a in merged_into["transformer"]] == [20]
    raw = read_lora(lora).tensors
    for block in range(2):
        for name, native in NATIVE.items():
            layer = model.get_submodule(f"blocks.{block}.{name}")
            w = plain.get_submodule(f"blocks.{block}.{name}").weight.detach().float()
            down, up, scale = _lowrank(lora, block, name)
            want_codes, want_scale = quantize_mx(w + 0.8 * scale * (up @ down), "floor")
            assert torch.equal(layer.weight.view(torch.uint8), want_codes.view(torch.uint8))
            assert torch.equal(layer.weight_scale, want_scale)
            bias = plain.get_submodule(f"blocks.{block}.{name}").bias.detach().float()
            diff_b = raw[f"diffusion_model.blocks.{block}.{native}.diff_b"].float()
            torch.testing.assert_close(layer.bias.float(), bias + 0.8 * diff_b, rtol=0, atol=0)


def test_fused_branch_on_mxfp8_adds_bias_and_weight_deltas(demo_t2v: Path, tmp_path: Path) -> None:
    """The fused path of MXFP8 layers (one addmm_) applies diff_b and diff too, and handles
    leading dimensions (batch x tokens x features)."""
    lora = write_lora(tmp_path / "bd.safetensors", "wan", with_bias=True, with_diff=True, alpha=2.0)
    model = load(demo_t2v / "transformer", quant="mxfp8-online")
    layer = model.blocks[0].attn1.to_q
    x = torch.randn(2, 3, layer.in_features, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        base = layer(x)
    LoraManager().apply(
        {"transformer": model}, [LoraChoice(path=str(lora), strength_high=0.5)], torch.float32
    )
    raw = read_lora(lora).tensors
    key = "diffusion_model.blocks.0.self_attn.q"
    down, up, scale = _lowrank(lora, 0, "attn1.to_q")
    delta = (
        scale * (x @ down.T) @ up.T
        + raw[f"{key}.diff_b"].float()
        + x @ raw[f"{key}.diff"].float().T
    )
    with torch.no_grad():
        torch.testing.assert_close(layer(x), base + 0.5 * delta, rtol=1e-5, atol=1e-6)
