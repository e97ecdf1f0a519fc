"""Memory estimates and the placement plan: what fits on the device, what is swapped, whether
the VAE decodes in tiles.

Estimates are deliberately simple formulas (documented below), good to a factor of ~1.5: they
decide between "everything resident" and "swap" before a run starts and warn early, which is
what users asked for (wan22.md pain points 1 and 2: OOM at load or decode, host RAM exhausted).

- weights: exact bytes of the loaded modules (``module_bytes``), or, before loading, element
  counts from the safetensors headers times the bytes per element the loader will use
  (``estimate_weights``: bf16 on accelerators, fp32 on CPU, ~1.03 bytes for MXFP8 linears).
- denoise activations, per transformer forward: tokens x (8 x dim + 2 x ffn_dim) x bytes
  (hidden states, q/k/v, attention output with a memory-efficient kernel, the FFN
  intermediate and its activation); tokens = latent frames x (H / (s x 2)) x (W / (s x 2)).
- VAE decode: one causal chunk (4 frames) at full resolution x the last decoder stage's width
  x 6 live tensors, plus the decoded video in fp32; tiled decode (256 px tiles) bounds the chunk.

Placement modes: "none" keeps everything on the device; "swap" keeps only the model in use on
it (text encoder while encoding, the active expert while denoising, swapped at the expert
switch, the VAE while decoding), as the official ``--offload_model True`` does.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GIB = 1024**3
SAFETY = 1.15  # headroom for allocator fragmentation and small buffers
_DTYPE_BYTES = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "U8": 1,
    "I8": 1,
    "I64": 8,
    "I32": 4,
    "BOOL": 1,
}
_QUANTIZED_SUFFIXES = (
    "attn1.to_q.weight",
    "attn1.to_k.weight",
    "attn1.to_v.weight",
    "attn1.to_out.0.weight",
    "attn2.to_q.weight",
    "attn2.to_k.weight",
    "attn2.to_v.weight",
    "attn2.to_out.0.weight",
    "ffn.net.0.proj.weight",
    "ffn.net.2.weight",
)


@dataclass
class MemoryPlan:
    """Bytes per part, what is free, and the placement chosen for one job."""

    device: str
    weights: dict[str, int]  # component -> bytes
    activations: int  # denoise peak on top of resident weights
    vae_decode: int  # decode peak (untiled, or tiled when ``tile_vae``)
    available: int | None  # free device (or host, on CPU) memory now; None when unknown
    offload: str = "none"  # "none" | "swap"
    tile_vae: bool = False
    warnings: list[str] = field(default_factory=list)

    @property
    def peak(self) -> int:
        """Estimated peak device bytes with the chosen placement."""
        experts = [self.weights.get("transformer", 0), self.weights.get("transformer_2", 0)]
        if self.offload == "swap":
            denoise = max(experts) + self.activations
            encode = self.weights.get("text_encoder", 0)
            decode = self.weights.get("vae", 0) + self.vae_decode
            return max(denoise, encode, decode)
        resident = sum(self.weights.values())
        return resident + max(self.activations, self.vae_decode)

    def as_dict(self) -> dict[str, int | None]:
        """Figures for the Plan event (bytes)."""
        return {
            "weights": sum(self.weights.values()),
            "activations": self.activations,
            "vae_decode": self.vae_decode,
            "peak": self.peak,
            "available": self.available,
        }

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["peak"] = self.peak
        return data


# ---- sizes ----------------------------------------------------------------------------------
def module_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (0 for None)."""
    if module is None:
        return 0
    total = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        total += tensor.numel() * tensor.element_size()
    return total


def pipeline_weights(pipe: Any) -> dict[str, int]:
    return {
        name: module_bytes(getattr(pipe, name, None))
        for name in ("text_encoder", "transformer", "transformer_2", "vae")
        if getattr(pipe, name, None) is not None
    }


