"""Helpers for core.quant tests: edit a checkpoint or description in place, digest a folder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "diffusion_pytorch_model.safetensors"
DESCRIPTION = "quant_model_description.json"


def edit_weights(folder: Path, change: Callable[[dict[str, torch.Tensor]], None]) -> None:
    path = folder / WEIGHTS
    tensors = load_file(path)
    change(tensors)
    save_file(tensors, path)


def edit_description(folder: Path, change: Callable[[dict[str, str]], None]) -> None:
    path = folder / DESCRIPTION
    data = json.loads(path.read_text("utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=2), "utf-8")


def tree_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file: proves a folder was not modified."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
