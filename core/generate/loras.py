"""The runner's LoRA step: make the warm pipeline's experts carry exactly the request's LoRAs.

Runs after the load (or the warm-model skip) and before encoding, on every job: a job with the
same LoRAs as the previous one costs nothing; other LoRAs swap side branches in place (no
weight is reloaded); no LoRAs removes every branch, restoring the base model bit for bit.
LoRAs merged into the weights at load (``lora_merge``) are already in; nothing is added here.
"""

from __future__ import annotations

from typing import Any

from core.generate import events as ev
from core.lora.apply import LoraManager, LoraReport


def merge_signature(request: Any) -> tuple:
    """What identifies merged LoRAs in the warm-model key: files (with size and mtime) and
    strengths, so any change reloads the model with the new merge."""
    import os

    def stamp(path: str) -> tuple:
        try:
            info = os.stat(os.path.expanduser(path))
        except OSError:
            return (path, -1, -1)
        return (path, info.st_size, info.st_mtime_ns)

    return tuple(
        (tuple(stamp(f) for f in c.files()), c.strength_high, c.strength_low)
        for c in request.loras
        if c.enabled
    )


def experts_of(pipe: Any) -> dict[str, Any]:
    """Component name -> transformer of a loaded Wan pipeline (one or two experts)."""
    out = {"transformer": pipe.transformer}
    if getattr(pipe, "transformer_2", None) is not None:
        out["transformer_2"] = pipe.transformer_2
    return out


def apply_request_loras(
    manager: LoraManager,
    pipe: Any,
    choices: list[Any],
    dtype_name: str,
    emit: Any,
    cancel: Any = None,
    merged: dict[str, list[Any]] | None = None,
) -> LoraReport:
    """Apply ``choices`` to ``pipe`` through ``manager``; warnings go out as events.

    Components in ``merged`` already hold the LoRAs in their weights (merged at load, with
    the entries the merge recorded): they get no side branch."""
    import torch

    merged = merged or {}
    experts = {k: v for k, v in experts_of(pipe).items() if k not in merged}
    report = manager.apply(experts, choices, getattr(torch, dtype_name), cancel)
    report.applied = list(report.applied) + [e for entries in merged.values() for e in entries]
    for warning in report.warnings:
        emit(ev.Warning(message=warning))
    return report


def applied_summary(report: LoraReport) -> list[dict[str, Any]]:
    """What the Plan event, the sidecar and the MP4 metadata record per LoRA and expert."""
    return [
        {
            "label": a.label,
            "file": a.file,
            "sha256": a.sha256,
            "component": a.component,
            "expert": a.expert,
            "strength": a.strength,
            "format": a.format,
            "rank": a.rank,
            "matched": a.matched,
            "total": a.total,
            "merged": a.merged,
        }
        for a in report.applied
    ]
