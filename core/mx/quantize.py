"""MXFP8 quantize / dequantize, bit-exact with torch_npu ``npu_dynamic_mx_quant`` (E4M3).

Rules implemented (shared/reference/mxfp8.md §2-§4):

- Blocks of 32 along the last dimension; a short tail block is zero-padded for its amax.
- The block amax is taken from the bit patterns (``bits & 0x7FFF...`` then an integer max):
  for non-negative floats integer order is value order, so the result is exact and NaN can
  neither be lost nor reordered by a float max.
- FLOOR byte = ``max(E(amax) - 8, 0)``; RCEIL byte = E8M0 of ``amax * fp32(1/448)`` rounded up;
  exponents come from bits, never from log2, and never from a cast to float8_e8m0fnu.
- Any Inf/NaN in a block -> byte 0xFF and NaN codes (0x7F) for the whole block.
- Elements: ``x * 2**(127 - byte)`` (exact), clamp to +-448, cast to float8_e4m3fn (RNE).
- FLOOR byte 0 (amax < 2**-118) -> the reciprocal is 0 and every element becomes a signed zero,
  as on the NPU (torchao would instead produce real codes from x * 2**127; mxfp8.md §4).
  RCEIL byte 0 keeps the reciprocal 2**127 and real codes: the Ascend kernel zeroes it only
  when amax == 0 (ops-nn dynamic_mx_quant_tail_axis_fp8.h, ComputeScaleCublas: reciprocal
  bits 0x7F00 - (byte << 7), masked to 0 for amax == 0), which is also what torchao does.

Input dtypes: bf16 and fp32 are scaled in their own dtype (multiplying by a power of two is
exact there). fp16 is widened to fp32 first, because 2**(127-byte) is outside fp16's range.
For FLOOR, Ascend reads the fp16 exponent after truncating to bf16; truncation never changes
an exponent, so the byte equals the one from the exact value. For RCEIL the kernel takes the
max of the fp16 magnitudes and widens it to fp32 exactly (ComputeMaxExpCublasHalf), i.e. the
exact fp16 amax, as here.
"""

from __future__ import annotations

import torch

from core.mx.format import (
    BLOCK_SIZE,
    E4M3_MAX,
    E4M3_NAN_CODE,
    SCALE_NAN,
    MxFormatError,
    ScaleRule,
    num_blocks,
    parse_rule,
)

_QUANT_INPUT_DTYPES = (torch.bfloat16, torch.float16, torch.float32)
_DEQUANT_OUTPUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)

# Elements handled per chunk: the working set (a few temporaries of this size) stays near the
# L2/L3 caches and memory stays bounded whatever the tensor size.
_CHUNK_ELEMENTS = 1 << 22

_RCEIL_INV_448 = 0x3B124925  # fp32(1/448), mxfp8.md §2


def _f32_from_bits(bits: int) -> torch.Tensor:
    return torch.tensor([bits], dtype=torch.int32).view(torch.float32)


# Per-dtype bit layout: (int view dtype, magnitude mask, mantissa bits).
_BITS = {
    torch.bfloat16: (torch.int16, 0x7FFF, 7),
    torch.float32: (torch.int32, 0x7FFFFFFF, 23),
}


def _scale_bytes(amax_bits: torch.Tensor, work_dtype: torch.dtype, rule: ScaleRule) -> torch.Tensor:
    """E8M0 bytes (int32, 0..255) from the integer bit patterns of the block amax values."""
    _, _, mant_bits = _BITS[work_dtype]
    amax_bits = amax_bits.to(torch.int32)
    exponent = amax_bits >> mant_bits  # sign bit is clear: this is the 8-bit exponent field
    nonfinite = exponent == 0xFF
    if rule is ScaleRule.FLOOR:
        byte = (exponent - 8).clamp_(min=0)
    else:
        if mant_bits == 7:
            amax_bits = amax_bits << 16  # bf16 bits -> the same value as fp32 bits
        amax = amax_bits.view(torch.float32)
        inv448 = _f32_from_bits(_RCEIL_INV_448).to(amax.device)
        s_bits = (amax * inv448).view(torch.int32)
        s_exp = (s_bits >> 23) & 0xFF
        s_mant = s_bits & 0x7FFFFF
        normal = s_exp + ((s_mant != 0) & (s_exp < 254)).to(torch.int32)
        subnormal = (s_mant > 0x400000).to(torch.int32)
        byte = torch.where(s_exp == 0, subnormal, normal)
    return byte.masked_fill_(nonfinite, SCALE_NAN)