def safetensors_elements(path: Path) -> dict[str, tuple[str, int]]:
    """tensor name -> (dtype, element count) from a safetensors header (no tensor data read).

    The header goes through the checkpoint reader's checks first (length, offsets, dtypes), so
    a header claiming 2**60 bytes is a CheckpointError naming the file, never a MemoryError.
    """
    from core.quant.checkpoint import read_header

    return {
        name: (entry.dtype, math.prod(entry.shape))
        for name, entry in read_header(path).entries.items()
    }


def estimate_weights(folder: Path, accelerator: bool, quant: str) -> dict[str, int]:
    """Bytes per component once loaded, from the folder's safetensors headers.

    Loaded dtype: bf16 on an accelerator, fp32 on the CPU; float8 tensors (offline MXFP8) keep
    1 byte; with ``quant="mxfp8-online"`` the block linears become 1 byte + 1/32 scale byte.
    A corrupt header raises CheckpointError (the caller refuses the model before loading it).
    """
    target = 2 if accelerator else 4
    result: dict[str, int] = {}
    for component in ("text_encoder", "transformer", "transformer_2", "vae"):
        sub = folder / component
        if not sub.is_dir():
            continue
        total = 0
        for file in sorted(sub.glob("*.safetensors")):
            for name, (dtype, count) in safetensors_elements(file).items():
                if _DTYPE_BYTES.get(dtype, 2) == 1:
                    total += count
                elif (
                    quant == "mxfp8-online"
                    and component.startswith("transformer")
                    and name.endswith(_QUANTIZED_SUFFIXES)
                ):
                    total += count + count // 32
                else:
                    total += count * target
        result[component] = total
    return result


