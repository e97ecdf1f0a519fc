"""The msmodelslim-style export fixtures match what msmodelslim writes (msmodelslim.md §2-§6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.mx import quantize_mx
from core.repack.fixtures import (
    SHARD_INDEX,
    SHARDED_DESCRIPTION,
    SINGLE_DESCRIPTION,
    SINGLE_WEIGHTS,
    make_msmodelslim_export,
    rotation_matrix,
)
from core.repack.rename import to_native

# The first block and the tail of a real Wan2.2-TI2V-5B description, verbatim order
# (TallMessiWu/sglang_quant_eval quant_model_description_w8a8_mxfp8.json).
REAL_BLOCK_0 = [
    "blocks.0.modulation",
    *[f"blocks.0.self_attn.{p}.{s}" for p in "qkvo" for s in ("weight", "weight_scale", "bias")],
    "blocks.0.self_attn.norm_q.weight",
    "blocks.0.self_attn.norm_k.weight",
    "blocks.0.norm3.weight",
    "blocks.0.norm3.bias",
    *[f"blocks.0.cross_attn.{p}.{s}" for p in "qkvo" for s in ("weight", "weight_scale", "bias")],
    "blocks.0.cross_attn.norm_q.weight",
    "blocks.0.cross_attn.norm_k.weight",
    *[f"blocks.0.ffn.{p}.{s}" for p in "02" for s in ("weight", "weight_scale", "bias")],
]
REAL_TAIL = [
    "patch_embedding.weight",
    "patch_embedding.bias",
    "text_embedding.0.weight",
    "text_embedding.0.bias",
    "text_embedding.2.weight",
    "text_embedding.2.bias",
    "time_embedding.0.weight",
    "time_embedding.0.bias",
    "time_embedding.2.weight",
    "time_embedding.2.bias",
    "time_projection.1.weight",
    "time_projection.1.bias",
    "head.modulation",
    "head.head.weight",
    "head.head.bias",
    "model_quant_type",
]


def test_layout_and_description_order(exports) -> None:
    export = exports("ti2v-5b", "single")
    assert sorted(p.name for p in export.iterdir()) == sorted(
        ["config.json", SINGLE_DESCRIPTION, SINGLE_WEIGHTS]
    )
    text = (export / SINGLE_DESCRIPTION).read_text()
    assert text.startswith('{\n    "blocks.0.modulation": "FLOAT",')  # indent 4, like msmodelslim
    desc = json.loads(text)
    keys = list(desc)
    assert keys[: len(REAL_BLOCK_0)] == REAL_BLOCK_0
    assert keys[len(REAL_BLOCK_0)] == "blocks.1.modulation"
    assert keys[-len(REAL_TAIL) :] == REAL_TAIL
    assert desc["model_quant_type"] == "W8A8_MXFP8"
    assert sum(v == "W8A8_MXFP8" for v in desc.values()) == 2 * 10 * 2 + 1
    native_cfg = json.loads((export / "config.json").read_text())
    assert native_cfg["_class_name"] == "WanModel" and native_cfg["model_type"] == "ti2v"


def test_quantized_tensors_are_floor_mxfp8_of_the_demo_weights(exports, demo_t2v: Path) -> None:
    export = exports("t2v-a14b", "single")
    for component, sub in (
        ("transformer", "high_noise_model"),
        ("transformer_2", "low_noise_model"),
    ):
        original = load_file(str(demo_t2v / component / "diffusion_pytorch_model.safetensors"))
        state = load_file(str(export / sub / SINGLE_WEIGHTS))
        desc = json.loads((export / sub / SINGLE_DESCRIPTION).read_text())
        assert set(state) == {k for k in desc if k != "model_quant_type"}
        for key, value in original.items():
            native = to_native(key)
            if desc[native] == "W8A8_MXFP8":
                data, scale = quantize_mx(value.float(), rule="floor")
                assert state[native].dtype == torch.float8_e4m3fn
                assert torch.equal(state[native].view(torch.uint8), data.view(torch.uint8))
                assert torch.equal(state[f"{native}_scale"], scale)
                assert state[f"{native}_scale"].dtype == torch.uint8
            else:
                assert torch.equal(state[native], value)
        biases = [
            k for k in desc if k.endswith(".bias") and desc[k[:-5] + ".weight"] == "W8A8_MXFP8"
        ]
        assert biases and all(state[b].dtype == torch.float32 for b in biases)


def test_high_and_low_noise_experts_come_from_the_right_transformers(exports, demo_t2v) -> None:
    export = exports("t2v-a14b", "single")
    high = load_file(str(export / "high_noise_model" / SINGLE_WEIGHTS))
    low = load_file(str(export / "low_noise_model" / SINGLE_WEIGHTS))
    t1 = load_file(str(demo_t2v / "transformer" / "diffusion_pytorch_model.safetensors"))
    t2 = load_file(str(demo_t2v / "transformer_2" / "diffusion_pytorch_model.safetensors"))
    assert torch.equal(high["head.head.weight"], t1["proj_out.weight"])
    assert torch.equal(low["head.head.weight"], t2["proj_out.weight"])
    assert not torch.equal(t1["proj_out.weight"], t2["proj_out.weight"])


def test_sharded_layout(exports) -> None:
    export = exports("i2v-a14b", "sharded")
    for sub in ("high_noise_model", "low_noise_model"):
        folder = export / sub
        names = sorted(p.name for p in folder.iterdir())
        assert names == sorted(
            [
                "config.json",
                SHARDED_DESCRIPTION,
                SHARD_INDEX,
                "quant_model_weight-00001-of-00002.safetensors",
                "quant_model_weight-00002-of-00002.safetensors",
            ]
        )
        index = json.loads((folder / SHARD_INDEX).read_text())
        stored = {}
        for shard in set(index["weight_map"].values()):
            stored.update(dict.fromkeys(load_file(str(folder / shard)), shard))
        assert stored == index["weight_map"]


def test_sharded_description_keeps_the_type_suffix(exports) -> None:
    """As the real msmodelslim writes it (tests/realtools checks the real one)."""
    assert SHARDED_DESCRIPTION == "quant_model_description_w8a8_mxfp8.json"
    assert (exports("ti2v-5b", "sharded") / SHARDED_DESCRIPTION).is_file()


def test_w8a8f8_rotations_in_block_0_follow_the_recipe(exports) -> None:
    """T2V's recipe excludes block 0 from rotations and FA3; the I2V and TI2V recipes do not."""
    for family, sub in (("t2v-a14b", "high_noise_model"), ("i2v-a14b", "low_noise_model")):
        folder = exports(family, "w8a8f8") / sub
        desc = json.loads((folder / SINGLE_DESCRIPTION).read_text())
        for n in (0, 1):
            rotated = n == 1 or family != "t2v-a14b"
            assert (f"blocks.{n}.self_attn.q_rot" in desc) == rotated, (family, n)
            assert (f"blocks.{n}.self_attn.quant_type" in desc) == rotated, (family, n)


