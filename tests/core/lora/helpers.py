"""Shared pieces of the LoRA tests: demo transformers, fixed inputs, one forward."""

from __future__ import annotations

from pathlib import Path

import torch

from core.backends import ReferenceBackend
from core.quant.streaming import load_transformer


def load(folder: Path, quant: str = "none", dtype: torch.dtype = torch.float32, **kw):
    """A demo transformer loaded by the app's own streaming loader."""
    kw.setdefault("backend", ReferenceBackend() if quant != "none" else None)
    model, _report = load_transformer(folder, quant=quant, dtype=dtype, **kw)
    return model


def inputs(model, dtype: torch.dtype = torch.float32, batch: int = 1):
    g = torch.Generator().manual_seed(1)
    cfg = model.config
    x = torch.randn(batch, cfg.in_channels, 3, 8, 8, generator=g).to(dtype)
    e = torch.randn(batch, 7, cfg.text_dim, generator=g).to(dtype)
    return x, torch.tensor([700] * batch), e


def forward(model, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    with torch.no_grad():
        return model(*inputs(model, dtype), return_dict=False)[0]
