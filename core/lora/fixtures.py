"""Tiny LoRA files with real key names, for tests and benchmarks (no LoRA ships with the app).

``write_lora`` writes a real safetensors LoRA for a Wan transformer of a given shape in any of
the three formats core.lora.convert reads, with the key names and conventions real files use:
diffusers/peft ``lora_A``/``lora_B`` (+ ``lora_B.bias``); Wan/ComfyUI ``diffusion_model.*``
``lora_down``/``lora_up``/``alpha`` with ``diff_b`` bias deltas, a ``diff`` weight delta and
zeroed norm ``diff`` keys as lightx2v files have; Kohya/musubi ``lora_unet_blocks_N_*``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

FORMATS = ("diffusers", "wan", "musubi")
# Diffusers module name -> Wan-native name of the ten block linears.
NATIVE = {
    "attn1.to_q": "self_attn.q",
    "attn1.to_k": "self_attn.k",
    "attn1.to_v": "self_attn.v",
    "attn1.to_out.0": "self_attn.o",
    "attn2.to_q": "cross_attn.q",
    "attn2.to_k": "cross_attn.k",
    "attn2.to_v": "cross_attn.v",
    "attn2.to_out.0": "cross_attn.o",
    "ffn.net.0.proj": "ffn.0",
    "ffn.net.2": "ffn.2",
}


def block_shapes(dim: int, ffn_dim: int) -> dict[str, tuple[int, int]]:
    """(out, in) of the ten block linears of a Wan transformer of width ``dim``."""
    shapes = {name: (dim, dim) for name in NATIVE}
    shapes["ffn.net.0.proj"] = (ffn_dim, dim)
    shapes["ffn.net.2"] = (dim, ffn_dim)
    return shapes


def lora_tensors(
    fmt: str,
    *,
    dim: int = 64,
    ffn_dim: int = 128,
    blocks: int = 2,
    rank: int = 4,
    alpha: float | None = None,
    seed: int = 0,
    dtype: torch.dtype = torch.bfloat16,
    magnitude: float = 0.05,
    with_bias: bool = False,
    with_diff: bool = False,
    layers: tuple[str, ...] | None = None,
) -> dict[str, torch.Tensor]:
    """The state dict of a LoRA in ``fmt`` (see the module docstring)."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    shapes = block_shapes(dim, ffn_dim)
    chosen = layers or tuple(NATIVE)
    for block in range(blocks):
        for name in chosen:
            n, k = shapes[name]
            down = (torch.randn(rank, k, generator=gen) * magnitude).to(dtype)
            up = (torch.randn(n, rank, generator=gen) * magnitude).to(dtype)
            native = NATIVE[name]
            if fmt == "diffusers":
                base = f"transformer.blocks.{block}.{name}"
                out[f"{base}.lora_A.weight"] = down
                out[f"{base}.lora_B.weight"] = up
                if with_bias:
                    out[f"{base}.lora_B.bias"] = (torch.randn(n, generator=gen) * 0.01).to(dtype)
            elif fmt == "wan":
                base = f"diffusion_model.blocks.{block}.{native}"
                out[f"{base}.lora_down.weight"] = down
                out[f"{base}.lora_up.weight"] = up
                if alpha is not None:
                    out[f"{base}.alpha"] = torch.tensor(float(alpha), dtype=dtype)
                if with_bias:
                    out[f"{base}.diff_b"] = (torch.randn(n, generator=gen) * 0.01).to(dtype)
            else:
                base = f"lora_unet_blocks_{block}_{native.replace('.', '_')}"
                out[f"{base}.lora_down.weight"] = down
                out[f"{base}.lora_up.weight"] = up
                out[f"{base}.alpha"] = torch.tensor(float(alpha or rank), dtype=dtype)
        if fmt == "wan" and with_diff:
            out[f"diffusion_model.blocks.{block}.norm3.diff"] = torch.zeros(dim, dtype=dtype)
    if fmt == "wan" and with_diff:
        n, k = shapes["attn1.to_q"]
        out["diffusion_model.blocks.0.self_attn.q.diff"] = (
            torch.randn(n, k, generator=gen) * 0.001
        ).to(dtype)
    return out


def write_lora(
    path: str | Path, fmt: str, metadata: dict[str, str] | None = None, **kw: Any
) -> Path:
    """Write ``lora_tensors(fmt, **kw)`` as a safetensors file; returns its path."""
    from safetensors.torch import save_file

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_file(lora_tensors(fmt, **kw), str(target), metadata=metadata)
    return target
