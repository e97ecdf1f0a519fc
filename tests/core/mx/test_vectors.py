"""Every documented test vector of shared/reference/mxfp8.md §6, bit for bit."""

from __future__ import annotations

import math

import pytest
import torch

from core.mx import dequantize_mx, pairs_to_scale, quantize_mx, scale_to_pairs
from tests.core.mx import scalar_mx


def codes(data: torch.Tensor) -> list:
    return data.view(torch.uint8).tolist()


def bf16_from_bits(bits: list[int]) -> torch.Tensor:
    signed = [b - 0x10000 if b >= 0x8000 else b for b in bits]
    return torch.tensor(signed, dtype=torch.int16).view(torch.bfloat16)


# V2: one row of 32 bf16 values with amax 7.5 (mxfp8.md §6).
V2_BITS = [
    0x40F0, 0x0000, 0xBC00, 0x38D2, 0xBF4E, 0x3F0B, 0x3FFA, 0x3FB6, 0xBF87, 0xBFF3, 0xBF6F,
    0x3D7E, 0xC05F, 0xBEA8, 0xBFEF, 0xBF8D, 0xBF51, 0xBEF3, 0x3F1E, 0x3FC8, 0xBE45, 0x4003,
    0xBF7F, 0x3F07, 0x3FAD, 0x3E10, 0xBF8F, 0xBFB1, 0xBF30, 0x3EA9, 0xBFC2, 0xBEA1,
]  # fmt: skip
V2_FLOOR = "7E 00 B0 03 E5 61 70 6B E8 EF E7 48 F6 DA EF E9 E5 DF 62 6C D4 70 E8 60 6B 51 E9 EB E3 5B EC DA"
V2_RCEIL = "77 00 A8 02 DD 59 68 63 E0 E7 DF 40 EE D2 E7 E1 DD D7 5A 64 CC 68 E0 58 63 49 E1 E3 DB 53 E4 D2"


def test_v1_ascend_doc_example() -> None:
    x = torch.tensor([[0.0, 8.0, 64.0, 512.0]], dtype=torch.bfloat16)
    data, scale = quantize_mx(x, "floor")
    assert scale.tolist() == [[128]]
    assert scale_to_pairs(scale).tolist() == [[[128, 0]]]
    assert codes(data) == [[0x00, 0x48, 0x60, 0x78]]
    assert data.float().tolist() == [[0.0, 4.0, 32.0, 256.0]]
    assert dequantize_mx(data, scale).tolist() == [[0.0, 8.0, 64.0, 512.0]]


@pytest.mark.parametrize(
    ("rule", "byte", "expected", "seven_five", "block_err"),
    [("floor", 121, V2_FLOOR, 7.0, 0.0510), ("rceil", 122, V2_RCEIL, 7.5, 0.0131)],
)
def test_v2_amax_7_5_block(
    rule: str, byte: int, expected: str, seven_five: float, block_err: float
) -> None:
    x = bf16_from_bits(V2_BITS).reshape(1, 32)
    assert x[0, 0].item() == 7.5
    data, scale = quantize_mx(x, rule)
    assert scale.tolist() == [[byte]]
    assert codes(data)[0] == [int(h, 16) for h in expected.split()]
    deq = dequantize_mx(data, scale)
    assert deq[0, 0].item() == seven_five
    err = ((deq - x.float()).norm() / x.float().norm()).item()
    assert err == pytest.approx(block_err, abs=5e-4)


def test_v2_row_checks_floor() -> None:
    x = bf16_from_bits(V2_BITS).reshape(1, 32)
    data, scale = quantize_mx(x, "floor")
    c = codes(data)[0]
    assert x[0, 2].item() == -0.0078125 and c[2] == 0xB0  # -> -0.5 exactly
    assert c[3] == 0x03  # 1.00136e-4 -> 0.0064 -> subnormal 3 * 2**-9
    assert dequantize_mx(data, scale)[0, 3].item() == pytest.approx(9.155e-5, rel=1e-3)


V3 = [
    (448.0, 127, 127),
    (7.0, 121, 121),
    (7.5, 121, 122),
    (1.75, 119, 119),
    (1.7578125, 119, 120),
    (8.0, 122, 122),
    (512.0, 128, 128),
    (2.0**-117, 2, 2),
    (2.0**-118, 1, 1),
    (2.0**-120, 0, 0),
    (0.0, 0, 0),
    (3e38, 246, 247),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("amax", "floor", "rceil"), V3)
def test_v3_scale_rule_edges(amax: float, floor: int, rceil: int, dtype: torch.dtype) -> None:
    block = torch.full((32,), amax / 4, dtype=torch.float32)
    block[5] = -amax  # amax is an absolute maximum: the sign must not matter
    x = block.to(dtype)
    assert x.abs().max().item() == pytest.approx(amax, rel=1e-2)
    assert quantize_mx(x, "floor")[1].tolist() == [floor]
    assert quantize_mx(x, "rceil")[1].tolist() == [rceil]
    assert scalar_mx.floor_byte(amax) == floor
    assert scalar_mx.rceil_byte(amax) == rceil


