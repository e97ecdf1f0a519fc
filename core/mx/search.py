"""Weight scale rules: FLOOR / RCEIL, and ``mse`` (per block, the scale with the smaller error).

Weights are quantized once, so they can afford a search that activations (quantized per call by
the backend's dynamic rule) cannot. msmodelslim's T2V recipe (``mse_round``) tries, per block of
32, the FLOOR scale and the one above it and keeps the one with the smaller squared error
(msmodelslim.md §7, §10). ``quantize_weight(w, "mse")`` does the same over FLOOR's codes:

- Candidates: FLOOR's byte ``b`` and ``b + 1``; the error of a candidate is the sum over the
  block of ``(dequantized - w)**2``; ties keep FLOOR.
- Closed form (why it is as cheap as FLOOR): scaling by a power of two commutes with E4M3
  rounding in the normal range, so ``b`` and ``b + 1`` give identical values except (i) where
  ``b`` saturates and (ii) in the subnormal range, where ``b``'s grid is finer. Let ``v`` be
  the block maximum scaled by ``b`` (``v = 2**8 * mantissa(amax)``, in [256, 512)). If
  ``v <= 464`` (the midpoint of 448 and 480) nothing saturates differently and ``b`` is never
  worse. If ``v > 464``, that element's error drops from ``v - 448`` to at most 16, a gain of
  at least ``64 * ulp(v)`` (2**-9 for fp32 input, 128 for bf16) in ``v``-units squared, while
  the subnormal range loses at most ``2**-18`` per element (``32 * 2**-18 = 2**-13``): ``b + 1``
  always wins. So ``mse`` = FLOOR's byte plus one where the amax mantissa exceeds 1.8125: a
  third look-up table, one pass like FLOOR. (RCEIL bumps where ``v > 448``: in error it is
  within a hair of ``mse``, see bench/mx_quantize.py --rules.) FLOOR's byte-0 blocks (codes
  forced to zero, amax < 2**-118) are the exception and are searched for real.
- ``search_weight_scales(w, offsets)`` evaluates any candidate set on every block: the
  reference the tests hold ``mse`` to, and the wider search (e.g. ``(0, 1, -1, 2)``) that
  bench/mx_quantize.py measures.

Non-finite blocks keep FLOOR's 0xFF and NaN codes.
"""

from __future__ import annotations

import torch

from core.mx.format import (
    BLOCK_SIZE,
    DEFAULT_WEIGHT_RULE,
    E4M3_MAX,
    SCALE_NAN,
    WEIGHT_RULES,
    MxFormatError,
    ScaleRule,
    num_blocks,
    parse_weight_rule,
)
from core.mx.quantize import (
    _BITS,
    _reciprocal,
    _scale_bytes,
    _write_nan_blocks,
    quantize_mx,
    scale_factors,
)

MSE_OFFSETS = (0, 1)
"""Candidate scale bytes of ``mse`` relative to FLOOR's, in tie-break order."""

_CHUNK_ROWS_ELEMENTS = 1 << 22

__all__ = [
    "DEFAULT_WEIGHT_RULE",
    "MSE_OFFSETS",
    "WEIGHT_RULES",
    "parse_weight_rule",
    "quantize_weight",
    "search_weight_scales",
]


