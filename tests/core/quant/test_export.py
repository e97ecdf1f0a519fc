"""`quantize_folder`: the saved offline MXFP8 layout, exactness, safety of source and output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from core.mx import dequantize_mx, quantize_mx
from core.mx.search import quantize_weight
from core.progress import Cancelled, CancelToken, Progress
from core.quant.checkpoint import CorruptCheckpoint, PickleWeightsRefused
from core.quant.description import load_description
from core.quant.export import ExportError, quantize_folder
from core.quant.selection import is_block_linear
from tests.core.quant.helpers import DESCRIPTION, WEIGHTS, tree_digest


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    with safe_open(path, "pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118


def test_layout_of_the_saved_folder(demo_t2v: Path, quantized_t2v: Path) -> None:
    out = quantized_t2v
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in demo_t2v.iterdir())
    for component in ("transformer", "transformer_2"):
        folder = out / component
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["config.json", DESCRIPTION, WEIGHTS]
        )
        config = json.loads((folder / "config.json").read_text())
        source_config = json.loads((demo_t2v / component / "config.json").read_text())
        assert config.pop("quantization_config") == {
            "quant_method": "mxfp8",
            "is_checkpoint_mxfp8_serialized": True,
            "weight_scale_rule": "mse",  # the default weight rule, recorded for `inspect`
        }
        assert config == source_config
        description = json.loads((folder / DESCRIPTION).read_text())
        assert list(description)[-1] == "model_quant_type"
        assert description.pop("model_quant_type") == "W8A8_MXFP8"
        saved = _tensors(folder / WEIGHTS)
        source = _tensors(demo_t2v / component / WEIGHTS)
        assert set(description) == set(saved)
        quantized = [
            k[:-7] for k, v in description.items() if v == "W8A8_MXFP8" and k.endswith(".weight")
        ]
        assert len(quantized) == 20 and all(is_block_linear(p) for p in quantized)
        for name, tensor in saved.items():
            prefix, _, leaf = name.rpartition(".")
            if prefix in quantized and leaf in ("weight", "weight_scale"):
                assert description[name] == "W8A8_MXFP8"
                codes, scale = quantize_weight(source[f"{prefix}.weight"])  # default: mse
                want = codes if leaf == "weight" else scale
                assert tensor.dtype == want.dtype and torch.equal(
                    tensor.view(torch.uint8), want.view(torch.uint8)
                )
            else:  # float tensors are copied bit for bit, in their stored dtype
                assert description[name] == "FLOAT"
                assert tensor.dtype == source[name].dtype and torch.equal(tensor, source[name])
    for other in ("vae", "text_encoder", "tokenizer", "scheduler"):
        assert tree_digest(out / other) == tree_digest(demo_t2v / other)
    assert load_description(out / "transformer" / DESCRIPTION).naming() == "diffusers"


def test_source_is_never_modified_and_output_is_complete(demo_ti2v: Path, tmp_path: Path) -> None:
    before = tree_digest(demo_ti2v)
    events: list[Progress] = []
    report = quantize_folder(demo_ti2v, tmp_path / "out", progress=events.append)
    assert tree_digest(demo_ti2v) == before
    assert list(report.components) == ["transformer"]
    comp = report.components["transformer"]
    assert comp.layers_quantized == 20 and len(comp.kept) == 6
    assert comp.bytes_out < 0.52 * comp.bytes_in  # fp32 demo weights: codes are 1/4 the size
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert {e.stage for e in events} >= {"copy", "transformer", "verify"}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary folder left


def test_dequantized_weights_stay_close_to_the_source(demo_ti2v: Path, tmp_path: Path) -> None:
    quantize_folder(demo_ti2v, tmp_path / "out", rule="rceil")
    saved = _tensors(tmp_path / "out" / "transformer" / WEIGHTS)
    source = _tensors(demo_ti2v / "transformer" / WEIGHTS)
    w = source["blocks.0.ffn.net.0.proj.weight"]
    codes, scale = (
        saved["blocks.0.ffn.net.0.proj.weight"],
        saved["blocks.0.ffn.net.0.proj.weight_scale"],
    )
    assert torch.equal(scale, quantize_mx(w, "rceil")[1])
    err = (dequantize_mx(codes, scale) - w).norm() / w.norm()
    assert 0.005 < err < 0.04  # E4M3 keeps ~3 significant bits per element


def test_sharded_output_loads_like_a_single_file(
    demo_t2v: Path, quantized_t2v: Path, tmp_path: Path
) -> None:
    from core.backends import ReferenceBackend
    from core.quant.streaming import load_transformer

    quantize_folder(demo_t2v, tmp_path / "sharded", max_shard_bytes=100_000)
    folder = tmp_path / "sharded" / "transformer"
    index = json.loads((folder / "diffusion_pytorch_model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 2 and all(s.startswith("diffusion_pytorch_model-0000") for s in shards)
    assert not (folder / WEIGHTS).exists()
    a, _ = load_transformer(folder, backend=ReferenceBackend())
    b, _ = load_transformer(quantized_t2v / "transformer", backend=ReferenceBackend())
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x.view(torch.uint8) if x.dtype == torch.float8_e4m3fn else x,
                           y.view(torch.uint8) if y.dtype == torch.float8_e4m3fn else y), name  # fmt: skip


# ---------------------------------------------------------------- refusals: nothing is written


def _assert_nothing_written(parent: Path, before: set[str]) -> None:
    assert {p.name for p in parent.iterdir()} == before


def test_refuses_an_existing_non_empty_output(demo_t2v: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="already exists and is not empty; nothing was written"):
        quantize_folder(demo_t2v, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    quantize_folder(demo_t2v, empty)  # an empty folder is fine
    assert (empty / "transformer_2" / DESCRIPTION).is_file()


def test_refuses_output_inside_the_source(demo_t2v: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(demo_t2v, src)
    before = tree_digest(src)
    with pytest.raises(ExportError, match="must be outside the source"):
        quantize_folder(src, src / "mxfp8")
    assert tree_digest(src) == before


@pytest.mark.parametrize(
    ("breakage", "error", "message"),
    [
        ("truncate", CorruptCheckpoint, "truncated"),
        ("pickle", PickleWeightsRefused, "never unpickles"),
        ("quantized", ExportError, "already MXFP8"),
        ("no-index", ExportError, "no model_index.json"),
        # A block beyond num_layers: the config check (core.configcheck) names it first.
        ("extra-tensor", Exception, "'num_layers' is 2 but the weights hold 3 blocks"),
    ],
)
def test_bad_sources_write_nothing(
    demo_t2v: Path, quantized_t2v: Path, tmp_path: Path, breakage: str, error: type, message: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(quantized_t2v if breakage == "quantized" else demo_t2v, src)
    weights = src / "transformer_2" / WEIGHTS
    if breakage == "truncate":
        weights.write_bytes(weights.read_bytes()[:-10])
    elif breakage == "pickle":
        weights.unlink()
        (src / "transformer_2" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04")
    elif breakage == "no-index":
        (src / "model_index.json").unlink()
    elif breakage == "extra-tensor":
        from safetensors.torch import load_file, save_file

        tensors = load_file(weights)
        tensors["blocks.9.attn1.to_q.weight"] = torch.zeros(64, 64)
        save_file(tensors, weights)
    before = tree_digest(src)
    parent_before = {p.name for p in tmp_path.iterdir()}
    with pytest.raises(error, match=message):
        quantize_folder(src, tmp_path / "out")
    _assert_nothing_written(tmp_path, parent_before)
    assert tree_digest(src) == before


def test_cancel_removes_the_partial_output(demo_t2v: Path, tmp_path: Path) -> None:
    token = CancelToken()

    def cancel_in_transformer_2(p: Progress) -> None:
        if p.stage == "transformer_2":
            token.cancel()

    with pytest.raises(Cancelled):
        quantize_folder(demo_t2v, tmp_path / "out", progress=cancel_in_transformer_2, cancel=token)
    assert list(tmp_path.iterdir()) == []


def test_msmodelslim_export_as_source_points_to_repack(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    (export / "quant_model_description_w8a8_mxfp8.json").write_text("{}")
    with pytest.raises(ExportError, match=r"msmodelslim export.*wan-studio repack"):
        quantize_folder(export, tmp_path / "out")
    assert not (tmp_path / "out").exists()
