"""Safetensors checkpoints of one model component: find the files, validate headers, read tensors.

Why not ``safetensors.safe_open``: it maps the file and hands out tensors backed by that mapping,
so a loaded model would depend on the file staying unchanged, and every converted tensor would
keep its source pages resident next to the copy. Reading each tensor with ``readinto`` into the
buffer it will live in gives exactly one copy, bounded peak memory and a precise error when a
file is truncated. The format is tiny (8-byte length, JSON header, raw little-endian data) and
this module validates it as strictly as the library does.

Header reading and file discovery need no torch (folder inspection uses them at GUI start-up);
``read_tensor`` imports torch lazily. Pickle-based weights (.bin/.pt/.ckpt/.pth) are refused,
never unpickled.
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.userfiles import MAX_WEIGHTS_BYTES, UserFileError, check_user_file

_COPY_AGAIN = "copy or download the model's weights again"
# Bytes per element of every safetensors dtype this app can hold in torch.
DTYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_MAX_HEADER = 100_000_000  # same limit as the safetensors library

# Weight file names diffusers / transformers write, in preference order.
WEIGHT_NAMES = ("diffusion_pytorch_model", "model")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message names the file or tensor and what to do."""


class PickleWeightsRefused(CheckpointError):
    """Only pickle-based weights were found; they are never unpickled (arbitrary code)."""


class CorruptCheckpoint(CheckpointError):
    """A truncated or malformed safetensors file or index."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives: file, absolute byte range, dtype and shape from the header."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int
    file: Path

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class SafetensorsHeader:
    path: Path
    entries: dict[str, TensorEntry]
    metadata: dict[str, str]
    data_start: int
    file_size: int


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Parse and validate one safetensors header (cheap: reads only the header bytes)."""
    file = Path(path)
    try:  # a FIFO would block open() forever, a device never ends: regular files only
        check_user_file(file, "weights file", MAX_WEIGHTS_BYTES, _COPY_AGAIN)
    except UserFileError as exc:
        raise CheckpointError(str(exc)) from None
    try:
        size = file.stat().st_size
        with open(file, "rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise CorruptCheckpoint(
                    f"{file} is truncated ({size} bytes): not a complete safetensors file. "
                    "Copy or download it again."
                )
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > _MAX_HEADER or 8 + header_len > size:
                raise CorruptCheckpoint(
                    f"{file} is truncated or not a safetensors file (its header claims "
                    f"{header_len} bytes, the file has {size}). Copy or download it again."
                )
            raw = handle.read(header_len)
    except OSError as exc:
        raise CheckpointError(f"cannot read {file}: {exc.strerror or exc}") from exc
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpoint(
            f"{file} has a corrupt safetensors header ({exc}). Copy or download it again."
        ) from exc
    if not isinstance(header, dict):
        raise CorruptCheckpoint(f"{file} has a corrupt safetensors header (not a JSON object)")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CorruptCheckpoint(f"{file}: __metadata__ must be an object")
    data_start = 8 + header_len
    data_len = size - data_start
    entries: dict[str, TensorEntry] = {}
    for name, info in header.items():
        entries[name] = _parse_entry(file, name, info, data_start)
    spans = sorted((e.start - data_start, e.end - data_start, e.name) for e in entries.values())
    cursor = 0
    for begin, end, name in spans:
        if begin != cursor:
            raise CorruptCheckpoint(
                f"{file}: tensor {name} starts at data byte {begin}, expected {cursor} "
                "(overlapping or missing data): the file is corrupt. Copy or download it again."
            )
        cursor = end
    if cursor > data_len:
        raise CorruptCheckpoint(
            f"{file} is truncated: its header describes {cursor} data bytes but only {data_len} "
            "are present. Copy or download it again."
        )
    if cursor < data_len:
        raise CorruptCheckpoint(
            f"{file} has {data_len - cursor} bytes after its last tensor: the file is corrupt "
            "or was not written by a safetensors writer."
        )
    return SafetensorsHeader(
        path=file, entries=entries, metadata=dict(metadata), data_start=data_start, file_size=size
    )


