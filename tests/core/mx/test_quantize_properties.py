"""quantize_mx / dequantize_mx against the independent scalar oracle (tests/core/mx/scalar_mx.py).

Hypothesis draws blocks mixing zeros, subnormals, exact ties, values near 448 * 2**k, huge
values, Inf and NaN, for both rules, fp32/bf16/fp16 input, K not a multiple of 32 and leading
dimensions. Everything is compared bit for bit.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.mx.quantize as mx_quantize
from core.mx import dequantize_mx, quantize_mx
from tests.core.mx import scalar_mx

DTYPES = [torch.float32, torch.bfloat16, torch.float16]
NEAR = [0.0, 2.0**-24, -(2.0**-24), 2.0**-9, -(2.0**-9), 2.0**-8, -(2.0**-8), 2.0**-4]


def _values(exponent: int) -> st.SearchStrategy[float]:
    """Element values around a block exponent, plus the hard cases anywhere in range."""
    tie_grid = st.builds(
        lambda n, shift: n * 2.0 ** (exponent + shift),
        st.integers(-1023, 1023),
        st.integers(-12, 0),
    )
    near_448 = st.builds(
        lambda k, d, sign: sign * 448.0 * 2.0**k * (1.0 + d),
        st.integers(-135, 118),
        st.sampled_from(NEAR),
        st.sampled_from([1.0, -1.0]),
    )
    specials = st.sampled_from(
        [0.0, -0.0, math.inf, -math.inf, math.nan, 2.0**-133, 2.0**-149, 3e38, -3.3e38, 65504.0]
    )
    anything = st.floats(width=32, allow_nan=True, allow_infinity=True)
    return st.one_of(tie_grid, tie_grid, near_448, specials, anything)


@st.composite
def mx_inputs(draw: st.DrawFn) -> torch.Tensor:
    dtype = draw(st.sampled_from(DTYPES))
    lead = draw(st.sampled_from([(), (1,), (3,), (2, 2)]))
    k = draw(st.one_of(st.integers(1, 100), st.sampled_from([32, 64, 96])))
    exponent = draw(st.integers(-130, 110))
    # Mostly finite values so that most blocks exercise the element encoder, not just NaN.
    finite_only = draw(st.booleans())
    values = _values(exponent)
    if finite_only:
        values = values.filter(math.isfinite)
    count = math.prod(lead) * k
    elems = draw(st.lists(values, min_size=count, max_size=count))
    return torch.tensor(elems, dtype=torch.float64).reshape(*lead, k).to(dtype)


def oracle(x: torch.Tensor, rule: str) -> tuple[list[list[int]], list[list[int]]]:
    rows = x.reshape(-1, x.shape[-1]).double().tolist()  # exact values of every element
    results = [scalar_mx.quantize_row(row, rule) for row in rows]
    return [c for c, _ in results], [s for _, s in results]


def assert_matches_oracle(x: torch.Tensor, rule: str) -> None:
    data, scale = quantize_mx(x, rule)
    assert data.shape == x.shape and data.dtype == torch.float8_e4m3fn
    assert scale.shape == (*x.shape[:-1], -(-x.shape[-1] // 32)) and scale.dtype == torch.uint8
    want_codes, want_scales = oracle(x, rule)
    assert scale.reshape(-1, scale.shape[-1]).tolist() == want_scales
    assert data.view(torch.uint8).reshape(-1, x.shape[-1]).tolist() == want_codes


def assert_same_floats(got: torch.Tensor, want: torch.Tensor) -> None:
    """Bitwise equality (so -0.0 != 0.0) where any NaN equals any NaN."""
    assert got.dtype == want.dtype and got.shape == want.shape
    got_nan, want_nan = torch.isnan(got), torch.isnan(want)
    assert torch.equal(got_nan, want_nan)
    int_dtype = {torch.float32: torch.int32, torch.bfloat16: torch.int16}[got.dtype]
    assert torch.equal(got.view(int_dtype)[~got_nan], want.view(int_dtype)[~want_nan])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=mx_inputs(), rule=st.sampled_from(["floor", "rceil"]))
def test_quantize_matches_scalar_oracle(x: torch.Tensor, rule: str) -> None:
    assert_matches_oracle(x, rule)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=mx_inputs(), rule=st.sampled_from(["floor", "rceil"]))
def test_dequantize_matches_scalar_decode(x: torch.Tensor, rule: str) -> None:
    data, scale = quantize_mx(x, rule)
    got = dequantize_mx(data, scale, torch.float32).reshape(-1, x.shape[-1])
    rows_c = data.view(torch.uint8).reshape(-1, x.shape[-1]).tolist()
    rows_s = scale.reshape(-1, scale.shape[-1]).tolist()
    want = [scalar_mx.dequantize_row(c, s) for c, s in zip(rows_c, rows_s, strict=True)]
    # The exact value rounded to fp32: RCEIL can reach 2**128, which is inf in fp32.
    assert_same_floats(got, torch.tensor(want, dtype=torch.float64).to(torch.float32))
    # bf16 output is the exact value rounded once.
    as_bf16 = dequantize_mx(data, scale, torch.bfloat16)
    assert_same_floats(as_bf16, dequantize_mx(data, scale, torch.float32).to(torch.bfloat16))


@pytest.mark.parametrize("rule", ["floor", "rceil"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_matrix_matches_oracle(dtype: torch.dtype, rule: str) -> None:
    """Realistic data: Gaussian rows with per-row magnitudes spanning many binades."""
    gen = torch.Generator().manual_seed(1234)
    mags = 2.0 ** torch.randint(-20, 12, (12, 1), generator=gen).double()
    x = (torch.randn(12, 200, generator=gen, dtype=torch.float64) * mags).to(dtype)
    assert_matches_oracle(x, rule)


def test_quantize_round_trip_reproduces_codes() -> None:
    """Dequantized values are exactly representable: quantizing them again is the identity."""
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(5, 96, generator=gen).to(torch.bfloat16)
    data, scale = quantize_mx(x)
    again_data, again_scale = quantize_mx(dequantize_mx(data, scale))
    assert torch.equal(again_scale, scale)
    assert torch.equal(again_data.view(torch.uint8), data.view(torch.uint8))


def test_chunking_does_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(37, 70, generator=gen).to(torch.bfloat16)
    x[5, 40] = math.nan
    whole = quantize_mx(x, "rceil")
    monkeypatch.setattr(mx_quantize, "_CHUNK_ELEMENTS", 64)  # one row per chunk
    chunked = quantize_mx(x, "rceil")
    assert torch.equal(whole[1], chunked[1])
    assert torch.equal(whole[0].view(torch.uint8), chunked[0].view(torch.uint8))


def test_input_is_not_modified_and_views_work() -> None:
    gen = torch.Generator().manual_seed(5)
    base = torch.randn(64, 48, generator=gen).to(torch.bfloat16)
    before = base.clone()
    view = base.t()  # non-contiguous [48, 64]
    data, scale = quantize_mx(view)
    assert torch.equal(base.view(torch.int16), before.view(torch.int16))
    ref_data, ref_scale = quantize_mx(view.contiguous())
    assert torch.equal(scale, ref_scale)
    assert torch.equal(data.view(torch.uint8), ref_data.view(torch.uint8))


def test_empty_and_single_element() -> None:
    data, scale = quantize_mx(torch.empty(0, 64, dtype=torch.bfloat16))
    assert data.shape == (0, 64) and scale.shape == (0, 2)
    data, scale = quantize_mx(torch.empty(3, 0, dtype=torch.float32))
    assert data.shape == (3, 0) and scale.shape == (3, 0)
    data, scale = quantize_mx(torch.tensor([-3.0]))
    assert scale.tolist() == [120] and data.view(torch.uint8).tolist() == [0xFC]
    assert dequantize_mx(data, scale).tolist() == [-3.0]


def test_byte_zero_blocks_keep_the_sign_of_zero() -> None:
    x = torch.tensor([2.0**-125, -(2.0**-121), 0.0, -0.0] + [0.0] * 28, dtype=torch.float32)
    data, scale = quantize_mx(x)
    assert scale.tolist() == [0]
    assert data.view(torch.uint8).tolist()[:4] == [0x00, 0x80, 0x00, 0x80]
