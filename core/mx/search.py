"""Weight scale rules: FLOOR / RCEIL, and ``mse`` (per block, the scale with the smaller error).

Weights are quantized once, so they can afford a search that activations (quantized per call by
the backend's dynamic rule) cannot. msmodelslim's T2V recipe (``mse_round``) tries, per block of
32, the FLOOR scale and the one above it and keeps the one with the smaller squared error
(msmodelslim.md §7, §10). ``quantize_weight(w, "mse")`` does the same over FLOOR's codes:

- Candidates: FLOOR's byte ``b`` and ``b + 1``; the error of a candidate is the sum over the
  block of ``(dequantized - w)**2`` in float64; ties keep FLOOR. The format and the loaders are
  unchanged: only some scale bytes are one step higher and their codes follow from them.
- Why it is cheap: scaling by a power of two commutes with E4M3 rounding in the normal range,
  so ``b`` and ``b + 1`` give identical values except (i) where ``b`` saturates (a scaled value
  above 464 becomes 448, while ``b + 1`` keeps it) and (ii) in the subnormal range, where
  ``b``'s grid is finer (never worse). A block whose scaled maximum is at most 464 therefore
  never prefers ``b + 1``; only blocks holding the code 448 (a superset of the saturating
  ones: about 1 in 5 for Gaussian weights) and FLOOR's byte-0 blocks (zero codes) are evaluated.
- ``search_weight_scales(w, offsets)`` evaluates any candidate set on every block (the wider
  search, e.g. ``(0, 1, -1, 2)``); bench/mx_quantize.py measures whether it pays.

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
from core.mx.quantize import _reciprocal, quantize_mx, scale_factors

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
    return search_weight_scales(w, MSE_OFFSETS, only_saturating=True)


def _check_offsets(offsets: tuple[int, ...]) -> tuple[int, ...]:
    offsets = tuple(int(o) for o in offsets)
    if not offsets or offsets[0] != 0 or len(set(offsets)) != len(offsets):
        raise MxFormatError(
            f"candidate offsets must start with 0 (FLOOR) and not repeat, got {list(offsets)}"
        )
    return offsets


def search_weight_scales(
    w: torch.Tensor, offsets: tuple[int, ...] = MSE_OFFSETS, *, only_saturating: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per block, the scale byte ``FLOOR + offset`` (over ``offsets``, FLOOR first) with the
    smallest float64 squared error, and its codes. ``only_saturating`` skips the blocks that
    provably keep FLOOR (valid only for ``offsets == (0, 1)``)."""
    offsets = _check_offsets(offsets)
    if only_saturating and offsets != MSE_OFFSETS:
        raise MxFormatError("only_saturating is exact only for the offsets (0, 1)")
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
            only_saturating,
        )
    return data, scale


def _blocked(t: torch.Tensor, k: int) -> torch.Tensor:
    """``[r, K]`` -> ``[r, blocks, 32]`` (zero-padded tail), a copy when padding is needed."""
    blocks = num_blocks(k)
    if k % BLOCK_SIZE:
        t = torch.nn.functional.pad(t, (0, blocks * BLOCK_SIZE - k))
    return t.reshape(t.shape[0], blocks, BLOCK_SIZE)


def _candidates(
    codes_u8: torch.Tensor, floor_byte: torch.Tensor, only_saturating: bool
) -> torch.Tensor:
    """Flat indices of the blocks to evaluate. Saturating FLOOR blocks all hold the code 448
    (0x7E), which is read from the codes (1 byte a value) instead of re-reading the weights;
    the few blocks that reach 448 without saturating are evaluated too and keep FLOOR."""
    finite = floor_byte != SCALE_NAN
    if not only_saturating:
        return torch.nonzero(finite).view(-1)
    top = (codes_u8 & 0x7F).amax(dim=-1) == 0x7E
    return torch.nonzero(finite & (top | (floor_byte == 0))).view(-1)


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
    only_saturating: bool,
) -> None:
    """Re-choose the scale of the candidate blocks of one chunk, in place."""
    r, k = rows.shape
    blocks = scale_rows.shape[1]
    codes_u8 = _blocked(data_rows.view(torch.uint8), k).reshape(r * blocks, BLOCK_SIZE)
    index = _candidates(codes_u8, scale_rows.view(-1), only_saturating)
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
