"""The runner's LoRA step: make the warm pipeline's experts carry exactly the request's LoRAs.

Runs after the load (or the warm-model skip) and before encoding, on every job: a job with the
same LoRAs as the previous one costs nothing; other LoRAs swap side branches in place (no
weight is reloaded); no LoRAs removes every branch, restoring the base model bit for bit.
LoRAs merged into the weights at load (``lora_merge``) are already in; nothing is added here.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.generate import events as ev
from core.lora.apply import (
    EXPERT_OF_COMPONENT,
    LoraManager,
    LoraReport,
    choices_signature,
    misfit_error,
    no_match_error,
)


def merge_signature(request: Any) -> tuple:
    """What identifies merged LoRAs in the warm-model key (any change reloads the model)."""
    return choices_signature(request.loras)


def preflight(folder: Any, choices: list[Any], experts: int) -> None:
    """Before a model loads: every enabled LoRA must fit the folder's transformers, checked
    from the LoRA headers and ``config.json`` alone, so a misfit fails in milliseconds instead
    of after a long load. Raises LoraError (the same words as applying would)."""
    from core.lora.info import config_shapes, count_fit, header_weights
    from core.quant.component import ComponentError, read_config

    headers: dict[str, Any] = {}  # a file used on both experts is read once
    components = ["transformer", "transformer_2"][:experts]
    for component in components:
        try:
            config = read_config(Path(folder) / component)
            shapes = config_shapes(config)
        except (ComponentError, KeyError, TypeError, ValueError):
            return  # the loader reports a broken config with its own message
        width = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
        for choice in choices:
            if not choice.enabled:
                continue
            expert = EXPERT_OF_COMPONENT[component]
            if experts == 2 and choice.strength_for(expert) == 0:
                continue
            file = choice.file_for(expert)
            if file not in headers:
                headers[file] = header_weights(file)
            weights = headers[file]
            matched, wrong = count_fit(weights, shapes)
            if wrong:
                target = weights.targets[wrong[0]]
                got = (target.out_features, target.in_features)
                raise misfit_error(
                    file, component, wrong[0], shapes[wrong[0]], got, weights.dim, width
                )
            if not matched:
                raise no_match_error(file, component, len(weights.targets), list(weights.targets))


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
    return [asdict(a) for a in report.applied]
