"""Bad input: a clear error naming the problem, inputs byte-identical afterwards, no output.

Each case builds its broken inputs (copies of the read-only demo exports), hashes them, runs
plan + run exactly as the CLI does, and checks the error, the inputs and the output folder.
"""

from __future__ import annotations

import json
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from core.cli import main as cli_main
from core.repack import RepackInputError, plan, run
from tests.core.repack.conftest import (
    assert_no_output,
    copy_tree,
    description_file,
    rewrite_export,
    tree_hash,
    weights_file,
)


@dataclass
class Case:
    original: Path
    quant: Path
    output: Path
    match: str
    model_type: str | None = None


Builder = Callable[[Path, dict, Callable], Case]


def _ti2v(tmp: Path, demos: dict, exports: Callable, **edits) -> tuple[Path, Path]:
    """A writable copy of the TI2V demo export (and the read-only original)."""
    export = copy_tree(exports("ti2v-5b"), tmp / "export")
    if edits:
        rewrite_export(export, **edits)
    return demos["ti2v-5b"], export


def missing_original(tmp, demos, exports) -> Case:
    return Case(
        tmp / "nope",
        exports("ti2v-5b"),
        tmp / "out",
        r"original model folder .*nope does not exist",
    )


def missing_quant(tmp, demos, exports) -> Case:
    return Case(demos["ti2v-5b"], tmp / "nope", tmp / "out", r"export folder .*nope does not exist")


def original_is_a_file(tmp, demos, exports) -> Case:
    (tmp / "model.safetensors").write_bytes(b"not a folder")
    return Case(
        tmp / "model.safetensors",
        exports("ti2v-5b"),
        tmp / "out",
        r"model.safetensors is not a folder",
    )


def output_parent_missing(tmp, demos, exports) -> Case:
    return Case(
        demos["ti2v-5b"],
        exports("ti2v-5b"),
        tmp / "no" / "such" / "out",
        r"the output's parent folder .*such does not exist; create it first",
    )


def undetectable_family(tmp, demos, exports) -> Case:
    (tmp / "empty").mkdir()
    (tmp / "empty" / "README.md").write_text("not an export")
    return Case(
        demos["ti2v-5b"],
        tmp / "empty",
        tmp / "out",
        r"cannot tell the model family: .* holds no msmodelslim export",
    )


def wrong_model_type(tmp, demos, exports) -> Case:
    return Case(
        demos["t2v-a14b"],
        exports("t2v-a14b"),
        tmp / "out",
        r"wrong model type: --model-type is Wan2.2-I2V-A14B but the folders hold Wan2.2-T2V-A14B",
        "Wan2.2-I2V-A14B",
    )


def unknown_model_type(tmp, demos, exports) -> Case:
    return Case(
        demos["t2v-a14b"],
        exports("t2v-a14b"),
        tmp / "out",
        r"unknown model family 'Wan2.1-T2V-14B'",
        "Wan2.1-T2V-14B",
    )


def export_of_another_family(tmp, demos, exports) -> Case:
    return Case(
        demos["t2v-a14b"],
        exports("ti2v-5b"),
        tmp / "out",
        r"different models: .* one transformer \(TI2V-5B\) but .* two transformers",
    )


def original_of_another_model(tmp, demos, exports) -> Case:
    # Same layout (A14B), different model: the I2V export's patch embedding takes 12 channels.
    return Case(
        demos["t2v-a14b"],
        exports("i2v-a14b"),
        tmp / "out",
        r"patch_embedding maps 12 input channels .* original transformer 4",
    )


def expert_subfolder_missing(tmp, demos, exports) -> Case:
    export = copy_tree(exports("t2v-a14b"), tmp / "export")
    shutil.rmtree(export / "low_noise_model")
    return Case(
        demos["t2v-a14b"],
        export,
        tmp / "out",
        r"expert subfolder missing: .* has high_noise_model/ but no low_noise_model/",
    )


def no_description(tmp, demos, exports) -> Case:
    original, export = _ti2v(tmp, demos, exports)
    description_file(export).unlink()
    return Case(
        original, export, tmp / "out", r"no quant description in .*quant_model_description\*\.json"
    )


def several_descriptions(tmp, demos, exports) -> Case:
    original, export = _ti2v(tmp, demos, exports)
    shutil.copy(description_file(export), export / "quant_model_description_w4a4_mxfp4.json")
    return Case(
        original,
        export,
        tmp / "out",
        r"several quant descriptions \(quant_model_description_w4a4_mxfp4.json, quant_model_description_w8a8_mxfp8.json\)",
    )


def several_weight_files(tmp, demos, exports) -> Case:
    original, export = _ti2v(tmp, demos, exports)
    shutil.copy(weights_file(export), export / "quant_model_weight_w4a4_mxfp4.safetensors")
    return Case(original, export, tmp / "out", r"several weights files")


