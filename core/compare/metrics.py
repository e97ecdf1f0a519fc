"""Measurements of a variant against the reference: frames, latents, weights, memory.

Frame metrics use scikit-image (``peak_signal_noise_ratio``, ``structural_similarity``) on
the decoded videos, i.e. on what the user sees. Identical frames give PSNR = inf (scikit-image
divides by a zero MSE; that case is answered before calling it) and SSIM = 1. Latent metrics
are computed in float64 on the latents after every denoising step. Weight errors compare each
MXFP8 layer's dequantized weight with the unquantized tensor of the reference model folder.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

MISSING_SKIMAGE = (
    "`wan-studio compare` needs scikit-image and matplotlib: pip install 'wan-studio[compare]'"
)


def frame_metrics(ref: np.ndarray, other: np.ndarray) -> dict[str, list[float]]:
    """Per-frame PSNR (dB, data range 255) and SSIM of uint8 videos ``[F, H, W, 3]``."""
    try:
        from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    except ImportError as exc:  # pragma: no cover - the extra is part of the test install
        raise RuntimeError(MISSING_SKIMAGE) from exc
    if ref.shape != other.shape:
        raise ValueError(
            f"the videos differ in shape ({list(ref.shape)} vs {list(other.shape)}): they cannot "
            "be compared frame by frame"
        )
    psnr, ssim = [], []
    side = min(ref.shape[1], ref.shape[2])
    win = min(7, side if side % 2 else side - 1)
    for a, b in zip(ref, other, strict=True):
        if np.array_equal(a, b):
            psnr.append(math.inf)
            ssim.append(1.0)
            continue
        psnr.append(float(peak_signal_noise_ratio(a, b, data_range=255)))
        ssim.append(
            float(structural_similarity(a, b, data_range=255, channel_axis=-1, win_size=win))
        )
    return {"psnr": psnr, "ssim": ssim}


def latent_metrics(ref: Any, other: Any) -> tuple[float, float]:
    """(cosine similarity, relative error ||other - ref|| / ||ref||) of two latent tensors."""
    import torch

    a = ref.reshape(-1).to(torch.float64)
    b = other.reshape(-1).to(torch.float64)
    if torch.equal(a, b):
        return 1.0, 0.0
    cosine = float(torch.nn.functional.cosine_similarity(a, b, dim=0))
    norm = float(a.norm())
    rel = float((b - a).norm() / norm) if norm else math.inf
    return cosine, rel


def _source_tensors(folder: Path, component: str) -> dict[str, Path]:
    """Tensor name -> safetensors file of one transformer folder (headers only)."""
    from safetensors import safe_open

    names: dict[str, Path] = {}
    for file in sorted((folder / component).glob("*.safetensors")):
        with safe_open(str(file), framework="pt") as handle:
            for name in handle.keys():  # noqa: SIM118 (safe_open has no __iter__)
                names[name] = file
    return names


def mxfp8_layers(pipe: Any) -> Iterator[tuple[str, str, Any]]:
    """(component, layer name, Mxfp8Linear) of every MXFP8 layer of a loaded pipeline."""
    from core.quant.layer import Mxfp8Linear

    for component in ("transformer", "transformer_2"):
        model = getattr(pipe, component, None)
        if model is None:
            continue
        for name, module in model.named_modules():
            if isinstance(module, Mxfp8Linear):
                yield component, name, module


def weight_errors(pipe: Any, source: Path) -> tuple[dict[str, float], str | None]:
    """Relative Frobenius error ``||deq(W_q) - W|| / ||W||`` of every MXFP8 layer against the
    float weight of the same name in ``source``; (errors, note when some could not be)."""
    import torch
    from safetensors import safe_open

    from core.mx import dequantize_mx

    errors: dict[str, float] = {}
    missing = 0
    files: dict[str, dict[str, Path]] = {}
    for component, name, layer in mxfp8_layers(pipe):
        if component not in files:
            files[component] = _source_tensors(source, component)
        key = f"{name}.weight"
        file = files[component].get(key)
        if file is None:
            missing += 1
            continue
        with safe_open(str(file), framework="pt") as handle:
            original = handle.get_tensor(key)
        if original.dtype in (torch.float8_e4m3fn, torch.uint8):
            missing += 1  # the reference folder is itself quantized: no float weight to use
            continue
        w = original.to(torch.float32)
        deq = dequantize_mx(layer.weight.detach().cpu(), layer.weight_scale.detach().cpu())
        norm = float(w.norm())
        errors[f"{component}.{name}"] = float((deq - w).norm() / norm) if norm else 0.0
    note = None
    if missing:
        note = (
            f"{missing} MXFP8 layer(s) have no float weight of the same name in {source}: "
            "their weight error is not measured"
        )
    return errors, note


class PeakMemory:
    """Peak memory of one variant: the device's allocator peak on an accelerator, the
    process's peak resident set on the CPU (Linux: VmHWM, reset through clear_refs)."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.kind = device.split(":")[0]

    def _module(self) -> Any:
        import torch

        module = torch.cuda if self.kind == "cuda" else getattr(torch, self.kind, None)
        return module if module is not None and module.is_available() else None

    def reset(self) -> None:
        if self.kind != "cpu":
            module = self._module()
            if module is not None:
                module.reset_peak_memory_stats()
            return
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
                handle.write("5")  # resets the peak resident set size (VmHWM) to the current
        except OSError:
            pass

    def read(self) -> tuple[int | None, str]:
        """(bytes or None, what was measured)."""
        if self.kind != "cpu":
            module = self._module()
            if module is None:
                return None, "unknown"
            return int(module.max_memory_allocated()), "device allocator peak"
        try:
            with open("/proc/self/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024, "process peak resident set"
        except (OSError, ValueError, IndexError):
            pass
        return None, "unknown"


def read_video(path: str | Path) -> np.ndarray:
    """Decoded uint8 frames ``[F, H, W, 3]`` of an MP4."""
    import imageio

    return np.stack(imageio.mimread(str(path), format="FFMPEG", memtest=False))
