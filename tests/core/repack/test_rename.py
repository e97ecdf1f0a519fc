"""Wan-native <-> Diffusers names (msmodelslim.md §8)."""

from __future__ import annotations

import pytest

from core.repack.fixtures import TI2V_5B_CONFIG
from core.repack.rename import RENAME_RULES, to_diffusers, to_native
from core.repack.skeleton import expected_shapes


@pytest.mark.parametrize(
    ("native", "diffusers"),
    [
        ("blocks.3.self_attn.q.weight_scale", "blocks.3.attn1.to_q.weight_scale"),
        ("blocks.3.self_attn.o.weight", "blocks.3.attn1.to_out.0.weight"),
        ("blocks.3.cross_attn.v.bias", "blocks.3.attn2.to_v.bias"),
        ("blocks.3.cross_attn.norm_k.weight", "blocks.3.attn2.norm_k.weight"),
        ("blocks.3.self_attn.norm_q.weight", "blocks.3.attn1.norm_q.weight"),
        ("blocks.3.ffn.2.weight", "blocks.3.ffn.net.2.weight"),
        ("blocks.3.ffn.0.weight_scale", "blocks.3.ffn.net.0.proj.weight_scale"),
        ("blocks.3.norm3.weight", "blocks.3.norm2.weight"),
        ("blocks.3.norm3.bias", "blocks.3.norm2.bias"),
        ("blocks.3.norm2.weight", "blocks.3.norm3.weight"),
        ("blocks.3.modulation", "blocks.3.scale_shift_table"),
        ("head.modulation", "scale_shift_table"),
        ("head.head.weight", "proj_out.weight"),
        ("patch_embedding.weight", "patch_embedding.weight"),
        ("time_embedding.0.weight", "condition_embedder.time_embedder.linear_1.weight"),
        ("time_embedding.2.bias", "condition_embedder.time_embedder.linear_2.bias"),
        ("text_embedding.0.weight", "condition_embedder.text_embedder.linear_1.weight"),
        ("text_embedding.2.weight", "condition_embedder.text_embedder.linear_2.weight"),
        ("time_projection.1.weight", "condition_embedder.time_proj.weight"),
        ("blocks.0.cross_attn.k_img.weight", "blocks.0.attn2.add_k_proj.weight"),
        ("blocks.0.cross_attn.norm_k_img.weight", "blocks.0.attn2.norm_added_k.weight"),
        # Side effect of the plain substring rules, which loaders must match (§6).
        ("blocks.0.self_attn.q_rot", "blocks.0.attn1.to_q_rot"),
    ],
)
def test_reference_table(native: str, diffusers: str) -> None:
    assert to_diffusers(native) == diffusers


def test_head_modulation_rule_precedes_block_modulation() -> None:
    rules = [old for old, _ in RENAME_RULES]
    assert rules.index("head.modulation") < rules.index("modulation")


@pytest.mark.parametrize("config", ["demo", "ti2v-5b"])
def test_native_names_round_trip_for_every_model_tensor(config: str, demo_ti2v) -> None:
    import json

    cfg = (
        json.loads((demo_ti2v / "transformer" / "config.json").read_text())
        if config == "demo"
        else TI2V_5B_CONFIG
    )
    keys = list(expected_shapes(cfg))
    natives = [to_native(k) for k in keys]
    assert len(set(natives)) == len(keys)
    assert [to_diffusers(n) for n in natives] == keys
    # The native names are the ones msmodelslim writes (no Diffusers fragments left).
    for n in natives:
        assert not any(
            part in n for part in ("attn1", "attn2", "scale_shift", "condition_", "proj_out")
        )
