"""Apply a request's LoRAs to a loaded pipeline's experts, as side branches (core.lora.branch),
all or nothing.

``LoraManager.apply`` reads and converts each file once (kept while it stays chosen), checks
everything before touching the model (files, formats, NaN/Inf, rank, shapes against each
expert's layers, duplicates), then swaps the branches in. Any error leaves the model exactly as
it was. Applying the set already applied does nothing; an empty set removes every branch, which
restores the base model bit for bit (the base weights are never modified).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.lora.branch import BranchTerm, attach, detach_all
from core.lora.choice import LoraChoice, duplicate_problems
from core.lora.convert import LoraWeights, convert
from core.lora.errors import LoraError
from core.lora.naming import EXPERT_HIGH, EXPERT_LOW
from core.lora.reader import read_lora

# Component of a Wan pipeline -> the expert it is.
EXPERT_OF_COMPONENT = {"transformer": EXPERT_HIGH, "transformer_2": EXPERT_LOW}
KNOWN_WIDTHS = {5120: "Wan2.2 A14B (T2V / I2V)", 3072: "Wan2.2 TI2V-5B", 64: "the demo model"}
_UNMATCHED_EXAMPLES = 3


@dataclass
class AppliedLora:
    """One LoRA file on one expert, as reported to the user (progress panel, sidecar)."""

    label: str
    file: str
    sha256: str
    component: str
    expert: str
    strength: float
    format: str
    rank: int
    matched: int  # target layers found in the expert
    total: int  # target layers in the file
    merged: bool = False  # merged into the weights at load (no side branch)


@dataclass
class LoraReport:
    applied: list[AppliedLora] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layers: int = 0  # layers carrying a branch
    seconds: float = 0.0
    changed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_key(path: str) -> tuple[str, int, int]:
    """(resolved path, size, mtime): a file's identity for caches and signatures."""
    file = Path(path).expanduser()
    try:
        info = file.stat()
    except OSError:
        return (str(file), -1, -1)
    return (str(file.resolve()), info.st_size, info.st_mtime_ns)


def choices_signature(choices: list[LoraChoice]) -> tuple:
    """What makes two sets of enabled LoRA choices the same: files (with size and mtime) and
    strengths, in order."""
    return tuple(
        (tuple(file_key(f) for f in c.files()), c.strength_high, c.strength_low)
        for c in choices
        if c.enabled
    )


def misfit_error(
    file: str | Path,
    component: str,
    module: str,
    want: tuple[int, int],
    got: tuple[int | None, int | None],
    lora_width: int | None,
    model_width: int | None,
) -> LoraError:
    """The error of a LoRA layer whose (out, in) shape ``got`` differs from the model's."""
    return LoraError(
        f"LoRA {Path(file).name} does not fit {component}: {module} takes {want[1]} inputs "
        f"and gives {want[0]} outputs, the LoRA's matrices are for {got[1]} -> {got[0]}. It was "
        f"made for a model of {width_label(lora_width)}; this model has {width_label(model_width)}"
    )


def no_match_error(file: str | Path, component: str, total: int, examples: list[str]) -> LoraError:
    """The error of a LoRA none of whose layers the model has."""
    shown = f" (e.g. {', '.join(examples[:3])})" if examples else ""
    return LoraError(
        f"LoRA {Path(file).name} matches none of the layers of {component}: 0 of {total} LoRA "
        f"layers{shown} exist in this model. It is not a LoRA for a Wan2.2 transformer"
    )


def width_label(width: int | None) -> str:
    if width is None:
        return "unknown width"
    known = KNOWN_WIDTHS.get(width)
    return f"width {width}" + (f", {known}" if known else "")


