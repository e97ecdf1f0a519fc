"""The byte-level safetensors reader/writer and the raw range copier."""

from __future__ import annotations

import errno
import json
import os
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from core.repack import safetensors_io as sio
from core.repack.errors import RepackFailed
from core.repack.safetensors_io import (
    HeaderEntry,
    SafetensorsFormatError,
    build_header,
    copy_range,
    find_byte,
    read_header,
)


def _sample(path: Path) -> dict[str, torch.Tensor]:
    tensors = {
        "w": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "s": torch.tensor([[1, 2, 255]], dtype=torch.uint8),
        "f8": torch.tensor([1.0, -2.0, 448.0], dtype=torch.float8_e4m3fn),
        "b": torch.ones(5, dtype=torch.bfloat16),
        "e": torch.zeros(0, 4, dtype=torch.float32),
    }
    save_file(tensors, str(path))
    return tensors


def _raw(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def test_reads_what_the_library_writes(tmp_path: Path) -> None:
    path = tmp_path / "a.safetensors"
    tensors = _sample(path)
    header = read_header(path)
    assert set(header.tensors) == set(tensors)
    blob = path.read_bytes()
    for name, tensor in tensors.items():
        info = header.tensors[name]
        assert info.shape == tuple(tensor.shape)
        raw = blob[header.absolute_offset(info) : header.absolute_offset(info) + info.nbytes]
        assert raw == tensor.contiguous().view(torch.uint8).numpy().tobytes()
    assert header.tensors["f8"].dtype == "F8_E4M3"
    assert header.tensors["s"].dtype == "U8"


def test_built_header_plus_raw_bytes_is_a_valid_file(tmp_path: Path) -> None:
    src = tmp_path / "a.safetensors"
    tensors = _sample(src)
    header = read_header(src)
    blob = src.read_bytes()
    # Rename everything and reverse the order: only the header changes, bytes are copied raw.
    infos = list(header.tensors.values())[::-1]
    entries = [HeaderEntry(f"renamed.{i.name}", i.dtype, i.shape) for i in infos]
    head, offsets = build_header(entries, metadata={"format": "pt"})
    assert (len(head)) % 8 == 0
    data = b"".join(
        blob[header.absolute_offset(i) : header.absolute_offset(i) + i.nbytes] for i in infos
    )
    out = tmp_path / "b.safetensors"
    out.write_bytes(head + data)
    loaded = load_file(str(out))
    for name, tensor in tensors.items():
        assert torch.equal(loaded[f"renamed.{name}"].view(torch.uint8), tensor.view(torch.uint8))
    assert read_header(out).metadata == {"format": "pt"}
    assert offsets[0] == 0


def test_build_header_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        build_header([HeaderEntry("a", "U8", (1,)), HeaderEntry("a", "U8", (1,))])


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"", "only 0 bytes"),
        (b"\x01\x02", "only 2 bytes"),
        (struct.pack("<Q", 10**12), "corrupt header: its length field"),
        (struct.pack("<Q", 100) + b"{}", "truncated: the header alone"),
        (struct.pack("<Q", 4) + b"[1] ", "does not start with a JSON object"),
        (struct.pack("<Q", 6) + b"{nope}", "invalid JSON"),
        (struct.pack("<Q", 2) + b"\xff\xfe", "not UTF-8"),
    ],
)
def test_rejects_broken_prefix(tmp_path: Path, blob: bytes, message: str) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(blob)
    with pytest.raises(SafetensorsFormatError, match=message):
        read_header(path)


def _entry(dtype: str, shape: list[int], begin: int, end: int) -> dict:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ({"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 4, 12)}, 12, "overlap"),
        (
            {"a": _entry("F32", [2], 0, 8), "b": _entry("F32", [2], 12, 20)},
            20,
            "belong to no tensor",
        ),
        ({"a": _entry("F32", [2], 4, 12)}, 12, "before the first tensor"),
        ({"a": _entry("F32", [2], 0, 8)}, 10, "after the last tensor"),
        ({"a": _entry("F32", [4], 0, 16)}, 9, "truncated: the header describes 16 bytes"),
        ({"a": _entry("F32", [3], 0, 8)}, 8, "needs 12 bytes"),
        ({"a": _entry("Q7", [1], 0, 1)}, 1, "unknown dtype"),
        ({"a": _entry("U8", [-1], 0, 0)}, 0, "shape"),
        ({"a": _entry("U8", [1], 1, 0)}, 1, "data_offsets"),
        ({"a": {"dtype": "U8", "shape": [1]}}, 1, "exactly dtype, shape and data_offsets"),
        ({"__metadata__": {"k": 1}, "a": _entry("U8", [1], 0, 1)}, 1, "__metadata__"),
        ({"a": _entry("F4", [3], 0, 2)}, 2, "whole bytes"),
    ],
)
def test_rejects_bad_entries(tmp_path: Path, header: dict, data: int, message: str) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(_raw(header, b"\0" * data))
    with pytest.raises(SafetensorsFormatError, match=message):
        read_header(path)