def description_tensor_mismatch(tmp, demos, exports) -> Case:
    def drop(state: dict) -> dict:
        return {k: v for k, v in state.items() if k != "blocks.1.ffn.2.bias"}

    original, export = _ti2v(tmp, demos, exports, tensors=drop)
    return Case(
        original,
        export,
        tmp / "out",
        r"description and the weights do not match: 1 entry of quant_model_description_w8a8_mxfp8.json names no tensor in the weights \(blocks.1.ffn.2.bias\)",
    )


def undocumented_tensor(tmp, demos, exports) -> Case:
    def drop(desc: dict) -> dict:
        return {k: v for k, v in desc.items() if k != "head.head.bias"}

    original, export = _ti2v(tmp, demos, exports, description=drop)
    return Case(
        original,
        export,
        tmp / "out",
        r"1 tensor\(s\) in the weights have no entry .* \(head.head.bias\)",
    )


def unsupported_quant_type(tmp, demos, exports) -> Case:
    def mxfp4(desc: dict) -> dict:
        return {
            k: ("W4A4_MXFP4" if v == "W8A8_MXFP8" and ".ffn." in k else v) for k, v in desc.items()
        }

    original, export = _ti2v(tmp, demos, exports, description=mxfp4)
    return Case(
        original,
        export,
        tmp / "out",
        r"quant type 'W4A4_MXFP4' \(used by blocks.0.ffn.0, blocks.0.ffn.2, blocks.1.ffn.0.*\) is not supported",
    )


def unknown_quant_type(tmp, demos, exports) -> Case:
    def odd(desc: dict) -> dict:
        desc["blocks.0.norm3.weight"] = "FANCY"
        return desc

    original, export = _ti2v(tmp, demos, exports, description=odd)
    return Case(
        original,
        export,
        tmp / "out",
        r"quant type 'FANCY' \(used by blocks.0.norm3\b.*\) is not supported",
    )


def smoothing_wrapper(tmp, demos, exports) -> Case:
    def smooth(state: dict) -> dict:
        state["blocks.1.self_attn.q.div.mul_scale"] = torch.ones(64)
        return state

    def smooth_desc(desc: dict) -> dict:
        desc["blocks.1.self_attn.q.div.mul_scale"] = "FLOAT"
        return desc

    original, export = _ti2v(tmp, demos, exports, tensors=smooth, description=smooth_desc)
    return Case(original, export, tmp / "out", r"smooth.*blocks.1.self_attn.q.div.mul_scale")


def smoothing_linear_wrapper(tmp, demos, exports) -> Case:
    def wrap(data: dict) -> dict:
        return {
            k.replace("blocks.1.cross_attn.k.", "blocks.1.cross_attn.k.linear."): v
            for k, v in data.items()
        }

    original, export = _ti2v(tmp, demos, exports, tensors=wrap, description=wrap)
    return Case(
        original,
        export,
        tmp / "out",
        r"smoothing wrappers found \(blocks.1.cross_attn.k.linear.bias",
    )


def wrong_dtype(tmp, demos, exports) -> Case:
    def to_fp8(state: dict) -> dict:
        state["blocks.0.norm3.weight"] = state["blocks.0.norm3.weight"].to(torch.float8_e4m3fn)
        return state

    original, export = _ti2v(tmp, demos, exports, tensors=to_fp8)
    return Case(
        original, export, tmp / "out", r"blocks.0.norm3.weight is FLOAT in .* but stored as F8_E4M3"
    )


def wrong_weight_dtype(tmp, demos, exports) -> Case:
    def to_bf16(state: dict) -> dict:
        key = "blocks.1.cross_attn.o.weight"
        state[key] = state[key].to(torch.bfloat16)
        return state

    original, export = _ti2v(tmp, demos, exports, tensors=to_bf16)
    return Case(
        original,
        export,
        tmp / "out",
        r"blocks.1.cross_attn.o.weight is W8A8_MXFP8 .* stored as BF16 \[64, 64\]; expected F8_E4M3",
    )


def wrong_scale_shape(tmp, demos, exports) -> Case:
    def pad(state: dict) -> dict:
        key = "blocks.0.ffn.2.weight_scale"
        state[key] = torch.cat([state[key], state[key][:, :1]], dim=1)
        return state

    original, export = _ti2v(tmp, demos, exports, tensors=pad)
    return Case(
        original,
        export,
        tmp / "out",
        r"blocks.0.ffn.2.weight_scale has shape \[64, 5\], expected \[64, 4\] = \[N, ceil\(K/32\)\] for its weight \[64, 128\]",
    )