class LoraManager:
    """Keeps converted LoRA files and applies choices to experts (one per loaded model)."""

    def __init__(self) -> None:
        self._files: dict[tuple[str, int, int], LoraWeights] = {}
        # (target, device, dtype) -> its tensors on the layer's device: a strength change
        # re-applies without copying anything
        self._placed: dict[tuple, tuple] = {}
        self._signature: tuple = ()
        self._last_applied: list[AppliedLora] = []  # the report of the set applied now
        self._last_layers = 0

    # ---- reading ------------------------------------------------------------------------
    def weights(self, path: str, cancel: Any = None) -> LoraWeights:
        """The converted LoRA at ``path`` (read once while the file is unchanged)."""
        key = file_key(path)
        cached = self._files.get(key)
        if cached is not None:
            return cached
        raw = read_lora(path, cancel=cancel)
        for name, tensor in raw.tensors.items():
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                bad = int((~torch.isfinite(tensor)).sum())
                raise LoraError(
                    f"LoRA {raw.path.name}: tensor {name} holds {bad} NaN/Inf values; the file is "
                    "damaged (or was saved from a diverged training run)"
                )
        weights = convert(raw.tensors, raw.path, raw.metadata, raw.sha256)
        self._files[key] = weights
        return weights

    # ---- applying -----------------------------------------------------------------------
    def apply(
        self,
        experts: dict[str, nn.Module],
        choices: list[LoraChoice],
        dtype: torch.dtype,
        cancel: Any = None,
    ) -> LoraReport:
        """Make ``experts`` (component name -> transformer) carry exactly ``choices``."""
        started = time.perf_counter()
        active = [c for c in choices if c.enabled]
        signature = self._signature_of(experts, active, dtype)
        report = LoraReport()
        if signature == self._signature:
            report.applied, report.layers = list(self._last_applied), self._last_layers
            report.seconds = time.perf_counter() - started
            return report
        plan, report = self.plan(experts, active, dtype, cancel)
        for model in experts.values():  # checked: from here on nothing can fail
            detach_all(model)
        for component, layers in plan.items():
            model = experts[component]
            for module_name, terms in layers.items():
                attach(model.get_submodule(module_name), terms)
                report.layers += 1
        keep = {file_key(f) for c in active for f in c.files()}
        self._files = {k: v for k, v in self._files.items() if k in keep}
        live = {id(t) for w in self._files.values() for t in w.targets.values()}
        self._placed = {k: v for k, v in self._placed.items() if k[0] in live}
        self._signature = signature
        self._last_applied, self._last_layers = report.applied, report.layers
        report.changed = True
        report.seconds = time.perf_counter() - started
        return report

    def clear(self, experts: dict[str, nn.Module]) -> None:
        for model in experts.values():
            detach_all(model)
        self._signature = ()

    def plan(
        self,
        experts: dict[str, nn.Module],
        choices: list[LoraChoice],
        dtype: torch.dtype | None,
        cancel: Any = None,
    ) -> tuple[dict[str, dict[str, list[BranchTerm]]], LoraReport]:
        """Check ``choices`` against ``experts`` and build every term; raises LoraError.

        ``dtype`` None keeps the terms on the CPU in fp32 (for merging at load)."""
        report = LoraReport()
        one_expert = set(experts) == {"transformer"}
        duplicates = duplicate_problems(choices)
        if duplicates:
            raise LoraError(duplicates[0])
        seen_sha: dict[str, str] = {}
        plan: dict[str, dict[str, list[BranchTerm]]] = {c: {} for c in experts}
        for choice in choices:
            problems = choice.problems(experts=1 if one_expert else 2)
            if problems:
                raise LoraError("; ".join(problems))
            for component, model in experts.items():
                expert = EXPERT_OF_COMPONENT.get(component, EXPERT_HIGH)
                strength = choice.strength_for(expert)
                file = choice.file_for(expert)
                weights = self.weights(file, cancel)
                other = seen_sha.setdefault(weights.sha256 or file, file)
                if other != file and Path(other).resolve() != Path(file).resolve():
                    raise LoraError(
                        f"LoRA {Path(file).name} is the same file as {Path(other).name} "
                        "(identical contents): it is chosen twice; remove one"
                    )
                if strength == 0:
                    continue
                terms, matched, unmatched = self._terms_for(
                    weights, model, component, strength, dtype, choice.label
                )
                for module_name, term in terms.items():
                    plan[component].setdefault(module_name, []).append(term)
                total = len(weights.targets)
                report.applied.append(
                    AppliedLora(
                        label=choice.label,
                        file=str(weights.path),
                        sha256=weights.sha256 or "",
                        component=component,
                        expert=expert if not one_expert else "single",
                        strength=strength,
                        format=weights.format,
                        rank=max(weights.ranks or [0]),
                        matched=matched,
                        total=total,
                    )
                )
                if unmatched:
                    examples = ", ".join(unmatched[:_UNMATCHED_EXAMPLES])
                    report.warnings.append(
                        f"LoRA {weights.path.name} on {component}: {matched} of {total} layers "
                        f"matched; {len(unmatched)} match no layer of this model (e.g. {examples})"
                    )
        return plan, report

    # ---- helpers ------------------------------------------------------------------------
    def _terms_for(
        self,
        weights: LoraWeights,
        model: nn.Module,
        component: str,
        strength: float,
        dtype: torch.dtype | None,
        label: str,
    ) -> tuple[dict[str, BranchTerm], int, list[str]]:
        from core.quant.layer import Mxfp8Linear

        terms: dict[str, BranchTerm] = {}
        unmatched: list[str] = []
        for module_name, target in weights.targets.items():
            try:
                layer = model.get_submodule(module_name)
            except AttributeError:
                unmatched.append(module_name)
                continue
            if not isinstance(layer, (nn.Linear, Mxfp8Linear)):
                unmatched.append(module_name)
                continue
            want = (layer.out_features, layer.in_features)
            got = (target.out_features, target.in_features)
            if any(g is not None and g != w for g, w in zip(got, want, strict=True)):
                model_width = getattr(model.config, "num_attention_heads", 0) * getattr(
                    model.config, "attention_head_dim", 0
                )
                raise misfit_error(
                    weights.path,
                    component,
                    module_name,
                    want,
                    got,
                    weights.dim,
                    model_width or None,
                )
            if isinstance(layer, nn.Linear):
                place_dtype = layer.weight.dtype
                device = layer.weight.device
            else:
                place_dtype = dtype or torch.float32
                device = layer.weight.device
            if dtype is None:
                place_dtype, device = torch.float32, torch.device("cpu")

            key = (id(target), str(device), str(place_dtype))
            tensors = self._placed.get(key)
            if tensors is None:  # placed once per file, layer, device and dtype
                tensors = tuple(
                    None if t is None else t.to(device=device, dtype=place_dtype)
                    for t in (target.down, target.up, target.bias, target.diff)
                )
                if dtype is not None:
                    self._placed[key] = tensors
            down, up, bias, diff = tensors
            terms[module_name] = BranchTerm(
                name=label,
                scaling=float(strength) * target.scale,
                down=down,
                up=up,
                bias=bias,
                diff=diff,
            )
        if not terms:
            raise no_match_error(weights.path, component, len(weights.targets), unmatched)
        return terms, len(terms), unmatched

    def _signature_of(
        self, experts: dict[str, nn.Module], choices: list[LoraChoice], dtype: torch.dtype
    ) -> tuple:
        experts_key = tuple((k, id(m)) for k, m in experts.items())
        return (experts_key, choices_signature(choices), str(dtype))
