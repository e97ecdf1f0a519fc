"""Live preview: project latents to RGB with a fixed per-VAE matrix (latent2rgb), a few frames.

Why latent2rgb: it costs one (C x 3) matmul on a handful of latent frames, works on any device
and needs no extra weights, so a preview every step is affordable (TAEHV would look better but
costs a second decoder). The factor tables are ComfyUI's (comfy/latent_formats.py, classes
Wan21 and Wan22; numeric data only): rows are latent channels, columns R, G, B. diffusers keeps
Wan latents normalised ((z - mean) / std) during denoising, the same space as ComfyUI's
``process_in``, so the factors apply directly.

Demo VAEs have 4 (Wan2.1-style) or 8 (Wan2.2-style) channels: they use the first rows of their
family's table. Any other channel count cycles through the Wan2.1 rows (documented fallback: it
only has to show structure, colours are meaningless for random weights anyway).

The picture shows x0 (the model's current estimate of the clean video) when the scheduler
exposes it (UniPC: ``model_outputs[-1]``), otherwise the noisy latents.
"""

from __future__ import annotations

import math
import time
from typing import Any

# comfy/latent_formats.py Wan21.latent_rgb_factors / latent_rgb_factors_bias (16 channels).
WAN21_RGB_FACTORS: tuple[tuple[float, float, float], ...] = (
    (-0.1299, -0.1692, 0.2932),
    (0.0671, 0.0406, 0.0442),
    (0.3568, 0.2548, 0.1747),
    (0.0372, 0.2344, 0.1420),
    (0.0313, 0.0189, -0.0328),
    (0.0296, -0.0956, -0.0665),
    (-0.3477, -0.4059, -0.2925),
    (0.0166, 0.1902, 0.1975),
    (-0.0412, 0.0267, -0.1364),
    (-0.1293, 0.0740, 0.1636),
    (0.0680, 0.3019, 0.1128),
    (0.0032, 0.0581, 0.0639),
    (-0.1251, 0.0927, 0.1699),
    (0.0060, -0.0633, 0.0005),
    (0.3477, 0.2275, 0.2950),
    (0.1984, 0.0913, 0.1861),
)
WAN21_RGB_BIAS = (-0.1835, -0.0868, -0.3360)

# comfy/latent_formats.py Wan22.latent_rgb_factors / latent_rgb_factors_bias (48 channels).
WAN22_RGB_FACTORS: tuple[tuple[float, float, float], ...] = (
    (0.0119, 0.0103, 0.0046),
    (-0.1062, -0.0504, 0.0165),
    (0.0140, 0.0409, 0.0491),
    (-0.0813, -0.0677, 0.0607),
    (0.0656, 0.0851, 0.0808),
    (0.0264, 0.0463, 0.0912),
    (0.0295, 0.0326, 0.0590),
    (-0.0244, -0.0270, 0.0025),
    (0.0443, -0.0102, 0.0288),
    (-0.0465, -0.0090, -0.0205),
    (0.0359, 0.0236, 0.0082),
    (-0.0776, 0.0854, 0.1048),
    (0.0564, 0.0264, 0.0561),
    (0.0006, 0.0594, 0.0418),
    (-0.0319, -0.0542, -0.0637),
    (-0.0268, 0.0024, 0.0260),
    (0.0539, 0.0265, 0.0358),
    (-0.0359, -0.0312, -0.0287),
    (-0.0285, -0.1032, -0.1237),
    (0.1041, 0.0537, 0.0622),
    (-0.0086, -0.0374, -0.0051),
    (0.0390, 0.0670, 0.2863),
    (0.0069, 0.0144, 0.0082),
    (0.0006, -0.0167, 0.0079),
    (0.0313, -0.0574, -0.0232),
    (-0.1454, -0.0902, -0.0481),
    (0.0714, 0.0827, 0.0447),
    (-0.0304, -0.0574, -0.0196),
    (0.0401, 0.0384, 0.0204),
    (-0.0758, -0.0297, -0.0014),
    (0.0568, 0.1307, 0.1372),
    (-0.0055, -0.0310, -0.0380),
    (0.0239, -0.0305, 0.0325),
    (-0.0663, -0.0673, -0.0140),
    (-0.0416, -0.0047, -0.0023),
    (0.0166, 0.0112, -0.0093),
    (-0.0211, 0.0011, 0.0331),
    (0.1833, 0.1466, 0.2250),
    (-0.0368, 0.0370, 0.0295),
    (-0.3441, -0.3543, -0.2008),
    (-0.0479, -0.0489, -0.0420),
    (-0.0660, -0.0153, 0.0800),
    (-0.0101, 0.0068, 0.0156),
    (-0.0690, -0.0452, -0.0927),
    (-0.0145, 0.0041, 0.0015),
    (0.0421, 0.0451, 0.0373),
    (0.0504, -0.0483, -0.0356),
    (-0.0837, 0.0168, 0.0055),
)
WAN22_RGB_BIAS = (0.0317, -0.0878, -0.1388)


def rgb_factors(channels: int, wan22_vae: bool) -> tuple[list[list[float]], list[float], str]:
    """(channels x 3 factors, bias, description) for a VAE with ``channels`` latent channels."""
    table, bias, name = (
        (WAN22_RGB_FACTORS, WAN22_RGB_BIAS, "Wan2.2")
        if wan22_vae
        else (WAN21_RGB_FACTORS, WAN21_RGB_BIAS, "Wan2.1")
    )
    if channels == len(table):
        return [list(r) for r in table], list(bias), f"{name} table"
    if channels < len(table):
        return (
            [list(r) for r in table[:channels]],
            list(bias),
            f"{name} table, first {channels} rows",
        )
    rows = [list(WAN21_RGB_FACTORS[i % len(WAN21_RGB_FACTORS)]) for i in range(channels)]
    return rows, list(WAN21_RGB_BIAS), f"Wan2.1 rows cycled over {channels} channels"


