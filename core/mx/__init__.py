"""MXFP8 numerics: the one place in Wan Studio that knows the format.

OCP Microscaling with float8_e4m3fn elements and one E8M0 scale byte per block of 32
consecutive elements along the last (reduction) dimension. Quantization is bit-exact with
torch_npu ``npu_dynamic_mx_quant`` (see shared/reference/mxfp8.md and ``quantize.py``).

Layouts: canonical scales are ``uint8 [..., ceil(K/32)]`` (msmodelslim checkpoints); the NPU
kernels use pairs ``uint8 [..., ceil(K/64), 2]`` (``scale_to_pairs`` / ``pairs_to_scale``).
"""

from core.mx.format import (
    BLOCK_SIZE,
    E4M3_MAX,
    E4M3_NAN_CODE,
    SCALE_BIAS,
    SCALE_NAN,
    MxFormatError,
    ScaleRule,
    num_blocks,
    parse_rule,
)
from core.mx.layout import pairs_to_scale, scale_to_pairs
from core.mx.quantize import dequantize_mx, quantize_mx, scale_factors

__all__ = [
    "BLOCK_SIZE",
    "E4M3_MAX",
    "E4M3_NAN_CODE",
    "SCALE_BIAS",
    "SCALE_NAN",
    "MxFormatError",
    "ScaleRule",
    "dequantize_mx",
    "num_blocks",
    "pairs_to_scale",
    "parse_rule",
    "quantize_mx",
    "scale_factors",
    "scale_to_pairs",
]