def truncated_safetensors(tmp, demos, exports) -> Case:
    original, export = _ti2v(tmp, demos, exports)
    path = weights_file(export)
    path.write_bytes(path.read_bytes()[:-1000])
    return Case(
        original,
        export,
        tmp / "out",
        r"quant_model_weight_w8a8_mxfp8.safetensors: truncated: .* 1000 bytes short",
    )


def corrupt_header(tmp, demos, exports) -> Case:
    original, export = _ti2v(tmp, demos, exports)
    path = weights_file(export)
    blob = bytearray(path.read_bytes())
    blob[8:20] = b"!garbage!!!!"
    path.write_bytes(bytes(blob))
    return Case(
        original, export, tmp / "out", r"corrupt header: it does not start with a JSON object"
    )


def overlapping_offsets(tmp, demos, exports) -> Case:
    original, export = _ti2v(tmp, demos, exports)
    path = weights_file(export)
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    a, b = "blocks.0.self_attn.q.bias", "blocks.0.self_attn.k.bias"
    header[b]["data_offsets"] = list(header[a]["data_offsets"])  # two tensors, one range
    text = json.dumps(header, separators=(",", ":")).encode()
    assert len(text) <= n
    text += b" " * (n - len(text))
    path.write_bytes(blob[:8] + text + blob[8 + n :])
    return Case(original, export, tmp / "out", r"corrupt header: .* overlap")


def output_inside_input(tmp, demos, exports) -> Case:
    original, export = _ti2v(tmp, demos, exports)
    return Case(
        original,
        export,
        export / "repacked",
        r"the output .*repacked is inside the msmodelslim export folder",
    )


def output_inside_original(tmp, demos, exports) -> Case:
    original = copy_tree(demos["ti2v-5b"], tmp / "original")
    return Case(
        original, exports("ti2v-5b"), original / "transformer" / "q", r"inside the original folder"
    )


def output_exists(tmp, demos, exports) -> Case:
    (tmp / "out").mkdir()
    (tmp / "out" / "precious.txt").write_text("user data")
    return Case(
        demos["ti2v-5b"],
        exports("ti2v-5b"),
        tmp / "out",
        r"already exists and is not empty; nothing was overwritten",
    )


def keys_collide_after_renaming(tmp, demos, exports) -> Case:
    def dup(data: dict) -> dict:
        data["modulation"] = data["head.modulation"]
        if isinstance(data["modulation"], torch.Tensor):
            data["modulation"] = data["modulation"].clone()  # both become scale_shift_table
        return data

    original, export = _ti2v(tmp, demos, exports, tensors=dup, description=dup)
    return Case(
        original,
        export,
        tmp / "out",
        r"collide after renaming .*head.modulation and modulation -> scale_shift_table",
    )


def original_missing_component(tmp, demos, exports) -> Case:
    original = copy_tree(demos["ti2v-5b"], tmp / "original")
    shutil.rmtree(original / "vae")
    return Case(
        original,
        exports("ti2v-5b"),
        tmp / "out",
        r"missing component folder\(s\) vae listed in model_index.json",
    )


def original_missing_transformer_config(tmp, demos, exports) -> Case:
    original = copy_tree(demos["t2v-a14b"], tmp / "original")
    (original / "transformer_2" / "config.json").unlink()
    return Case(original, exports("t2v-a14b"), tmp / "out", r"missing transformer_2/config.json")


def not_a_diffusers_original(tmp, demos, exports) -> Case:
    return Case(
        exports("ti2v-5b"),
        exports("ti2v-5b"),
        tmp / "out",
        r"has no model_index.json: --original must be the BF16 Diffusers folder",
    )


def shard_missing(tmp, demos, exports) -> Case:
    export = copy_tree(exports("t2v-a14b", "sharded"), tmp / "export")
    (export / "low_noise_model" / "quant_model_weight-00002-of-00002.safetensors").unlink()
    return Case(
        demos["t2v-a14b"], export, tmp / "out", r"transformer_2 .*shard\(s\) 2 of 2 are missing"
    )


def shard_index_mismatch(tmp, demos, exports) -> Case:
    export = copy_tree(exports("ti2v-5b", "sharded"), tmp / "export")
    index_path = export / "quant_model_weight.safetensors.index.json"
    index = json.loads(index_path.read_text())
    index["weight_map"]["proj_out.weight"] = "quant_model_weight-00001-of-00002.safetensors"
    index_path.write_text(json.dumps(index))
    return Case(
        demos["ti2v-5b"],
        export,
        tmp / "out",
        r"does not match the shards: it lists tensors no shard holds \(proj_out.weight\)",
    )


