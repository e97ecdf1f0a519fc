"""Repacking msmodelslim-style exports of every family: content, layout, reports, options."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.progress import Progress
from core.repack import (
    ATTENTION_NOTE,
    QUANTIZATION_CONFIG,
    plan,
    run,
    verify_output,
)
from core.repack.planner import coalesce
from core.repack.rename import to_diffusers
from core.repack.safetensors_io import read_header
from tests.core.repack.conftest import (
    VARIANTS,
    assert_no_output,
    copy_tree,
    rewrite_export,
    tree_hash,
)

FAMILIES = ("t2v-a14b", "i2v-a14b", "ti2v-5b")
EXPERTS = {
    "t2v-a14b": ("high_noise_model", "low_noise_model"),
    "i2v-a14b": ("high_noise_model", "low_noise_model"),
    "ti2v-5b": (".",),
}
TARGETS = ("transformer", "transformer_2")


def _export_state(folder: Path) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for path in sorted(folder.glob("quant_model_weight*.safetensors")):
        state.update(load_file(str(path)))
    return state


def _as_bytes(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.uint8)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_repack_every_family_and_variant(
    family: str, variant: str, exports, demo_models, tmp_path: Path
) -> None:
    original, export = demo_models[family], exports(family, variant)
    before = (tree_hash(original), tree_hash(export))
    out = tmp_path / "out"
    events: list[Progress] = []

    the_plan = plan(original, export, out)
    assert the_plan.ok, the_plan.problems
    assert the_plan.family == family
    assert not out.exists()  # planning writes nothing
    report = run(the_plan, progress=events.append)

    assert (tree_hash(original), tree_hash(export)) == before
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no temp folder left
    checks = verify_output(out)
    experts = EXPERTS[family]
    assert len(checks) == len(experts) == len(report.transformers)
    for check, treport in zip(checks, report.transformers, strict=True):
        assert check.quantized_layers == treport.quantized_layers == 2 * 10  # 2 demo blocks
        assert check.float_tensors == treport.float_tensors == 49
    assert report.quantized_layers == 20 * len(experts)
    assert (ATTENTION_NOTE in report.notes) == (variant == "w8a8f8")
    if variant == "w8a8f8":
        # demo: 2 blocks; q_rot, k_rot and one FA entry per rotated block; T2V's recipe
        # excludes block 0, the I2V and TI2V recipes do not
        per_expert = 3 if family == "t2v-a14b" else 6
        assert all(len(t.skipped_attention_entries) == per_expert for t in report.transformers)

    for target, sub in zip(TARGETS, experts, strict=False):
        src = export / sub
        tdir = out / target
        assert sorted(p.name for p in tdir.iterdir()) == [
            "config.json",
            "diffusion_pytorch_model.safetensors",
            "quant_model_description.json",
        ]
        # Every kept tensor, byte-identical under its Diffusers name; nothing else.
        native = _export_state(src)
        kept = {k: v for k, v in native.items() if not k.endswith("_rot")}
        written = load_file(str(tdir / "diffusion_pytorch_model.safetensors"))
        assert set(written) == {to_diffusers(k) for k in kept}
        for key, value in kept.items():
            got = written[to_diffusers(key)]
            assert got.dtype == value.dtype and got.shape == value.shape
            assert torch.equal(_as_bytes(got), _as_bytes(value))
        # The description: Diffusers names, same types, attention entries gone.
        src_desc = json.loads(next(src.glob("quant_model_description*.json")).read_text())
        desc = json.loads((tdir / "quant_model_description.json").read_text())
        expected_desc = {
            to_diffusers(k): v
            for k, v in src_desc.items()
            if not k.endswith(("_rot", ".quant_type")) and k != "model_quant_type"
        }
        assert {k: v for k, v in desc.items() if k != "model_quant_type"} == expected_desc
        assert desc["model_quant_type"] == "W8A8_MXFP8"
        assert list(desc)[-1] == "model_quant_type"
        # The original Diffusers config, marked; not msmodelslim's native copy.
        config = json.loads((tdir / "config.json").read_text())
        orig_cfg = json.loads((original / target / "config.json").read_text())
        assert config.pop("quantization_config") == QUANTIZATION_CONFIG
        assert config == orig_cfg
        # Tensors are naturally aligned in the file (the library's own layout rule), and the
        # largest copied range sits at the same offset modulo the page size as in its source.
        tplan = next(t for t in the_plan.transformers if t.target == target)
        _, start, _, at = max(coalesce(tplan.tensors), key=lambda r: r[2])
        assert (len(tplan.header) + at - start) % 4096 == 0
        header = read_header(tdir / "diffusion_pytorch_model.safetensors")
        assert header.data_offset == len(tplan.header)
        for info in header.tensors.values():
            assert header.absolute_offset(info) % max(1, info.nbytes // max(info.numel, 1)) == 0

    # Every other component is byte-identical.
    for path in original.rglob("*"):
        rel = path.relative_to(original)
        if rel.parts[0] in TARGETS:
            continue
        assert (out / rel).exists(), rel
        if path.is_file():
            assert (out / rel).read_bytes() == path.read_bytes()
            assert not os.path.samefile(out / rel, path)  # copied, not linked

    # Progress: bytes only grow, the total is fixed, the last event is "done".
    assert events[-1].stage == "done" and events[-1].done == events[-1].total
    assert all(a.done <= b.done for a, b in itertools.pairwise(events))
    assert len({e.total for e in events}) == 1
    stages = [e.stage for e in events]
    assert (
        stages.index("copy components") < stages.index("write transformer") < stages.index("verify")
    )


def test_link_hard_links_components(demo_ti2v: Path, exports, tmp_path: Path) -> None:
    out = tmp_path / "out"
    the_plan = plan(demo_ti2v, exports("ti2v-5b"), out, link=True)
    assert the_plan.linkable
    assert the_plan.bytes_to_write == the_plan.transformer_bytes
    report = run(the_plan)
    assert report.components_linked == len(the_plan.components) > 0
    assert report.components_copied == 0
    assert os.path.samefile(out / "vae" / "config.json", demo_ti2v / "vae" / "config.json")
    assert not os.path.samefile(
        out / "transformer" / "config.json", demo_ti2v / "transformer" / "config.json"
    )


def test_omitted_tensors_are_taken_from_the_original(
    demo_ti2v: Path, exports, tmp_path: Path
) -> None:
    export = copy_tree(exports("ti2v-5b"), tmp_path / "export")
    dropped = ["blocks.1.norm3.bias", "head.head.bias"]

    def drop(data: dict) -> dict:
        return {k: v for k, v in data.items() if k not in dropped}

    rewrite_export(export, tensors=drop, description=drop)
    the_plan = plan(demo_ti2v, export, tmp_path / "out")
    assert the_plan.ok, the_plan.problems
    filled = ["blocks.1.norm2.bias", "proj_out.bias"]
    assert sorted(the_plan.transformers[0].filled) == filled
    assert any("taken from the original" in w for w in the_plan.warnings)
    report = run(the_plan)
    assert sorted(report.transformers[0].filled_from_original) == filled
    verify_output(tmp_path / "out")
    written = load_file(
        str(tmp_path / "out" / "transformer" / "diffusion_pytorch_model.safetensors")
    )
    bf16 = load_file(str(demo_ti2v / "transformer" / "diffusion_pytorch_model.safetensors"))
    for key in filled:
        assert torch.equal(written[key], bf16[key])
    desc = json.loads(
        (tmp_path / "out" / "transformer" / "quant_model_description.json").read_text()
    )
    assert all(desc[k] == "FLOAT" for k in filled)


def test_e8m0_scales_are_written_as_uint8(demo_ti2v: Path, exports, tmp_path: Path) -> None:
    export = copy_tree(exports("ti2v-5b"), tmp_path / "export")

    def as_e8m0(state: dict) -> dict:
        return {
            k: v.view(torch.float8_e8m0fnu) if k.endswith("weight_scale") else v
            for k, v in state.items()
        }

    rewrite_export(export, tensors=as_e8m0)
    the_plan = plan(demo_ti2v, export, tmp_path / "out")
    assert the_plan.ok, the_plan.problems
    run(the_plan)
    verify_output(tmp_path / "out")
    written = load_file(
        str(tmp_path / "out" / "transformer" / "diffusion_pytorch_model.safetensors")
    )
    source = load_file(str(next(export.glob("quant_model_weight*.safetensors"))))
    scale = written["blocks.0.attn1.to_q.weight_scale"]
    assert scale.dtype == torch.uint8
    assert torch.equal(scale, source["blocks.0.self_attn.q.weight_scale"].view(torch.uint8))


def test_empty_existing_output_folder_is_replaced(demo_ti2v: Path, exports, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    run(plan(demo_ti2v, exports("ti2v-5b"), out))
    verify_output(out)


def test_model_type_given_by_name_or_key(demo_i2v: Path, exports, tmp_path: Path) -> None:
    for i, name in enumerate(("Wan2.2-I2V-A14B", "i2v-a14b")):
        the_plan = plan(demo_i2v, exports("i2v-a14b"), tmp_path / f"o{i}", model_type=name)
        assert the_plan.ok and the_plan.family_name == "Wan2.2-I2V-A14B"


def test_dry_run_plan_describes_everything(demo_t2v: Path, exports, tmp_path: Path) -> None:
    the_plan = plan(demo_t2v, exports("t2v-a14b", "sharded"), tmp_path / "out")
    data = the_plan.to_dict()
    assert data["model_type"] == "Wan2.2-T2V-A14B"
    assert [t["target"] for t in data["transformers"]] == ["transformer", "transformer_2"]
    assert data["transformers"][0]["weight_files"] == [
        "quant_model_weight-00001-of-00002.safetensors",
        "quant_model_weight-00002-of-00002.safetensors",
    ]
    assert data["transformers"][0]["quantized_layers"] == 20
    assert data["bytes_to_write"] == the_plan.transformer_bytes + the_plan.component_bytes
    json.dumps(data)  # JSON-serialisable for --json and the GUI
    assert_no_output(tmp_path / "out")
