"""Events a generation run emits, in order, to one ``on_event(event)`` callback.

The runner calls the callback synchronously on its own (worker) thread; the GUI turns each
event into a queued Qt signal, the CLI prints it. Events are plain dataclasses (torch-free;
``Preview.image`` is a numpy array), each with ``timestamp`` (time.time()) and ``overall``:
the fraction 0..1 of the whole job done when it was emitted (see ``core.generate.overall`` for
how stages are weighted).

A typical two-expert run::

    Started -> StageStarted(load) [StageProgress...] StageFinished(load)   (StageSkipped if warm)
    -> Plan -> StageStarted(encode) StageFinished(encode)
    -> StageStarted(denoise_high) Step... [Preview...] StageFinished(denoise_high)
    -> ExpertSwitch -> StageStarted(denoise_low) Step... StageFinished(denoise_low)
    -> StageStarted(decode) StageFinished(decode) -> StageStarted(write) StageFinished(write)
    -> Done

It ends with exactly one outcome: ``Done``, ``Failed`` or ``Cancelled`` (also the return value
of ``Runner.run``). ``Warning`` may come at any point. One-expert models (TI2V-5B) use the
single stage "denoise" and never emit ExpertSwitch.

Stage ids: "load", "encode", "denoise_high", "denoise_low", "denoise", "decode", "write".
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

STAGE_LOAD = "load"
STAGE_ENCODE = "encode"
STAGE_DENOISE_HIGH = "denoise_high"
STAGE_DENOISE_LOW = "denoise_low"
STAGE_DENOISE = "denoise"
STAGE_DECODE = "decode"
STAGE_WRITE = "write"
STAGES = (
    STAGE_LOAD,
    STAGE_ENCODE,
    STAGE_DENOISE_HIGH,
    STAGE_DENOISE_LOW,
    STAGE_DENOISE,
    STAGE_DECODE,
    STAGE_WRITE,
)
STAGE_LABELS = {
    STAGE_LOAD: "Loading model",
    STAGE_ENCODE: "Encoding prompt",
    STAGE_DENOISE_HIGH: "Denoising (high-noise expert)",
    STAGE_DENOISE_LOW: "Denoising (low-noise expert)",
    STAGE_DENOISE: "Denoising",
    STAGE_DECODE: "Decoding video (VAE)",
    STAGE_WRITE: "Writing video",
}
EXPERT_HIGH = "high"
EXPERT_LOW = "low"
EXPERT_SINGLE = "single"


@dataclass(kw_only=True)
class Event:
    """Base of every event: when it happened and how far the whole job is (0..1)."""

    kind: ClassVar[str] = "event"
    overall: float = 0.0
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (arrays become their shape), with the event ``kind``."""
        data: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if hasattr(value, "shape") and hasattr(value, "dtype"):
                value = {"array_shape": list(value.shape), "dtype": str(value.dtype)}
            data[f.name] = value
        return data


@dataclass
class Started(Event):
    """The job was accepted (validated); ``seed`` is the effective seed it will use."""

    kind: ClassVar[str] = "started"
    request: dict[str, Any]
    seed: int
    family: str
    demo: bool


@dataclass
class Plan(Event):
    """What the run will do, known once the model is loaded (sent before encoding).

    ``switch_step`` is the number of high-noise steps (the low-noise expert takes over after
    step ``switch_step`` of ``steps``); None for one-expert models. ``width``/``height`` are the
    effective output size (image runs follow the image's aspect). ``offload`` is "none" or
    "swap" (only the model in use on the device: text encoder, then the active expert, swapped
    at the switch, then the VAE; see core.generate.memory). ``memory`` is the pre-flight estimate
    in bytes: {"weights", "activations", "vae_decode", "peak", "available"} (available None when
    unknown). ``quant``, ``backend`` and ``quantized_layers`` say how the transformers were
    loaded, so a user sees that MXFP8 is really in use.
    """

    kind: ClassVar[str] = "plan"
    width: int
    height: int
    frames: int
    fps: int
    steps: int
    high_steps: int
    low_steps: int
    switch_step: int | None
    device: str
    dtype: str
    offload: str
    memory: dict[str, int | None]
    quant: str = "none"  # effective: "none" | "mxfp8-online" | "mxfp8-offline" | "mixed"
    backend: str | None = None  # the MXFP8 backend (None when no transformer asked for MXFP8)
    quantized_layers: int = 0
    # One entry per LoRA file and expert it is applied to: label, file, sha256, component,
    # expert, strength, format, rank, matched, total (core.generate.loras.applied_summary).
    loras: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StageStarted(Event):
    kind: ClassVar[str] = "stage_started"
    stage: str
    label: str


