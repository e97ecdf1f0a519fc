"""Safetensors reading and streaming writing, checked against the safetensors library itself."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from core.quant.checkpoint import (
    CheckpointError,
    CorruptCheckpoint,
    PickleWeightsRefused,
    TensorReader,
    find_weight_files,
    open_checkpoint,
    read_header,
    safetensors_dtype,
)
from core.quant.writer import SafetensorsWriter, TensorSpec, index_json, plan_shards, shard_names


def _sample() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    codes = torch.randint(0, 256, (7, 40), dtype=torch.uint8, generator=g)
    codes[codes == 0x7F] = 0  # keep NaN codes out so torch.equal is meaningful after a view
    return {
        "bf16": torch.randn(5, 33, generator=g).to(torch.bfloat16),
        "f32": torch.randn(3, 2, 4, generator=g),
        "f16": torch.randn(9, generator=g).half(),
        "fp8": codes.view(torch.float8_e4m3fn),
        "scale": torch.randint(0, 255, (7, 2), dtype=torch.uint8, generator=g),
        "e8m0": torch.randint(0, 255, (4,), dtype=torch.uint8, generator=g).view(
            torch.float8_e8m0fnu
        ),
        "mask": torch.rand(6, generator=g) > 0.5,
        "ids": torch.arange(-3, 3, dtype=torch.int64),
        "scalar": torch.tensor(1.5),
        "empty": torch.zeros(0, 4),
    }


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return (
        torch.equal(a.reshape(-1).view(torch.uint8), b.reshape(-1).view(torch.uint8))
        if a.numel()
        else True
    )


def test_reader_matches_the_library_for_every_dtype(tmp_path: Path) -> None:
    tensors = _sample()
    path = tmp_path / "diffusion_pytorch_model.safetensors"
    save_file(tensors, path, metadata={"format": "pt"})
    checkpoint = open_checkpoint(tmp_path)
    assert checkpoint.files == [path] and checkpoint.index_file is None
    assert checkpoint.metadata == {"format": "pt"}
    assert checkpoint.nbytes == sum(t.numel() * t.element_size() for t in tensors.values())
    with TensorReader(checkpoint) as reader, safe_open(path, "pt") as lib:
        for name in tensors:
            ours = reader.read(name)
            assert _same(ours, lib.get_tensor(name)), name
            assert _same(ours, tensors[name]), name


def test_writer_output_loads_with_the_library_in_any_write_order(tmp_path: Path) -> None:
    tensors = _sample()
    specs = [TensorSpec(n, safetensors_dtype(t.dtype), tuple(t.shape)) for n, t in tensors.items()]
    path = tmp_path / "out.safetensors"
    with SafetensorsWriter(path, specs, {"format": "pt"}) as writer:
        for name in reversed(list(tensors)):  # order of writing is free
            writer.write(name, tensors[name])
    assert path.stat().st_size == writer.total_bytes
    loaded = load_file(path)
    assert set(loaded) == set(tensors)
    for name, tensor in tensors.items():
        assert _same(loaded[name], tensor), name
    with safe_open(path, "pt") as lib:
        assert lib.metadata() == {"format": "pt"}
    header = read_header(path)  # our own validator accepts it too
    assert set(header.entries) == set(tensors)


def test_writer_refuses_wrong_or_missing_tensors(tmp_path: Path) -> None:
    specs = [TensorSpec("a", "F32", (2, 2)), TensorSpec("b", "U8", (3,))]
    with SafetensorsWriter(tmp_path / "x.safetensors", specs) as writer:
        with pytest.raises(CheckpointError, match="planned F32"):
            writer.write("a", torch.zeros(2, 3))
        with pytest.raises(CheckpointError, match="not planned"):
            writer.write("c", torch.zeros(1))
        writer.write("a", torch.zeros(2, 2))
        with pytest.raises(CheckpointError, match="already written"):
            writer.write("a", torch.zeros(2, 2))
        writer.write("b", torch.zeros(3, dtype=torch.uint8))
    with (
        pytest.raises(CheckpointError, match="never written"),
        SafetensorsWriter(tmp_path / "y.safetensors", specs) as writer,
    ):
        writer.write("a", torch.zeros(2, 2))


def test_sharded_checkpoint_round_trip(tmp_path: Path) -> None:
    tensors = {f"t{i}": torch.full((10,), float(i)) for i in range(5)}
    specs = [TensorSpec(n, "F32", (10,)) for n in tensors]
    shards = plan_shards(specs, max_shard_bytes=100)
    assert [len(s) for s in shards] == [2, 2, 1]
    names = shard_names("diffusion_pytorch_model", len(shards))
    assert names[0] == "diffusion_pytorch_model-00001-of-00003.safetensors"
    for name, shard in zip(names, shards, strict=True):
        with SafetensorsWriter(tmp_path / name, shard) as writer:
            for spec in shard:
                writer.write(spec.name, tensors[spec.name])
    index = index_json(shards, names)
    (tmp_path / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    checkpoint = open_checkpoint(tmp_path)
    assert len(checkpoint.files) == 3 and checkpoint.index_file is not None
    with TensorReader(checkpoint) as reader:
        for name, tensor in tensors.items():
            assert torch.equal(reader.read(name), tensor)


def _write(path: Path, tensors: dict[str, torch.Tensor]) -> Path:
    save_file(tensors, path)
    return path


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    path = _write(tmp_path / "diffusion_pytorch_model.safetensors", {"w": torch.ones(64, 64)})
    data = path.read_bytes()
    path.write_bytes(data[:-100])
    with pytest.raises(CorruptCheckpoint, match="truncated") as info:
        open_checkpoint(tmp_path)
    assert str(path) in str(info.value)
    path.write_bytes(data[:5])
    with pytest.raises(CorruptCheckpoint, match="truncated"):
        read_header(path)
    path.write_bytes(data[:40])  # cut inside the header
    with pytest.raises(CorruptCheckpoint, match="truncated or not a safetensors file"):
        read_header(path)


@pytest.mark.parametrize(
    ("header", "extra", "message"),
    [
        (b"not json at all!", b"", "corrupt safetensors header"),
        (json.dumps([1, 2]).encode(), b"", "not a JSON object"),
        (
            json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}).encode(),
            b"\0" * 4,
            "needs 8 bytes",
        ),
        (
            json.dumps({"a": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 1]}}).encode(),
            b"\0",
            "dtype 'Q9'",
        ),
        (
            json.dumps(
                {
                    "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                    "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]},
                }
            ).encode(),
            b"\0" * 6,
            "overlapping",
        ),
        (
            json.dumps({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}).encode(),
            b"\0" * 9,
            "after its last tensor",
        ),
        (
            json.dumps({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 4]}}).encode(),
            b"\0" * 4,
            "invalid shape",
        ),
    ],
)
def test_corrupt_headers(tmp_path: Path, header: bytes, extra: bytes, message: str) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + extra)
    with pytest.raises(CheckpointError, match=message):
        read_header(path)


@pytest.mark.parametrize(
    "name", ["diffusion_pytorch_model.bin", "model.pt", "weights.ckpt", "x.pth"]
)
def test_pickle_only_weights_are_refused_without_unpickling(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_unpickling(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.load must never be called")

    monkeypatch.setattr(torch, "load", no_unpickling)
    (tmp_path / name).write_bytes(b"\x80\x04 a pickle that would run code")
    with pytest.raises(PickleWeightsRefused, match="never unpickles") as info:
        open_checkpoint(tmp_path)
    assert name in str(info.value)


def test_missing_weights_and_bad_indexes(tmp_path: Path) -> None:
    (tmp_path / "other.safetensors").write_bytes(b"")
    with pytest.raises(
        CheckpointError, match=r"no diffusion_pytorch_model\.safetensors .*other\.safetensors"
    ):
        find_weight_files(tmp_path)
    index = tmp_path / "diffusion_pytorch_model.safetensors.index.json"
    index.write_text(json.dumps({"weight_map": {"a": "shard-1.safetensors"}}))
    with pytest.raises(
        CheckpointError, match=r"lists shard shard-1\.safetensors, which is missing"
    ):
        open_checkpoint(tmp_path)
    _write(tmp_path / "shard-1.safetensors", {"a": torch.ones(1), "b": torch.ones(1)})
    with pytest.raises(CorruptCheckpoint, match="does not list 1 tensor"):
        open_checkpoint(tmp_path)
    index.write_text(
        json.dumps(
            {
                "weight_map": {
                    "a": "shard-1.safetensors",
                    "b": "shard-1.safetensors",
                    "c": "shard-1.safetensors",
                }
            }
        )
    )
    with pytest.raises(
        CorruptCheckpoint, match=r"places c in shard-1\.safetensors, but no shard holds it"
    ):
        open_checkpoint(tmp_path)
    index.write_text(json.dumps({"weight_map": {"a": "../escape.safetensors"}}))
    with pytest.raises(CorruptCheckpoint, match="invalid shard file"):
        open_checkpoint(tmp_path)
    index.write_text("{broken")
    with pytest.raises(CorruptCheckpoint, match="not a valid safetensors index"):
        open_checkpoint(tmp_path)
