"""Public names, rule parsing and the errors bad input gets."""

from __future__ import annotations

import pytest
import torch

import core.mx as mx
from core.mx import MxFormatError, ScaleRule, dequantize_mx, quantize_mx, scale_factors


def test_constants() -> None:
    assert (mx.BLOCK_SIZE, mx.E4M3_MAX, mx.SCALE_NAN) == (32, 448.0, 0xFF)
    assert torch.tensor([0x7E], dtype=torch.uint8).view(torch.float8_e4m3fn).item() == 448.0


@pytest.mark.parametrize(
    ("given", "rule"),
    [(ScaleRule.FLOOR, ScaleRule.FLOOR), ("floor", ScaleRule.FLOOR), ("RCEIL", ScaleRule.RCEIL)],
)
def test_rule_accepts_enum_and_strings(given: object, rule: ScaleRule) -> None:
    assert mx.parse_rule(given) is rule  # type: ignore[arg-type]
    x = torch.tensor([7.5] + [0.0] * 31)
    assert quantize_mx(x, given)[1].tolist() == [121 if rule is ScaleRule.FLOOR else 122]  # type: ignore[arg-type]


def test_default_rule_is_floor() -> None:
    x = torch.tensor([7.5] + [0.0] * 31)
    assert quantize_mx(x)[1].tolist() == [121]
    assert str(ScaleRule.RCEIL) == "rceil" and ScaleRule.FLOOR == "floor"


def test_unknown_rule() -> None:
    with pytest.raises(MxFormatError, match=r"unknown MXFP8 scale rule 'ceil'.*'floor', 'rceil'"):
        quantize_mx(torch.ones(32), "ceil")


@pytest.mark.parametrize("dtype", [torch.float64, torch.int32, torch.uint8, torch.float8_e4m3fn])
def test_quantize_rejects_other_dtypes(dtype: torch.dtype) -> None:
    with pytest.raises(MxFormatError, match=r"bfloat16, float16 or float32 input, got"):
        quantize_mx(torch.zeros(4, 32).to(dtype))


def test_quantize_rejects_scalars_and_non_tensors() -> None:
    with pytest.raises(MxFormatError, match="at least one dimension"):
        quantize_mx(torch.tensor(1.0))
    with pytest.raises(MxFormatError, match=r"torch\.Tensor"):
        quantize_mx([1.0, 2.0])  # type: ignore[arg-type]


def test_dequantize_errors() -> None:
    data, scale = quantize_mx(torch.randn(4, 128))
    with pytest.raises(MxFormatError, match="float8_e4m3fn"):
        dequantize_mx(data.float(), scale)
    with pytest.raises(MxFormatError, match="uint8"):
        dequantize_mx(data, scale.float())
    with pytest.raises(MxFormatError, match=r"expected \[4, 4\]"):
        dequantize_mx(data, scale[:, :3])
    with pytest.raises(MxFormatError, match="pairs_to_scale"):
        dequantize_mx(data, mx.scale_to_pairs(scale))
    with pytest.raises(MxFormatError, match="output dtype"):
        dequantize_mx(data, scale, torch.int32)
    # float8_e8m0fnu scales are the same bytes and are accepted.
    same = dequantize_mx(data, scale.view(torch.float8_e8m0fnu))
    assert torch.equal(same, dequantize_mx(data, scale))


def test_scale_factors_are_exact_powers_of_two() -> None:
    byte = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    for dtype in (torch.float32, torch.bfloat16):
        f = scale_factors(byte, dtype).double()
        assert torch.isnan(f[255])
        want = torch.tensor([2.0 ** (b - 127) for b in range(255)], dtype=torch.float64)
        assert torch.equal(f[:255], want)
