"""Plain-word labels for model facts (layout, quantization, status, sizes, ETA).

One place so the Models table, the details pane and the repack wizard say the same thing the
same way. Pure functions: no Qt, no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.humanize import human_bytes as core_human_bytes
from core.models.catalog import FAMILIES

STATUS_OK = "ok"
STATUS_REPACK = "repack"
STATUS_PROBLEMS = "problems"
STATUS_MISSING = "missing"
STATUS_CHECKING = "checking"

STATUS_LABELS = {
    STATUS_OK: "Ready",
    STATUS_REPACK: "Needs repack",
    STATUS_PROBLEMS: "Problems",
    STATUS_MISSING: "Folder missing",
    STATUS_CHECKING: "Checking…",
}
STATUS_COLOURS = {  # text colour, background tint
    STATUS_OK: ("#1e7b34", "#e7f5ea"),
    STATUS_REPACK: ("#1f5fa8", "#e6effa"),
    STATUS_PROBLEMS: ("#b03a2e", "#fbe9e7"),
    STATUS_MISSING: ("#7a4b00", "#fff4d6"),
    STATUS_CHECKING: ("#666666", "#f2f2f2"),
}

LAYOUT_LABELS = {"diffusers": "Diffusers", "msmodelslim": "msmodelslim export"}
QUANT_LABELS = {
    "bf16": "BF16",
    "fp16": "FP16",
    "fp32": "FP32",
    "mxfp8-offline": "MXFP8 (offline)",
    "mixed": "Mixed precisions",
    "unknown": "Unknown",
}
MEMORY_MODE_LABELS = {
    "none": "No quantization (BF16)",
    "mxfp8-online": "MXFP8 online (quantized at load)",
    "mxfp8-offline": "MXFP8 offline (from the checkpoint)",
    "auto": "Auto (each transformer as stored)",
}
COMPONENT_LABELS = {
    "transformer": "transformer (high-noise expert)",
    "transformer_2": "transformer_2 (low-noise expert)",
    "vae": "VAE",
    "text_encoder": "text encoder",
    "tokenizer": "tokenizer",
    "scheduler": "scheduler",
    "image_encoder": "image encoder",
    "high_noise_model": "high_noise_model (high-noise expert)",
    "low_noise_model": "low_noise_model (low-noise expert)",
    "weights": "weights (single transformer)",
}


def human_bytes(size: float | None) -> str:
    """core.humanize.human_bytes with the GUI's dash for unknown sizes."""
    return core_human_bytes(size, missing="—")


def human_duration(seconds: float | None) -> str:
    """A short, rounded duration: '45 s', '3 min 20 s', '1 h 05 min'."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{max(0.0, seconds):.1f} s"
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def component_label(name: str, family: str | None) -> str:
    """A component's name in words; a one-transformer family has no "high-noise expert"."""
    fam = FAMILIES.get(family or "")
    if name == "transformer" and fam is not None and fam.experts == 1:
        return "transformer"
    return COMPONENT_LABELS.get(name, name)


def family_label(key: str | None) -> str:
    if key is None:
        return "Unknown"
    family = FAMILIES.get(key)
    return family.name if family else key


def layout_label(layout: str | None, short: bool = False) -> str:
    if short and layout == "msmodelslim":
        return "msmodelslim"
    return LAYOUT_LABELS.get(layout or "", "Not a model")


def gui_wording(message: str) -> str:
    """Core messages written for the CLI, said the way the GUI offers the same action."""
    return message.replace("`wan-studio repack`", "Repack… (in Models)").replace(
        "convert it with Repack… (in Models)", "convert it with Repack…"
    )


def quantization_label(quantization: str | None, is_demo: bool = False) -> str:
    text = QUANT_LABELS.get(quantization or "unknown", quantization or "Unknown")
    return f"Demo · {text}" if is_demo else text


def status_of(path: Path, info: Any | None) -> str:
    """The Library.status word, from an inspection made off the GUI thread (None: not yet)."""
    if not path.is_dir():
        return STATUS_MISSING
    if info is None:
        return STATUS_CHECKING
    if info.problems:
        return STATUS_PROBLEMS
    if info.layout == "msmodelslim":
        return STATUS_REPACK
    return STATUS_OK


def status_reason(status: str, info: Any | None) -> str:
    """One sentence for a tooltip: why a model has this status."""
    if status == STATUS_MISSING:
        return "The folder is not there: reconnect its drive, or remove it from the library."
    if status == STATUS_CHECKING:
        return "Reading the folder…"
    if status == STATUS_PROBLEMS and info is not None:
        return gui_wording(info.problems[0])
    if status == STATUS_REPACK:
        return "An msmodelslim export: repack it into a Diffusers folder before generating."
    return "Ready to use in Generate."
