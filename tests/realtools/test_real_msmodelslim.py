"""Exports written by the real msmodelslim 26.1.0 (its recipe, processors and MindIE saver, on
CPU) are repacked by `wan-studio repack`, verified, byte-compared with what msmodelslim wrote,
and generate. See tests/realtools/msmodelslim_export.py for what is msmodelslim's own code."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import torch

from core.cli import main as cli_main
from core.repack import verify_output
from tests.realtools.exports import (
    CASES,
    EXPERTS,
    compare_with_export,
    generate_two_steps,
    load_tensors,
)

BLOCKS = 2  # demo models


@pytest.mark.parametrize(("family", "variant"), CASES)
def test_the_real_export_has_msmodelslims_layout(family: str, variant: str, real_exports) -> None:
    export = real_exports(family, variant)
    sharded = variant.endswith("sharded")
    for sub, _ in EXPERTS[family]:
        folder = export / sub
        names = sorted(p.name for p in folder.iterdir())
        # Both layouts keep the type-suffixed description (msmodelslim.md, "on CPU").
        assert "quant_model_description_w8a8_mxfp8.json" in names
        if sharded:
            assert "quant_model_weight-00001-of-00001.safetensors" in names
            assert "quant_model_weight.safetensors.index.json" in names
        else:
            assert "quant_model_weight_w8a8_mxfp8.safetensors" in names
        assert "configuration.json" in names  # copied from the checkpoint root
        private = [n for n in names if not n.endswith("index.json")]  # the index is 0644
        assert all(stat.S_IMODE((folder / n).stat().st_mode) == 0o600 for n in private)
        description = json.loads((folder / "quant_model_description_w8a8_mxfp8.json").read_text())
        assert list(description)[-1] == "model_quant_type"
        assert description["model_quant_type"] == "W8A8_MXFP8"
        assert sum(v == "W8A8_MXFP8" for v in description.values()) == 2 * 10 * BLOCKS + 1
        # T2V's recipe excludes block 0 from rotations and FA3; I2V and TI2V's do not.
        rotated = [n for n in range(BLOCKS) if f"blocks.{n}.self_attn.q_rot" in description]
        fa3 = [n for n in range(BLOCKS) if f"blocks.{n}.self_attn.quant_type" in description]
        assert rotated == fa3 == ([1] if family == "t2v-a14b" else [0, 1])
        assert all(description[f"blocks.{n}.self_attn.quant_type"] == "FP8_DYNAMIC" for n in fa3)
        state = load_tensors(folder, "quant_model_weight*.safetensors")
        assert set(state) == {k for k in description if not k.endswith("quant_type")}
        rot = state["blocks.1.self_attn.q_rot"]
        assert rot.dtype == torch.bfloat16 and tuple(rot.shape) == (32, 32)
        assert state["blocks.0.ffn.0.weight_scale"].dtype == torch.uint8
        assert tuple(state["blocks.0.ffn.2.weight_scale"].shape) == (64, 128 // 32)
        source = torch.bfloat16 if variant.startswith("bf16") else torch.float32
        assert state["head.head.weight"].dtype == source
        assert state["blocks.0.self_attn.q.bias"].dtype == torch.float32


@pytest.mark.parametrize("family", ["i2v-a14b", "ti2v-5b"])
def test_minmax_on_fp32_weights_is_floor_bit_for_bit(
    family: str, real_exports, demo_models
) -> None:
    """The I2V/TI2V recipes use minmax, which on fp32 input is OCP FLOOR: core.mx must give
    msmodelslim's exact bytes (T2V's mse_round may pick FLOOR+1 per block: no such claim)."""
    from safetensors.torch import load_file

    from core.mx import quantize_mx
    from core.repack.rename import to_diffusers

    export = real_exports(family, "fp32-sharded")
    sub, component = EXPERTS[family][0]
    state = load_tensors(export / sub, "quant_model_weight*.safetensors")
    original = load_file(
        str(demo_models[family] / component / "diffusion_pytorch_model.safetensors")
    )
    checked = 0
    for name, tensor in state.items():
        if tensor.dtype != torch.float8_e4m3fn:
            continue
        data, scale = quantize_mx(original[to_diffusers(name)].float(), rule="floor")
        assert torch.equal(data.view(torch.uint8), tensor.view(torch.uint8)), name
        assert torch.equal(scale, state[f"{name}_scale"]), name
        checked += 1
    assert checked == 10 * BLOCKS


@pytest.mark.parametrize(("family", "variant"), CASES)
def test_cli_repack_is_byte_identical_and_generates(
    family: str, variant: str, real_exports, demo_models, tmp_path: Path, capsys
) -> None:
    export, out = real_exports(family, variant), tmp_path / "out"
    argv = ["repack", "--original", str(demo_models[family]), "--quant", str(export)]
    assert cli_main([*argv, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "note: attention quantization ignored" in printed
    checks = verify_output(out)
    assert [c.quantized_layers for c in checks] == [10 * BLOCKS] * len(EXPERTS[family])
    rotations = 2 if family == "t2v-a14b" else 2 * BLOCKS
    for result in compare_with_export(export, out, family):
        assert (result.mxfp8_weights, result.scales) == (10 * BLOCKS, 10 * BLOCKS)
        assert result.float_tensors == 49  # everything else of a demo transformer
        assert result.rotations_skipped == rotations
    latents = generate_two_steps(out, family)
    assert latents.ndim == 5 and torch.isfinite(latents).all()


def test_a_real_minmax_export_computes_what_online_floor_mxfp8_computes(
    real_exports, demo_models, tmp_path: Path
) -> None:
    """msmodelslim's minmax (I2V recipe) on fp32 weights is OCP FLOOR, so the repacked real
    export must compute what the app's online MXFP8 of the original computes; 8 steps run both
    experts (6 high-noise, 2 low-noise): a swapped or misnamed expert would show."""
    from PIL import Image

    from core.models.loader import LoadOptions, load_pipeline
    from core.repack import plan, run

    out = tmp_path / "out"
    original = demo_models["i2v-a14b"]
    run(plan(original, real_exports("i2v-a14b", "fp32-sharded"), out))
    latents = []
    for folder, quant in ((out, "auto"), (original, "mxfp8-online")):
        # msmodelslim's minmax recipe is FLOOR: the online side asks for FLOOR explicitly
        loaded = load_pipeline(folder, LoadOptions(quant=quant, device="cpu", weight_rule="floor"))
        latents.append(
            loaded.pipe(
                prompt="a red fox running in the snow",
                image=Image.new("RGB", (32, 32), (200, 80, 40)),
                num_inference_steps=8,
                height=32,
                width=32,
                num_frames=5,
                output_type="latent",
                generator=torch.Generator().manual_seed(0),
            ).frames
        )
    torch.testing.assert_close(latents[0], latents[1], rtol=0, atol=1e-5)
