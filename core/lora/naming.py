"""What a LoRA file's name says: which expert it is for, whether it has a partner, whether it
is a step-distillation ("Lightning") LoRA. Torch-free: the GUI calls it on every file pick.

Wan2.2 A14B LoRAs come as pairs, one file per expert: lightx2v and Kijai name them
``..._HIGH_...`` / ``..._LOW_...``, others ``high_noise`` / ``low_noise`` (or ``_HN_``/``_LN_``).
Detection is by tokens, so a word like "highlight" or "slow" never counts as HIGH or LOW.
"""

from __future__ import annotations

import re
from pathlib import Path

EXPERT_HIGH = "high"
EXPERT_LOW = "low"

_SEP = r"(?:^|(?<=[_\-. ]))"
_END = r"(?=$|[_\-. ])"
_HIGH_RE = re.compile(_SEP + r"(high[_\- ]?noise|high|hn)" + _END, re.IGNORECASE)
_LOW_RE = re.compile(_SEP + r"(low[_\- ]?noise|low|ln)" + _END, re.IGNORECASE)
_DISTILL_RE = re.compile(
    r"(lightning|lightx2v|[_\-. ]\d+[_\- ]?steps?(?=$|[_\-. ])|distill|causvid|turbo)",
    re.IGNORECASE,
)
_STEPS_RE = re.compile(r"(?:^|[_\-. ])(\d{1,2})[_\- ]?steps?(?=$|[_\-. ])", re.IGNORECASE)


def expert_of(path: str | Path) -> str | None:
    """ "high" / "low" when the file name says which expert the LoRA was trained for, else None
    (both words present is ambiguous: None)."""
    stem = Path(path).name.removesuffix(".safetensors")
    high, low = bool(_HIGH_RE.search(stem)), bool(_LOW_RE.search(stem))
    if high == low:
        return None
    return EXPERT_HIGH if high else EXPERT_LOW


def partner_name(path: str | Path) -> str | None:
    """The file name the other expert's file would have (HIGH <-> LOW, same case), or None."""
    name = Path(path).name
    stem = name.removesuffix(".safetensors")
    suffix = name[len(stem) :]
    expert = expert_of(name)
    if expert is None:
        return None
    pattern = _HIGH_RE if expert == EXPERT_HIGH else _LOW_RE

    def swap(match: re.Match[str]) -> str:
        word = match.group(1)
        lower = word.lower()
        if lower.startswith("high"):
            other = "low" + word[4:]
        elif lower.startswith("low"):
            other = "high" + word[3:]
        else:  # hn / ln
            other = ("l" if lower == "hn" else "h") + word[1:]
        if word.isupper():
            return other.upper()
        if word[0].isupper():
            return other[0].upper() + other[1:]
        return other

    return pattern.sub(swap, stem, count=1) + suffix


def find_partner(path: str | Path) -> Path | None:
    """The other expert's file next to ``path`` when it exists (HIGH finds LOW and back)."""
    other = partner_name(path)
    if other is None:
        return None
    candidate = Path(path).with_name(other)
    return candidate if candidate.is_file() and candidate != Path(path) else None


def is_step_distill(path: str | Path) -> bool:
    """True for step-distillation LoRAs (lightx2v "Lightning", CausVid, "4step", "turbo")."""
    return bool(_DISTILL_RE.search(Path(path).name))


def distill_steps(path: str | Path) -> int | None:
    """The step count a distill LoRA's name announces ("4step", "8steps"), or None."""
    match = _STEPS_RE.search(Path(path).name)
    return int(match.group(1)) if match else None


def display_name(path: str | Path, partner: str | Path | None = None) -> str:
    """A short label for a file, or for a pair with its expert word replaced by HIGH+LOW."""
    stem = Path(path).name.removesuffix(".safetensors")
    if partner is None:
        return stem
    expert = expert_of(path)
    pattern = _HIGH_RE if expert == EXPERT_HIGH else _LOW_RE
    return pattern.sub("HIGH+LOW", stem, count=1)
