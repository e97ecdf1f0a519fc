"""The reference backend: faithful W8A8 emulation, the weight-only option, and its errors."""

from __future__ import annotations

import pytest
import torch

from core.backends import BackendError, ReferenceBackend, get_backend
from core.mx import MxFormatError, dequantize_mx, quantize_mx
from tests.core.backends.layers import StandInLayer, make_input, make_layer


def prepared(layer: StandInLayer, **options) -> ReferenceBackend:
    backend = get_backend("reference", **options)
    backend.prepare(layer)
    return backend


def qdq(x: torch.Tensor, rule: str = "floor") -> torch.Tensor:
    return dequantize_mx(*quantize_mx(x, rule), dtype=torch.float64)


@pytest.mark.parametrize("rule", ["floor", "rceil"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_w8a8_is_the_exact_product_of_the_quantized_operands(dtype: torch.dtype, rule: str) -> None:
    layer = make_layer(48, 200, bias=torch.float32, rule=rule)
    x = make_input((5, 200), dtype)
    y = prepared(layer, rule=rule).linear(x, layer)
    assert y.dtype == dtype and y.shape == (5, 48)
    # Oracle in fp64 from the same operands: activations go through bf16 unless fp16.
    x_in = x if dtype != torch.float32 else x.to(torch.bfloat16)
    w_hat = dequantize_mx(layer.weight, layer.weight_scale, torch.float64)
    exact = qdq(x_in, rule) @ w_hat.T + layer.bias.double()
    # fp32 accumulation, then one rounding to the output dtype.
    tol = {torch.bfloat16: 2**-8, torch.float16: 2**-10, torch.float32: 1e-6}[dtype]
    torch.testing.assert_close(y.double(), exact, rtol=tol, atol=tol * exact.abs().max().item())


def test_w8a8_equals_weight_only_fed_with_quantized_activations() -> None:
    """Bit-exact: W8A8 is weight-only applied to dequantize(quantize(x))."""
    layer = make_layer(64, 256)
    x = make_input((3, 7, 256))
    w8a8 = prepared(layer).linear(x, layer)
    x_hat = dequantize_mx(*quantize_mx(x), dtype=torch.bfloat16)
    weight_only = prepared(layer, activations="unquantized").linear(x_hat, layer)
    assert torch.equal(w8a8, weight_only)
    # ...and quantizing the activations is not a no-op.
    assert not torch.equal(w8a8, prepared(layer, activations="unquantized").linear(x, layer))


def test_weight_only_uses_unquantized_activations() -> None:
    layer = make_layer(32, 96, bias=None)
    x = make_input((4, 96), torch.float32)
    y = prepared(layer, activations="weight-only").linear(x, layer)
    w_hat = dequantize_mx(layer.weight, layer.weight_scale, torch.float64)
    torch.testing.assert_close(y.double(), x.double() @ w_hat.T, rtol=1e-6, atol=1e-6)


def test_leading_dims_and_flattening_agree() -> None:
    layer = make_layer(40, 70)
    backend = prepared(layer)
    x = make_input((2, 3, 70))
    y = backend.linear(x, layer)
    assert y.shape == (2, 3, 40)
    assert torch.equal(y.reshape(6, 40), backend.linear(x.reshape(6, 70), layer))
    assert backend.linear(x[:0], layer).shape == (0, 3, 40)


def test_cached_weights_are_optional_and_identical() -> None:
    layer = make_layer(32, 128)
    x = make_input((6, 128))
    plain = prepared(layer)
    y_plain = plain.linear(x, layer)
    assert layer.backend_state.dequantized == {}  # no permanent dequantized copy by default
    cached = prepared(layer, cache_weight=True)
    assert torch.equal(cached.linear(x, layer), y_plain)
    assert set(layer.backend_state.dequantized) == {torch.bfloat16}
    assert torch.equal(cached.linear(x, layer), y_plain)


def test_input_is_not_modified() -> None:
    layer = make_layer(16, 64)
    x = make_input((4, 64))
    before = x.clone()
    prepared(layer).linear(x, layer)
    assert torch.equal(x, before)


@pytest.mark.parametrize("rule", ["floor", "rceil"])
def test_gemm_error_on_gaussian_data_is_in_the_documented_band(rule: str) -> None:
    """mxfp8.md §9: about 3.5-5 % relative Frobenius error per MXFP8 linear at K=5120."""
    gen = torch.Generator().manual_seed(11)
    w = (torch.randn(64, 5120, generator=gen) * 0.02).to(torch.bfloat16)
    x = torch.randn(64, 5120, generator=gen).to(torch.bfloat16)
    layer = StandInLayer(*quantize_mx(w, rule), None)
    y = prepared(layer, rule=rule).linear(x, layer).double()
    exact = x.double() @ w.double().T
    err = ((y - exact).norm() / exact.norm()).item()
    assert 0.025 < err < 0.06, f"{rule}: {err:.4f}"


def test_activation_option_names() -> None:
    assert get_backend("reference").activations == "mxfp8"
    for alias in ("bf16", "weight-only", "UNQUANTIZED"):
        assert get_backend("reference", activations=alias).activations == "unquantized"
    with pytest.raises(ValueError, match="unknown activations mode 'int8'"):
        get_backend("reference", activations="int8")
    assert "W8A8" in get_backend("reference").describe()


def test_linear_before_prepare() -> None:
    layer = make_layer(8, 32)
    with pytest.raises(BackendError, match=r"call backend\.prepare\(layer\)"):
        get_backend("reference").linear(make_input((1, 32)), layer)


def test_bad_inputs_and_layers() -> None:
    layer = make_layer(8, 64)
    backend = prepared(layer)
    with pytest.raises(MxFormatError, match=r"expects inputs \[\.\.\., 64\]"):
        backend.linear(make_input((2, 63)), layer)
    with pytest.raises(MxFormatError, match="bf16/fp16/fp32"):
        backend.linear(torch.ones(2, 64, dtype=torch.int32), layer)

    bad = make_layer(8, 64)
    bad.weight = bad.weight.float()
    with pytest.raises(MxFormatError, match="weight must be a float8_e4m3fn"):
        backend.prepare(bad)
    bad = make_layer(8, 64)
    bad.weight_scale = bad.weight_scale[:, :1]
    with pytest.raises(MxFormatError, match=r"weight_scale must be \[8, 2\]"):
        backend.prepare(bad)
    bad = make_layer(8, 64)
    bad.in_features = 65
    with pytest.raises(MxFormatError, match="in_features=65"):
        backend.prepare(bad)
    bad = make_layer(8, 64)
    bad.bias = torch.zeros(9)
    with pytest.raises(MxFormatError, match=r"bias must be \[8\]"):
        backend.prepare(bad)
    with pytest.raises(MxFormatError, match="has no attribute 'weight_scale'"):
        backend.prepare(torch.nn.Linear(4, 4))


def test_available_on_cpu_and_reasons_elsewhere() -> None:
    backend = get_backend("reference")
    assert backend.available("cpu")[0] and backend.available(None)[0]
    assert backend.available(torch.device("cpu"))[0]
    ok, why = backend.available("meta")
    assert not ok and "meta" in why
    ok, why = backend.available("npu:0")
    assert not ok and "torch_npu" in why
    ok, why = backend.available("cuda")
    assert ok == torch.cuda.is_available() and why