def activation_bytes(
    cfg: Any, spatial: int, temporal: int, width: int, height: int, frames: int, dtype_bytes: int
) -> int:
    """Denoise activations of one transformer forward from its config (see the module doc)."""
    dim = int(cfg["num_attention_heads"]) * int(cfg["attention_head_dim"])
    ps = cfg.get("patch_size") or (1, 2, 2)
    tokens = (
        ((frames - 1) // temporal + 1)
        * (height // (spatial * ps[1]))
        * (width // (spatial * ps[2]))
    )
    return int(tokens * (8 * dim + 2 * int(cfg["ffn_dim"])) * dtype_bytes)


def denoise_activation_bytes(
    pipe: Any, width: int, height: int, frames: int, dtype_bytes: int
) -> int:
    transformer = pipe.transformer if pipe.transformer is not None else pipe.transformer_2
    return activation_bytes(
        transformer.config,
        pipe.vae_scale_factor_spatial,
        pipe.vae_scale_factor_temporal,
        width,
        height,
        frames,
        dtype_bytes,
    )


def decode_bytes(
    cfg: Any, width: int, height: int, frames: int, tiled: bool, dtype_bytes: int
) -> int:
    """VAE decode peak from the VAE config: one causal chunk plus the decoded video."""
    last = int(cfg.get("decoder_base_dim") or cfg.get("base_dim", 96))
    patch = int(cfg.get("patch_size") or 1)
    h, w = (min(height, 256), min(width, 256)) if tiled else (height, width)
    chunk = 4 * (h // patch) * (w // patch) * last * dtype_bytes * 6
    video = frames * 3 * height * width * 4 * 2  # decoded video + its concatenation copy
    return int(chunk + video)


def vae_decode_bytes(pipe: Any, width: int, height: int, frames: int, tiled: bool) -> int:
    dtype_bytes = 2 if pipe.vae.dtype.itemsize == 2 else 4
    return decode_bytes(pipe.vae.config, width, height, frames, tiled, dtype_bytes)


def free_bytes(device: str) -> int | None:
    """Free memory on ``device`` now (host RAM for "cpu"); None when it cannot be told
    (the runner asks after it imported torch, so accelerators are asked too)."""
    return device_memory(device).free


def host_available_bytes() -> int | None:
    """Available host RAM (Linux MemAvailable; sysconf elsewhere)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def swap_free_bytes() -> int | None:
    """Free swap (Linux SwapFree), None elsewhere: the hard limit of a CPU job is RAM + swap."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("SwapFree:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass(frozen=True)
class DeviceMemory:
    """Memory on one device right now, for the progress display (bytes; None = unknown).

    ``scope`` says what ``used`` counts: on the CPU the app's own resident memory ("process"),
    on an accelerator everything allocated on it ("device", other processes included).
    """

    device: str
    used: int | None
    free: int | None
    total: int | None = None
    scope: str = "device"


def device_memory(device: str) -> DeviceMemory:
    """In use and free on ``device`` ("cpu", "cuda[:i]", "npu[:i]"); cheap enough to poll.

    The CPU reading never imports torch (two small /proc reads). An accelerator is asked through
    torch only when a run has already imported it: a poll must never pay torch's import.
    """
    kind = device.split(":")[0]
    if kind == "cpu":
        return DeviceMemory(
            device, process_resident_bytes(), host_available_bytes(), None, "process"
        )
    torch = sys.modules.get("torch")
    if torch is None:
        return DeviceMemory(device, None, None)
    try:
        module = torch.cuda if kind == "cuda" else getattr(torch, kind, None)
        if module is None or not module.is_available():
            return DeviceMemory(device, None, None)
        free, total = module.mem_get_info(torch.device(device))
    except Exception:  # a driver hiccup must not break the display
        return DeviceMemory(device, None, None)
    return DeviceMemory(device, int(total - free), int(free), int(total))


def process_resident_bytes() -> int | None:
    """This process's resident memory now (Linux /proc/self/statm), None elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return None


# ---- plan -----------------------------------------------------------------------------------
def plan_memory(
    pipe: Any,
    device: str,
    width: int,
    height: int,
    frames: int,
    offload: str = "auto",
    available: int | None = None,
) -> MemoryPlan:
    """Choose the placement for one job on a loaded pipeline.

    ``available`` is the free device memory with the whole model resident (as loaded); on the
    CPU there is nothing to move, so only warnings and VAE tiling are decided.
    ``offload`` "auto" picks "swap" when the activations do not fit beside all weights.
    """
    accelerator = not device.startswith("cpu")
    weights = pipeline_weights(pipe)
    dtype_bytes = 2 if accelerator else 4
    activations = denoise_activation_bytes(pipe, width, height, frames, dtype_bytes)
    plan = MemoryPlan(
        device=device,
        weights=weights,
        activations=activations,
        vae_decode=vae_decode_bytes(pipe, width, height, frames, tiled=False),
        available=available,
    )
    movable = sum(
        weights.get(name, 0) for name in ("text_encoder", "transformer", "transformer_2")
    ) - max(weights.get("transformer", 0), weights.get("transformer_2", 0))
    if offload in ("none", "swap"):  # forced ("swap" on the CPU moves nothing: tests use it)
        plan.offload = offload
    elif accelerator and available is not None and activations * SAFETY > available:
        plan.offload = "swap"
    if available is None:
        return plan
    free_for_decode = available
    if plan.offload == "swap":
        free_for_decode += sum(
            weights.get(name, 0) for name in ("text_encoder", "transformer", "transformer_2")
        )
        if activations * SAFETY > available + movable:
            plan.warnings.append(
                f"this job may not fit: about {_gib(activations)} of activations but "
                f"{_gib(available + movable)} free with one expert resident; reduce the size or "
                "frames, or use quant mxfp8-online"
            )
    elif activations * SAFETY > available:
        plan.warnings.append(
            f"this job needs about {_gib(activations)} for activations but only "
            f"{_gib(available)} is free; it may run out of memory (reduce size or frames)"
        )
    tiles_apply = width > 256 or height > 256  # diffusers tiles only above 256 px
    if tiles_apply and plan.vae_decode * SAFETY > free_for_decode:
        plan.tile_vae = True
        plan.vae_decode = vae_decode_bytes(pipe, width, height, frames, tiled=True)
    return plan


def _gib(value: int) -> str:
    return f"{value / GIB:.1f} GiB"
