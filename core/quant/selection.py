"""Which linears of a Wan transformer become MXFP8 by default, and why the others stay float.

The default is exactly msmodelslim's Wan2.2 set (msmodelslim.md §5, wan22.md §3): the ten
linears of every transformer block. Embedders, the time projection and ``proj_out`` stay in
high precision: quantizing them causes visible noise or colour drift (vllm-omni PR #2728).
A block linear whose in_features is not a multiple of 32 also stays float: its last MX block
would be partial, which the Ascend path and msmodelslim's Wan exports never use.

Also here: diffusers' ``_keep_in_fp32_modules`` rule for the float parts, so streamed loading
keeps exactly the dtypes ``from_pretrained`` would. No torch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# core.mx.BLOCK_SIZE, repeated because importing core.mx loads torch (a test keeps them equal).
BLOCK_SIZE = 32

# The ten block linears, Diffusers names (msmodelslim.md §5).
BLOCK_LINEARS = (
    "attn1.to_q",
    "attn1.to_k",
    "attn1.to_v",
    "attn1.to_out.0",
    "attn2.to_q",
    "attn2.to_k",
    "attn2.to_v",
    "attn2.to_out.0",
    "ffn.net.0.proj",
    "ffn.net.2",
)
_BLOCK_LINEAR_RE = re.compile(
    r"^blocks\.\d+\.(" + "|".join(re.escape(n) for n in BLOCK_LINEARS) + r")$"
)

# WanTransformer3DModel._keep_in_fp32_modules (diffusers 0.42); used when the class is unknown.
WAN_KEEP_IN_FP32 = ("rope", "time_embedder", "scale_shift_table", "norm1", "norm2", "norm3")

REASON_OUTSIDE_BLOCKS = (
    "not one of the 10 block linears: kept in high precision (msmodelslim default)"
)
REASON_K_NOT_MULTIPLE = "in_features {k} is not a multiple of 32: kept in high precision"
REASON_DESCRIPTION_FLOAT = "marked FLOAT in the quant description"
REASON_DTYPE_FLOAT = "stored in high precision in the checkpoint"


def is_block_linear(name: str) -> bool:
    """True for the ten quantizable linears of a transformer block (``blocks.N.attn1.to_q``...)."""
    return bool(_BLOCK_LINEAR_RE.match(name))


@dataclass
class LayerPlan:
    """Linears to quantize, and every other linear with the reason it stays float."""

    quantize: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)


def plan_default(linears: Iterable[tuple[str, int]]) -> LayerPlan:
    """Default selection from ``(name, in_features)`` pairs of a model's nn.Linear modules."""
    plan = LayerPlan()
    for name, in_features in linears:
        if not is_block_linear(name):
            plan.kept[name] = REASON_OUTSIDE_BLOCKS
        elif in_features % BLOCK_SIZE:
            plan.kept[name] = REASON_K_NOT_MULTIPLE.format(k=in_features)
        else:
            plan.quantize.append(name)
    return plan


def keeps_fp32(name: str, keep_in_fp32: Sequence[str] | None) -> bool:
    """diffusers' rule: a tensor stays fp32 when a path component names a keep-in-fp32 module."""
    if not keep_in_fp32:
        return False
    parts = name.split(".")
    return any(module in parts for module in keep_in_fp32)
