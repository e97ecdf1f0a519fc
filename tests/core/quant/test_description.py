"""quant_model_description parsing: types, metadata, attention entries, refusals, file lookup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.quant.description import (
    QUANT_FLOAT,
    QUANT_MXFP8,
    DescriptionError,
    UnsupportedQuantType,
    find_description_file,
    is_attention_quant_entry,
    load_description,
    parse_description,
)

# Excerpt of a real Wan2.2-TI2V-5B linear-only description (msmodelslim.md §3), native names.
NATIVE = {
    "blocks.0.self_attn.q.weight": "W8A8_MXFP8",
    "blocks.0.self_attn.q.weight_scale": "W8A8_MXFP8",
    "blocks.0.self_attn.q.bias": "FLOAT",
    "blocks.0.ffn.2.weight": "W8A8_MXFP8",
    "blocks.0.ffn.2.weight_scale": "W8A8_MXFP8",
    "blocks.0.modulation": "FLOAT",
    "blocks.0.norm3.weight": "FLOAT",
    "blocks.0.self_attn.norm_q.weight": "FLOAT",
    "patch_embedding.weight": "FLOAT",
    "head.head.weight": "FLOAT",
    "model_quant_type": "W8A8_MXFP8",
}
DIFFUSERS = {
    "blocks.0.attn1.to_q.weight": "W8A8_MXFP8",
    "blocks.0.attn1.to_q.weight_scale": "W8A8_MXFP8",
    "blocks.0.attn1.to_q.bias": "FLOAT",
    "blocks.0.ffn.net.0.proj.weight": "W8A8_MXFP8",
    "blocks.0.ffn.net.0.proj.weight_scale": "W8A8_MXFP8",
    "blocks.0.ffn.net.0.proj.bias": "FLOAT",
    "condition_embedder.time_proj.weight": "FLOAT",
    "proj_out.weight": "FLOAT",
    "scale_shift_table": "FLOAT",
    "model_quant_type": "W8A8_MXFP8",
}


def test_native_names() -> None:
    desc = parse_description(NATIVE, source="native.json")
    assert desc.quantized_layers() == ["blocks.0.self_attn.q", "blocks.0.ffn.2"]
    assert desc.model_quant_type == QUANT_MXFP8
    assert "model_quant_type" not in desc.types
    assert desc.type_of("blocks.0.modulation") == QUANT_FLOAT
    assert desc.is_quantized("blocks.0.ffn.2") and not desc.is_quantized("head.head")
    assert desc.naming() == "msmodelslim"
    assert desc.warnings == []


def test_diffusers_names() -> None:
    desc = parse_description(DIFFUSERS)
    assert desc.quantized_layers() == ["blocks.0.attn1.to_q", "blocks.0.ffn.net.0.proj"]
    assert set(desc.float_keys()) == {
        "blocks.0.attn1.to_q.bias",
        "blocks.0.ffn.net.0.proj.bias",
        "condition_embedder.time_proj.weight",
        "proj_out.weight",
        "scale_shift_table",
    }
    assert len(desc.tensor_keys()) == len(DIFFUSERS) - 1
    assert desc.naming() == "diffusers"


@pytest.mark.parametrize(
    ("key", "attention"),
    [
        ("blocks.3.self_attn.q_rot", True),
        ("blocks.3.self_attn.k_rot", True),
        ("blocks.3.attn1.to_q_rot", True),  # renamed by the Wan-native -> Diffusers rules
        ("blocks.3.attn1.to_k_rot", True),
        ("blocks.3.self_attn.quant_type", True),
        ("blocks.3.attn1.quant_type", True),
        ("fa_quant_type", True),
        ("blocks.3.attn1.to_q.weight", False),
        ("blocks.3.attn1.norm_q.weight", False),
        ("blocks.3.self_attn.q.weight", False),
        ("q_rotation.weight", False),
    ],
)
def test_attention_entries(key: str, attention: bool) -> None:
    assert is_attention_quant_entry(key) is attention


def test_attention_entries_are_skipped_and_listed() -> None:
    mapping = dict(DIFFUSERS)
    mapping["blocks.0.attn1.to_q_rot"] = "FLOAT"
    mapping["blocks.0.attn1.to_k_rot"] = "FLOAT"
    mapping["blocks.0.attn1.quant_type"] = "FP8_DYNAMIC"  # not a supported type: still skipped
    mapping["fa_quant_type"] = "FAQuant"
    desc = parse_description(mapping)
    assert sorted(desc.attention_entries) == [
        "blocks.0.attn1.quant_type",
        "blocks.0.attn1.to_k_rot",
        "blocks.0.attn1.to_q_rot",
        "fa_quant_type",
    ]
    assert not any(is_attention_quant_entry(k) for k in desc.types)
    assert desc.quantized_layers() == parse_description(DIFFUSERS).quantized_layers()


@pytest.mark.parametrize("quant_type", ["W8A8", "W8A8_DYNAMIC", "W4A4_MXFP4", "W4A4_DYNAMIC"])
def test_unsupported_type_names_type_and_first_layers(quant_type: str) -> None:
    mapping = dict(DIFFUSERS)
    for block in range(5):
        mapping[f"blocks.{block + 1}.attn2.to_v.weight"] = quant_type
        mapping[f"blocks.{block + 1}.attn2.to_v.weight_scale"] = quant_type
    with pytest.raises(UnsupportedQuantType) as info:
        parse_description(mapping, source="export/quant_model_description.json")
    err = info.value
    assert err.quant_type == quant_type
    assert err.layers == ["blocks.1.attn2.to_v", "blocks.2.attn2.to_v", "blocks.3.attn2.to_v"]
    assert err.count == 10
    text = str(err)
    assert (
        quant_type in text
        and "blocks.1.attn2.to_v" in text
        and "and 2 more layer(s); 10 entries" in text
    )
    assert "export/quant_model_description.json" in text and "w8a8f8" in text


def test_smooth_quant_wrappers_are_refused() -> None:
    mapping = {**DIFFUSERS, "blocks.0.attn1.to_q.mul_scale": "FLOAT"}
    with pytest.raises(DescriptionError, match="smooth-quant"):
        parse_description(mapping)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ([1, 2], "JSON object"),
        ({"blocks.0.attn1.to_q.weight": 3}, "quant type string"),
        ({"": "FLOAT"}, "empty"),
        (
            {
                "blocks.0.attn1.to_q.weight": "FLOAT",
                "blocks.0.attn1.to_q.weight_scale": "W8A8_MXFP8",
            },
            "weight_scale belongs",
        ),
        ({"blocks.0.attn1.to_q.bias": "W8A8_MXFP8"}, "only a layer's weight"),
        ({"model_quant_type": 5}, "model_quant_type must be a string"),
    ],
)
def test_malformed_descriptions(mapping: object, message: str) -> None:
    with pytest.raises(DescriptionError, match=message):
        parse_description(mapping, source="bad.json")  # type: ignore[arg-type]


def test_model_quant_type_is_informational() -> None:
    mapping = {k: v for k, v in DIFFUSERS.items() if k != "model_quant_type"}
    assert parse_description(mapping).warnings  # missing: noted, not fatal
    desc = parse_description({**mapping, "model_quant_type": "W4A4_MXFP4"})
    assert desc.quantized_layers() and "per-entry types are used" in desc.warnings[0]


def test_load_description_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "quant_model_description.json"
    bad.write_text('{"a": "FLOAT",\n  "b": }', "utf-8")
    with pytest.raises(
        DescriptionError, match=r"quant_model_description\.json is not valid JSON \(line 2"
    ):
        load_description(bad)
    bad.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(DescriptionError, match="not UTF-8"):
        load_description(bad)
    with pytest.raises(DescriptionError, match=r"missing\.json does not exist"):
        load_description(tmp_path / "missing.json")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(DIFFUSERS), "utf-8")
    assert load_description(good).source == str(good)


def test_find_description_file(tmp_path: Path) -> None:
    assert find_description_file(tmp_path) is None
    suffixed = tmp_path / "quant_model_description_w8a8_mxfp8.json"
    suffixed.write_text("{}", "utf-8")
    assert find_description_file(tmp_path) == suffixed
    other = tmp_path / "quant_model_description_w4a4_mxfp4.json"
    other.write_text("{}", "utf-8")
    with pytest.raises(DescriptionError, match="several quant descriptions") as info:
        find_description_file(tmp_path)
    assert suffixed.name in str(info.value) and other.name in str(info.value)
    plain = tmp_path / "quant_model_description.json"
    plain.write_text("{}", "utf-8")
    assert find_description_file(tmp_path) == plain  # the plain name wins, no ambiguity