def _parse_entry(file: Path, name: str, info: Any, data_start: int) -> TensorEntry:
    if not isinstance(info, dict):
        raise CorruptCheckpoint(f"{file}: header entry {name!r} is not an object")
    dtype = info.get("dtype")
    shape = info.get("shape")
    offsets = info.get("data_offsets")
    if dtype not in DTYPE_SIZES:
        raise CheckpointError(
            f"{file}: tensor {name} has dtype {dtype!r}, which Wan Studio cannot load "
            f"(known: {', '.join(DTYPE_SIZES)})"
        )
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise CorruptCheckpoint(f"{file}: tensor {name} has an invalid shape {shape!r}")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise CorruptCheckpoint(f"{file}: tensor {name} has invalid data_offsets {offsets!r}")
    expected = math.prod(shape) * DTYPE_SIZES[dtype]
    if offsets[1] - offsets[0] != expected:
        raise CorruptCheckpoint(
            f"{file}: tensor {name} ({dtype} {shape}) needs {expected} bytes but its offsets "
            f"span {offsets[1] - offsets[0]}: the file is corrupt"
        )
    return TensorEntry(
        name=name,
        dtype=dtype,
        shape=tuple(shape),
        start=data_start + offsets[0],
        end=data_start + offsets[1],
        file=file,
    )


@dataclass
class Checkpoint:
    """All tensors of one component (single file or shards), by name."""

    folder: Path
    files: list[Path]
    entries: dict[str, TensorEntry]
    index_file: Path | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    @property
    def file_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)


