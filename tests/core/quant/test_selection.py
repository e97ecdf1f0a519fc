"""Default layer selection (msmodelslim's Wan2.2 set) and diffusers' fp32-keep rule."""

from __future__ import annotations

import pytest
from torch import nn

import core.mx
from core.quant import selection
from core.quant.selection import (
    BLOCK_LINEARS,
    REASON_OUTSIDE_BLOCKS,
    is_block_linear,
    keeps_fp32,
    plan_default,
)


def test_constants_match_their_sources() -> None:
    from diffusers import WanTransformer3DModel

    assert selection.BLOCK_SIZE == core.mx.BLOCK_SIZE
    assert list(selection.WAN_KEEP_IN_FP32) == WanTransformer3DModel._keep_in_fp32_modules


def test_default_plan_is_exactly_the_ten_block_linears_of_a_wan_transformer() -> None:
    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel

    with init_empty_weights():
        model = WanTransformer3DModel(
            num_attention_heads=2, attention_head_dim=32, in_channels=4, out_channels=4,
            text_dim=32, freq_dim=32, ffn_dim=128, num_layers=3,
        )  # fmt: skip
    linears = [(n, m.in_features) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    plan = plan_default(linears)
    assert plan.quantize == [f"blocks.{b}.{name}" for b in range(3) for name in BLOCK_LINEARS]
    assert set(plan.kept) == {
        "condition_embedder.time_embedder.linear_1",
        "condition_embedder.time_embedder.linear_2",
        "condition_embedder.time_proj",
        "condition_embedder.text_embedder.linear_1",
        "condition_embedder.text_embedder.linear_2",
        "proj_out",
    }
    assert set(plan.kept.values()) == {REASON_OUTSIDE_BLOCKS}


def test_a_block_linear_with_k_not_multiple_of_32_stays_float() -> None:
    plan = plan_default([("blocks.0.ffn.net.2", 48), ("blocks.0.ffn.net.0.proj", 64)])
    assert plan.quantize == ["blocks.0.ffn.net.0.proj"]
    assert plan.kept == {
        "blocks.0.ffn.net.2": "in_features 48 is not a multiple of 32: kept in high precision"
    }


@pytest.mark.parametrize(
    ("name", "block"),
    [
        ("blocks.0.attn1.to_q", True),
        ("blocks.39.attn2.to_out.0", True),
        ("blocks.7.ffn.net.0.proj", True),
        ("blocks.7.ffn.net.2", True),
        ("blocks.7.attn2.add_k_proj", False),
        ("blocks.7.attn1.to_out.1", False),
        ("condition_embedder.time_proj", False),
        ("proj_out", False),
        ("xblocks.0.attn1.to_q", False),
        ("blocks.0.attn1.to_q.extra", False),
    ],
)
def test_block_linear_names(name: str, block: bool) -> None:
    assert is_block_linear(name) is block


def test_keeps_fp32_matches_diffusers_loading() -> None:
    """Same rule as diffusers' load_model_dict_into_meta: a path component names the module."""
    from diffusers import WanTransformer3DModel

    keep = WanTransformer3DModel._keep_in_fp32_modules
    assert keeps_fp32("blocks.0.norm2.weight", keep)
    assert keeps_fp32("scale_shift_table", keep)
    assert keeps_fp32("condition_embedder.time_embedder.linear_1.bias", keep)
    assert not keeps_fp32("blocks.0.attn1.norm_q.weight", keep)  # "norm_q" is not "norm1"
    assert not keeps_fp32("condition_embedder.time_proj.weight", keep)
    assert not keeps_fp32("blocks.0.norm2.weight", None)
