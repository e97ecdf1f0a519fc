"""The tensors a Diffusers WanTransformer3DModel expects, from its config alone.

Why: a repack must prove its output is complete before it is renamed into place, so the
planner and the verifier need every tensor name and shape of the model. Building the model on
the meta device answers that but costs the diffusers import (about 10 s and 400 MB on a cold
start: it made `wan-studio repack` 4x `cp -r`). The module tree of WanTransformer3DModel is
small and fixed, so its state dict is derived here directly from config.json, in pure Python.

The derivation mirrors diffusers' ``transformer_wan.py`` (WanTransformer3DModel, its blocks,
WanAttention, WanTimeTextImageEmbedding, WanImageEmbedding, FeedForward), key order included.
``tests/core/repack/test_skeleton.py`` checks it against diffusers' own meta-device model for
every Wan2.2 family's config and for each optional part (image embedder, added K/V, no
cross-attention norm), so a diffusers change that moves a tensor fails there.
"""

from __future__ import annotations

import math
from typing import Any

from core.repack.errors import RepackInputError

TRANSFORMER_CLASS = "WanTransformer3DModel"
# WanTransformer3DModel.__init__ defaults (diffusers), used for keys a config leaves out.
DEFAULTS: dict[str, Any] = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 40,
    "attention_head_dim": 128,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 13824,
    "num_layers": 40,
    "cross_attn_norm": True,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "pos_embed_seq_len": None,
}
_REQUIRED_INTS = (
    "num_attention_heads",
    "attention_head_dim",
    "in_channels",
    "text_dim",
    "freq_dim",
    "ffn_dim",
    "num_layers",
)
_OPTIONAL_INTS = ("image_dim", "added_kv_proj_dim", "pos_embed_seq_len")

Shapes = dict[str, tuple[int, ...]]


def expected_shapes(config: dict[str, Any], source: str = "config.json") -> Shapes:
    """Diffusers state-dict key -> shape for a transformer config (no torch, no diffusers)."""
    cls = config.get("_class_name", TRANSFORMER_CLASS)
    if cls != TRANSFORMER_CLASS:
        raise RepackInputError(
            f"{source}: the transformer is a {cls}, not a {TRANSFORMER_CLASS}; pick the original "
            "Diffusers folder of a Wan2.2 model"
        )
    c = _read_config(config, source)
    heads, head_dim = c["num_attention_heads"], c["attention_head_dim"]
    dim = heads * head_dim
    out_channels = c["out_channels"] or c["in_channels"]
    patch = c["patch_size"]
    shapes: Shapes = {"scale_shift_table": (1, 2, dim)}
    shapes["patch_embedding.weight"] = (dim, c["in_channels"], *patch)
    shapes["patch_embedding.bias"] = (dim,)

    embedder = "condition_embedder"
    _linear(shapes, f"{embedder}.time_embedder.linear_1", c["freq_dim"], dim)
    _linear(shapes, f"{embedder}.time_embedder.linear_2", dim, dim)
    _linear(shapes, f"{embedder}.time_proj", dim, 6 * dim)
    _linear(shapes, f"{embedder}.text_embedder.linear_1", c["text_dim"], dim)
    _linear(shapes, f"{embedder}.text_embedder.linear_2", dim, dim)
    image_dim = c["image_dim"]
    if image_dim is not None:
        image = f"{embedder}.image_embedder"
        if c["pos_embed_seq_len"] is not None:
            shapes[f"{image}.pos_embed"] = (1, c["pos_embed_seq_len"], image_dim)
        _norm(shapes, f"{image}.norm1", image_dim, bias=True)
        _linear(shapes, f"{image}.ff.net.0.proj", image_dim, image_dim)
        _linear(shapes, f"{image}.ff.net.2", image_dim, dim)
        _norm(shapes, f"{image}.norm2", dim, bias=True)

    # In a block, attention heads have dim // heads channels (== attention_head_dim).
    inner = (dim // heads) * heads
    for i in range(c["num_layers"]):
        block = f"blocks.{i}"
        shapes[f"{block}.scale_shift_table"] = (1, 6, dim)
        for attn in ("attn1", "attn2"):
            prefix = f"{block}.{attn}"
            _linear(shapes, f"{prefix}.to_q", dim, inner)
            _linear(shapes, f"{prefix}.to_k", dim, inner)
            _linear(shapes, f"{prefix}.to_v", dim, inner)
            _linear(shapes, f"{prefix}.to_out.0", inner, dim)
            _norm(shapes, f"{prefix}.norm_q", inner, bias=False)
            _norm(shapes, f"{prefix}.norm_k", inner, bias=False)
            if attn == "attn2" and c["added_kv_proj_dim"] is not None:
                _linear(shapes, f"{prefix}.add_k_proj", c["added_kv_proj_dim"], inner)
                _linear(shapes, f"{prefix}.add_v_proj", c["added_kv_proj_dim"], inner)
                _norm(shapes, f"{prefix}.norm_added_k", inner, bias=False)
        if c["cross_attn_norm"]:
            _norm(shapes, f"{block}.norm2", dim, bias=True)
        _linear(shapes, f"{block}.ffn.net.0.proj", dim, c["ffn_dim"])
        _linear(shapes, f"{block}.ffn.net.2", c["ffn_dim"], dim)

    _linear(shapes, "proj_out", dim, out_channels * math.prod(patch))
    return shapes


def _linear(shapes: Shapes, name: str, in_features: int, out_features: int) -> None:
    shapes[f"{name}.weight"] = (out_features, in_features)
    shapes[f"{name}.bias"] = (out_features,)


def _norm(shapes: Shapes, name: str, size: int, bias: bool) -> None:
    shapes[f"{name}.weight"] = (size,)
    if bias:
        shapes[f"{name}.bias"] = (size,)


def _read_config(config: dict[str, Any], source: str) -> dict[str, Any]:
    """The shape-deciding values of a config, defaults filled in, or a RepackInputError."""

    def bad(key: str, value: Any, what: str) -> RepackInputError:
        return RepackInputError(
            f"{source}: {key} must be {what}, not {value!r}; diffusers cannot build "
            f"{TRANSFORMER_CLASS} from this config. Pick the original Diffusers folder of a "
            "Wan2.2 model"
        )

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value > 0

    values = {key: config.get(key, default) for key, default in DEFAULTS.items()}
    for key in _REQUIRED_INTS:
        if not whole(values[key]):
            raise bad(key, values[key], "a positive whole number")
    out = values["out_channels"]
    if out is not None and not (whole(out) or out == 0):
        raise bad("out_channels", out, "a positive whole number")
    for key in _OPTIONAL_INTS:
        if values[key] is not None and not whole(values[key]):
            raise bad(key, values[key], "a positive whole number or null")
    patch = values["patch_size"]
    if not isinstance(patch, (list, tuple)) or len(patch) != 3 or not all(map(whole, patch)):
        raise bad("patch_size", patch, "three positive whole numbers")
    values["patch_size"] = tuple(patch)
    if not isinstance(values["cross_attn_norm"], bool):
        raise bad("cross_attn_norm", values["cross_attn_norm"], "true or false")
    return values


__all__ = ["DEFAULTS", "TRANSFORMER_CLASS", "expected_shapes"]
