"""Conversions between the canonical scale layout and the NPU pair layout (mxfp8.md §5).

Canonical ``[..., ceil(K/32)]`` is what msmodelslim writes; ``npu_dynamic_mx_quant`` returns and
``npu_quant_matmul`` takes ``[..., ceil(K/64), 2]`` where block j sits at ``[j // 2, j % 2]``
and an odd block count is padded with byte 0. Both directions are exact.
"""

from __future__ import annotations

import torch

from core.mx.format import MxFormatError, num_blocks


def _as_bytes(scale: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(scale, torch.Tensor):
        raise MxFormatError(f"{what} must be a torch.Tensor, got {type(scale).__name__}")
    if scale.dtype == torch.float8_e8m0fnu:
        return scale.view(torch.uint8)
    if scale.dtype != torch.uint8:
        raise MxFormatError(
            f"{what} must hold E8M0 bytes as uint8 (or float8_e8m0fnu), got {scale.dtype}"
        )
    return scale


def scale_to_pairs(scale: torch.Tensor) -> torch.Tensor:
    """Canonical ``[..., B]`` -> NPU pairs ``[..., ceil(B/2), 2]`` (uint8, pad byte 0)."""
    scale = _as_bytes(scale, "scale")
    if scale.dim() < 1:
        raise MxFormatError("scale must have at least one dimension (the block axis)")
    blocks = scale.shape[-1]
    if blocks % 2:
        pad = scale.new_zeros((*scale.shape[:-1], 1))
        scale = torch.cat([scale, pad], dim=-1)
    return scale.reshape(*scale.shape[:-1], -1, 2).contiguous()


def pairs_to_scale(pairs: torch.Tensor, k: int) -> torch.Tensor:
    """NPU pairs ``[..., ceil(K/64), 2]`` -> canonical ``[..., ceil(K/32)]`` (uint8).

    The pad byte dropped for an odd block count must be 0: anything else means the pairs were
    built for a different K, so it is an error rather than silently lost data.
    """
    pairs = _as_bytes(pairs, "scale pairs")
    blocks = num_blocks(k)
    want = -(-blocks // 2)
    if pairs.dim() < 2 or pairs.shape[-1] != 2 or pairs.shape[-2] != want:
        raise MxFormatError(
            f"scale pairs for K={k} must have shape [..., {want}, 2], got {list(pairs.shape)}"
        )
    flat = pairs.reshape(*pairs.shape[:-2], 2 * want)
    if blocks % 2:
        pad = flat[..., -1]
        if bool((pad != 0).any()):
            raise MxFormatError(
                f"scale pairs for K={k} have a non-zero pad byte in the last pair "
                f"(block {blocks} of {blocks}); they were built for a different K"
            )
        flat = flat[..., :blocks]
    return flat.contiguous()
