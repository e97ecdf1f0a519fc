"""Folder + quantization choice + device -> a ready diffusers Wan pipeline and a load report.

MINIMAL FIRST VERSION (foundation): only quant="none" is implemented here; #4 [quant] extends
this module with "mxfp8-online" and offline MXFP8 ("auto" when a description file is present).
The public API below is the contract the engine and the GUI rely on: keep it stable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.models.catalog import Family, get_family

QUANT_MODES = ("auto", "none", "mxfp8-online")


class LoadError(Exception):
    """A model folder that cannot be loaded; the message says what, where and how to fix it."""


@dataclass
class LoadOptions:
    quant: str = "auto"  # "auto" | "none" | "mxfp8-online"
    device: str = "auto"  # "auto" | "cpu" | "cuda[:i]" | "npu[:i]"
    backend: str = "auto"  # MXFP8 kernel backend: "auto" | "reference" | "npu"
    dtype: str | None = None  # "bfloat16" | "float32" | None (bf16 on accelerators, fp32 on CPU)


@dataclass
class LoadReport:
    folder: str
    family: str
    quant: str  # effective mode: "none" | "mxfp8-online" | "mxfp8-offline"
    device: str
    dtype: str
    backend: str | None = None
    layers_quantized: int = 0
    layers_kept: int = 0
    kept_reasons: dict[str, str] = field(default_factory=dict)
    bytes_before: int = 0
    bytes_after: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # per component
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


@dataclass
class LoadedModel:
    pipe: Any  # diffusers WanPipeline | WanImageToVideoPipeline
    family: Family
    folder: Path
    options: LoadOptions
    report: LoadReport


def detect_family(folder: Path) -> Family:
    """Family from the Diffusers folder's configs (wan22.md section 2)."""
    marker = folder / "wan_studio.json"
    if marker.is_file():
        try:
            fam = json.loads(marker.read_text("utf-8")).get("family")
            if fam:
                return get_family(fam)
        except (ValueError, KeyError):
            pass
    cfg_path = folder / "transformer" / "config.json"
    if not cfg_path.is_file():
        raise LoadError(f"{folder} has no transformer/config.json: not a Diffusers Wan2.2 folder")
    cfg = json.loads(cfg_path.read_text("utf-8"))
    two = (folder / "transformer_2").is_dir()
    if not two:
        return get_family("ti2v-5b")
    return get_family(
        "i2v-a14b" if cfg.get("in_channels", 16) > cfg.get("out_channels", 16) else "t2v-a14b"
    )


def resolve_device(device: str) -> str:
    """auto -> npu (torch_npu importable) -> cuda -> cpu."""
    import torch

    if device != "auto":
        return device
    try:
        import torch_npu  # noqa: F401

        if torch.npu.is_available():  # type: ignore[attr-defined]
            return "npu"
    except Exception:
        pass
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def load_pipeline(
    folder: str | Path,
    options: LoadOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> LoadedModel:
    """Load a Diffusers Wan2.2 folder. ``progress(component, fraction)`` is called as it goes."""
    import torch
    from diffusers import WanImageToVideoPipeline, WanPipeline

    options = options or LoadOptions()
    folder = Path(folder)
    if not (folder / "model_index.json").is_file():
        raise LoadError(f"{folder} has no model_index.json: pick a Diffusers-layout Wan2.2 folder")
    family = detect_family(folder)
    device = resolve_device(options.device)
    dtype_name = options.dtype or ("float32" if device == "cpu" else "bfloat16")
    dtype = getattr(torch, dtype_name)
    if options.quant not in ("auto", "none"):
        raise LoadError(f"quantization mode {options.quant!r} is not available yet")
    started = time.perf_counter()
    cls = (
        WanImageToVideoPipeline
        if family.pipeline_class == "WanImageToVideoPipeline"
        else WanPipeline
    )
    pipe = cls.from_pretrained(folder, torch_dtype=dtype)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    if progress:
        progress("pipeline", 1.0)
    report = LoadReport(
        folder=str(folder),
        family=family.key,
        quant="none",
        device=device,
        dtype=dtype_name,
        seconds={"pipeline": time.perf_counter() - started},
    )
    return LoadedModel(pipe=pipe, family=family, folder=folder, options=options, report=report)