def test_w8a8f8_extras(exports) -> None:
    export = exports("ti2v-5b", "w8a8f8")
    desc = json.loads((export / SINGLE_DESCRIPTION).read_text())
    state = load_file(str(export / SINGLE_WEIGHTS))
    assert desc["blocks.0.self_attn.quant_type"] == "FP8_DYNAMIC"  # TI2V: block 0 too
    assert torch.equal(state["blocks.0.self_attn.q_rot"], state["blocks.1.self_attn.q_rot"])
    rot = state["blocks.1.self_attn.q_rot"]
    assert rot.dtype == torch.bfloat16 and rot.shape == (32, 32)
    assert torch.equal(rot, state["blocks.1.self_attn.k_rot"])
    assert desc["blocks.1.self_attn.q_rot"] == "FLOAT"
    assert desc["blocks.1.self_attn.quant_type"] == "FP8_DYNAMIC"
    eye = rot.float() @ rot.float().T
    assert torch.allclose(eye, torch.eye(32), atol=2e-2)  # orthogonal up to bf16 rounding


def test_rotation_needs_power_of_two() -> None:
    with pytest.raises(ValueError, match="power of two"):
        rotation_matrix(24)


def test_refuses_a_non_empty_output(tmp_path: Path, demo_ti2v: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep").write_text("user file")
    with pytest.raises(FileExistsError):
        make_msmodelslim_export(demo_ti2v, tmp_path / "x")
    assert (tmp_path / "x" / "keep").read_text() == "user file"
