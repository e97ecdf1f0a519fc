"""The ``mse`` weight scale rule against an independent per-block brute-force search.

The oracle tries every candidate byte of every block with the scalar E4M3 codec of
scalar_mx.py (Python floats, no torch), sums the squared errors in index order and keeps the
smallest (ties: the earlier candidate, FLOOR first). It knows nothing of the shortcut the
implementation takes (only blocks that saturate at FLOOR are evaluated), so a wrong shortcut
shows up as a different byte or code.
"""

from __future__ import annotations

import math

import pytest
import torch

from core.mx import MxFormatError, dequantize_mx, quantize_mx
from core.mx.search import (
    DEFAULT_WEIGHT_RULE,
    WEIGHT_RULES,
    parse_weight_rule,
    quantize_weight,
    search_weight_scales,
)
from tests.core.mx.scalar_mx import BLOCK, E4M3_MAX, decode_e4m3, encode_e4m3, floor_byte


def _block_codes(block: list[float], byte: int, floor: bool) -> list[int]:
    if floor and byte == 0:  # FLOOR's own byte 0: the NPU's signed zeros
        return [0x80 if math.copysign(1.0, v) < 0 else 0x00 for v in block]
    return [encode_e4m3(max(-E4M3_MAX, min(E4M3_MAX, v * 2.0 ** (127 - byte)))) for v in block]


def brute_force(values: torch.Tensor, offsets: tuple[int, ...]) -> tuple[list[int], list[int]]:
    """(codes, bytes) of a 2-D tensor, row-major, by trying every candidate of every block."""
    codes: list[int] = []
    scales: list[int] = []
    for row in values.float().tolist():
        for start in range(0, len(row), BLOCK):
            block = row[start : start + BLOCK]
            base = floor_byte(max(abs(v) for v in block))
            best = None
            for offset in offsets:
                byte = base + offset
                if not 0 <= byte <= 254:
                    continue
                got = _block_codes(block, byte, floor=offset == 0)
                err = 0.0
                for code, v in zip(got, block, strict=True):
                    err += (decode_e4m3(code) * 2.0 ** (byte - 127) - v) ** 2
                if best is None or err < best[0]:
                    best = (err, byte, got)
            assert best is not None
            scales.append(best[1])
            codes.extend(best[2])
    return codes, scales


def _weights(kind: str, rows: int, cols: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if kind == "gaussian":
        w = torch.randn(rows, cols, generator=gen) * 0.02
    elif kind == "uniform":  # every block's amax near the bound 0.06 = 1.92 * 2**-5: saturates
        w = (torch.rand(rows, cols, generator=gen) * 2 - 1) * 0.06
    else:  # wide dynamic range: outliers, tiny and zero values, FLOOR byte 0 blocks
        w = torch.randn(rows, cols, generator=gen) * torch.exp2(
            torch.randint(-40, 8, (rows, cols), generator=gen).float()
        )
        w[0, :32] = 0.0
        w[1, :32] *= 2.0**-125
    return w.to(dtype)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize(("kind", "seed"), [("gaussian", 1), ("uniform", 2), ("wild", 3)])
def test_mse_matches_brute_force(kind: str, seed: int, dtype: torch.dtype) -> None:
    w = _weights(kind, 24, 96 + 17, seed, dtype)  # a tail block too
    data, scale = quantize_weight(w, "mse")
    codes, scales = brute_force(w, (0, 1))
    assert scale.view(-1).tolist() == scales
    assert data.view(torch.uint8).view(-1).tolist() == codes
    floor = quantize_mx(w)[1]
    changed = int((scale != floor).sum())
    assert bool(((scale.int() - floor.int()) >= 0).all() & ((scale.int() - floor.int()) <= 1).all())
    if kind != "wild":
        assert changed > 0  # the search did pick FLOOR + 1 somewhere


@pytest.mark.parametrize("offsets", [(0, 1, -1, 2), (0, -1)])
def test_wider_search_matches_brute_force(offsets: tuple[int, ...]) -> None:
    w = _weights("wild", 12, 64, 4, torch.bfloat16)
    data, scale = search_weight_scales(w, offsets)
    codes, scales = brute_force(w, offsets)
    assert scale.view(-1).tolist() == scales
    assert data.view(torch.uint8).view(-1).tolist() == codes


def test_mse_lowers_the_error_and_never_raises_it_per_block() -> None:
    w = _weights("gaussian", 64, 256, 5, torch.bfloat16)
    x = w.float()
    errors = {}
    for rule in ("floor", "mse"):
        deq = dequantize_mx(*quantize_weight(w, rule))
        errors[rule] = ((deq - x) ** 2).view(64, 8, 32).sum(-1)
    assert bool((errors["mse"] <= errors["floor"]).all())
    assert float(errors["mse"].sum()) < 0.95 * float(errors["floor"].sum())


def test_non_finite_blocks_keep_nan_scale() -> None:
    w = torch.randn(2, 64) * 0.02
    w[0, 3] = float("nan")
    w[1, 40] = float("inf")
    data, scale = quantize_weight(w, "mse")
    ref_data, _ = quantize_mx(w)
    assert scale[0, 0] == 0xFF and scale[1, 1] == 0xFF
    assert data[0, :32].view(torch.uint8).tolist() == ref_data[0, :32].view(torch.uint8).tolist()


def test_rules_and_errors() -> None:
    assert WEIGHT_RULES == ("floor", "rceil", "mse")
    assert parse_weight_rule(None) == parse_weight_rule("Default") == DEFAULT_WEIGHT_RULE
    x = torch.randn(4, 64)
    for rule in ("floor", "rceil"):
        got, want = quantize_weight(x, rule), quantize_mx(x, rule)
        assert torch.equal(got[1], want[1])
        assert torch.equal(got[0].view(torch.uint8), want[0].view(torch.uint8))
    with pytest.raises(MxFormatError, match=r"unknown MXFP8 weight scale rule 'best'.*'mse'"):
        quantize_weight(x, "best")
    with pytest.raises(MxFormatError, match="must start with 0"):
        search_weight_scales(x, (1, 0))
    with pytest.raises(MxFormatError, match="bfloat16, float16 or float32"):
        quantize_weight(x.double(), "mse")
    empty = quantize_weight(torch.empty(0, 64), "mse")
    assert empty[0].shape == (0, 64) and empty[1].shape == (0, 2)


@pytest.mark.parametrize(
    ("kind", "dtype"),
    [("gaussian", torch.bfloat16), ("wild", torch.float32), ("wild", torch.float16)],
)
def test_closed_form_equals_the_full_search_on_many_blocks(kind: str, dtype: torch.dtype) -> None:
    """The closed form (FLOOR + 1 where the amax mantissa exceeds 1.8125) against the search
    that evaluates every block, on 8192 blocks (too many for the scalar oracle)."""
    w = _weights(kind, 128, 2048 + 5, 6, dtype)
    data, scale = quantize_weight(w, "mse")
    ref_data, ref_scale = search_weight_scales(w, (0, 1))
    assert torch.equal(scale, ref_scale)
    assert torch.equal(data.view(torch.uint8), ref_data.view(torch.uint8))
