"""Small helpers of the runner, kept apart so runner.py holds only the stages: load progress
weighting, the expert split, the decoder call count, the per-block cancel hooks, and freeing
memory between jobs."""

from __future__ import annotations

import gc
import math
from pathlib import Path
from typing import Any


class LoadTracker:
    """One monotonic 0..1 load fraction from the loader's per-component reports, weighting each
    component by its weight files' size (the loader reports "transformer", "transformer_2"...
    one after the other, then "pipeline" for the remaining components)."""

    def __init__(self, folder: Path) -> None:
        self.sizes: dict[str, int] = {}
        for sub in ("text_encoder", "transformer", "transformer_2", "vae"):
            files = list((folder / sub).glob("*.safetensors")) if (folder / sub).is_dir() else []
            self.sizes[sub] = sum(f.stat().st_size for f in files)
        self.total = sum(self.sizes.values())
        self.done: dict[str, float] = {}
        self.fraction = 0.0

    def update(self, component: str, fraction: float) -> float:
        fraction = min(1.0, max(0.0, fraction))
        if component in self.sizes and self.total > 0:
            self.done[component] = fraction
        else:  # "pipeline" (or anything unknown): the components not reported individually
            for name in self.sizes:
                if name not in self.done or component == "pipeline":
                    self.done[name] = max(self.done.get(name, 0.0), fraction)
        if self.total > 0:
            value = sum(self.sizes[c] * f for c, f in self.done.items()) / self.total
        else:
            value = fraction
        self.fraction = max(self.fraction, value)
        return self.fraction


def split_steps(scheduler: Any, steps: int, boundary: float | None) -> tuple[int, int]:
    """(high-noise steps, low-noise steps) exactly as the diffusers loop decides: a step runs
    the high-noise expert while its timestep t >= boundary x num_train_timesteps."""
    if boundary is None:
        return steps, 0
    scheduler.set_timesteps(steps, device="cpu")
    limit = boundary * scheduler.config.num_train_timesteps
    high = sum(1 for t in scheduler.timesteps.tolist() if t >= limit)
    return high, len(scheduler.timesteps) - high


def decoder_calls(vae: Any, shape: tuple[int, ...]) -> int:
    """How many times ``vae.decoder`` runs for latents of ``shape`` (one per latent frame,
    per tile when tiled decoding applies), for decode progress."""
    frames, height, width = shape[2], shape[3], shape[4]
    ratio = vae.spatial_compression_ratio
    if getattr(vae, "use_tiling", False):
        min_h, min_w = vae.tile_sample_min_height // ratio, vae.tile_sample_min_width // ratio
        if width > min_w or height > min_h:
            rows = math.ceil(height / (vae.tile_sample_stride_height // ratio))
            cols = math.ceil(width / (vae.tile_sample_stride_width // ratio))
            return frames * rows * cols
    return frames


def free_memory() -> None:
    """Collect garbage and return cached device memory to the driver."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        npu = getattr(torch, "npu", None)
        if npu is not None and hasattr(npu, "empty_cache"):
            npu.empty_cache()
    except Exception:
        pass


def cancel_hooks(pipe: Any, cancel: Any) -> list[Any]:
    """Check the cancel token before every transformer block: cancel within one block."""

    def check(_module: Any, _inputs: Any) -> None:
        cancel.raise_if_cancelled()

    hooks = []
    for name in ("transformer", "transformer_2"):
        model = getattr(pipe, name, None)
        for block in getattr(model, "blocks", []) if model is not None else []:
            hooks.append(block.register_forward_pre_hook(check))
    return hooks