def omitted_tensor_absent_everywhere(tmp, demos, exports) -> Case:
    def drop(data: dict) -> dict:
        return {k: v for k, v in data.items() if k != "patch_embedding.bias"}

    _, export = _ti2v(tmp, demos, exports, tensors=drop, description=drop)
    original = copy_tree(demos["ti2v-5b"], tmp / "original")
    (original / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    return Case(
        original,
        export,
        tmp / "out",
        r"the export omits 1 tensor\(s\) of the model \(patch_embedding.bias\) and .* holds no weights",
    )


def nan_scale(tmp, demos, exports) -> Case:
    def poison(state: dict) -> dict:
        scale = state["blocks.1.cross_attn.v.weight_scale"].clone()
        scale[3, 1] = 0xFF
        state["blocks.1.cross_attn.v.weight_scale"] = scale
        return state

    original, export = _ti2v(tmp, demos, exports, tensors=poison)
    return Case(
        original,
        export,
        tmp / "out",
        r"NaN scale bytes \(0xFF\) in 1 layer\(s\): blocks.1.attn2.to_v.weight_scale \(row 3, block 1\)",
    )


CASES: list[Builder] = [
    missing_original,
    missing_quant,
    original_is_a_file,
    output_parent_missing,
    undetectable_family,
    wrong_model_type,
    unknown_model_type,
    export_of_another_family,
    original_of_another_model,
    expert_subfolder_missing,
    no_description,
    several_descriptions,
    several_weight_files,
    description_tensor_mismatch,
    undocumented_tensor,
    unsupported_quant_type,
    unknown_quant_type,
    smoothing_wrapper,
    smoothing_linear_wrapper,
    wrong_dtype,
    wrong_weight_dtype,
    wrong_scale_shape,
    truncated_safetensors,
    corrupt_header,
    overlapping_offsets,
    output_inside_input,
    output_inside_original,
    output_exists,
    keys_collide_after_renaming,
    original_missing_component,
    original_missing_transformer_config,
    not_a_diffusers_original,
    shard_missing,
    shard_index_mismatch,
    omitted_tensor_absent_everywhere,
    nan_scale,
]


@pytest.mark.parametrize("build", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_is_refused_cleanly(build: Builder, demo_models, exports, tmp_path: Path) -> None:
    case = build(tmp_path, demo_models, exports)
    before = (tree_hash(case.original), tree_hash(case.quant))
    existed = case.output.exists()
    output_before = tree_hash(case.output)

    with pytest.raises(RepackInputError, match=case.match):
        run(plan(case.original, case.quant, case.output, model_type=case.model_type))

    assert (tree_hash(case.original), tree_hash(case.quant)) == before
    if existed:
        assert tree_hash(case.output) == output_before  # the user's folder is untouched
    else:
        assert_no_output(case.output)


@pytest.mark.parametrize("build", [no_description, output_exists, nan_scale, wrong_model_type])
def test_cli_exit_code_2_for_bad_input(
    build: Builder, demo_models, exports, tmp_path: Path, capsys
) -> None:
    case = build(tmp_path, demo_models, exports)
    argv = [
        "repack",
        "--original",
        str(case.original),
        "--quant",
        str(case.quant),
        "--output",
        str(case.output),
    ]
    if case.model_type:
        argv += ["--model-type", case.model_type]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("wan-studio repack: error: ")]
    assert len(errors) == 1 and case.match.split(" ")[0].strip("r\\") in err
    assert "Traceback" not in err


def test_plan_collects_problems_of_both_experts(demo_models, exports, tmp_path: Path) -> None:
    export = copy_tree(exports("t2v-a14b"), tmp_path / "export")
    for sub in ("high_noise_model", "low_noise_model"):
        description_file(export / sub).unlink()
    the_plan = plan(demo_models["t2v-a14b"], export, tmp_path / "out")
    assert len(the_plan.problems) == 2
    assert "transformer (from high_noise_model/)" in the_plan.problems[0]
    assert "transformer_2 (from low_noise_model/)" in the_plan.problems[1]
    with pytest.raises(
        RepackInputError, match=r"cannot repack:\n  - transformer .*\n  - transformer_2"
    ):
        run(the_plan)


def test_input_changed_between_plan_and_run_is_refused(
    demo_models, exports, tmp_path: Path
) -> None:
    export = copy_tree(exports("ti2v-5b"), tmp_path / "export")
    the_plan = plan(demo_models["ti2v-5b"], export, tmp_path / "out")
    assert the_plan.ok
    weights = weights_file(export)
    with open(weights, "ab") as handle:  # e.g. a copy still in progress when the plan was made
        handle.write(b"\0" * 16)
    with pytest.raises(RepackInputError, match=r"changed .* since the repack was planned"):
        run(the_plan)
    assert_no_output(tmp_path / "out")
