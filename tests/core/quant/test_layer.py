"""Mxfp8Linear: lifecycle, exact numerics against core.mx, dtype protection, accuracy band."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from core.backends import ReferenceBackend
from core.mx import MxFormatError, ScaleRule, dequantize_mx, quantize_mx
from core.quant.layer import Mxfp8Linear


def _linear(n: int = 48, k: int = 64, bias: bool = True, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(k, n, bias=bias)


@pytest.mark.parametrize("rule", [ScaleRule.FLOOR, ScaleRule.RCEIL])
def test_online_quantization_is_exactly_core_mx(rule: ScaleRule) -> None:
    linear = _linear().to(torch.bfloat16)
    layer = Mxfp8Linear.from_linear(linear, rule)
    codes, scale = quantize_mx(linear.weight.detach(), rule)
    assert layer.weight.dtype == torch.float8_e4m3fn and layer.weight_scale.dtype == torch.uint8
    assert torch.equal(layer.weight.view(torch.uint8), codes.view(torch.uint8))
    assert torch.equal(layer.weight_scale, scale)
    assert torch.equal(layer.bias, linear.bias)
    assert (layer.in_features, layer.out_features, layer.rule) == (64, 48, rule)
    assert not any(p.requires_grad for p in layer.parameters())


def test_forward_goes_through_the_backend() -> None:
    linear = _linear()
    layer = Mxfp8Linear.from_linear(linear)
    x = torch.randn(2, 5, 64)
    with pytest.raises(RuntimeError, match="process_weights_after_loading"):
        layer(x)
    backend = ReferenceBackend()
    layer.process_weights_after_loading(backend)
    assert layer.prepared and layer.backend is backend and layer.backend_state is not None
    y = layer(x)
    # Independent recomputation: W8A8 with per-token activation quantization (bf16 rounding first).
    xq, xs = quantize_mx(x.reshape(-1, 64).to(torch.bfloat16))
    want = dequantize_mx(xq, xs) @ dequantize_mx(layer.weight, layer.weight_scale).T + linear.bias
    assert y.shape == (2, 5, 48) and y.dtype == torch.float32
    assert torch.allclose(y.reshape(-1, 48), want, rtol=1e-6, atol=1e-6)
    assert "backend=reference" in repr(layer)


def test_offline_layer_is_empty_until_loaded() -> None:
    layer = Mxfp8Linear(64, 32, bias=True, device="meta")
    assert layer.weight.is_meta and layer.weight.dtype == torch.float8_e4m3fn
    assert tuple(layer.weight_scale.shape) == (32, 2)
    with pytest.raises(MxFormatError, match="never loaded"):
        layer.process_weights_after_loading(ReferenceBackend())
    codes, scale = quantize_mx(torch.randn(32, 64))
    layer.set_quantized(codes, scale, bias=torch.zeros(32))
    layer.process_weights_after_loading(ReferenceBackend())
    assert layer(torch.randn(3, 64)).shape == (3, 32)


def test_scale_columns_use_ceil_for_a_partial_block() -> None:
    layer = Mxfp8Linear(40, 8, bias=False, device="meta")
    assert tuple(layer.weight_scale.shape) == (8, 2)  # ceil(40/32), not 40 // 32


def test_set_quantized_refuses_wrong_tensors() -> None:
    layer = Mxfp8Linear(64, 32, device="meta")
    codes, scale = quantize_mx(torch.randn(32, 64))
    with pytest.raises(MxFormatError, match=r"weight is torch\.bfloat16"):
        layer.set_quantized(codes.to(torch.bfloat16), scale, torch.zeros(32))
    with pytest.raises(MxFormatError, match=r"weight_scale is torch.uint8 \[32, 1\]"):
        layer.set_quantized(codes, scale[:, :1], torch.zeros(32))
    with pytest.raises(MxFormatError, match="has a bias"):
        layer.set_quantized(codes, scale, None)


def test_nan_scale_is_refused() -> None:
    layer = Mxfp8Linear.from_linear(_linear())
    layer.weight_scale.data[3, 1] = 0xFF
    with pytest.raises(MxFormatError, match="0xFF"):
        layer.process_weights_after_loading(ReferenceBackend())


def test_dtype_casts_never_touch_codes_or_scales() -> None:
    model = nn.Sequential(Mxfp8Linear.from_linear(_linear()), nn.Linear(48, 4))
    layer = model[0]
    codes = layer.weight.view(torch.uint8).clone()
    scales = layer.weight_scale.clone()
    layer.process_weights_after_loading(ReferenceBackend())
    model.to(torch.bfloat16)
    assert layer.weight.dtype == torch.float8_e4m3fn and layer.weight_scale.dtype == torch.uint8
    assert torch.equal(layer.weight.view(torch.uint8), codes) and torch.equal(
        layer.weight_scale, scales
    )
    assert layer.bias.dtype == torch.bfloat16 and model[1].weight.dtype == torch.bfloat16
    model.half()
    model.float()
    assert layer.weight.dtype == torch.float8_e4m3fn
    assert torch.equal(layer.weight.view(torch.uint8), codes)
    assert model(torch.randn(2, 64)).shape == (2, 4)


def test_device_move_reprepares_the_backend() -> None:
    class CountingBackend(ReferenceBackend):
        prepared = 0

        def prepare(self, layer: object) -> None:
            CountingBackend.prepared += 1
            super().prepare(layer)  # type: ignore[arg-type]

    layer = Mxfp8Linear.from_linear(_linear())
    layer.process_weights_after_loading(CountingBackend())
    layer.to("cpu")  # no move: nothing to redo
    assert CountingBackend.prepared == 1
    layer.to("meta")
    assert CountingBackend.prepared == 1  # meta holds no data: not prepared
    assert layer.weight.is_meta and layer.weight.dtype == torch.float8_e4m3fn


@pytest.mark.parametrize(("rule", "low", "high"), [("floor", 0.035, 0.05), ("rceil", 0.030, 0.045)])
def test_relative_error_is_inside_the_reference_band(rule: str, low: float, high: float) -> None:
    """mxfp8.md §9: M = N = 256, K = 5120, bf16 inputs, W ~ N(0, 0.02²): 3.5-5 % (FLOOR 4.15 %)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 5120, generator=g).to(torch.bfloat16)
    linear = nn.Linear(5120, 256, bias=False)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(256, 5120, generator=g) * 0.02)
    linear = linear.to(torch.bfloat16)
    layer = Mxfp8Linear.from_linear(linear, rule)
    layer.process_weights_after_loading(ReferenceBackend(rule=rule))
    exact = x.double() @ linear.weight.detach().double().T
    got = layer(x.float()).double()
    err = ((got - exact).norm() / exact.norm()).item()
    print(f"MXFP8 {rule} GEMM relative Frobenius error: {err:.4%}")
    assert low <= err <= high
