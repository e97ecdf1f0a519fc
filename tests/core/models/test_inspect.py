"""inspect_folder: demo families, a quantized folder, msmodelslim exports, broken folders."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from core.cli import EXIT_BAD_INPUT, EXIT_OK, main
from core.models.inspect import inspect_folder


@pytest.fixture(scope="module")
def quantized(demo_t2v: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.quant.export import quantize_folder

    out = tmp_path_factory.mktemp("inspect") / "t2v-mxfp8"
    quantize_folder(demo_t2v, out)
    return out


def _copy(src: Path, tmp_path: Path, name: str = "copy") -> Path:
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(
    ("family", "experts", "name"),
    [
        ("t2v-a14b", 2, "Wan2.2-T2V-A14B"),
        ("i2v-a14b", 2, "Wan2.2-I2V-A14B"),
        ("ti2v-5b", 1, "Wan2.2-TI2V-5B"),
    ],
)
def test_demo_families(demo_models: dict[str, Path], family: str, experts: int, name: str) -> None:
    info = inspect_folder(demo_models[family])
    assert info.problems == []
    assert (info.layout, info.family, info.family_name, info.is_demo) == (
        "diffusers",
        family,
        name,
        True,
    )
    assert (info.quantization, info.experts) == ("fp32", experts)
    expected = {"transformer": True, "vae": True, "text_encoder": True, "tokenizer": True,
                "scheduler": True} | ({"transformer_2": True} if experts == 2 else {})  # fmt: skip
    assert info.components == expected  # a one-expert model does not list transformer_2 missing
    assert list(info.layer_counts) == ["transformer", "transformer_2"][:experts]
    assert info.layer_counts["transformer"] == {"quantized": 0, "float": 26, "block_linears": 20}
    assert set(info.memory_estimate) == {"none", "mxfp8-online"}
    assert info.memory_estimate["mxfp8-online"] < info.memory_estimate["none"]
    on_disk = sum(p.stat().st_size for p in demo_models[family].rglob("*") if p.is_file())
    assert info.size_bytes == on_disk
    assert any("random weights" in w for w in info.warnings)
    assert json.loads(json.dumps(info.to_dict()))["family"] == family


def test_quantized_folder(quantized: Path) -> None:
    info = inspect_folder(quantized)
    assert info.problems == [] and info.quantization == "mxfp8-offline"
    assert info.layer_counts["transformer_2"] == {"quantized": 20, "float": 6, "block_linears": 20}
    assert set(info.memory_estimate) == {"mxfp8-offline"}
    assert info.description_files["transformer"].endswith(
        "transformer/quant_model_description.json"
    )


def test_memory_estimate_matches_the_loaded_model(demo_t2v: Path, quantized: Path) -> None:
    """The header-only estimate equals what the loader actually holds (bf16 compute)."""
    from core.backends import ReferenceBackend
    from core.quant.streaming import load_transformer

    info = inspect_folder(quantized)
    others = info.memory_estimate["mxfp8-offline"]
    held = 0
    for component in ("transformer", "transformer_2"):
        _, report = load_transformer(
            quantized / component, dtype=torch.bfloat16, backend=ReferenceBackend()
        )
        held += report.bytes_after
        others -= report.bytes_after
    none = inspect_folder(demo_t2v).memory_estimate["none"]
    _, report = load_transformer(demo_t2v / "transformer", quant="none", dtype=torch.bfloat16)
    assert none - others == 2 * report.bytes_after  # same text encoder + VAE estimate in both
    assert others > 0 and held > 0


# ---------------------------------------------------------------- broken folders


def test_missing_transformer_2(demo_t2v: Path, tmp_path: Path) -> None:
    folder = _copy(demo_t2v, tmp_path)
    shutil.rmtree(folder / "transformer_2")
    info = inspect_folder(folder)
    assert info.components["transformer_2"] is False and info.experts == 1
    assert any("missing transformer_2/ (the low-noise expert)" in p for p in info.problems)


def test_vae_that_does_not_fit(demo_models: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(demo_models["ti2v-5b"], tmp_path)
    shutil.rmtree(folder / "vae")
    shutil.copytree(demo_models["t2v-a14b"] / "vae", folder / "vae")  # z_dim 4 instead of 8
    info = inspect_folder(folder)
    assert any("out_channels is 8 but the VAE has z_dim 4" in p for p in info.problems)


def test_real_family_needs_its_vae_z_dim(demo_models: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(demo_models["ti2v-5b"], tmp_path)
    (folder / "wan_studio.json").unlink()  # not the demo any more: the real family's rules apply
    info = inspect_folder(folder)
    assert info.family == "ti2v-5b" and not info.is_demo
    assert any("vae z_dim is 8 but Wan2.2-TI2V-5B needs 48" in p for p in info.problems)


def test_wrong_in_channels(demo_models: dict[str, Path], tmp_path: Path) -> None:
    folder = _copy(demo_models["i2v-a14b"], tmp_path)
    config = json.loads((folder / "transformer" / "config.json").read_text())
    config["in_channels"] = 4  # a T2V transformer in an I2V folder
    (folder / "transformer" / "config.json").write_text(json.dumps(config))
    info = inspect_folder(folder)
    assert any(
        "transformer in_channels is 4 but Wan2.2-I2V-A14B needs 12" in p for p in info.problems
    )
    assert any("transformer and transformer_2 differ in in_channels" in p for p in info.problems)


def test_float8_weights_without_description(quantized: Path, tmp_path: Path) -> None:
    folder = _copy(quantized, tmp_path)
    for component in ("transformer", "transformer_2"):
        (folder / component / "quant_model_description.json").unlink()
        config = json.loads((folder / component / "config.json").read_text())
        del config["quantization_config"]
        (folder / component / "config.json").write_text(json.dumps(config))
    info = inspect_folder(folder)
    assert sum("holds float8 tensors" in p for p in info.problems) == 2


def test_corrupt_and_pickle_weights(demo_t2v: Path, tmp_path: Path) -> None:
    folder = _copy(demo_t2v, tmp_path)
    weights = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    (folder / "text_encoder" / "model.safetensors").rename(
        folder / "text_encoder" / "pytorch_model.bin"
    )
    info = inspect_folder(folder)
    assert any("truncated" in p and "transformer" in p for p in info.problems)
    assert any(
        "text_encoder holds only pickle-based weights (pytorch_model.bin)" in p
        for p in info.problems
    )
    assert info.family == "t2v-a14b"  # still identified from its config


def test_not_a_model_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    info = inspect_folder(tmp_path)
    assert info.layout == "unknown" and "neither a Diffusers model folder" in info.problems[0]
    missing = inspect_folder(tmp_path / "nope")
    assert missing.problems == [f"{tmp_path / 'nope'} does not exist"]


# ---------------------------------------------------------------- msmodelslim exports


def _native_export(folder: Path, blocks: int, config: dict | None) -> None:
    folder.mkdir(parents=True)
    tensors: dict[str, torch.Tensor] = {"patch_embedding.weight": torch.zeros(64, 48, 1, 2, 2, dtype=torch.bfloat16),
                                        "head.head.weight": torch.zeros(16, 64, dtype=torch.bfloat16)}  # fmt: skip
    description = {"patch_embedding.weight": "FLOAT", "head.head.weight": "FLOAT"}
    for b in range(blocks):
        for layer in ("self_attn.q", "self_attn.o", "ffn.0"):
            tensors[f"blocks.{b}.{layer}.weight"] = torch.zeros(64, 64, dtype=torch.float8_e4m3fn)
            tensors[f"blocks.{b}.{layer}.weight_scale"] = torch.full(
                (64, 2), 127, dtype=torch.uint8
            )
            description[f"blocks.{b}.{layer}.weight"] = "W8A8_MXFP8"
            description[f"blocks.{b}.{layer}.weight_scale"] = "W8A8_MXFP8"
        tensors[f"blocks.{b}.self_attn.q_rot"] = torch.eye(128, dtype=torch.bfloat16)
        description[f"blocks.{b}.self_attn.q_rot"] = "FLOAT"
        description[f"blocks.{b}.self_attn.quant_type"] = "FP8_DYNAMIC"
    description["model_quant_type"] = "W8A8_MXFP8"
    save_file(tensors, folder / "quant_model_weight_w8a8_mxfp8.safetensors")
    (folder / "quant_model_description_w8a8_mxfp8.json").write_text(json.dumps(description))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))


def test_msmodelslim_single_export(tmp_path: Path) -> None:
    _native_export(tmp_path / "export", blocks=30, config=None)
    info = inspect_folder(tmp_path / "export")
    assert (info.layout, info.family, info.quantization, info.experts) == (
        "msmodelslim",
        "ti2v-5b",
        "mxfp8-offline",
        1,
    )
    assert info.layer_counts["weights"] == {"quantized": 90, "float": 1, "block_linears": 90}
    assert info.problems == []
    assert any("wan-studio repack" in w for w in info.warnings)
    assert any(
        "60 attention-quantization entries" in w for w in info.warnings
    )  # q_rot + quant_type


def test_msmodelslim_a14b_export(tmp_path: Path) -> None:
    root = tmp_path / "export"
    for expert in ("high_noise_model", "low_noise_model"):
        _native_export(root / expert, blocks=2, config={"model_type": "i2v", "in_dim": 36})
    info = inspect_folder(root)
    assert (info.layout, info.family, info.experts) == ("msmodelslim", "i2v-a14b", 2)
    assert set(info.layer_counts) == {"high_noise_model", "low_noise_model"}
    shutil.rmtree(root / "low_noise_model")
    (root / "low_noise_model").mkdir()
    broken = inspect_folder(root)
    assert any("low_noise_model" in p for p in broken.problems)


def test_msmodelslim_with_unsupported_type(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    _native_export(folder, blocks=2, config=None)
    path = folder / "quant_model_description_w8a8_mxfp8.json"
    data = json.loads(path.read_text())
    data["blocks.1.ffn.0.weight"] = "W4A4_MXFP4"
    path.write_text(json.dumps(data))
    info = inspect_folder(folder)
    assert info.layout == "msmodelslim"
    assert any("'W4A4_MXFP4'" in p and "blocks.1.ffn.0" in p for p in info.problems)


# ---------------------------------------------------------------- CLI and import weight


def test_inspect_does_not_import_torch(demo_t2v: Path) -> None:
    code = (
        "import sys; from core.models.inspect import inspect_folder; "
        f"info = inspect_folder({str(demo_t2v)!r}); "
        "assert info.family == 't2v-a14b', info; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'diffusers', 'safetensors')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_inspect_command(quantized: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(quantized)]) == EXIT_OK
    text = capsys.readouterr().out
    assert text.startswith(str(quantized))
    for line in ("family         Wan2.2-T2V-A14B (t2v-a14b), demo model (random weights)",
                 "quantization   MXFP8 (offline, W8A8_MXFP8)",
                 "linear layers  transformer: 20 MXFP8, 6 high precision (20 block linears)",
                 "problems       none"):  # fmt: skip
        assert line in text
    assert main(["inspect", str(quantized), "--json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["quantization"] == "mxfp8-offline"


def test_inspect_command_reports_problems(
    demo_t2v: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _copy(demo_t2v, tmp_path)
    shutil.rmtree(folder / "transformer_2")
    assert main(["inspect", str(folder)]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert "- missing transformer_2/ (the low-noise expert)" in captured.out
    assert "problem(s) found" in captured.err
