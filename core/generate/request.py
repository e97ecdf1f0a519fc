"""One generation request: every parameter of a run, its JSON form, and its validation.

This is the contract between the GUI form, presets, the CLI, the runner and the video file
(the request is embedded in every MP4 so a video can restore the settings that made it).
Torch-free at import: the GUI reads it at start-up.

Usage::

    req = defaults_for("t2v-a14b")            # official values from the catalog
    req.model, req.prompt = "/models/Wan2.2-T2V-A14B-Diffusers", "a red fox"
    issues = req.validate()                   # [] when the request can run
    data = req.to_dict(); GenerationRequest.from_dict(data) == req

Conventions
- ``model`` is a Diffusers folder path, or ``"demo"`` (the built-in T2V-A14B-shaped demo model)
  or ``"demo:<family key>"`` (e.g. ``"demo:ti2v-5b"``); demo models live in the app data folder.
- ``seed`` None or -1 means random; the runner records the effective seed in Done and the sidecar.
- ``guidance_high`` drives the high-noise expert (the only expert of TI2V-5B); ``guidance_low``
  and ``boundary`` exist only for two-expert (A14B) models and are None otherwise.
- Image-conditioned runs (I2V-A14B, TI2V-5B with an image) treat ``width x height`` as a maximum
  *area*, as the official Wan2.2 code does: the output keeps the image's aspect ratio, snapped to
  the family's pixel multiple (see ``fit_size_to_image``), and the image is resized and centre
  cropped to it. ``image_fit="crop"`` instead produces exactly ``width x height`` by centre
  cropping the image to that aspect.
- ``output`` is None (default videos folder + file name template), a folder, or an .mp4 path.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.generate.limits import LIMITS, TEXT_FIELDS, bound_problem, clamp
from core.generate.schedulers import SOLVERS
from core.lora.choice import LoraChoice, duplicate_problems
from core.lora.errors import LoraError
from core.models.catalog import Family, get_family, nearest_valid_frames, snap_to_multiple

SCHEMA_VERSION = 1
REQUEST_KIND = "wan-studio.request"
QUANT_MODES = ("auto", "none", "mxfp8-online", "mxfp8-offline")
BACKENDS = ("auto", "reference", "npu")
# MXFP8 weight scale rules for online quantization; the same as core.models.loader's
# WEIGHT_RULE_CHOICES (not imported: the request stays light to import).
WEIGHT_RULES = ("default", "floor", "rceil", "mse")
IMAGE_FITS = ("area", "crop")
DEMO_MODEL = "demo"
MAX_SEED = 2**63 - 1
RANDOM_SEED_LIMIT = 2**32  # random seeds are drawn below this so they are easy to read/type


def random_seed() -> int:
    """A fresh seed for a request that asks for a random one (runner, batches, comparisons)."""
    import secrets

    return secrets.randbelow(RANDOM_SEED_LIMIT)


_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?|npu(:\d+)?|mps)$")


@dataclass(frozen=True)
class ValidationIssue:
    """One problem with a request: which field, what is wrong, and what would be valid.

    ``severity`` "error" blocks the run; "warning" (e.g. an unofficial size) does not.
    ``suggestion`` is the nearest valid value when there is one (GUI: a "use it" button).
    """

    field: str
    message: str
    suggestion: Any = None
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ModelError(ValueError):
    """The ``model`` of a request does not name a usable model folder."""


@dataclass
class GenerationRequest:
    """Every parameter of one video generation (see the module docstring for conventions)."""

    model: str = DEMO_MODEL
    prompt: str = ""
    negative_prompt: str = ""
    width: int = 1280
    height: int = 720
    frames: int = 81
    fps: int = 16
    steps: int = 40
    guidance_high: float = 4.0
    guidance_low: float | None = 3.0
    boundary: float | None = 0.875
    shift: float = 12.0
    solver: str = "default"  # "default" (the model folder's) | "unipc" (official) | "euler"
    seed: int | None = None
    image: str | None = None
    image_fit: str = "area"  # "area" (official: aspect follows the image) | "crop"
    quant: str = "auto"  # "auto" | "none" | "mxfp8-online" | "mxfp8-offline"
    device: str = "auto"  # "auto" | "cpu" | "cuda[:i]" | "npu[:i]"
    backend: str = "auto"  # MXFP8 kernel backend: "auto" | "reference" | "npu"
    # Online MXFP8 weight scale rule (quant "mxfp8-online"): "default" | "floor" | "rceil" |
    # "mse". Absent in older records and presets, which then load with "default".
    weight_rule: str = "default"
    output: str | None = None
    preset: str | None = None  # informational: the preset the values came from
    loras: list[LoraChoice] = field(default_factory=list)  # applied in this order
    # Merge the LoRAs into the weights at load (no run-time cost; changing them reloads the
    # model) instead of the side branch (exact, swapped without reloading).
    lora_merge: bool = False

    def __post_init__(self) -> None:
        # Presets and JSON hand LoRAs over as dicts: one type from here on.
        if isinstance(self.loras, (list, tuple)):
            self.loras = [
                c if isinstance(c, LoraChoice) else LoraChoice.from_dict(c) for c in self.loras
            ]

    # ---- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a schema marker (used for sidecars, MP4 metadata, presets)."""
        data: dict[str, Any] = {"kind": REQUEST_KIND, "schema": SCHEMA_VERSION}
        data.update(dataclasses.asdict(self))
        data["loras"] = [choice.to_dict() for choice in self.loras]
        return data

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], warnings: list[str] | None = None
    ) -> GenerationRequest:
        """Rebuild a request from ``to_dict`` output, tolerantly.

        Unknown keys and values of the wrong type are skipped (the field keeps its default)
        and described in ``warnings`` when a list is given, so a request written by another
        version still loads. Raises ValueError only when ``data`` is not a dict.
        """
        if not isinstance(data, dict):
            raise ValueError(f"a request must be a JSON object, not {type(data).__name__}")
        notes = warnings if warnings is not None else []
        schema = data.get("schema", SCHEMA_VERSION)
        if isinstance(schema, int) and schema > SCHEMA_VERSION:
            notes.append(
                f"request schema {schema} is newer than this app's ({SCHEMA_VERSION}); "
                "unknown settings are ignored"
            )
        known = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("kind", "schema"):
                continue
            if key not in known:
                notes.append(f"unknown setting {key!r} ignored")
                continue
            try:
                values[key] = _coerce(key, value)
            except (TypeError, ValueError) as exc:
                notes.append(f"setting {key!r} ignored: {exc}")
        return cls(**values)

    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    # ---- validation ---------------------------------------------------------------------
    def validate(self, family: Family | str | None = None) -> list[ValidationIssue]:
        """All problems of this request for ``family`` (detected from ``model`` when None).

        Cheap and torch-free (the image is opened with Pillow to check it decodes), so the GUI
        can call it on every edit. An empty list means the request can run.
        """
        issues: list[ValidationIssue] = []
        fam: Family | None
        if family is None:
            try:
                fam = model_family(self.model)
            except ModelError as exc:
                issues.append(ValidationIssue("model", str(exc)))
                fam = None
        else:
            fam = get_family(family) if isinstance(family, str) else family
            if not self.model.strip():
                issues.append(ValidationIssue("model", "no model chosen: pick a model folder"))
        issues += self._validate_numbers(fam)
        issues += self._validate_limits({i.field for i in errors(issues)})
        if fam is not None:
            issues += self._validate_image(fam)
        issues += self._validate_runtime()
        issues += self._validate_loras(fam)
        return issues

    def _validate_loras(self, fam: Family | None) -> list[ValidationIssue]:
        """Cheap checks of the chosen LoRAs (files exist, are safetensors, strengths finite,
        nothing chosen twice); shapes are checked against the model when it is loaded."""
        if not isinstance(self.loras, list):
            return [ValidationIssue("loras", "loras must be a list of LoRA choices", [])]
        experts = fam.experts if fam is not None else 2
        out = [
            ValidationIssue("loras", p)
            for choice in self.loras
            if choice.enabled
            for p in choice.problems(experts)
        ]
        out += [ValidationIssue("loras", p) for p in duplicate_problems(self.loras)]
        return out

    def _validate_limits(self, reported: set[str]) -> list[ValidationIssue]:
        """Every number and text within its bounds (core.generate.limits: one table for all)."""
        out = []
        for name in (*LIMITS, *TEXT_FIELDS):
            value = getattr(self, name)
            problem = None if name in reported else bound_problem(name, value)
            if problem:
                near = clamp(name, value) if name in LIMITS and _finite(value) else None
                out.append(ValidationIssue(name, problem, near))
        return out

    def _validate_numbers(self, fam: Family | None) -> list[ValidationIssue]:
        out: list[ValidationIssue] = []
        if not self.prompt.strip():
            out.append(ValidationIssue("prompt", "the prompt is empty: describe the video"))
        multiple = fam.pixel_multiple if fam else 16
        what = f"{fam.name} needs" if fam else "sizes need"
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < multiple:
                out.append(
                    ValidationIssue(
                        name,
                        f"{name} {value} is too small: the minimum is {multiple}",
                        multiple,
                    )
                )
            elif value % multiple:
                near = snap_to_multiple(value, multiple)
                out.append(
                    ValidationIssue(
                        name,
                        f"{name} {value} is not a multiple of {multiple} ({what} multiples of "
                        f"{multiple}); nearest valid: {near}",
                        near,
                    )
                )
        # Soft checks against the official values; demo models have their own small defaults.
        official = fam is not None and demo_family_or_none(self.model) is None
        if (
            fam is not None
            and official
            and not out
            and self.image is None
            and fam.image != "required"
        ):
            size = (self.width, self.height)
            if size not in fam.sizes and fam.key == "ti2v-5b":
                listed = ", ".join(f"{w}x{h}" for w, h in fam.sizes)
                out.append(
                    ValidationIssue(
                        "width",
                        f"{self.width}x{self.height} is not an official {fam.name} size "
                        f"({listed}); quality may suffer",
                        severity="warning",
                    )
                )
        if not isinstance(self.frames, int) or self.frames < 1 or (self.frames - 1) % 4:
            near = nearest_valid_frames(self.frames if isinstance(self.frames, int) else 1)
            out.append(
                ValidationIssue(
                    "frames",
                    f"frames must be 4n+1 (1, 5, 9, ..., 81, ..., 121): {self.frames} is not; "
                    f"nearest valid: {near}",
                    near,
                )
            )
        if not isinstance(self.fps, int) or self.fps <= 0:
            default = fam.fps if fam else 16
            out.append(
                ValidationIssue(
                    "fps", f"fps must be a positive whole number, not {self.fps}", default
                )
            )
        elif fam is not None and official and self.fps != fam.fps:
            out.append(
                ValidationIssue(
                    "fps",
                    f"{fam.name} was trained for {fam.fps} fps; {self.fps} fps changes the speed "
                    "of motion",
                    fam.fps,
                    severity="warning",
                )
            )
        if not isinstance(self.steps, int) or self.steps < 1:
            out.append(ValidationIssue("steps", f"steps must be at least 1, not {self.steps}", 1))
        if not _finite(self.shift) or self.shift <= 0:
            out.append(
                ValidationIssue(
                    "shift",
                    f"shift must be a positive number, not {self.shift}",
                    fam.shift if fam else 5.0,
                )
            )
        if not _finite(self.guidance_high) or self.guidance_high < 0:
            out.append(
                ValidationIssue(
                    "guidance_high", f"guidance must be 0 or more, not {self.guidance_high}", 0.0
                )
            )
        two = fam is None or fam.experts == 2
        if self.guidance_low is not None:
            if fam is not None and not two:
                out.append(
                    ValidationIssue(
                        "guidance_low",
                        f"{fam.name} has one expert: leave the low-noise guidance empty",
                        None,
                    )
                )
            elif not _finite(self.guidance_low) or self.guidance_low < 0:
                out.append(
                    ValidationIssue(
                        "guidance_low", f"guidance must be 0 or more, not {self.guidance_low}", 0.0
                    )
                )
        if self.boundary is not None:
            if fam is not None and not two:
                out.append(
                    ValidationIssue(
                        "boundary",
                        f"{fam.name} has one expert: there is no expert boundary to set",
                        None,
                    )
                )
            elif not _finite(self.boundary) or not 0.0 < self.boundary < 1.0:
                out.append(
                    ValidationIssue(
                        "boundary",
                        f"boundary must be between 0 and 1 (exclusive), not {self.boundary}",
                        fam.boundary if fam else 0.875,
                    )
                )
        elif fam is not None and two:
            out.append(
                ValidationIssue(
                    "boundary",
                    f"{fam.name} has two experts and needs a boundary (official {fam.boundary})",
                    fam.boundary,
                )
            )
        if self.seed is not None and (
            not isinstance(self.seed, int) or not -1 <= self.seed <= MAX_SEED
        ):
            out.append(
                ValidationIssue(
                    "seed", f"seed must be -1 (random) or 0..{MAX_SEED}, not {self.seed}", -1
                )
            )
        return out

    def _validate_image(self, fam: Family) -> list[ValidationIssue]:
        if self.image_fit not in IMAGE_FITS:
            return [
                ValidationIssue(
                    "image_fit", f"image_fit must be one of {', '.join(IMAGE_FITS)}", "area"
                )
            ]
        if self.image is None or not str(self.image).strip():
            if fam.image == "required":
                return [
                    ValidationIssue("image", f"{fam.name} animates an image: choose a start image")
                ]
            return []
        if fam.image == "none":
            return [
                ValidationIssue(
                    "image",
                    f"{fam.name} is text-to-video and takes no image: remove the image or use an "
                    "I2V / TI2V model",
                )
            ]
        problem = check_image(self.image)
        return [ValidationIssue("image", problem)] if problem else []

    def _validate_runtime(self) -> list[ValidationIssue]:
        out: list[ValidationIssue] = []
        if self.quant not in QUANT_MODES:
            out.append(
                ValidationIssue(
                    "quant",
                    f"unknown quantization {self.quant!r}: use one of {', '.join(QUANT_MODES)}",
                    "auto",
                )
            )
        if self.solver not in SOLVERS:
            out.append(
                ValidationIssue(
                    "solver",
                    f"unknown solver {self.solver!r}: use one of {', '.join(SOLVERS)}",
                    "default",
                )
            )
        if self.weight_rule not in WEIGHT_RULES:
            out.append(
                ValidationIssue(
                    "weight_rule",
                    f"unknown weight scale rule {self.weight_rule!r}: use one of "
                    f"{', '.join(WEIGHT_RULES)}",
                    "default",
                )
            )
        if self.backend not in BACKENDS:
            out.append(
                ValidationIssue(
                    "backend",
                    f"unknown backend {self.backend!r}: use one of {', '.join(BACKENDS)}",
                    "auto",
                )
            )
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            out.append(
                ValidationIssue(
                    "device",
                    f"unknown device {self.device!r}: use auto, cpu, cuda, cuda:N, npu or npu:N",
                    "auto",
                )
            )
        if self.output:
            out_path = Path(self.output).expanduser()
            if out_path.suffix and out_path.suffix.lower() != ".mp4":
                out.append(
                    ValidationIssue(
                        "output",
                        f"{self.output} is not an .mp4 file name: give a folder or a name "
                        "ending in .mp4",
                        str(out_path.with_suffix(".mp4")),
                    )
                )
            elif out_path.suffix.lower() == ".mp4" and out_path.exists():
                out.append(
                    ValidationIssue(
                        "output",
                        f"{self.output} already exists and is never overwritten: choose another "
                        "name or a folder",
                    )
                )
        return out