def test_rejects_duplicate_names(tmp_path: Path) -> None:
    text = b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"\0\0")
    with pytest.raises(SafetensorsFormatError, match="duplicate key 'a'"):
        read_header(path)


def test_truncated_real_file_names_the_cut_tensor(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    save_file({"first": torch.zeros(64), "second": torch.zeros(64)}, str(path))
    blob = path.read_bytes()
    path.write_bytes(blob[:-10])
    with pytest.raises(SafetensorsFormatError, match="10 bytes short"):
        read_header(path)


@pytest.mark.parametrize("method", ["copy_file_range", "sendfile", "readwrite", "auto"])
def test_copy_range_methods_copy_exact_bytes(tmp_path: Path, method: str, monkeypatch) -> None:
    monkeypatch.setattr(sio, "COPY_CHUNK", 1000)  # many chunks
    monkeypatch.setattr(sio, "_RW_BUFFER", 333)
    payload = os.urandom(10_000)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(payload)
    chunks: list[int] = []
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(b"HEAD")
        fout.flush()
        used = copy_range(fin.fileno(), 1234, fout.fileno(), 4, 5000, chunks.append, method)
    assert used == ("copy_file_range" if method == "auto" else method)
    assert dst.read_bytes() == b"HEAD" + payload[1234:6234]
    assert sum(chunks) == 5000
    assert len(chunks) >= 4  # progress at least every COPY_CHUNK bytes


def test_copy_range_falls_back_when_unsupported(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "copy_file_range", refuse)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"abcdefgh")
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        assert copy_range(fin.fileno(), 2, fout.fileno(), 0, 4) == "sendfile"
    assert dst.read_bytes() == b"cdef"


def test_copy_range_propagates_real_errors(tmp_path: Path, monkeypatch) -> None:
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"abcdefgh")
    with open(src, "rb") as fin, open(dst, "wb") as fout, pytest.raises(OSError) as info:
        copy_range(fin.fileno(), 0, fout.fileno(), 0, 8)
    assert info.value.errno == errno.ENOSPC


def test_copy_range_notices_a_shrunken_source(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.write_bytes(b"abc")
    with (
        open(src, "rb") as fin,
        open(dst, "wb") as fout,
        pytest.raises(RepackFailed, match="ended"),
    ):
        copy_range(fin.fileno(), 0, fout.fileno(), 0, 10)


def test_find_byte(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"\x00" * 100 + b"\xff" + b"\x01" * 50)
    with open(path, "rb") as handle:
        fd = handle.fileno()
        assert find_byte(fd, 0, 151, 0xFF, buffer_size=7) == 100
        assert find_byte(fd, 101, 50, 0xFF, buffer_size=7) is None
        assert find_byte(fd, 90, 20, 0xFF) == 10


@pytest.mark.parametrize("residue", [0, 8, 3432, 4088])
def test_header_padding_puts_the_data_at_a_chosen_page_offset(tmp_path: Path, residue: int) -> None:
    tensors = {"a": torch.arange(10, dtype=torch.float32), "b": torch.ones(3, dtype=torch.uint8)}
    entries = [
        HeaderEntry(k, "F32" if k == "a" else "U8", tuple(v.shape)) for k, v in tensors.items()
    ]
    head, _ = build_header(entries, data_offset_residue=residue)
    assert len(head) % 4096 == residue
    path = tmp_path / "x.safetensors"
    path.write_bytes(
        head + b"".join(v.view(torch.uint8).numpy().tobytes() for v in tensors.values())
    )
    loaded = load_file(str(path))  # the library accepts the padded header
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())
    with pytest.raises(ValueError, match="8-aligned"):
        build_header(entries, data_offset_residue=residue + 4)
