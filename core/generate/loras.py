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
) -> LoraReport:
    """Apply ``choices`` to ``pipe`` through ``manager``; warnings go out as events."""
    import torch

    report = manager.apply(experts_of(pipe), choices, getattr(torch, dtype_name), cancel)
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
        }
        for a in report.applied
    ]
