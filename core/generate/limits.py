"""The range of every number (and text) a generation request may hold: one table for all.

Why bounds at all: values reach code that allocates in proportion to them (the scheduler builds
arrays of ``steps`` entries, the latents grow with frames x width x height), so an absurd value
(``--steps 1000000000``) grows until the kernel kills the process, and others end in an
"unexpected error" deep inside a model. Each bound is finite but generous: it admits every real
run (1280x720 and 1920x1080 sizes, TI2V 1280x704, 121+ frames, 50 steps, Lightning's 4 steps)
with a wide margin; what a given model and machine can really do is decided later by the
memory pre-flight (core.generate.memory.preflight), before anything is loaded.

Used by request validation (CLI, runner, GUI), by presets when they are imported or read, and
by the GUI form for its spin-box ranges, so the three can never disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Bound:
    """Inclusive range of one field (``low_open``: the low end itself is not allowed)."""

    low: float
    high: float
    why: str
    low_open: bool = False

    def text(self) -> str:
        low = f"{self.low:g}"
        return (
            f"more than {low} and at most {self.high:g}"
            if self.low_open
            else f"{low}-{self.high:g}"
        )


LIMITS: dict[str, Bound] = {
    # 8K: four times the largest official size per side; multiples are checked per family.
    "width": Bound(16, 8192, "8K; Wan2.2 is trained at up to 1280"),
    "height": Bound(16, 8192, "8K; Wan2.2 is trained at up to 1280"),
    # 4n+1; 1001 frames is about a minute at 16 fps, 8x the longest official clip (121).
    "frames": Bound(1, 1001, "about a minute at 16 fps; official clips are 81 or 121"),
    "fps": Bound(1, 120, "the highest rate video players show"),
    # 20x the official 40-50 steps; a scheduler with more steps only wastes time.
    "steps": Bound(1, 1000, "official runs use 40-50, Lightning 4"),
    "guidance_high": Bound(0, 30, "official values are 3-5; higher ruins the video"),
    "guidance_low": Bound(0, 30, "official values are 3-5; higher ruins the video"),
    "shift": Bound(0, 50, "official values are 5-12", low_open=True),
}
# T5 reads at most 512 tokens (a few thousand characters); the rest only costs tokenizer time.
MAX_PROMPT_CHARS = 20_000
TEXT_FIELDS = ("prompt", "negative_prompt")


def bound_problem(field: str, value: Any) -> str | None:
    """Why ``value`` is outside the range of ``field`` ("steps must be 1-1000, not 10**9"), or
    None when it is inside (or the field has no bound, or the value is not a number: the type
    checks of the caller report that)."""
    if field in TEXT_FIELDS:
        if isinstance(value, str) and len(value) > MAX_PROMPT_CHARS:
            return (
                f"{field} is {len(value)} characters long; the limit is {MAX_PROMPT_CHARS} "
                "(the text encoder reads only the first 512 tokens)"
            )
        return None
    bound = LIMITS.get(field)
    if bound is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{field} must be {bound.text()}, not {value}"
    too_low = value <= bound.low if bound.low_open else value < bound.low
    if too_low or value > bound.high:
        shown = value if isinstance(value, int) else f"{value:g}"
        return f"{field} must be {bound.text()} ({bound.why}), not {shown}"
    return None


def clamp(field: str, value: float) -> float:
    """``value`` moved into the range of ``field`` (the "nearest valid" suggestion)."""
    bound = LIMITS[field]
    return min(max(value, bound.low), bound.high)


__all__ = ["LIMITS", "MAX_PROMPT_CHARS", "Bound", "bound_problem", "clamp"]