V4 = [
    (448.0, 0x7E),
    (449.0, 0x7E),
    (464.0, 0x7E),
    (480.0, 0x7E),
    (1000.0, 0x7E),
    (-448.0, 0xFE),
    (-1000.0, 0xFE),
    (256.0, 0x78),
    (240.0, 0x77),
    (1.0, 0x38),
    (0.5, 0x30),
    (-0.0, 0x80),
    (2.0**-9, 0x01),
    (-(2.0**-9), 0x81),
    (2.0**-10, 0x00),
    (1.5 * 2.0**-9, 0x02),
    (2.5 * 2.0**-9, 0x02),
    (3 * 2.0**-11, 0x01),
    (math.nan, 0x7F),
]


@pytest.mark.parametrize(("value", "code"), V4)
def test_v4_e4m3_encoder(value: float, code: int) -> None:
    assert scalar_mx.encode_e4m3(value) == code
    # Through quantize_mx: 256 anchors the block at scale 2**0 (FLOOR byte 127), so every
    # element is encoded as is; values above 512 move the scale to 2**1 and still saturate.
    x = torch.tensor([256.0, value] + [0.0] * 30, dtype=torch.float32)
    data, scale = quantize_mx(x, "floor")
    if math.isnan(value):
        assert scale.tolist() == [0xFF] and set(codes(data)) == {0x7F}
    else:
        assert codes(data)[1] == code


def test_v5_special_blocks() -> None:
    zeros = torch.zeros(32, dtype=torch.bfloat16)
    data, scale = quantize_mx(zeros)
    assert scale.tolist() == [0] and set(codes(data)) == {0}

    tiny = torch.full((32,), 2.0**-120, dtype=torch.bfloat16)
    data, scale = quantize_mx(tiny)
    assert scale.tolist() == [0] and set(codes(data)) == {0x00}  # NPU; torchao would give 0x70

    first = torch.full((32,), 2.0**-118, dtype=torch.bfloat16)
    data, scale = quantize_mx(first)
    assert scale.tolist() == [1] and set(codes(data)) == {0x78}
    assert dequantize_mx(data, scale).tolist() == [2.0**-118] * 32

    ones = torch.ones(32, dtype=torch.bfloat16)
    ones[7] = math.inf
    data, scale = quantize_mx(ones)
    assert scale.tolist() == [0xFF] and set(codes(data)) == {0x7F}
    assert torch.isnan(dequantize_mx(data, scale)).all()


def test_v5_k40_tail_block_layout() -> None:
    x = torch.ones(1, 40, dtype=torch.bfloat16)
    x[0, 35] = 3.0
    data, scale = quantize_mx(x)
    assert scale.tolist() == [[119, 120]]
    assert scale_to_pairs(scale).tolist() == [[[119, 120]]]
    assert codes(data)[0] == [0x78] * 32 + [0x70] * 3 + [0x7C] + [0x70] * 4
    assert pairs_to_scale(scale_to_pairs(scale), 40).tolist() == [[119, 120]]


def test_v5_k80_layout() -> None:
    x = torch.arange(160, dtype=torch.float32).reshape(2, 80).to(torch.bfloat16)
    _, scale = quantize_mx(x)
    assert scale.tolist() == [[123, 124, 125], [125, 126, 126]]
    pairs = scale_to_pairs(scale)
    assert pairs.tolist() == [[[123, 124], [125, 0]], [[125, 126], [126, 0]]]
    assert torch.equal(pairs_to_scale(pairs, 80), scale)


def test_rceil_byte_zero_keeps_real_codes() -> None:
    """Under RCEIL the Ascend kernel zeroes the reciprocal only for amax == 0 (ops-nn
    ComputeScaleCublas), so a tiny block gets byte 0 and codes from x * 2**127."""
    tiny = torch.full((32,), 2.0**-120, dtype=torch.bfloat16)
    tiny[3] = -(2.0**-121)
    data, scale = quantize_mx(tiny, "rceil")
    assert scale.tolist() == [0]
    assert codes(data)[:4] == [0x70, 0x70, 0x70, 0xE8]  # 2**7 = 128 -> 0x70; -64 -> 0xE8
    assert dequantize_mx(data, scale)[0].item() == 2.0**-120
    zeros = torch.zeros(32, dtype=torch.bfloat16)
    zeros[1] = -0.0
    data, scale = quantize_mx(zeros, "rceil")
    assert scale.tolist() == [0] and codes(data)[:3] == [0x00, 0x80, 0x00]
