"""Streaming transformer loading: every mode, every bad input the issue lists, exact dtypes."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from core.backends import ReferenceBackend
from core.quant.checkpoint import CorruptCheckpoint, PickleWeightsRefused
from core.quant.component import ComponentError
from core.quant.description import DescriptionError, UnsupportedQuantType
from core.quant.layer import Mxfp8Linear
from core.quant.streaming import (
    WeightsError,
    build_skeleton,
    load_transformer,
    quantized_layer_count,
    swap_in_mxfp8,
    weight_bytes,
)
from tests.core.quant.helpers import (
    DESCRIPTION,
    WEIGHTS,
    edit_description,
    edit_weights,
    tree_digest,
)


def load(folder: Path, **kwargs):
    kwargs.setdefault("backend", ReferenceBackend())
    return load_transformer(folder, **kwargs)


def _inputs(in_channels: int = 4, dtype: torch.dtype = torch.float32):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(1, in_channels, 3, 8, 8, generator=g).to(dtype)
    e = torch.randn(1, 7, 32, generator=g).to(dtype)
    return x, torch.tensor([700]), e


def _forward(model, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    with torch.no_grad():
        return model(*_inputs(dtype=dtype), return_dict=False)[0]


# ---------------------------------------------------------------- good inputs


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_unquantized_streaming_equals_diffusers_from_pretrained(
    demo_t2v: Path, dtype: torch.dtype
) -> None:
    from diffusers import WanTransformer3DModel

    reference = WanTransformer3DModel.from_pretrained(demo_t2v / "transformer", torch_dtype=dtype)
    model, report = load(demo_t2v / "transformer", quant="none", dtype=dtype, backend=None)
    ours, theirs = model.state_dict(), reference.state_dict()
    assert list(ours) == list(theirs)
    for name in theirs:  # same dtypes (fp32-kept modules included) and same bits
        assert ours[name].dtype == theirs[name].dtype, name
        assert torch.equal(ours[name], theirs[name]), name
    assert torch.equal(_forward(model, dtype), _forward(reference, dtype))
    assert report.mode == "none" and report.layers_quantized == []
    assert report.bytes_before == report.bytes_after
    assert model.dtype == dtype and not model.training


def test_online_quantizes_the_default_layers(demo_t2v: Path) -> None:
    model, report = load(demo_t2v / "transformer", quant="mxfp8-online")
    assert report.mode == "mxfp8-online" and report.layer_source == "default selection"
    assert len(report.layers_quantized) == 20 == quantized_layer_count(model)
    assert set(report.kept) == {
        "condition_embedder.time_embedder.linear_1",
        "condition_embedder.time_embedder.linear_2",
        "condition_embedder.time_proj",
        "condition_embedder.text_embedder.linear_1",
        "condition_embedder.text_embedder.linear_2",
        "proj_out",
    }
    layer = model.blocks[1].ffn.net[2]
    assert isinstance(layer, Mxfp8Linear) and layer.prepared
    assert layer.weight.dtype == torch.float8_e4m3fn and layer.weight_scale.dtype == torch.uint8
    assert report.bytes_after < report.bytes_before
    assert model.dtype == torch.float32  # diffusers' dtype probe must not see float8
    # The meta-device estimate (used by bench/quant_memory.py) predicts what was really loaded.
    skeleton = build_skeleton(json.loads((demo_t2v / "transformer" / "config.json").read_text()))
    swap_in_mxfp8(skeleton, report.layers_quantized)
    assert weight_bytes(skeleton, torch.float32) == report.bytes_after
    assert weight_bytes(skeleton, torch.float32, unquantized=True) == report.bytes_before
    assert weight_bytes(model, torch.float32) == report.bytes_after
    assert _forward(model).isfinite().all()


def test_online_keeps_layers_whose_k_is_not_a_multiple_of_32(tmp_path: Path) -> None:
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    model = WanTransformer3DModel(
        num_attention_heads=2, attention_head_dim=32, in_channels=4, out_channels=4,
        text_dim=32, freq_dim=32, ffn_dim=48, num_layers=1,
    )  # fmt: skip
    model.save_pretrained(tmp_path / "transformer")
    loaded, report = load(tmp_path / "transformer", quant="mxfp8-online")
    assert (
        report.kept["blocks.0.ffn.net.2"]
        == "in_features 48 is not a multiple of 32: kept in high precision"
    )
    assert "blocks.0.ffn.net.0.proj" in report.layers_quantized
    assert type(loaded.blocks[0].ffn.net[2]) is torch.nn.Linear
    assert len(report.layers_quantized) == 9


def test_offline_equals_online_bit_for_bit(demo_t2v: Path, quantized_t2v: Path) -> None:
    online, _ = load(demo_t2v / "transformer", quant="mxfp8-online")
    offline, report = load(quantized_t2v / "transformer", quant="auto")
    assert report.mode == "mxfp8-offline" and report.layer_source == "description"
    assert report.description.endswith(DESCRIPTION)
    a, b = online.state_dict(), offline.state_dict()
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype, name
        assert torch.equal(a[name].view(torch.uint8) if a[name].dtype == torch.float8_e4m3fn else a[name],
                           b[name].view(torch.uint8) if b[name].dtype == torch.float8_e4m3fn else b[name]), name  # fmt: skip
    assert torch.equal(_forward(online), _forward(offline))


def test_offline_without_description_reads_layers_from_dtypes(
    qdir: Path, quantized_t2v: Path
) -> None:
    (qdir / DESCRIPTION).unlink()  # config.json still carries the MXFP8 quantization_config
    model, report = load(qdir)
    assert report.mode == "mxfp8-offline" and report.layer_source == "dtypes"
    reference, _ = load(quantized_t2v / "transformer")
    assert report.layers_quantized == _.layers_quantized
    assert torch.equal(_forward(model), _forward(reference))


def test_attention_quant_entries_are_skipped_and_reported(qdir: Path, quantized_t2v: Path) -> None:
    rotation = torch.linalg.qr(torch.randn(32, 32))[0].to(torch.bfloat16).contiguous()

    def add_tensors(t: dict) -> None:
        t["blocks.1.attn1.to_q_rot"] = rotation
        t["blocks.1.attn1.to_k_rot"] = rotation.clone()

    def add_entries(d: dict) -> None:
        d["blocks.1.attn1.to_q_rot"] = "FLOAT"
        d["blocks.1.attn1.to_k_rot"] = "FLOAT"
        d["blocks.1.attn1.quant_type"] = "FP8_DYNAMIC"

    edit_weights(qdir, add_tensors)
    edit_description(qdir, add_entries)
    model, report = load(qdir)
    assert sorted(report.skipped_entries) == [
        "blocks.1.attn1.quant_type",
        "blocks.1.attn1.to_k_rot",
        "blocks.1.attn1.to_q_rot",
    ]
    assert any("attention runs in BF16" in n for n in report.notes)
    reference, _ = load(quantized_t2v / "transformer")
    assert torch.equal(_forward(model), _forward(reference))


def test_bf16_compute_keeps_fp32_modules_and_fp8_codes(quantized_t2v: Path) -> None:
    model, _ = load(quantized_t2v / "transformer", dtype=torch.bfloat16)
    dtypes = {n: p.dtype for n, p in model.named_parameters()}
    assert dtypes["blocks.0.norm2.weight"] == torch.float32
    assert dtypes["scale_shift_table"] == torch.float32
    assert dtypes["condition_embedder.time_embedder.linear_1.weight"] == torch.float32
    assert dtypes["proj_out.weight"] == torch.bfloat16
    assert dtypes["blocks.0.attn1.to_q.weight"] == torch.float8_e4m3fn
    assert dtypes["blocks.0.attn1.to_q.bias"] == torch.bfloat16
    assert model.dtype == torch.bfloat16
    assert _forward(model, torch.bfloat16).isfinite().all()


def test_progress_and_cancel(demo_t2v: Path) -> None:
    from core.progress import Cancelled, CancelToken

    seen: list[float] = []
    load(demo_t2v / "transformer", quant="mxfp8-online", progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 10
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        load(demo_t2v / "transformer", quant="mxfp8-online", cancel=token)


# ---------------------------------------------------------------- bad inputs (issue #4 list)


def test_missing_weight_scale(qdir: Path) -> None:
    edit_weights(qdir, lambda t: t.pop("blocks.1.attn2.to_v.weight_scale"))
    before = tree_digest(qdir)
    with pytest.raises(WeightsError) as info:
        load(qdir)
    text = str(info.value)
    assert "blocks.1.attn2.to_v" in text and "weight_scale" in text and "Refusing to invent" in text
    assert str(qdir) in text
    assert tree_digest(qdir) == before  # nothing written, nothing "repaired"


def test_missing_weight_scale_also_absent_from_description(qdir: Path) -> None:
    edit_weights(qdir, lambda t: t.pop("blocks.0.ffn.net.2.weight_scale"))
    edit_description(qdir, lambda d: d.pop("blocks.0.ffn.net.2.weight_scale"))
    with pytest.raises(WeightsError, match=r"blocks\.0\.ffn\.net\.2 .*no weight_scale"):
        load(qdir)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        (
            "blocks.0.attn1.to_k.weight_scale",
            lambda t: t.view(torch.int8),
            r"is I8, expected F8_E8M0/U8",
        ),
        (
            "blocks.0.attn1.to_k.weight",
            lambda t: t.to(torch.bfloat16),
            r"is BF16, expected F8_E4M3",
        ),
        (
            "blocks.0.attn1.to_k.weight_scale",
            lambda t: t.reshape(64, 1, 2).contiguous(),
            r"NPU pair layout",
        ),
        (
            "blocks.0.attn1.to_k.weight_scale",
            lambda t: t[:, :1].contiguous(),
            r"shape \[64, 1\].*expects \[64, 2\]",
        ),
        (
            "blocks.0.attn1.to_k.weight",
            lambda t: t[:, :32].contiguous(),
            r"shape \[64, 32\].*expects \[64, 64\]",
        ),
        (
            "proj_out.weight",
            lambda t: t.to(torch.float8_e4m3fn),
            r"proj_out.weight is float8 .* marked FLOAT",
        ),
    ],
)
def test_wrong_dtype_or_shape(qdir: Path, name: str, change, message: str) -> None:
    edit_weights(qdir, lambda t: t.__setitem__(name, change(t[name])))
    with pytest.raises(WeightsError, match=message) as info:
        load(qdir)
    assert name in str(info.value) and WEIGHTS in str(info.value)


def test_nan_scale_byte(qdir: Path) -> None:
    def poison(t: dict) -> None:
        t["blocks.1.ffn.net.0.proj.weight_scale"][5, 1] = 0xFF

    edit_weights(qdir, poison)
    with pytest.raises(
        WeightsError, match=r"blocks\.1\.ffn\.net\.0\.proj\.weight_scale .*0xFF.*row 5, block 1"
    ):
        load(qdir)


def test_tensor_the_model_does_not_have(qdir: Path) -> None:
    edit_weights(qdir, lambda t: t.__setitem__("blocks.0.attn1.to_x.weight", torch.zeros(4, 4)))
    edit_description(qdir, lambda d: d.__setitem__("blocks.0.attn1.to_x.weight", "FLOAT"))
    with pytest.raises(
        WeightsError,
        match=r"tensor\(s\) the transformer model does not have: blocks\.0\.attn1\.to_x\.weight",
    ):
        load(qdir)


def test_model_tensor_the_checkpoint_lacks(qdir: Path) -> None:
    edit_weights(qdir, lambda t: t.pop("blocks.1.norm2.weight"))
    edit_description(qdir, lambda d: d.pop("blocks.1.norm2.weight"))
    with pytest.raises(WeightsError, match=r"lacks 1 tensor\(s\) .*blocks\.1\.norm2\.weight"):
        load(qdir)


def test_unsupported_quant_type(qdir: Path) -> None:
    def retype(d: dict) -> None:
        d["blocks.0.attn2.to_q.weight"] = "W8A8_DYNAMIC"
        d["blocks.0.attn2.to_q.weight_scale"] = "W8A8_DYNAMIC"

    edit_description(qdir, retype)
    with pytest.raises(
        UnsupportedQuantType, match=r"'W8A8_DYNAMIC' \(used by blocks\.0\.attn2\.to_q; 2 entries\)"
    ):
        load(qdir)


def test_pickle_only_weights(qdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called"))
    (qdir / WEIGHTS).unlink()
    (qdir / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04pickled")
    with pytest.raises(PickleWeightsRefused, match=r"diffusion_pytorch_model\.bin"):
        load(qdir)


def test_truncated_safetensors(qdir: Path) -> None:
    path = qdir / WEIGHTS
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(CorruptCheckpoint, match="truncated"):
        load(qdir)


def test_corrupt_safetensors_header(qdir: Path) -> None:
    path = qdir / WEIGHTS
    data = bytearray(path.read_bytes())
    data[8:20] = b"\x00garbage!!\xff\x00"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpoint, match="corrupt safetensors header"):
        load(qdir)


def test_file_shrinking_after_validation_is_caught(qdir: Path) -> None:
    from core.quant.checkpoint import TensorReader, open_checkpoint

    checkpoint = open_checkpoint(qdir)
    last = max(checkpoint.entries.values(), key=lambda e: e.end)
    with open(qdir / WEIGHTS, "r+b") as handle:
        handle.truncate(last.end - 3)
    with (
        TensorReader(checkpoint) as reader,
        pytest.raises(CorruptCheckpoint, match="ended while reading"),
    ):
        reader.read(last.name)


def test_description_names_tensors_absent_from_the_weights(qdir: Path) -> None:
    edit_description(qdir, lambda d: d.__setitem__("blocks.0.attn1.extra_table", "FLOAT"))
    with pytest.raises(
        WeightsError,
        match=r"names 1 tensor\(s\) that the weights .*\(blocks\.0\.attn1\.extra_table\)",
    ):
        load(qdir)


def test_description_marking_a_non_linear(qdir: Path) -> None:
    edit_description(qdir, lambda d: d.__setitem__("blocks.0.norm2.weight", "W8A8_MXFP8"))
    with pytest.raises(
        WeightsError, match=r"blocks\.0\.norm2 marked W8A8_MXFP8, but the model has no linear"
    ):
        load(qdir)


def test_weights_the_description_does_not_mention(qdir: Path) -> None:
    edit_description(qdir, lambda d: d.pop("proj_out.bias"))
    with pytest.raises(
        WeightsError, match=r"proj_out\.bias are not in .*quant_model_description\.json"
    ):
        load(qdir)


def test_native_names_need_a_repack(qdir: Path) -> None:
    def native(d: dict) -> None:
        for key in list(d):
            if key != "model_quant_type":
                d[key.replace("attn1.to_", "self_attn.").replace("proj_out", "head.head")] = d.pop(
                    key
                )

    edit_description(qdir, native)
    with pytest.raises(ComponentError, match="wan-studio repack"):
        load(qdir)


def test_float8_weights_without_any_marker(qdir: Path) -> None:
    (qdir / DESCRIPTION).unlink()
    config = json.loads((qdir / "config.json").read_text())
    del config["quantization_config"]
    (qdir / "config.json").write_text(json.dumps(config))
    with pytest.raises(ComponentError, match="cannot tell how they are quantized"):
        load(qdir)


def test_ambiguous_descriptions(qdir: Path) -> None:
    shutil.move(qdir / DESCRIPTION, qdir / "quant_model_description_a.json")
    shutil.copy(qdir / "quant_model_description_a.json", qdir / "quant_model_description_b.json")
    with pytest.raises(DescriptionError, match="several quant descriptions"):
        load(qdir)


def test_mode_conflicts(demo_t2v: Path, quantized_t2v: Path) -> None:
    with pytest.raises(ComponentError, match="cannot be loaded unquantized"):
        load(quantized_t2v / "transformer", quant="none")
    with pytest.raises(ComponentError, match="wan-studio quantize"):
        load(demo_t2v / "transformer", quant="mxfp8-offline")
    with pytest.raises(ComponentError, match="unknown quantization mode"):
        load(demo_t2v / "transformer", quant="int4")
    with pytest.raises(ComponentError, match="needs a backend"):
        load(demo_t2v / "transformer", quant="mxfp8-online", backend=None)
    _, report = load(quantized_t2v / "transformer", quant="mxfp8-online")
    assert report.mode == "mxfp8-offline" and "not requantized" in report.notes[0]


def test_online_source_weights_with_inf_are_refused(demo_t2v: Path, tmp_path: Path) -> None:
    folder = tmp_path / "transformer"
    shutil.copytree(demo_t2v / "transformer", folder)
    edit_weights(
        folder, lambda t: t["blocks.0.attn1.to_v.weight"].__setitem__((3, 7), float("inf"))
    )
    with pytest.raises(WeightsError, match=r"layer blocks\.0\.attn1\.to_v: .*0xFF.*Inf/NaN"):
        load(folder, quant="mxfp8-online")


def test_freed_memory_is_handed_back_on_glibc() -> None:
    import platform

    from core.quant.streaming import _malloc_trim, release_freed_memory

    if sys.platform == "linux" and platform.libc_ver()[0] == "glibc":
        assert _malloc_trim() is not None  # the online path relies on it to bound peak RSS
    release_freed_memory()  # never raises, on any platform
