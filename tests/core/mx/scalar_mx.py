"""An independent, per-element MXFP8 implementation used as the test oracle.

Written from the rules in shared/reference/mxfp8.md with plain Python floats, ``math.frexp``
and ``struct`` (for fp32 rounding and bit patterns). It deliberately shares no code and no
technique with core.mx (which works on whole tensors with integer bit tricks), so an error in
one is not mirrored in the other. Slow by design: use it on small inputs only.
"""

from __future__ import annotations

import math
import struct

BLOCK = 32
E4M3_MAX = 448.0
INV_448_F32 = struct.unpack("<f", struct.pack("<I", 0x3B124925))[0]


def f32(value: float) -> float:
    """Round a Python float to the nearest fp32 value (RNE)."""
    return struct.unpack("<f", struct.pack("<f", value))[0]


def f32_bits(value: float) -> int:
    return struct.unpack("<I", struct.pack("<f", value))[0]


def floor_byte(amax: float) -> int:
    """E8M0 byte of 2**(floor(log2 amax) - 8), clamped at 0."""
    if amax == 0.0:
        return 0
    _, e = math.frexp(amax)  # amax = m * 2**e with m in [0.5, 1): floor(log2 amax) = e - 1
    return max(e - 1 - 8 + 127, 0)


def rceil_byte(amax: float) -> int:
    """E8M0 byte of 2**ceil(log2(fp32(amax * fp32(1/448)))), clamped to [0, 254]."""
    s = f32(amax * INV_448_F32)  # the double product is exact; one rounding to fp32
    if s == 0.0:
        return 0
    m, e = math.frexp(s)
    ceil_log2 = e - 1 if m == 0.5 else e
    return min(max(ceil_log2 + 127, 0), 254)


def scale_byte(block: list[float], rule: str) -> int:
    if any(not math.isfinite(v) for v in block):
        return 0xFF
    amax = max((abs(v) for v in block), default=0.0)
    return floor_byte(amax) if rule == "floor" else rceil_byte(amax)


def _round_half_even(value: float) -> int:
    return round(value)  # Python's round is half-to-even on exact binary floats


def encode_e4m3(value: float) -> int:
    """fp value -> float8_e4m3fn code with round-to-nearest-even and saturation to 448."""
    if math.isnan(value):
        return 0x7F
    sign = 0x80 if math.copysign(1.0, value) < 0 else 0x00
    a = abs(value)
    if a >= E4M3_MAX:
        return sign | 0x7E
    if a < 2.0**-6:  # subnormal range: multiples of 2**-9 (q == 8 is the min normal, code 0x08)
        return sign | _round_half_even(a * 2.0**9)
    _, e = math.frexp(a)
    exp = e - 1  # a in [2**exp, 2**(exp+1))
    q = _round_half_even(a * 2.0 ** (3 - exp))  # 8..16
    if q == 16:
        exp, q = exp + 1, 8
    code = ((exp + 7) << 3) | (q - 8)
    if code > 0x7E:
        code = 0x7E
    return sign | code


def decode_e4m3(code: int) -> float:
    sign = -1.0 if code & 0x80 else 1.0
    exp = (code >> 3) & 0x0F
    mant = code & 0x07
    if exp == 0x0F and mant == 0x07:
        return math.nan
    if exp == 0:
        return sign * mant * 2.0**-9
    return sign * (1.0 + mant / 8.0) * 2.0 ** (exp - 7)


def quantize_row(row: list[float], rule: str) -> tuple[list[int], list[int]]:
    """One row of K values -> (codes, scale bytes) following mxfp8.md §2-§4 (NPU behaviour).

    Byte 0 under FLOOR gives signed zeros (the kernel forces the reciprocal to 0); under RCEIL
    the kernel keeps the reciprocal 2**127 unless amax is 0 (ops-nn ComputeScaleCublas).
    """
    codes: list[int] = []
    scales: list[int] = []
    for start in range(0, len(row), BLOCK):
        block = row[start : start + BLOCK]
        byte = scale_byte(block, rule)
        scales.append(byte)
        for v in block:
            if byte == 0xFF:
                codes.append(0x7F)
            elif byte == 0 and rule == "floor":  # NPU FLOOR: reciprocal forced to 0
                codes.append(0x80 if math.copysign(1.0, v) < 0 else 0x00)
            else:
                y = v * 2.0 ** (127 - byte)
                codes.append(encode_e4m3(max(-E4M3_MAX, min(E4M3_MAX, y))))
    return codes, scales


def dequantize_row(codes: list[int], scales: list[int]) -> list[float]:
    out = []
    for i, code in enumerate(codes):
        byte = scales[i // BLOCK]
        out.append(math.nan if byte == 0xFF else decode_e4m3(code) * 2.0 ** (byte - 127))
    return out
