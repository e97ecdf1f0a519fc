"""Checks of a valid request against the model and the machine, before anything is loaded.

Why before loading: loading a real model takes minutes and tens of GB; a run that cannot work
(an output folder that cannot be written, a size beyond the model's position table, a job that
needs more memory than the machine has) must be refused at once, with the figures, not found
after the load or ended by the kernel's OOM killer. Everything here reads only small JSON
files and safetensors headers (no torch), so the CLI runs it before the runner and the runner
runs it again for the GUI.

Memory: the estimate is the *best case* the planner can reach (experts swapped, VAE decoded in
tiles; core.generate.memory documents the formulas). Only when even that exceeds the limit
(free RAM plus free swap on the CPU, free device memory on an accelerator) is the job refused;
when only the everything-resident placement does not fit, it is a warning as before.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from core.humanize import human_bytes


class PreflightError(ValueError):
    """A valid request that cannot run on this model or machine; the message gives the figures
    and what to change."""


def check_output(output: str | None) -> None:
    """Refuse an ``--out`` that cannot be written (checked in seconds, not after the load)."""
    if not output:
        return
    target = Path(output).expanduser()
    folder = target.parent if target.suffix.lower() == ".mp4" else target
    probe = folder
    while not probe.exists():  # the nearest existing ancestor decides whether mkdir can work
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise PreflightError(f"output {output}: {probe} is a file, not a folder: choose a folder")
    try:  # a real probe file: os.access() says yes to root even on a read-only mount
        fd, name = tempfile.mkstemp(prefix=".wan-studio-probe-", dir=probe)
    except OSError as exc:
        raise PreflightError(
            f"output {output}: cannot write into {probe} ({exc.strerror or exc}): choose a "
            "folder you can write to"
        ) from None
    os.close(fd)
    os.unlink(name)


def _latent_grid(
    vae_cfg: dict[str, Any], patch: list[int], width: int, height: int, frames: int
) -> tuple[int, int, int]:
    temporal = int(vae_cfg.get("scale_factor_temporal") or 4)
    spatial = int(vae_cfg.get("scale_factor_spatial") or 8)
    return (
        ((frames - 1) // temporal + 1) // patch[0],
        height // spatial // patch[1],
        width // spatial // patch[2],
    )


def check_positions(
    cfg: dict[str, Any], vae_cfg: dict[str, Any], width: int, height: int, frames: int
) -> None:
    """The transformer's rotary position table covers the job's latent grid (else diffusers
    fails deep in the first step with a reshape error)."""
    limit = int(cfg.get("rope_max_seq_len") or 1024)
    patch = list(cfg.get("patch_size") or (1, 2, 2))
    grid = _latent_grid(vae_cfg, patch, width, height, frames)
    for axis, count, option in zip(
        ("frames", "height", "width"), grid, ("--frames", "--size", "--size"), strict=True
    ):
        if count > limit:
            raise PreflightError(
                f"{option}: {axis} is too large for this model: it makes {count} latent "
                f"positions along {axis}, and its position table (rope_max_seq_len) has {limit}"
            )


def estimate_job(
    folder: Path,
    cfg: dict[str, Any],
    vae_cfg: dict[str, Any],
    request: Any,
    accelerator: bool,
) -> dict[str, int]:
    """Best-case bytes of one job: weights, denoise activations and tiled VAE decode, and the
    peak a swapping placement reaches (the lowest any placement reaches)."""
    from core.generate.memory import activation_bytes, decode_bytes, estimate_weights

    weights = estimate_weights(folder, accelerator, request.quant)
    dtype_bytes = 2 if accelerator else 4
    w, h, f = request.width, request.height, request.frames
    spatial = int(vae_cfg.get("scale_factor_spatial") or 8)
    temporal = int(vae_cfg.get("scale_factor_temporal") or 4)
    act = activation_bytes(cfg, spatial, temporal, w, h, f, dtype_bytes)
    decode = decode_bytes(vae_cfg, w, h, f, tiled=w > 256 or h > 256, dtype_bytes=4)
    experts = max(weights.get("transformer", 0), weights.get("transformer_2", 0))
    if accelerator:  # swap: only the model in use is resident
        peak = max(experts + act, weights.get("text_encoder", 0), weights.get("vae", 0) + decode)
    else:  # the CPU keeps everything resident
        peak = sum(weights.values()) + max(act, decode)
    return {"weights": sum(weights.values()), "activations": act, "decode": decode, "peak": peak}


def memory_limit(device: str) -> tuple[int | None, str]:
    """(bytes a job may use on ``device``, how it was told); None when it cannot be told."""
    from core.generate.memory import device_memory, host_available_bytes, swap_free_bytes

    if device.startswith("cpu"):
        ram = host_available_bytes()
        if ram is None:
            return None, ""
        return ram + (swap_free_bytes() or 0), "free RAM and swap"
    free = device_memory(device).free
    return free, f"free memory on {device}"


def check_memory(folder: Path, request: Any, device: str) -> list[str]:
    """Refuse (PreflightError) a job whose best case exceeds the limit; warnings otherwise."""
    from core.quant.component import read_config

    try:
        cfg = read_config(_first_transformer(folder))
        vae_cfg = read_config(folder / "vae") if (folder / "vae").is_dir() else {}
    except ValueError:
        return []  # the loader reports a broken config with its own message
    check_positions(cfg, vae_cfg, request.width, request.height, request.frames)
    need = estimate_job(folder, cfg, vae_cfg, request, not device.startswith("cpu"))
    limit, what = memory_limit(device)
    if limit is None:
        return []
    if need["peak"] > limit:
        raise PreflightError(
            f"this job needs about {human_bytes(need['peak'])} (weights "
            f"{human_bytes(need['weights'])}, activations {human_bytes(need['activations'])}, "
            f"VAE decode {human_bytes(need['decode'])}) but the limit is {human_bytes(limit)} "
            f"({what}): reduce --size or --frames"
            + (", or use --quant mxfp8-online" if request.quant in ("auto", "none") else "")
        )
    if need["weights"] > limit:
        return [
            f"the model needs about {human_bytes(need['weights'])} but only "
            f"{human_bytes(limit)} ({what}) is free: loading may fail"
        ]
    return []


def _first_transformer(folder: Path) -> Path:
    sub = folder / "transformer"
    return sub if sub.is_dir() else folder / "transformer_2"


def preflight(folder: Path, request: Any, device: str) -> list[str]:
    """Every check before loading; returns warnings, raises PreflightError (or the loader's
    LoadError for a corrupt weights header) for a job that cannot run."""
    from core.models.loader import LoadError
    from core.quant.checkpoint import CheckpointError

    check_output(request.output)
    try:
        check_model(folder)
        return check_memory(folder, request, device)
    except CheckpointError as exc:
        raise LoadError(str(exc)) from None


def check_model(folder: Path) -> None:
    """The loader's own config and header checks (model_index, each transformer's config
    against its headers): a broken model is refused before the load, as bad input."""
    from core.models.loader import read_model_index
    from core.quant.component import examine_transformer, transformer_components

    for component in transformer_components(read_model_index(folder)):
        if (folder / component).is_dir():
            examine_transformer(folder / component)


__all__ = [
    "PreflightError",
    "check_memory",
    "check_model",
    "check_output",
    "check_positions",
    "preflight",
]
