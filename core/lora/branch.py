"""The LoRA side branch on one linear layer, for every layer kind (nn.Linear, Mxfp8Linear on any
MXFP8 backend, npu included):

    y = base(x) + sum_i s_i * (B_i (A_i x) + b_i)      [+ s_i * D_i x for full deltas]

It runs as a forward hook, so the base layer (and its MXFP8 codes and scales) is never touched:
removing the hook restores the base output bit for bit, and changing LoRAs never reloads
weights. The arithmetic is peft's unmerged LoRA forward exactly (input cast to the LoRA dtype,
``lora_B(lora_A(x)) * scaling`` added term by term, result cast back), so a BF16 layer with a
branch gives what diffusers' ``load_lora_weights`` gives. Written here rather than through peft
because peft cannot wrap ``Mxfp8Linear`` and is not a runtime dependency.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

HOOK_ATTR = "_wan_lora_branch"


@dataclass
class BranchTerm:
    """One LoRA's contribution to one layer, already on the layer's device and dtype."""

    name: str  # LoRA label (for reports and the layer's repr)
    scaling: float  # strength x alpha/r
    down: torch.Tensor | None  # A [r, K]
    up: torch.Tensor | None  # B [N, r]
    bias: torch.Tensor | None  # [N]
    diff: torch.Tensor | None  # [N, K]


class LowRankBranch:
    """The forward hook holding every term applied to one layer.

    ``fused`` (used on MXFP8 layers) adds ``B (A x)`` with one ``addmm_`` into the base output
    instead of a separate product and add: about half the branch's cost on the CPU, with one
    rounding instead of two (within fp32/bf16 rounding of the exact formula). Plain linears keep
    peft's exact arithmetic so that a BF16 model matches diffusers bit for bit.
    """

    def __init__(self, terms: list[BranchTerm], fused: bool = False) -> None:
        self.terms = terms
        self.fused = fused
        self.handle: Any = None

    def __call__(self, module: nn.Module, inputs: tuple[Any, ...], output: torch.Tensor) -> Any:
        # In place on the base output (a fresh tensor in inference): the same two roundings as
        # peft's ``result + delta * scaling``, without two more [M, N] allocations per term.
        x = inputs[0]
        result = output
        if self.fused and result.is_contiguous() and all(t.down is not None for t in self.terms):
            return self._fused(x, result)
        for term in self.terms:
            if term.down is not None:
                h = x.to(term.down.dtype)
                delta = F.linear(F.linear(h, term.down), term.up, term.bias)
                _add_scaled(result, delta, term.scaling)
            elif term.bias is not None:
                _add_scaled(result, term.bias.clone(), term.scaling)
            if term.diff is not None:
                _add_scaled(result, F.linear(x.to(term.diff.dtype), term.diff), term.scaling)
        return result

    def _fused(self, x: torch.Tensor, result: torch.Tensor) -> torch.Tensor:
        rows = result.view(-1, result.shape[-1])  # contiguous: a view, written through
        for term in self.terms:
            h = F.linear(x.to(term.down.dtype), term.down).view(-1, term.down.shape[0])
            up = term.up.t()
            if h.dtype != rows.dtype:
                h, up = h.to(rows.dtype), up.to(rows.dtype)
            rows.addmm_(h, up, alpha=term.scaling)
            if term.bias is not None:
                rows.add_(term.bias.to(rows.dtype), alpha=term.scaling)
            if term.diff is not None:
                _add_scaled(result, F.linear(x.to(term.diff.dtype), term.diff), term.scaling)
        return result


def _add_scaled(result: torch.Tensor, delta: torch.Tensor, scaling: float) -> None:
    """``result += delta * scaling`` with peft's roundings (scale in delta's dtype, then add)."""
    if scaling != 1.0:
        delta.mul_(scaling)
    if delta.dtype != result.dtype:
        delta = delta.to(result.dtype)
    result.add_(delta)


def attach(module: nn.Module, terms: list[BranchTerm]) -> LowRankBranch:
    """Put a branch with ``terms`` on ``module`` (replacing any branch it had); fused on
    anything that is not a plain ``nn.Linear`` (MXFP8 layers)."""
    detach(module)
    branch = LowRankBranch(terms, fused=type(module) is not nn.Linear)
    branch.handle = module.register_forward_hook(branch)
    setattr(module, HOOK_ATTR, branch)
    return branch


def detach(module: nn.Module) -> bool:
    """Remove the branch of ``module``; True when there was one."""
    branch = getattr(module, HOOK_ATTR, None)
    if branch is None:
        return False
    branch.handle.remove()
    delattr(module, HOOK_ATTR)
    return True


def detach_all(model: nn.Module) -> int:
    """Remove every branch in ``model``; how many layers had one."""
    return sum(detach(m) for m in model.modules())


def merged_weight(weight: torch.Tensor, terms: list[BranchTerm]) -> torch.Tensor:
    """``W + sum s_i (B_i @ A_i + D_i)`` in fp32 (online MXFP8 quantizes this instead of W)."""
    out = weight.to(torch.float32, copy=True)
    for term in terms:
        if term.down is not None:
            out += (term.up.float() @ term.down.float()) * term.scaling
        if term.diff is not None:
            out += term.diff.float() * term.scaling
    return out


def merged_bias(bias: torch.Tensor, terms: list[BranchTerm]) -> torch.Tensor:
    out = bias.to(torch.float32, copy=True)
    for term in terms:
        if term.bias is not None:
            out += term.bias.float() * term.scaling
    return out
