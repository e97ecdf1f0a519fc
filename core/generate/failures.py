"""Turn an exception raised during a job into a Failed event a user can act on.

Each known class of failure gets a plain message and a hint (what to try); the traceback goes
to ``details`` for the "details" box. Unknown exceptions are reported as probable bugs.
"""

from __future__ import annotations

import traceback

from core.generate.events import STAGE_LABELS, Failed


class NonFiniteLatents(Exception):
    """The latents contain NaN or Inf: decoding them would only give black or garbage frames."""

    def __init__(self, step: int | None, total: int, expert: str, count: int, size: int) -> None:
        self.step, self.total, self.expert, self.count, self.size = step, total, expert, count, size
        where = f"after step {step}/{total} ({expert} expert)" if step else "after denoising"
        super().__init__(f"the latents contain {count} of {size} NaN/Inf values {where}")


NAN_HINT = (
    "Likely causes: a float16 overflow (use bfloat16 or float32), a broken or mismatched "
    "quantized checkpoint (try quant 'none' to compare), a transformer/VAE pairing from "
    "different models, or an unstable attention kernel. Nothing was decoded or written."
)
OOM_HINT = (
    "Reduce the size or the number of frames, pick quant 'mxfp8-online' to halve the "
    "transformer weights, or close other programs using the device. Memory was freed; you can "
    "retry right away."
)
DEVICE_HINT = (
    "The accelerator reported an error. Check the driver (npu-smi info / nvidia-smi), that no "
    "other process holds the device, or run with device 'cpu' to compare. The model was "
    "unloaded so the next run starts clean."
)
WRITE_HINT = "Check that the output folder exists, is writable and has free space."
PREFLIGHT_HINT = "Nothing was loaded: change the setting the message names and run again."
BUG_HINT = "This looks like a bug in Wan Studio; the details hold the traceback for a report."


def is_out_of_memory(exc: BaseException) -> bool:
    name = type(exc).__name__
    text = str(exc).lower()
    return name == "OutOfMemoryError" or "out of memory" in text or "can't allocate memory" in text


def is_device_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        key in text for key in ("cuda error", "npu error", "acl", "device-side", "hccl", "aicore")
    )


def describe_failure(exc: BaseException, stage: str | None) -> Failed:
    """The Failed event for ``exc`` raised in ``stage`` (None: before any stage)."""
    from core.generate.video import VideoError
    from core.models.loader import LoadError

    where = STAGE_LABELS.get(stage or "", "preparing the job").lower()
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, NonFiniteLatents):
        return Failed(message=str(exc), hint=NAN_HINT, details=details, stage=stage)
    from core.generate.request import ModelError
    from core.models.demo import DemoModelError

    if isinstance(exc, (ModelError, DemoModelError)):
        return Failed(
            message=str(exc),
            hint="Check the model folder, or pick another model.",
            details=details,
            stage=stage,
        )
    from core.generate.preflight import PreflightError

    if isinstance(exc, PreflightError):
        return Failed(message=str(exc), hint=PREFLIGHT_HINT, details=details, stage=stage)
    from core.lora.errors import LoraError

    if isinstance(exc, LoraError):
        return Failed(
            message=f"the LoRAs could not be applied: {exc}",
            hint="Remove or replace that LoRA (Generate > LoRAs); the model itself is unchanged "
            "and stays loaded.",
            details=details,
            stage=stage,
        )
    if isinstance(exc, LoadError):
        return Failed(
            message=f"the model could not be loaded: {exc}",
            hint="Check the model folder (Models > Inspect) and the quantization choice.",
            details=details,
            stage=stage,
        )
    if is_out_of_memory(exc):
        return Failed(
            message=f"out of memory while {where}", hint=OOM_HINT, details=details, stage=stage
        )
    if is_device_error(exc):
        return Failed(
            message=f"device error while {where}: {exc}",
            hint=DEVICE_HINT,
            details=details,
            stage=stage,
        )
    if isinstance(exc, VideoError):
        return Failed(message=str(exc), hint=WRITE_HINT, details=details, stage=stage)
    if isinstance(exc, OSError):
        return Failed(
            message=f"file error while {where}: {exc}",
            hint=WRITE_HINT,
            details=details,
            stage=stage,
        )
    return Failed(
        message=f"unexpected error while {where}: {type(exc).__name__}: {exc}",
        hint=BUG_HINT,
        details=details,
        stage=stage,
    )
