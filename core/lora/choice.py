"""A LoRA as the user chose it: file(s), strength per expert, on/off. Part of every request.

Torch-free: requests, presets and the GUI form use it at start-up.

Routing: the high-noise expert (``transformer``; the only expert of TI2V-5B) gets ``path`` at
``strength_high``; the low-noise expert (``transformer_2``) gets ``path_low`` (a pair's LOW
file) or else ``path`` at ``strength_low``. A strength of 0 leaves that expert alone.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.lora.errors import LoraError
from core.lora.naming import EXPERT_HIGH, EXPERT_LOW, display_name, expert_of, find_partner

MAX_STRENGTH = 10.0  # far beyond any useful value (LoRA authors document 0.1-2)
LORA_SUFFIX = ".safetensors"


@dataclass
class LoraChoice:
    """One LoRA item of a request (a single file or a HIGH/LOW pair)."""

    path: str
    strength_high: float = 1.0
    strength_low: float = 1.0
    path_low: str | None = None
    enabled: bool = True
    sha256: str | None = None  # recorded by the run (metadata), checked on restore
    sha256_low: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)  # unknown keys, kept for newer apps

    # ---- routing ------------------------------------------------------------------------
    def file_for(self, expert: str) -> str:
        """The file applied to ``expert`` ("high" or "low")."""
        return self.path_low if expert == EXPERT_LOW and self.path_low else self.path

    def strength_for(self, expert: str) -> float:
        return self.strength_low if expert == EXPERT_LOW else self.strength_high

    def files(self) -> list[str]:
        return [self.path] + ([self.path_low] if self.path_low else [])

    @property
    def label(self) -> str:
        return display_name(self.path, self.path_low)

    # ---- JSON ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extras = data.pop("extras")
        data.update(extras)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> LoraChoice:
        """Rebuild from ``to_dict`` output; raises LoraError for what cannot be a choice."""
        if isinstance(data, str):
            return cls(path=data)
        if not isinstance(data, dict) or not isinstance(data.get("path"), str):
            raise LoraError(f"a LoRA entry must be an object with a 'path', not {data!r}")
        known = {"path", "strength_high", "strength_low", "path_low", "enabled"}
        known |= {"sha256", "sha256_low"}
        values: dict[str, Any] = {k: data[k] for k in known if k in data}
        for key in ("strength_high", "strength_low"):
            if key in values:
                values[key] = _as_strength(values[key], key)
        for key in ("path_low", "sha256", "sha256_low"):
            if values.get(key) is not None and not isinstance(values[key], str):
                raise LoraError(f"LoRA {key} must be text, not {values[key]!r}")
        if "enabled" in values and not isinstance(values["enabled"], bool):
            raise LoraError(f"LoRA 'enabled' must be true or false, not {values['enabled']!r}")
        extras = {k: v for k, v in data.items() if k not in known}
        return cls(**values, extras=extras)

    # ---- checks -------------------------------------------------------------------------
    def problems(self, experts: int = 2) -> list[str]:
        """What is wrong with this choice (cheap, no file is opened beyond ``stat``)."""
        out = []
        for key in ("strength_high", "strength_low"):
            value = getattr(self, key)
            if not _finite_number(value):
                out.append(
                    f"{self.label}: {key.replace('_', ' ')} {value!r} is not a finite number"
                )
            elif abs(value) > MAX_STRENGTH:
                out.append(
                    f"{self.label}: {key.replace('_', ' ')} {value} is outside "
                    f"-{MAX_STRENGTH:g}..{MAX_STRENGTH:g}"
                )
        for file in self.files():
            problem = check_lora_path(file)
            if problem:
                out.append(problem)
        if experts == 1 and self.path_low:
            out.append(
                f"{self.label}: this model has one expert; a HIGH/LOW pair is for the two-expert "
                "A14B models (use one file)"
            )
        return out


def duplicate_problems(choices: list[LoraChoice]) -> list[str]:
    """One message per file chosen twice among the enabled ``choices`` (by resolved path;
    applying also catches copies with identical contents)."""
    seen: dict[str, str] = {}
    out = []
    for choice in choices:
        if not choice.enabled:
            continue
        for file in choice.files():
            key = str(Path(file).expanduser().resolve())
            if key in seen:
                out.append(
                    f"LoRA {Path(file).name} is chosen twice ({seen[key]} and {choice.label}): "
                    "remove one, or set its strength per expert in one item"
                )
            seen[key] = choice.label
    return out


def check_lora_path(path: str) -> str | None:
    """None when ``path`` can be a LoRA file, else why not (pickle formats are never opened)."""
    file = Path(path).expanduser()
    suffix = file.suffix.lower()
    if suffix in (".pt", ".pth", ".ckpt", ".bin", ".pkl"):
        return (
            f"LoRA {file.name} is a pickle file ({suffix}); Wan Studio never unpickles files "
            "(they can run arbitrary code). Use the .safetensors version of this LoRA."
        )
    if suffix != LORA_SUFFIX:
        return f"LoRA {file} is not a .safetensors file"
    from core.userfiles import MAX_LORA_BYTES, UserFileError, check_user_file

    try:  # the shared check of every user file: regular (no FIFO, no device), under the cap
        check_user_file(file, "LoRA", MAX_LORA_BYTES)
    except UserFileError as exc:
        return str(exc)
    return None


def choice_for_file(path: str | Path, strength: float = 1.0, experts: int = 2) -> LoraChoice:
    """The default choice for a picked file: a HIGH file with a LOW partner becomes a pair;
    a lone HIGH (LOW) file applies only to the high-noise (low-noise) expert. A one-expert
    model (TI2V-5B) takes the file itself, whatever its name says."""
    file = Path(path)
    if experts == 1:
        return LoraChoice(path=str(file), strength_high=strength, strength_low=0.0)
    expert = expert_of(file)
    partner = find_partner(file)
    if partner is not None:
        high, low = (file, partner) if expert == EXPERT_HIGH else (partner, file)
        return LoraChoice(
            path=str(high), path_low=str(low), strength_high=strength, strength_low=strength
        )
    if expert == EXPERT_HIGH:
        return LoraChoice(path=str(file), strength_high=strength, strength_low=0.0)
    if expert == EXPERT_LOW:
        return LoraChoice(path=str(file), strength_high=0.0, strength_low=strength)
    return LoraChoice(path=str(file), strength_high=strength, strength_low=strength)


def parse_lora_spec(spec: str, experts: int = 2) -> LoraChoice:
    """``FILE[:HIGH[,LOW]]`` (the CLI's ``--lora``) -> a choice.

    ``FILE`` alone takes the defaults of ``choice_for_file`` (pairs found by name);
    ``FILE:S`` sets both strengths (a lone HIGH or LOW file keeps the other expert at 0);
    ``FILE:H,L`` sets each. Paths may contain ':' (only a numeric tail counts as strengths).
    """
    text = spec.strip()
    path, strengths = text, None
    head, sep, tail = text.rpartition(":")
    if sep and head and _looks_like_strengths(tail):
        path, strengths = head, tail
    problem = check_lora_path(path)
    if problem:
        raise LoraError(problem)
    choice = choice_for_file(path, experts=experts)
    if strengths is None:
        return choice
    parts = [p.strip() for p in strengths.split(",")]
    if len(parts) > 2:
        raise LoraError(f"--lora {spec}: give at most two strengths, FILE:HIGH,LOW")
    values = [_as_strength(p, "strength") for p in parts]
    if len(values) == 2 and experts == 1:
        raise LoraError(f"--lora {spec}: this model has one expert: give one strength, FILE:S")
    if len(values) == 1:
        high = values[0] if choice.strength_high else 0.0
        low = values[0] if choice.strength_low else 0.0
    else:
        high, low = values
    choice.strength_high, choice.strength_low = high, low
    return choice


def _looks_like_strengths(text: str) -> bool:
    if not text or "/" in text or "\\" in text:
        return False
    allowed = set("0123456789.,-+eEinfINFaA ")
    return all(c in allowed for c in text) and any(c.isdigit() or c in "nN" for c in text)


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _as_strength(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise LoraError(f"LoRA {what} must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LoraError(f"LoRA {what} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise LoraError(f"LoRA {what} must be a finite number, not {value!r}")
    if abs(number) > MAX_STRENGTH:
        raise LoraError(f"LoRA {what} {number:g} is outside -{MAX_STRENGTH:g}..{MAX_STRENGTH:g}")
    return number


__all__ = [
    "EXPERT_HIGH",
    "EXPERT_LOW",
    "LoraChoice",
    "check_lora_path",
    "choice_for_file",
    "duplicate_problems",
    "parse_lora_spec",
]
