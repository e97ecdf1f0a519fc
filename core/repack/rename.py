"""Wan-native (msmodelslim) <-> Diffusers tensor names for WanTransformer3DModel.

``to_diffusers`` applies the ordered plain-substring rules of diffusers'
``scripts/convert_wan_to_diffusers.py`` (``TRANSFORMER_KEYS_RENAME_DICT``), which SGLang's
``wan_repack`` and vllm-omni's merge tool use too (msmodelslim.md §8). Order matters:
``head.modulation`` must be renamed before ``modulation``, and norm2/norm3 swap through a
placeholder. The MXFP4-era smoothing rules (``.linear.`` / ``.div.``) are deliberately absent:
exports with smoothing wrappers are refused (core.repack.planner), never silently flattened.

``to_native`` is the exact inverse on the names a Wan2.2 transformer has; it exists so test
fixtures can write exports with the names msmodelslim writes.
"""

from __future__ import annotations

# (from, to), applied in this order to every key with str.replace.
RENAME_RULES: tuple[tuple[str, str], ...] = (
    ("time_embedding.0", "condition_embedder.time_embedder.linear_1"),
    ("time_embedding.2", "condition_embedder.time_embedder.linear_2"),
    ("text_embedding.0", "condition_embedder.text_embedder.linear_1"),
    ("text_embedding.2", "condition_embedder.text_embedder.linear_2"),
    ("time_projection.1", "condition_embedder.time_proj"),
    ("head.modulation", "scale_shift_table"),
    ("head.head", "proj_out"),
    ("modulation", "scale_shift_table"),
    ("ffn.0", "ffn.net.0.proj"),
    ("ffn.2", "ffn.net.2"),
    # Swap norm2 and norm3 through a placeholder (native norm3 is the affine cross-attn norm).
    ("norm2", "norm__placeholder"),
    ("norm3", "norm2"),
    ("norm__placeholder", "norm3"),
    # Wan2.1 I2V image embedder: never fires for Wan2.2, kept for parity with the converter.
    ("img_emb.proj.0", "condition_embedder.image_embedder.norm1"),
    ("img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj"),
    ("img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2"),
    ("img_emb.proj.4", "condition_embedder.image_embedder.norm2"),
    ("img_emb.emb_pos", "condition_embedder.image_embedder.pos_embed"),
    ("self_attn.q", "attn1.to_q"),
    ("self_attn.k", "attn1.to_k"),
    ("self_attn.v", "attn1.to_v"),
    ("self_attn.o", "attn1.to_out.0"),
    ("self_attn.norm_q", "attn1.norm_q"),
    ("self_attn.norm_k", "attn1.norm_k"),
    ("cross_attn.q", "attn2.to_q"),
    ("cross_attn.k", "attn2.to_k"),
    ("cross_attn.v", "attn2.to_v"),
    ("cross_attn.o", "attn2.to_out.0"),
    ("cross_attn.norm_q", "attn2.norm_q"),
    ("cross_attn.norm_k", "attn2.norm_k"),
    ("attn2.to_k_img", "attn2.add_k_proj"),
    ("attn2.to_v_img", "attn2.add_v_proj"),
    ("attn2.norm_k_img", "attn2.norm_added_k"),
)


def to_diffusers(key: str) -> str:
    """Diffusers name of a Wan-native tensor name (ordered substring rules)."""
    for old, new in RENAME_RULES:
        key = key.replace(old, new)
    return key


# Inverse for Wan2.2 names (no Wan2.1 image embedder). Applied in this order.
_NATIVE_RULES: tuple[tuple[str, str], ...] = (
    ("attn1.to_out.0", "self_attn.o"),
    ("attn2.to_out.0", "cross_attn.o"),
    ("attn1.to_", "self_attn."),
    ("attn2.to_", "cross_attn."),
    ("attn1.norm_", "self_attn.norm_"),
    ("attn2.norm_", "cross_attn.norm_"),
    ("ffn.net.0.proj", "ffn.0"),
    ("ffn.net.2", "ffn.2"),
    ("norm3", "norm__placeholder"),
    ("norm2", "norm3"),
    ("norm__placeholder", "norm2"),
    ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
    ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
    ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
    ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
    ("condition_embedder.time_proj", "time_projection.1"),
    ("proj_out", "head.head"),
)


def to_native(key: str) -> str:
    """Wan-native name of a Diffusers WanTransformer3DModel tensor name (inverse of
    ``to_diffusers`` for Wan2.2 transformers)."""
    if key == "scale_shift_table":
        return "head.modulation"
    key = key.replace("scale_shift_table", "modulation")
    for old, new in _NATIVE_RULES:
        key = key.replace(old, new)
    return key