def errors(issues: list[ValidationIssue]) -> list[ValidationIssue]:
    """Only the blocking issues."""
    return [i for i in issues if i.severity == "error"]


def defaults_for(
    family: Family | str, demo: bool = False, model: str | None = None
) -> GenerationRequest:
    """A request filled with the family's official defaults (wan22.md section 4).

    ``demo=True`` uses the demo model's small size/frames/steps (core.models.demo.DEMO_DEFAULTS)
    so a demo run takes about a second; everything else stays official.
    """
    fam = get_family(family) if isinstance(family, str) else family
    width, height = fam.default_size
    frames, steps = fam.frames, fam.steps
    if demo:
        from core.models.demo import DEMO_DEFAULTS

        small = DEMO_DEFAULTS[fam.key]
        (width, height), frames, steps = small["size"], small["frames"], small["steps"]
    if model is None:
        model = demo_model_name(fam.key) if demo else ""
    return GenerationRequest(
        model=model,
        negative_prompt=fam.negative_prompt,
        width=width,
        height=height,
        frames=frames,
        fps=fam.fps,
        steps=steps,
        guidance_high=fam.guidance_high,
        guidance_low=fam.guidance_low,
        boundary=fam.boundary,
        shift=fam.shift,
    )


# ---- models ---------------------------------------------------------------------------------
def demo_model_name(family_key: str = "t2v-a14b") -> str:
    """The request ``model`` value that names a family's demo model."""
    return DEMO_MODEL if family_key == "t2v-a14b" else f"{DEMO_MODEL}:{family_key}"