def quantize_weight(
    w: torch.Tensor, rule: str | ScaleRule | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Quantize a weight ``[..., K]`` with a weight rule (see WEIGHT_RULES); same outputs as
    ``quantize_mx``: float8_e4m3fn codes shaped like ``w`` and uint8 bytes ``[..., ceil(K/32)]``."""
    name = parse_weight_rule(rule)
    if name != "mse":
        return quantize_mx(w, name)
    return _quantize_mse(w)


# Block amax mantissas above this are the blocks whose FLOOR-scaled maximum exceeds 464 =
# 1.8125 * 2**8 (the midpoint between 448 and the next code's 480): bf16's 7 bits, fp32's 23.
_BUMP_MANTISSA = {torch.bfloat16: (0x7F, 0x68), torch.float32: (0x7FFFFF, 0x680000)}
_MSE_TABLES: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}


def _mse_bytes(amax_bits: torch.Tensor, work_dtype: torch.dtype) -> torch.Tensor:
    """The ``mse`` byte from the block amax bits: FLOOR's, plus one where FLOOR saturates
    (a scaled maximum above 464). Byte-0 and 0xFF blocks keep FLOOR's here (see _quantize_mse)."""
    byte = _scale_bytes(amax_bits, work_dtype, ScaleRule.FLOOR)
    mask, limit = _BUMP_MANTISSA[work_dtype]
    bump = (amax_bits.to(torch.int32) & mask) > limit
    bump &= (byte != 0) & (byte < 254)
    return byte + bump.to(byte.dtype)


def _mse_tables(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """bf16: byte and reciprocal of every possible amax (as core.mx.quantize's tables)."""
    key = str(device)
    tables = _MSE_TABLES.get(key)
    if tables is None:
        magnitudes = torch.arange(0x8000, dtype=torch.int32)
        byte = _mse_bytes(magnitudes, torch.bfloat16)
        recip = _reciprocal(byte, torch.bfloat16, ScaleRule.FLOOR)
        tables = (byte.to(torch.uint8).to(device), recip.view(torch.int16).to(device))
        _MSE_TABLES[key] = tables
    return tables


def _quantize_mse(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``mse`` in closed form (why it equals the search: module docstring), then the search
    proper on FLOOR's byte-0 blocks (zero codes), the one case the closed form leaves open."""
    if isinstance(w, torch.Tensor) and w.dim() >= 1 and w.numel():
        quantize_mx(w.reshape(-1, w.shape[-1])[:1, :1])  # the same input checks and errors
    else:
        return quantize_mx(w, ScaleRule.FLOOR)
    k = w.shape[-1]
    data = torch.empty(w.shape, dtype=torch.float8_e4m3fn, device=w.device)
    scale = torch.empty((*w.shape[:-1], num_blocks(k)), dtype=torch.uint8, device=w.device)
    rows = w.detach().reshape(-1, k)
    data_rows = data.view(-1, k)
    scale_rows = scale.view(-1, num_blocks(k))
    step = max(1, _CHUNK_ROWS_ELEMENTS // max(k, 1))
    for start in range(0, rows.shape[0], step):
        stop = min(start + step, rows.shape[0])
        chunk = rows[start:stop].contiguous()
        if chunk.dtype == torch.float16:
            chunk = chunk.float()
        _mse_rows(chunk, data_rows[start:stop], scale_rows[start:stop])
        _search_rows(
            rows[start:stop], data_rows[start:stop], scale_rows[start:stop], MSE_OFFSETS, True
        )
    _write_nan_blocks(data_rows, scale_rows)
    return data, scale


def _mse_rows(rows: torch.Tensor, data_out: torch.Tensor, scale_out: torch.Tensor) -> None:
    """Codes and bytes of one chunk at the closed-form ``mse`` bytes (the codes of 0xFF blocks
    are replaced by NaN codes afterwards, as in quantize_mx)."""
    r, k = rows.shape
    work = rows.dtype
    int_dtype, mag_mask, _ = _BITS[work]
    blocked = _blocked(rows, k)
    blocks = blocked.shape[1]
    amax_bits = (blocked.view(int_dtype) & mag_mask).amax(dim=-1)
    if work == torch.bfloat16:
        byte_table, recip_table = _mse_tables(rows.device)
        index = amax_bits.view(-1).to(torch.int32)
        byte = byte_table.index_select(0, index).view(r, blocks)
        recip = recip_table.index_select(0, index).view(r, blocks).view(torch.bfloat16)
    else:
        byte = _mse_bytes(amax_bits, work)
        recip = _reciprocal(byte, work, ScaleRule.FLOOR)
    scaled = (blocked * recip.unsqueeze(-1)).clamp_(-E4M3_MAX, E4M3_MAX)
    data_out.copy_(scaled.view(r, blocks * BLOCK_SIZE)[:, :k])  # to float8_e4m3fn (RNE)
    scale_out.copy_(byte)


def _check_offsets(offsets: tuple[int, ...]) -> tuple[int, ...]:
    offsets = tuple(int(o) for o in offsets)
    if not offsets or offsets[0] != 0 or len(set(offsets)) != len(offsets):
        raise MxFormatError(
            f"candidate offsets must start with 0 (FLOOR) and not repeat, got {list(offsets)}"
        )
    return offsets


def search_weight_scales(
    w: torch.Tensor, offsets: tuple[int, ...] = MSE_OFFSETS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per block, the scale byte ``FLOOR + offset`` (over ``offsets``, FLOOR first) with the
    smallest float64 squared error, and its codes: every block is evaluated (slow; the
    reference for ``mse`` and the wider search of bench/mx_quantize.py)."""
    offsets = _check_offsets(offsets)
    data, scale = quantize_mx(w, ScaleRule.FLOOR)  # validates w; FLOOR is the first candidate
    if w.numel() == 0 or len(offsets) == 1:
        return data, scale
    k = w.shape[-1]
    rows = w.detach().reshape(-1, k)
    data_rows = data.view(-1, k)
    scale_rows = scale.view(-1, num_blocks(k))
    step = max(1, _CHUNK_ROWS_ELEMENTS // max(k, 1))
    for start in range(0, rows.shape[0], step):
        stop = min(start + step, rows.shape[0])
        _search_rows(
            rows[start:stop],
            data_rows[start:stop],
            scale_rows[start:stop],
            offsets,
            False,
        )
    return data, scale


def _blocked(t: torch.Tensor, k: int) -> torch.Tensor:
    """``[r, K]`` -> ``[r, blocks, 32]`` (zero-padded tail), a copy when padding is needed."""
    blocks = num_blocks(k)
    if k % BLOCK_SIZE:
        t = torch.nn.functional.pad(t, (0, blocks * BLOCK_SIZE - k))
    return t.reshape(t.shape[0], blocks, BLOCK_SIZE)


def _candidates(floor_byte: torch.Tensor, zero_only: bool) -> torch.Tensor:
    """Flat indices of the blocks to evaluate: every finite one, or only byte-0 blocks."""
    if zero_only:
        return torch.nonzero(floor_byte == 0).view(-1)
    return torch.nonzero(floor_byte != SCALE_NAN).view(-1)


def _codes_at(x: torch.Tensor, byte: torch.Tensor) -> torch.Tensor:
    """E4M3 codes of fp32 blocks ``x [n, 32]`` at scale bytes ``byte [n]`` (real codes, also
    for byte 0: a searched byte 0 is a choice, not FLOOR's underflow)."""
    recip = _reciprocal(byte.to(torch.int32), torch.float32, ScaleRule.RCEIL)
    scaled = (x * recip.unsqueeze(-1)).clamp_(-E4M3_MAX, E4M3_MAX)
    return scaled.to(torch.float8_e4m3fn)


def _error(codes: torch.Tensor, byte: torch.Tensor, x64: torch.Tensor) -> torch.Tensor:
    deq = codes.to(torch.float64) * scale_factors(byte, torch.float64).unsqueeze(-1)
    return (deq - x64).square_().sum(dim=-1)


def _search_rows(
    rows: torch.Tensor,
    data_rows: torch.Tensor,
    scale_rows: torch.Tensor,
    offsets: tuple[int, ...],
    zero_only: bool,
) -> None:
    """Re-choose the scale of the candidate blocks of one chunk, in place."""
    r, k = rows.shape
    blocks = scale_rows.shape[1]
    codes_u8 = _blocked(data_rows.view(torch.uint8), k).reshape(r * blocks, BLOCK_SIZE)
    index = _candidates(scale_rows.view(-1), zero_only)
    if index.numel() == 0:
        return
    x = _blocked(rows, k).reshape(r * blocks, BLOCK_SIZE).index_select(0, index).float()
    x64 = x.to(torch.float64)
    best_codes = codes_u8.index_select(0, index).view(torch.float8_e4m3fn)
    base = scale_rows.view(-1).index_select(0, index).to(torch.int32)
    best_byte = base.clone()
    best_err = _error(best_codes, best_byte, x64)
    for offset in offsets[1:]:
        byte = base + offset
        valid = (byte >= 0) & (byte <= 254)
        byte = byte.clamp(0, 254)
        codes = _codes_at(x, byte)
        err = _error(codes, byte, x64)
        better = valid & (err < best_err)
        best_err = torch.where(better, err, best_err)
        best_byte = torch.where(better, byte, best_byte)
        best_codes = torch.where(
            better.unsqueeze(-1), codes.view(torch.uint8), best_codes.view(torch.uint8)
        ).view(torch.float8_e4m3fn)
    scale_rows.view(-1).index_copy_(0, index, best_byte.to(torch.uint8))
    if k % BLOCK_SIZE == 0:
        codes_u8.index_copy_(0, index, best_codes.view(torch.uint8))
        return
    padded = codes_u8.clone()  # a copy (the tail was padded): write back the real columns
    padded.index_copy_(0, index, best_codes.view(torch.uint8))
    data_rows.view(torch.uint8).copy_(padded.view(r, blocks * BLOCK_SIZE)[:, :k])