@dataclass
class StageProgress(Event):
    """Progress inside a stage that has no steps (load: per component)."""

    kind: ClassVar[str] = "stage_progress"
    stage: str
    fraction: float
    message: str = ""


@dataclass
class StageFinished(Event):
    kind: ClassVar[str] = "stage_finished"
    stage: str
    seconds: float


@dataclass
class StageSkipped(Event):
    """A stage that did not need to run (e.g. load when the model is already warm)."""

    kind: ClassVar[str] = "stage_skipped"
    stage: str
    reason: str


@dataclass
class Step(Event):
    """One denoising step finished.

    ``index``/``total`` count within the current expert stage (1-based); ``overall_index`` /
    ``overall_total`` over all steps. ``it_per_s`` is the mean rate of this stage so far;
    ``eta_seconds`` the estimated time left for all remaining steps (decode not included).
    """

    kind: ClassVar[str] = "step"
    stage: str
    expert: str  # "high" | "low" | "single"
    index: int
    total: int
    overall_index: int
    overall_total: int
    it_per_s: float
    eta_seconds: float | None
    timestep: float


@dataclass
class ExpertSwitch(Event):
    """The high-noise expert did ``step`` of ``total`` steps; the low-noise expert takes over."""

    kind: ClassVar[str] = "expert_switch"
    step: int
    total: int

    @property
    def label(self) -> str:
        return f"high → low at step {self.step}/{self.total}"


@dataclass
class Preview(Event):
    """A cheap look at the current latents: uint8 RGB ``image`` [H, W, 3] (a few latent frames
    side by side), after overall step ``step`` of ``total``; ``frames`` are the latent frame
    indices shown. Approximate colours (latent-to-RGB projection), not the final video."""

    kind: ClassVar[str] = "preview"
    image: Any  # numpy.ndarray uint8 [H, W, 3]
    step: int
    total: int
    frames: list[int]


@dataclass
class Warning(Event):
    """Something the user should know that does not stop the run (an event, never raised;
    also importable as ``WarningEvent`` to avoid shadowing the builtin)."""

    kind: ClassVar[str] = "warning"
    message: str


@dataclass
class Done(Event):
    """The video is written. Paths are absolute strings; ``timings`` seconds per stage plus
    "total"; ``load_report`` the loader's report (quant mode, backend, device...)."""

    kind: ClassVar[str] = "done"
    video: str
    sidecar: str
    poster: str | None
    seed: int
    timings: dict[str, float]
    load_report: dict[str, Any]
    demo: bool
    width: int
    height: int
    frames: int
    fps: int
    request: dict[str, Any]

    @property
    def duration_seconds(self) -> float:
        return self.frames / float(self.fps)


@dataclass
class Failed(Event):
    """The job failed. ``message`` says what happened, ``hint`` what to try, ``details`` holds
    the traceback for a "details" box. ``stage`` is where it failed (None before any stage)."""

    kind: ClassVar[str] = "failed"
    message: str
    hint: str = ""
    details: str = ""
    stage: str | None = None


@dataclass
class Cancelled(Event):
    """The job stopped at the user's request; nothing was written."""

    kind: ClassVar[str] = "cancelled"
    stage: str | None
    reason: str = "cancelled by user"


WarningEvent = Warning
Outcome = Done | Failed | Cancelled
EventCallback = Callable[[Event], None]

__all__ = [
    "EXPERT_HIGH",
    "EXPERT_LOW",
    "EXPERT_SINGLE",
    "STAGES",
    "STAGE_DECODE",
    "STAGE_DENOISE",
    "STAGE_DENOISE_HIGH",
    "STAGE_DENOISE_LOW",
    "STAGE_ENCODE",
    "STAGE_LABELS",
    "STAGE_LOAD",
    "STAGE_WRITE",
    "Cancelled",
    "Done",
    "Event",
    "EventCallback",
    "ExpertSwitch",
    "Failed",
    "Outcome",
    "Plan",
    "Preview",
    "StageFinished",
    "StageProgress",
    "StageSkipped",
    "StageStarted",
    "Started",
    "Step",
    "Warning",
    "WarningEvent",
]
