"""LoRAs merged into the weights while a model loads (request ``lora_merge``): each targeted
weight is read, ``W + s * (B @ A)`` is formed in fp32 and only then quantized to MXFP8 (online)
or cast to the compute dtype, so the run costs nothing extra. The price: these LoRAs are part
of the loaded model, so changing them reloads it (the side branch never does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.lora.apply import LoraManager
from core.lora.branch import BranchTerm, merged_bias, merged_weight
from core.lora.choice import LoraChoice

Transform = Callable[[str, Any], Any]


def merge_factory(
    choices: list[LoraChoice],
    manager: LoraManager,
    merged: dict[str, list[Any]],
    cancel: Any = None,
) -> Callable[[str, Any], Transform | None]:
    """A loader hook: ``factory(component, skeleton)`` -> the tensor transform that merges
    ``choices`` into that component's weights (checked against the skeleton's shapes first),
    or None when nothing applies. ``merged[component]`` receives what was merged (report
    entries), so the runner adds no side branch there."""
    active = [c for c in choices if c.enabled]

    def factory(component: str, skeleton: Any) -> Transform | None:
        if not active:
            return None
        plan, report = manager.plan({component: skeleton}, active, None, cancel)
        layers: dict[str, list[BranchTerm]] = plan.get(component, {})
        if not layers:
            return None
        for entry in report.applied:
            entry.merged = True
        merged[component] = report.applied

        def transform(name: str, tensor: Any) -> Any:
            module, _, leaf = name.rpartition(".")
            terms = layers.get(module)
            if not terms:
                return tensor
            if leaf == "weight":
                return merged_weight(tensor, terms)
            if leaf == "bias":
                return merged_bias(tensor, terms)
            return tensor

        return transform

    return factory
