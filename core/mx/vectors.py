"""The documented MXFP8 test vectors (shared/reference/mxfp8.md §6) as data.

`wan-studio doctor` feeds them to every backend's quantizer on the user's device, so a kernel
that disagrees with the documented numerics is caught where it runs. (The test suite keeps its
own transcription of the same vectors, so a typo here cannot hide a bug there.)
V1 is published by Ascend; V2-V5 are computed from the rules, not measured on hardware.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.mx.format import ScaleRule


@dataclass(frozen=True)
class QuantVector:
    """bf16 input (bit patterns, row-major ``shape``) -> canonical scale bytes and E4M3 codes."""

    name: str
    rule: ScaleRule
    shape: tuple[int, int]
    bf16_bits: tuple[int, ...]
    scale: tuple[int, ...]
    codes: tuple[int, ...] | None  # None: only the scale bytes are documented


def _bf16_bits(value: float) -> int:
    import struct

    bits = struct.unpack("<I", struct.pack("<f", value))[0]
    if bits & 0xFFFF:
        raise ValueError(f"{value!r} is not exactly representable in bf16")
    return bits >> 16


def _hex(text: str) -> tuple[int, ...]:
    return tuple(int(h, 16) for h in text.split())


_V2_INPUT = _hex(
    "40F0 0000 BC00 38D2 BF4E 3F0B 3FFA 3FB6 BF87 BFF3 BF6F 3D7E C05F BEA8 BFEF BF8D "
    "BF51 BEF3 3F1E 3FC8 BE45 4003 BF7F 3F07 3FAD 3E10 BF8F BFB1 BF30 3EA9 BFC2 BEA1"
)
_V2_FLOOR = _hex(
    "7E 00 B0 03 E5 61 70 6B E8 EF E7 48 F6 DA EF E9 E5 DF 62 6C D4 70 E8 60 6B 51 E9 EB E3 5B EC DA"
)
_V2_RCEIL = _hex(
    "77 00 A8 02 DD 59 68 63 E0 E7 DF 40 EE D2 E7 E1 DD D7 5A 64 CC 68 E0 58 63 49 E1 E3 DB 53 E4 D2"
)

# V3: amax -> (FLOOR byte, RCEIL byte). The document's 3e38 is not a bf16 value; 1.765625 * 2**127
# (3.004e38) is, and has the same bytes.
_V3 = [
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
    (1.765625 * 2.0**127, 246, 247),
]


def _v3_vectors() -> list[QuantVector]:
    out = []
    for amax, floor, rceil in _V3:
        bits = (_bf16_bits(-amax),) + (_bf16_bits(amax / 2),) * 31 if amax else (0,) * 32
        for rule, byte in ((ScaleRule.FLOOR, floor), (ScaleRule.RCEIL, rceil)):
            out.append(QuantVector(f"V3 amax {amax:g}", rule, (1, 32), bits, (byte,), None))
    return out


def _v5_vectors() -> list[QuantVector]:
    one, three = _bf16_bits(1.0), _bf16_bits(3.0)
    k40 = [one] * 40
    k40[35] = three
    ones_inf = [one] * 32
    ones_inf[7] = 0x7F80
    k80 = [_bf16_bits(float(v)) for v in range(160)]
    f = ScaleRule.FLOOR
    return [
        QuantVector("V5 all zeros", f, (1, 32), (0,) * 32, (0,), (0,) * 32),
        QuantVector("V5 32 x 2^-120", f, (1, 32), (_bf16_bits(2.0**-120),) * 32, (0,), (0,) * 32),
        QuantVector(
            "V5 32 x 2^-118", f, (1, 32), (_bf16_bits(2.0**-118),) * 32, (1,), (0x78,) * 32
        ),
        QuantVector("V5 ones with +Inf", f, (1, 32), tuple(ones_inf), (0xFF,), (0x7F,) * 32),
        QuantVector(
            "V5 K=40 tail block",
            f,
            (1, 40),
            tuple(k40),
            (119, 120),
            (0x78,) * 32 + (0x70,) * 3 + (0x7C,) + (0x70,) * 4,
        ),
        QuantVector(
            "V5 K=80 two rows", f, (2, 80), tuple(k80), (123, 124, 125, 125, 126, 126), None
        ),
    ]


def quant_vectors() -> list[QuantVector]:
    """Every documented quantization vector, both rules where the document gives both."""
    v1 = QuantVector(
        "V1 Ascend doc example",
        ScaleRule.FLOOR,
        (1, 4),
        tuple(_bf16_bits(v) for v in (0.0, 8.0, 64.0, 512.0)),
        (128,),
        (0x00, 0x48, 0x60, 0x78),
    )
    v2 = [
        QuantVector("V2 amax 7.5", ScaleRule.FLOOR, (1, 32), _V2_INPUT, (121,), _V2_FLOOR),
        QuantVector("V2 amax 7.5", ScaleRule.RCEIL, (1, 32), _V2_INPUT, (122,), _V2_RCEIL),
    ]
    return [v1, *v2, *_v3_vectors(), *_v5_vectors()]