def demo_family(model: str) -> str | None:
    """Family key of a ``"demo"`` / ``"demo:<family>"`` model name; None for a folder path."""
    text = model.strip()
    if text == DEMO_MODEL:
        return "t2v-a14b"
    if text.startswith(DEMO_MODEL + ":"):
        return get_family(text.split(":", 1)[1]).key
    return None


def demo_family_or_none(model: str) -> str | None:
    """Like ``demo_family`` but None for an unknown demo family too (for soft checks)."""
    try:
        return demo_family(model)
    except KeyError:
        return None


def resolve_model_path(model: str) -> Path:
    """The folder a request's ``model`` names (demo names map to the app data folder)."""
    try:
        fam_key = demo_family(model)
    except KeyError as exc:
        raise ModelError(str(exc.args[0])) from None
    if fam_key is not None:
        from core import paths

        return paths.demo_model_dir(fam_key)
    return Path(model).expanduser()


def model_family(model: str) -> Family:
    """The family of a request's model, without loading it; ModelError says what is wrong."""
    if not model or not model.strip():
        raise ModelError("no model chosen: give a Diffusers model folder or 'demo'")
    try:
        fam_key = demo_family(model)
    except KeyError as exc:
        raise ModelError(str(exc.args[0])) from None
    if fam_key is not None:
        return get_family(fam_key)
    folder = Path(model).expanduser()
    if not folder.exists():
        raise ModelError(f"model folder {folder} does not exist: check the path")
    if not folder.is_dir():
        raise ModelError(f"{folder} is a file: choose the model's folder (with model_index.json)")
    if not (folder / "model_index.json").is_file():
        raise ModelError(
            f"{folder} has no model_index.json: it is not a Diffusers-layout Wan2.2 folder "
            "(msmodelslim output must be repacked first)"
        )
    from core.models.loader import LoadError, detect_family

    try:
        return detect_family(folder)
    except (LoadError, KeyError, ValueError, OSError) as exc:
        raise ModelError(str(exc)) from None