def _reciprocal(byte: torch.Tensor, work_dtype: torch.dtype, rule: ScaleRule) -> torch.Tensor:
    """2**(127 - byte) in ``work_dtype`` built from bits; 0 for 0xFF and, under FLOOR, for
    byte 0 (the NPU's zero codes for tiny blocks)."""
    int_dtype, _, mant_bits = _BITS[work_dtype]
    bits = (254 - byte) << mant_bits
    # byte 254 -> 2**-127, a subnormal: half the smallest normal's exponent field.
    bits = torch.where(byte == 254, 1 << (mant_bits - 1), bits)
    zero = byte == SCALE_NAN
    if rule is ScaleRule.FLOOR:
        zero |= byte == 0
    bits = torch.where(zero, 0, bits)
    return bits.to(int_dtype).view(work_dtype)


_BF16_TABLES: dict[tuple[ScaleRule, str], tuple[torch.Tensor, torch.Tensor]] = {}


def _bf16_tables(rule: ScaleRule, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For bf16 input the block amax is one of 32768 magnitudes, so its scale byte and
    reciprocal are table look-ups (built once per rule and device with the formulas above).
    Two gathers replace a dozen small element-wise ops per chunk, which matters most when the
    CPU is shared and every parallel region waits for a time slice."""
    key = (rule, str(device))
    tables = _BF16_TABLES.get(key)
    if tables is None:
        magnitudes = torch.arange(0x8000, dtype=torch.int32)
        byte = _scale_bytes(magnitudes, torch.bfloat16, rule)
        recip = _reciprocal(byte, torch.bfloat16, rule)
        tables = (byte.to(torch.uint8).to(device), recip.view(torch.int16).to(device))
        _BF16_TABLES[key] = tables
    return tables


def _quantize_rows(
    rows: torch.Tensor, rule: ScaleRule, data_out: torch.Tensor, scale_out: torch.Tensor
) -> None:
    """Quantize a contiguous ``[r, K]`` chunk into the given output slices."""
    r, k = rows.shape
    if rows.dtype == torch.float16:
        rows = rows.float()
    work_dtype = rows.dtype
    int_dtype, mag_mask, _ = _BITS[work_dtype]
    blocks = num_blocks(k)
    if k % BLOCK_SIZE:
        rows = torch.nn.functional.pad(rows, (0, blocks * BLOCK_SIZE - k))
    blocked = rows.view(r, blocks, BLOCK_SIZE)
    amax_bits = (blocked.view(int_dtype) & mag_mask).amax(dim=-1)
    if work_dtype == torch.bfloat16:
        byte_table, recip_table = _bf16_tables(rule, rows.device)
        index = amax_bits.view(-1).to(torch.int32)
        byte = byte_table.index_select(0, index).view(r, blocks)
        recip = recip_table.index_select(0, index).view(r, blocks).view(torch.bfloat16)
    else:
        byte = _scale_bytes(amax_bits, work_dtype, rule)
        recip = _reciprocal(byte, work_dtype, rule)
    scaled = blocked * recip.unsqueeze(-1)
    scaled.clamp_(-E4M3_MAX, E4M3_MAX)
    scaled = scaled.view(r, blocks * BLOCK_SIZE)[:, :k]
    data_out.copy_(scaled)  # dtype conversion to float8_e4m3fn: round to nearest even
    scale_out.copy_(byte)


def _write_nan_blocks(data: torch.Tensor, scale: torch.Tensor) -> None:
    """Every element of a 0xFF block gets the NaN code (one pass at the end, not per chunk)."""
    nonfinite = scale == SCALE_NAN
    if not bool(nonfinite.any()):
        return
    k = data.shape[1]
    mask = nonfinite.repeat_interleave(BLOCK_SIZE, dim=1)[:, :k]  # rare: only with Inf/NaN input
    data.view(torch.uint8).masked_fill_(mask, E4M3_NAN_CODE)


def quantize_mx(
    x: torch.Tensor, rule: ScaleRule | str = ScaleRule.FLOOR
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize ``x`` to MXFP8 over its last dimension.

    Returns ``(data, scale)``: float8_e4m3fn codes shaped like ``x`` and uint8 E8M0 bytes
    shaped ``[..., ceil(K/32)]``, on x's device. ``x`` is never modified.
    """
    rule = parse_rule(rule)
    if not isinstance(x, torch.Tensor):
        raise MxFormatError(f"quantize_mx expects a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in _QUANT_INPUT_DTYPES:
        raise MxFormatError(
            f"quantize_mx accepts bfloat16, float16 or float32 input, got {x.dtype}; "
            "cast the tensor first (x.to(torch.bfloat16))"
        )
    if x.dim() < 1:
        raise MxFormatError("quantize_mx needs at least one dimension (the K axis to block)")
    k = x.shape[-1]
    lead = tuple(x.shape[:-1])
    blocks = num_blocks(k)
    data = torch.empty(x.shape, dtype=torch.float8_e4m3fn, device=x.device)
    scale = torch.empty((*lead, blocks), dtype=torch.uint8, device=x.device)
    if x.numel() == 0:
        return data, scale
    rows = x.detach().reshape(-1, k)  # quantization is not differentiable: no autograd graph
    data_rows = data.view(-1, k)
    scale_rows = scale.view(-1, blocks)
    step = max(1, _CHUNK_ELEMENTS // max(k, 1))
    for start in range(0, rows.shape[0], step):
        stop = min(start + step, rows.shape[0])
        _quantize_rows(
            rows[start:stop].contiguous(), rule, data_rows[start:stop], scale_rows[start:stop]
        )
    _write_nan_blocks(data_rows, scale_rows)
    return data, scale


def scale_factors(scale: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Block factors ``2**(byte - 127)`` in ``dtype`` built from bits (0xFF -> NaN).

    Exact in fp32 and bf16 for every byte (byte 0 is the subnormal 2**-127). For fp16 only
    bytes 103..142 are representable; other bytes under/overflow, which is why MXFP8 is never
    dequantized to fp16 in this project.
    """
    if scale.dtype == torch.float8_e8m0fnu:
        scale = scale.view(torch.uint8)
    byte = scale.to(torch.int32)
    if dtype in (torch.float32, torch.bfloat16):
        int_dtype, _, mant_bits = _BITS[dtype]
        bits = byte << mant_bits
        bits = torch.where(byte == 0, 1 << (mant_bits - 1), bits)
        nan_bits = 0x7FC0 if dtype == torch.bfloat16 else 0x7FC00000
        bits = torch.where(byte == SCALE_NAN, nan_bits, bits)
        return bits.to(int_dtype).view(dtype)
    return scale_factors(scale, torch.float32).to(dtype)


def _check_pair(data: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    if not isinstance(data, torch.Tensor) or data.dtype != torch.float8_e4m3fn:
        got = data.dtype if isinstance(data, torch.Tensor) else type(data).__name__
        raise MxFormatError(f"MXFP8 data must be a float8_e4m3fn tensor, got {got}")
    if not isinstance(scale, torch.Tensor):
        raise MxFormatError(f"MXFP8 scale must be a tensor, got {type(scale).__name__}")
    if scale.dtype == torch.float8_e8m0fnu:
        scale = scale.view(torch.uint8)
    if scale.dtype != torch.uint8:
        raise MxFormatError(f"MXFP8 scale must be uint8 E8M0 bytes, got {scale.dtype}")
    if data.dim() < 1:
        raise MxFormatError("MXFP8 data needs at least one dimension")
    want = (*data.shape[:-1], num_blocks(data.shape[-1]))
    if tuple(scale.shape) != want:
        hint = ""
        if scale.dim() == data.dim() + 1 and scale.shape[-1] == 2:
            hint = " (these look like NPU scale pairs: convert with pairs_to_scale first)"
        raise MxFormatError(
            f"MXFP8 scale shape {list(scale.shape)} does not match data shape "
            f"{list(data.shape)}: expected {list(want)}{hint}"
        )
    if scale.device != data.device:
        raise MxFormatError(f"MXFP8 data is on {data.device} but its scale on {scale.device}")
    return scale


def dequantize_mx(
    data: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Exact inverse of the encoding: ``e4m3(code) * 2**(byte - 127)`` in ``dtype``.

    Exact in fp32 and, above about 2**-133, in bf16 (the product is formed in fp32 and rounded
    once). Byte 0xFF makes its whole block NaN.
    """
    scale = _check_pair(data, scale).contiguous()
    data = data.contiguous()
    if dtype not in _DEQUANT_OUTPUT_DTYPES:
        names = ", ".join(str(d) for d in _DEQUANT_OUTPUT_DTYPES)
        raise MxFormatError(f"dequantize_mx output dtype must be one of {names}, got {dtype}")
    work = dtype if dtype in (torch.float32, torch.bfloat16) else torch.float32
    k = data.shape[-1]
    out = data.to(work)
    if out.numel():
        lead = out.shape[:-1]
        rows = out.view(-1, k)
        factors = scale_factors(scale, work).view(-1, scale.shape[-1])
        full = k // BLOCK_SIZE
        if full:
            rows[:, : full * BLOCK_SIZE].view(-1, full, BLOCK_SIZE).mul_(
                factors[:, :full].unsqueeze(-1)
            )
        if k % BLOCK_SIZE:
            rows[:, full * BLOCK_SIZE :].mul_(factors[:, full:])
        out = rows.view(*lead, k)
    return out if work == dtype else out.to(dtype)