def find_weight_files(folder: str | os.PathLike[str]) -> tuple[list[Path], Path | None]:
    """Safetensors files of a Diffusers/transformers component folder and its index (or None).

    Raises PickleWeightsRefused when only pickle files exist and CheckpointError when nothing
    loadable is there.
    """
    base = Path(folder)
    for stem in WEIGHT_NAMES:
        index = base / f"{stem}.safetensors.index.json"
        if index.is_file():
            return _files_from_index(index), index
        single = base / f"{stem}.safetensors"
        if single.is_file():
            return [single], None
        if single.exists() or single.is_symlink():  # there, but a FIFO, folder or device
            try:
                check_user_file(single, "weights file", MAX_WEIGHTS_BYTES, _COPY_AGAIN)
            except UserFileError as exc:
                raise CheckpointError(str(exc)) from None
    pickles = (
        sorted(p.name for p in base.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if base.is_dir()
        else []
    )
    if pickles:
        raise PickleWeightsRefused(
            f"{base} holds only pickle-based weights ({', '.join(pickles)}). Wan Studio never "
            "unpickles files (they can run arbitrary code); convert them to .safetensors, or "
            "download the safetensors version of the model."
        )
    others = sorted(p.name for p in base.glob("*.safetensors")) if base.is_dir() else []
    hint = f" (found {', '.join(others)})" if others else ""
    raise CheckpointError(
        f"{base} has no diffusion_pytorch_model.safetensors (or sharded index){hint}; "
        "pick a complete Diffusers-layout model folder"
    )


def _files_from_index(index: Path) -> list[Path]:
    from core.configcheck import read_json_config

    try:  # regular file, size cap, a JSON object
        data = read_json_config(index, "shard index")
        weight_map = data["weight_map"]
        if not isinstance(weight_map, dict):
            raise TypeError("weight_map is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptCheckpoint(f"{index} is not a valid safetensors index ({exc})") from exc
    for name in weight_map.values():  # before sorting: a list or a number cannot be sorted
        if not isinstance(name, str) or "/" in name or "\\" in name or name in ("", ".", ".."):
            raise CorruptCheckpoint(f"{index} names an invalid shard file {name!r}")
    files = []
    for name in sorted(set(weight_map.values())):
        shard = index.parent / name
        if not shard.is_file():
            raise CheckpointError(
                f"{index} lists shard {name}, which is missing from {index.parent}; "
                "copy or download the missing file"
            )
        files.append(shard)
    return files


def open_checkpoint(folder: str | os.PathLike[str]) -> Checkpoint:
    """Validate every header of a component's weights and merge them into one name table."""
    files, index = find_weight_files(folder)
    entries: dict[str, TensorEntry] = {}
    metadata: dict[str, str] = {}
    for file in files:
        header = read_header(file)
        metadata.update(header.metadata)
        for name, entry in header.entries.items():
            if name in entries:
                raise CorruptCheckpoint(
                    f"tensor {name} appears in both {entries[name].file.name} and {file.name}; "
                    "the shards do not belong together"
                )
            entries[name] = entry
    if index is not None:
        weight_map = json.loads(index.read_text("utf-8"))["weight_map"]
        for name, shard in weight_map.items():
            entry = entries.get(name)
            if entry is None or entry.file.name != shard:
                raise CorruptCheckpoint(
                    f"{index.name} places {name} in {shard}, but "
                    + (f"it is in {entry.file.name}" if entry else "no shard holds it")
                    + "; the index and shards do not match"
                )
        extra = [n for n in entries if n not in weight_map]
        if extra:
            raise CorruptCheckpoint(
                f"{index.name} does not list {len(extra)} tensor(s) found in the shards "
                f"(e.g. {extra[0]}); the index and shards do not match"
            )
    return Checkpoint(
        folder=Path(folder), files=files, entries=entries, index_file=index, metadata=metadata
    )


def torch_dtype(code: str):
    """torch dtype of a safetensors dtype code."""
    import torch

    return {
        "BOOL": torch.bool,
        "U8": torch.uint8,
        "I8": torch.int8,
        "F8_E4M3": torch.float8_e4m3fn,
        "F8_E5M2": torch.float8_e5m2,
        "F8_E8M0": torch.float8_e8m0fnu,
        "I16": torch.int16,
        "U16": torch.uint16,
        "F16": torch.float16,
        "BF16": torch.bfloat16,
        "I32": torch.int32,
        "U32": torch.uint32,
        "F32": torch.float32,
        "I64": torch.int64,
        "U64": torch.uint64,
        "F64": torch.float64,
        "C64": torch.complex64,
    }[code]


def safetensors_dtype(dtype) -> str:
    """safetensors dtype code of a torch dtype."""

    for code in DTYPE_SIZES:
        if torch_dtype(code) == dtype:
            return code
    raise CheckpointError(f"dtype {dtype} cannot be stored in safetensors")


class TensorReader:
    """Reads tensors of a checkpoint one at a time, keeping one handle per shard open."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        if sys.byteorder != "little":  # safetensors data is little-endian
            raise CheckpointError("big-endian machines are not supported")
        self.checkpoint = checkpoint
        self._handles: dict[Path, Any] = {}

    def __enter__(self) -> TensorReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles.clear()

    def read(self, name: str, device: Any = "cpu"):
        """The tensor ``name`` as a fresh CPU tensor (then moved to ``device``)."""
        import torch

        entry = self.checkpoint.entries[name]
        tensor = torch.empty(entry.shape, dtype=torch_dtype(entry.dtype))
        if entry.nbytes:
            view = tensor.reshape(-1).view(torch.uint8).numpy()
            handle = self._handles.get(entry.file)
            if handle is None:
                handle = self._handles[entry.file] = open(entry.file, "rb", buffering=0)  # noqa: SIM115
            handle.seek(entry.start)
            got = 0
            memory = memoryview(view)
            while got < entry.nbytes:
                n = handle.readinto(memory[got:])
                if not n:
                    raise CorruptCheckpoint(
                        f"{entry.file} ended while reading tensor {name} (got {got} of "
                        f"{entry.nbytes} bytes): the file was truncated. Copy or download it again."
                    )
                got += n
        if str(device) != "cpu":
            tensor = tensor.to(device)
        return tensor
