"""load_pipeline: quant modes end to end on the demo models, the npu path, the load report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from core.models.loader import QUANT_MODES, LoadError, LoadOptions, load_pipeline
from tests.doubles.fixtures import fake_torch_npu  # noqa: F401  (pytest fixture)

PROMPT = "a red fox running in the forest"


@pytest.fixture(scope="module")
def quantized(demo_t2v: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.quant.export import quantize_folder

    out = tmp_path_factory.mktemp("loader") / "t2v-mxfp8"
    quantize_folder(demo_t2v, out)
    return out


_RUNS: dict[tuple, torch.Tensor] = {}


def _latents(folder: Path, steps: int = 4, **options: str) -> torch.Tensor:
    """Final latents of a short run (4 steps: both experts of the A14B demo take part).

    Memoized: several tests compare the same runs, and the suite has a time budget.
    """
    key = (str(folder), steps, tuple(sorted(options.items())))
    if key not in _RUNS:
        _RUNS[key] = _run(folder, steps, **options)
    return _RUNS[key].clone()


def _run(folder: Path, steps: int, **options: str) -> torch.Tensor:
    loaded = load_pipeline(folder, LoadOptions(device="cpu", **options))
    generator = torch.Generator().manual_seed(0)
    return loaded.pipe(
        prompt=PROMPT,
        negative_prompt="dark",
        height=32,
        width=32,
        num_frames=5,
        num_inference_steps=steps,
        generator=generator,
        output_type="latent",
    ).frames


def test_quant_modes_are_listed() -> None:
    assert QUANT_MODES == ("auto", "none", "mxfp8-online", "mxfp8-offline")


def test_online_and_offline_give_bit_identical_outputs(demo_t2v: Path, quantized: Path) -> None:
    online = _latents(demo_t2v, quant="mxfp8-online")
    offline = _latents(quantized, quant="auto")
    assert torch.equal(online, offline)
    unquantized = _latents(demo_t2v, quant="none")
    assert not torch.equal(online, unquantized)  # the MXFP8 layers really ran


def test_unquantized_pipeline_equals_diffusers(demo_t2v: Path) -> None:
    from diffusers import WanPipeline

    ours = _latents(demo_t2v, quant="none")
    pipe = WanPipeline.from_pretrained(demo_t2v, dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    theirs = pipe(
        prompt=PROMPT, negative_prompt="dark", height=32, width=32, num_frames=5,
        num_inference_steps=4, generator=torch.Generator().manual_seed(0), output_type="latent",
    ).frames  # fmt: skip
    assert torch.equal(ours, theirs)


@pytest.mark.parametrize("family", ["t2v-a14b", "ti2v-5b"])
def test_one_step_latent_cosine_vs_bf16(demo_models: dict[str, Path], family: str) -> None:
    """Reported and bounded: one denoising step, MXFP8 (online, reference backend) vs BF16."""
    folder = demo_models[family]
    bf16 = _latents(folder, steps=1, quant="none", dtype="bfloat16").double()
    mxfp8 = _latents(folder, steps=1, quant="mxfp8-online", dtype="bfloat16").double()
    cosine = torch.nn.functional.cosine_similarity(bf16.flatten(), mxfp8.flatten(), dim=0).item()
    rel = ((mxfp8 - bf16).norm() / bf16.norm()).item()
    print(
        f"{family}: one-step latent cosine MXFP8 vs BF16 = {cosine:.6f}, relative error {rel:.4%}"
    )
    assert cosine > 0.999 and rel < 0.05


def test_load_report(demo_t2v: Path) -> None:
    loaded = load_pipeline(demo_t2v, LoadOptions(device="cpu", quant="mxfp8-online"))
    report = loaded.report
    assert (report.quant, report.backend, report.device, report.dtype) == (
        "mxfp8-online", "reference", "cpu", "float32",
    )  # fmt: skip
    assert report.layers_quantized == 40 and report.layers_kept == 12
    assert report.kept_reasons["transformer_2.proj_out"].startswith(
        "not one of the 10 block linears"
    )
    assert set(report.seconds) == {"transformer", "transformer_2", "other components"}
    assert report.backend_rejections["npu"].startswith("torch_npu is not installed")
    assert 0 < report.bytes_after < 0.5 * report.bytes_before  # fp32 block weights -> 1 byte codes
    comp = report.components["transformer_2"]
    assert comp["mode"] == "mxfp8-online" and len(comp["layers_quantized"]) == 20
    assert json.loads(json.dumps(report.to_dict()))["layers_quantized"] == 40
    pipe = loaded.pipe
    assert type(pipe).__name__ == "WanPipeline"
    assert pipe.transformer.dtype == torch.float32 and pipe.transformer_2.dtype == torch.float32
    assert pipe.transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn


@pytest.mark.parametrize(("family", "pipeline", "layers"), [
    ("i2v-a14b", "WanImageToVideoPipeline", 40), ("ti2v-5b", "WanPipeline", 20),
])  # fmt: skip
def test_every_family_loads_online(
    demo_models: dict[str, Path], family: str, pipeline: str, layers: int
) -> None:
    loaded = load_pipeline(demo_models[family], LoadOptions(device="cpu", quant="mxfp8-online"))
    assert type(loaded.pipe).__name__ == pipeline
    assert loaded.report.layers_quantized == layers and loaded.family.key == family


def test_npu_backend_path_through_the_loader(
    demo_t2v: Path,
    quantized: Path,
    fake_torch_npu,  # noqa: F811  (the fixture imported above)
) -> None:
    reference = _latents(quantized, quant="auto")  # auto picks the reference backend on the CPU
    npu = _run(quantized, 4, quant="auto", backend="npu")
    ops = {name for name, _ in fake_torch_npu.calls}
    assert {"npu_dynamic_mx_quant", "npu_quant_matmul"} <= ops
    assert torch.equal(npu, reference)  # the double computes with the reference numerics
    loaded = load_pipeline(demo_t2v, LoadOptions(device="cpu", quant="mxfp8-online", backend="npu"))
    assert loaded.report.backend == "npu"
    assert "reference" in loaded.report.backend_rejections


def test_requested_backend_that_cannot_run(demo_t2v: Path) -> None:
    with pytest.raises(
        LoadError, match=r"MXFP8 backend 'npu' is not available on cpu[\s\S]*torch_npu"
    ):
        load_pipeline(demo_t2v, LoadOptions(device="cpu", quant="mxfp8-online", backend="npu"))
    with pytest.raises(LoadError, match="unknown MXFP8 backend"):
        load_pipeline(demo_t2v, LoadOptions(device="cpu", quant="mxfp8-online", backend="cutlass"))
    assert (
        load_pipeline(
            demo_t2v, LoadOptions(device="cpu", quant="none", backend="npu")
        ).report.backend
        is None
    )


def test_mode_and_folder_errors(demo_t2v: Path, quantized: Path, tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot be loaded unquantized"):
        load_pipeline(quantized, LoadOptions(device="cpu", quant="none"))
    with pytest.raises(LoadError, match="wan-studio quantize"):
        load_pipeline(demo_t2v, LoadOptions(device="cpu", quant="mxfp8-offline"))
    with pytest.raises(LoadError, match="unknown quantization mode 'int8'"):
        load_pipeline(demo_t2v, LoadOptions(device="cpu", quant="int8"))
    with pytest.raises(LoadError, match="unknown MXFP8 scale rule"):
        load_pipeline(demo_t2v, LoadOptions(device="cpu", quant="mxfp8-online", rule="ceil"))
    with pytest.raises(LoadError, match=r"no model_index\.json"):
        load_pipeline(tmp_path, LoadOptions(device="cpu"))
    broken = tmp_path / "broken"
    shutil.copytree(demo_t2v, broken)
    shutil.rmtree(broken / "transformer_2")
    with pytest.raises(LoadError, match="lacks transformer_2"):
        load_pipeline(broken, LoadOptions(device="cpu"))
    index = json.loads((broken / "model_index.json").read_text())
    index["transformer_2"] = [None, None]
    (broken / "model_index.json").write_text(json.dumps(index))
    with pytest.raises(LoadError, match=r"Wan2\.2-T2V-A14B needs both experts"):
        load_pipeline(broken, LoadOptions(device="cpu"))


def test_checkpoint_errors_become_load_errors(quantized: Path, tmp_path: Path) -> None:
    from core.quant.checkpoint import CorruptCheckpoint

    broken = tmp_path / "broken"
    shutil.copytree(quantized, broken)
    weights = broken / "transformer_2" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    with pytest.raises(LoadError, match=r"transformer_2.*truncated") as info:
        load_pipeline(broken, LoadOptions(device="cpu"))
    assert isinstance(info.value.__cause__, CorruptCheckpoint)


def test_pickle_only_component_is_refused(
    demo_t2v: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    broken = tmp_path / "broken"
    shutil.copytree(demo_t2v, broken)
    (broken / "text_encoder" / "model.safetensors").unlink()
    (broken / "text_encoder" / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(
        LoadError, match=r"text_encoder holds only pickle-based weights \(pytorch_model\.bin\)"
    ):
        load_pipeline(broken, LoadOptions(device="cpu"))


def test_mixed_folder_loads_each_transformer_as_it_is(
    demo_t2v: Path, quantized: Path, tmp_path: Path
) -> None:
    mixed = tmp_path / "mixed"
    shutil.copytree(quantized, mixed)
    shutil.rmtree(mixed / "transformer_2")
    shutil.copytree(demo_t2v / "transformer_2", mixed / "transformer_2")
    report = load_pipeline(mixed, LoadOptions(device="cpu")).report
    assert report.quant == "mixed"
    assert report.components["transformer"]["mode"] == "mxfp8-offline"
    assert report.components["transformer_2"]["mode"] == "none"
    assert any("different states" in note for note in report.notes)
