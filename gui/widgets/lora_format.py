"""Texts and off-thread plumbing shared by the LoRA widgets (Generate form, Models, progress).

Qt-light and torch-free: ``inspect_lora`` (which imports torch) and ``resolve_recorded`` (which
hashes files) only ever run inside the ``run_io`` callables given here, never on the GUI thread.
The texts live here, not in the widgets, so the form, the Models table and the tests agree on
what a LoRA "fits" means.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QObject

from core.models.catalog import FAMILIES

RunIo = Callable[..., Any]  # Engine.run_io(fn, on_done=..., on_error=...)
WARN_COLOUR = "#b7791f"  # the stylesheet's fieldWarning amber: not an error red
ERROR_COLOUR = "#c0392b"
DEMO_FIT = "demo"  # LoraInfo.fits key of the built-in demo models


def short_family(key: str) -> str:
    """'Wan2.2-T2V-A14B' -> 'T2V-A14B'; the demo models' key -> 'demo'."""
    if key == DEMO_FIT:
        return "demo"
    fam = FAMILIES.get(key)
    return fam.name.replace("Wan2.2-", "") if fam is not None else key


def fit_target(family: str, demo: bool) -> str:
    """The LoraInfo.fits key a LoRA must fit for the selected model."""
    return DEMO_FIT if demo else family


def target_name(family: str, demo: bool) -> str:
    if demo:
        return "the demo model"
    fam = FAMILIES.get(family)
    return fam.name if fam is not None else family


def fit_for(info: Any, target: str) -> Any:
    """The FamilyFit of ``info`` for ``target`` (a family key or "demo"), or None."""
    return next((f for f in info.fits if f.family == target), None)


def fit_note(info: Any, family: str, demo: bool) -> tuple[str, bool]:
    """(one line for a LoRA row, True when it fits the selected model).

    'original Wan / ComfyUI · rank 64 · fits Wan2.2-T2V-A14B (400/400)', or when it does not:
    'diffusers · rank 4 · does not fit the demo model (0/20 layers); fits T2V-A14B'.
    """
    head = f"{info.format_label} · rank {rank_text(info.ranks)}"
    fit = fit_for(info, fit_target(family, demo))
    name = target_name(family, demo)
    if fit is not None and fit.fits:
        return f"{head} · fits {name} ({fit.matched}/{fit.total})", True
    matched = f"{fit.matched}/{fit.total}" if fit is not None else f"0/{info.layers}"
    others = [short_family(f.family) for f in info.fits if f.fits]
    where = (
        f"; fits {', '.join(others)}" if others else f"; fits no Wan2.2 model (width {info.dim})"
    )
    return f"{head} · does not fit {name} ({matched} layers){where}", False


def rank_text(ranks: list[int]) -> str:
    """[64] -> '64'; [16, 64] -> '16-64' (a LoRA may mix ranks per layer)."""
    if not ranks:
        return "?"
    low, high = min(ranks), max(ranks)
    return str(low) if low == high else f"{low}-{high}"


def experts_text(path_low: str | None, expert: str | None) -> str:
    """What the Models table says about experts: a pair, one expert's file, or both."""
    if path_low:
        return "pair (HIGH+LOW)"
    if expert == "high":
        return "HIGH"
    if expert == "low":
        return "LOW"
    return "both"


def fits_text(info: Any) -> str:
    """'T2V-A14B, I2V-A14B' / 'demo' / 'none' for the Models table."""
    names = [short_family(f.family) for f in info.fits if f.fits]
    return ", ".join(names) if names else "none"


def best_matched(info: Any) -> str:
    """'400/400' for the family it fits best (the Models table's layers column)."""
    best = max(info.fits, key=lambda f: (f.fits, f.matched), default=None)
    if best is None:
        return f"0/{info.layers}"
    return f"{best.matched}/{best.total}"


def choices_text(choices: list[Any]) -> str:
    """A request's LoRAs in one line (History): 'style 0.8/0.5, Lightning HIGH+LOW 1/1 (off)'."""
    parts = []
    for choice in choices:
        strengths = f"{choice.strength_high:g}/{choice.strength_low:g}"
        parts.append(f"{choice.label} {strengths}" + ("" if choice.enabled else " (off)"))
    return ", ".join(parts)


def plan_lines(applied: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """The Plan event's per-file-and-expert entries -> one (line, complete) per LoRA item.

    'Wan22_T2V_HIGH+LOW_lightx2v: high 1, low 1 · 20/20 + 20/20 layers'; ``complete`` is False
    when some layers of the LoRA matched nothing in the model (a warning, not an error).
    """
    by_label: dict[str, list[dict[str, Any]]] = {}
    for entry in applied:
        by_label.setdefault(str(entry.get("label", "?")), []).append(entry)
    out = []
    for label, entries in by_label.items():
        strengths = []
        layers = []
        complete = True
        for entry in entries:
            expert = entry.get("expert")
            strength = entry.get("strength", 0)
            value = f"{strength:g}" if isinstance(strength, (int, float)) else str(strength)
            strengths.append(value if expert == "single" else f"{expert} {value}")
            matched, total = entry.get("matched", 0), entry.get("total", 0)
            layers.append(f"{matched}/{total}")
            complete = complete and matched == total
        mark = "" if complete else "⚠ "
        out.append(
            (f"{mark}{label}: {', '.join(strengths)} · {' + '.join(layers)} layers", complete)
        )
    return out


def read_header(path: str | Path) -> Any:
    """Worker side: ``inspect_lora(path)``, or the reason the file is not a usable LoRA (text)."""
    from core.lora.errors import LoraError
    from core.lora.info import inspect_lora

    try:
        return inspect_lora(path)
    except (LoraError, OSError) as exc:
        return str(exc)


def alive(widget: QObject) -> bool:
    """False once the C++ side of ``widget`` is gone (a late background answer is dropped)."""
    return shiboken6.isValid(widget)