def pick_frames(latent_frames: int, count: int) -> list[int]:
    """``count`` latent frame indices spread evenly from first to last (all when fewer)."""
    if latent_frames <= count:
        return list(range(latent_frames))
    if count == 1:
        return [latent_frames // 2]
    return sorted({round(i * (latent_frames - 1) / (count - 1)) for i in range(count)})


class LatentPreviewer:
    """Turns latents [B, C, T, h, w] into a uint8 RGB strip of a few frames, at most
    ``max_per_second`` times a second (``due()``).

    The strip has one pixel per latent pixel (the GUI scales it for display, crisp); set
    ``min_height`` to have it upscaled here (nearest, never beyond the VAE's own scale)."""

    def __init__(
        self,
        channels: int,
        wan22_vae: bool,
        spatial_scale: int,
        frames: int = 4,
        max_per_second: float = 4.0,
        min_height: int = 0,
    ) -> None:
        self.channels = channels
        self.factors, self.bias, self.table = rgb_factors(channels, wan22_vae)
        self.spatial_scale = spatial_scale
        self.frames = max(1, frames)
        self.min_interval = 0.0 if max_per_second <= 0 else 1.0 / max_per_second
        self.min_height = min_height
        self._last = -math.inf
        self._weights: Any = None  # (factors, bias) torch tensors on the latents' device
        self._numpy: Any = None  # the same as float32 numpy arrays, for latents on the CPU
        self.seconds = 0.0  # total time spent rendering (for the benchmark)
        self.count = 0

    def due(self, now: float | None = None) -> bool:
        """True when enough time passed since the last preview (throttle)."""
        now = time.perf_counter() if now is None else now
        return now - self._last >= self.min_interval

    def render(self, latents: Any) -> tuple[Any, list[int]]:
        """(uint8 numpy [H, W*n, 3], latent frame indices) for the first sample of ``latents``."""
        import numpy as np

        started = time.perf_counter()
        self._last = started
        x = latents[0].detach()  # [C, T, h, w]
        idx = pick_frames(x.shape[1], self.frames)
        rgb = self.project_host(x, idx) if x.device.type == "cpu" else self.project_device(x, idx)
        t, h, w, _ = rgb.shape
        strip = rgb.transpose(1, 0, 2, 3).reshape(h, t * w, 3)  # frames side by side
        scale = min(self.spatial_scale, max(1, math.ceil(self.min_height / max(h, 1))))
        if scale > 1:  # nearest-neighbour upscale in one copy
            strip = np.broadcast_to(strip[:, None, :, None, :], (h, scale, t * w, scale, 3))
            strip = strip.reshape(h * scale, t * w * scale, 3)
        self.seconds += time.perf_counter() - started
        self.count += 1
        return np.ascontiguousarray(strip), idx

    def project_host(self, x: Any, idx: list[int]) -> Any:
        """uint8 [T, h, w, 3] from CPU latents [C, T, h, w], in numpy with no torch op at all:
        a torch op on a tiny tensor wakes the intra-op thread pool, which costs far more than
        the projection itself."""
        import numpy as np
        import torch

        a = x.numpy() if x.dtype == torch.float32 else x.float().numpy()
        factors, bias = self._numpy_weights()
        rgb = np.matmul(a[:, idx].transpose(1, 2, 3, 0), factors) + bias
        return np.clip(rgb, 0, 255, out=rgb).astype(np.uint8)

    def project_device(self, x: Any, idx: list[int]) -> Any:
        """The same on the latents' device: project there, move only the small uint8 result."""
        import torch

        with torch.no_grad():
            factors, bias = self._weights_for(x.device)
            index = torch.tensor(idx, device=x.device)
            rgb = torch.matmul(x.index_select(1, index).permute(1, 2, 3, 0).float(), factors)
            rgb = (rgb + bias).clamp_(0, 255).to(torch.uint8)
        return rgb.cpu().numpy()

    def _numpy_weights(self) -> tuple[Any, Any]:
        import numpy as np

        if self._numpy is None:
            factors = np.asarray(self.factors, dtype=np.float32) * np.float32(127.5)
            bias = (np.asarray(self.bias, dtype=np.float32) + np.float32(1.0)) * np.float32(127.5)
            self._numpy = (factors, bias)
        return self._numpy

    def _weights_for(self, device: Any) -> Any:
        import torch

        if self._weights is None or self._weights[0].device != device:
            # Fold ComfyUI's ((rgb + 1) / 2) * 255 into the matrix and the bias.
            factors = torch.tensor(self.factors, dtype=torch.float32, device=device) * 127.5
            bias = (torch.tensor(self.bias, dtype=torch.float32, device=device) + 1.0) * 127.5
            self._weights = (factors, bias)
        return self._weights


def x0_estimate(scheduler: Any, latents: Any) -> Any:
    """The scheduler's current clean-video estimate when it keeps one (UniPC with predict_x0
    stores it in ``model_outputs[-1]``), else ``latents``."""
    outputs = getattr(scheduler, "model_outputs", None)
    if getattr(getattr(scheduler, "config", None), "predict_x0", False) and outputs:
        last = outputs[-1]
        if last is not None and getattr(last, "shape", None) == latents.shape:
            return last
    return latents