# ---- images ---------------------------------------------------------------------------------
def check_image(path: str | os.PathLike[str]) -> str | None:
    """None when ``path`` is a readable image, else a message saying what is wrong (size and
    pixel count are checked before decoding: core.generate.imagefile)."""
    from core.generate.imagefile import ImageFileError, open_image

    try:
        open_image(path).close()
    except ImageFileError as exc:
        return str(exc)
    return None


def fit_size_to_image(
    image_size: tuple[int, int], area_size: tuple[int, int], multiple: int
) -> tuple[int, int]:
    """Output (width, height) for an image-conditioned run: the image's aspect ratio within the
    area of ``area_size``, both sides multiples of ``multiple`` (Wan2.2 ``best_output_size``).

    Tries rounding the width first and the height first, and keeps whichever aspect is closer.
    """
    iw, ih = image_size
    area = area_size[0] * area_size[1]
    ratio = iw / ih
    ideal_w = math.sqrt(area * ratio)
    ideal_h = area / ideal_w
    w1 = max(multiple, int(ideal_w // multiple) * multiple)
    h1 = max(multiple, int(area / w1 // multiple) * multiple)
    h2 = max(multiple, int(ideal_h // multiple) * multiple)
    w2 = max(multiple, int(area / h2 // multiple) * multiple)

    def error(w: int, h: int) -> float:
        r = w / h
        return max(ratio / r, r / ratio)

    return (w1, h1) if error(w1, h1) < error(w2, h2) else (w2, h2)


# ---- helpers --------------------------------------------------------------------------------
def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_INT_FIELDS = {"width", "height", "frames", "fps", "steps"}
_FLOAT_FIELDS = {"guidance_high", "shift"}
_OPT_FLOAT_FIELDS = {"guidance_low", "boundary"}
_STR_FIELDS = {
    "model",
    "prompt",
    "negative_prompt",
    "image_fit",
    "quant",
    "device",
    "backend",
    "solver",
    "weight_rule",
}
_OPT_STR_FIELDS = {"image", "output", "preset"}


def _coerce(key: str, value: Any) -> Any:
    """Convert a JSON value to the field's type, or raise ValueError/TypeError saying why."""
    if key in _INT_FIELDS:
        return _as_int(value)
    if key == "seed":
        return None if value is None else _as_int(value)
    if key in _FLOAT_FIELDS:
        return _as_float(value)
    if key in _OPT_FLOAT_FIELDS:
        return None if value is None else _as_float(value)
    if key in _STR_FIELDS:
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {type(value).__name__}")
        return value
    if key in _OPT_STR_FIELDS:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"expected text, got {type(value).__name__}")
        return value
    if key == "lora_merge":
        if not isinstance(value, bool):
            raise TypeError(f"expected true or false, got {value!r}")
        return value
    if key == "loras":
        if not isinstance(value, list):
            raise TypeError(f"expected a list of LoRAs, got {type(value).__name__}")
        try:
            return [LoraChoice.from_dict(item) for item in value]
        except LoraError as exc:
            raise ValueError(str(exc)) from None
    return value


def _as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected a whole number, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ValueError(f"expected a whole number, got {value!r}")


def _as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return float(value)
    raise ValueError(f"expected a number, got {value!r}")


__all__ = [
    "BACKENDS",
    "DEMO_MODEL",
    "IMAGE_FITS",
    "QUANT_MODES",
    "SCHEMA_VERSION",
    "GenerationRequest",
    "ModelError",
    "ValidationIssue",
    "check_image",
    "defaults_for",
    "demo_family",
    "demo_family_or_none",
    "demo_model_name",
    "errors",
    "fit_size_to_image",
    "model_family",
    "resolve_model_path",
]
