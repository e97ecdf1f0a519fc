"""A minimal stand-in for core.quant's Mxfp8Linear: exactly the attributes backends rely on."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.mx import quantize_mx


class StandInLayer(nn.Module):
    """weight float8_e4m3fn [N, K], weight_scale uint8 [N, ceil(K/32)], bias, backend_state."""

    def __init__(self, weight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight = weight
        self.weight_scale = scale
        self.bias = bias
        self.out_features, self.in_features = weight.shape
        self.backend_state: Any = None


def make_layer(
    n: int,
    k: int,
    *,
    bias: torch.dtype | None = torch.bfloat16,
    rule: str = "floor",
    seed: int = 0,
    std: float = 0.02,
) -> StandInLayer:
    gen = torch.Generator().manual_seed(seed)
    w = (torch.randn(n, k, generator=gen) * std).to(torch.bfloat16)
    data, scale = quantize_mx(w, rule)
    b = None if bias is None else (torch.randn(n, generator=gen) * 0.1).to(bias)
    return StandInLayer(data, scale, b)


def make_input(shape: tuple[int, ...], dtype: torch.dtype = torch.bfloat16, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).to(dtype)
