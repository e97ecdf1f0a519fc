"""Streaming safetensors writer: tensors are written one at a time, in any order.

Why not ``safetensors.torch.save_file``: it needs every tensor in memory at once, which for a
real transformer means a full second copy of the model. Here the header (names, dtypes, shapes,
offsets) is planned up front, the file is sized once, and each tensor is written at its offset
as soon as it exists, so memory stays bounded by the largest tensor. The layout (8-byte length,
space-padded JSON header, tensors sorted by alignment then name) matches what the safetensors
library writes, and its reader loads the result.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.quant.checkpoint import DTYPE_SIZES, CheckpointError, safetensors_dtype

INDEX_SUFFIX = ".safetensors.index.json"


@dataclass(frozen=True)
class TensorSpec:
    """A tensor to be written: name, safetensors dtype code and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * DTYPE_SIZES[self.dtype]


class SafetensorsWriter:
    """Write one safetensors file from a planned list of tensors.

    Use as a context manager; ``write(name, tensor)`` each planned tensor exactly once, in any
    order. Leaving the block without an exception checks that every tensor was written.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        specs: Sequence[TensorSpec],
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        ordered = sorted(specs, key=lambda s: (-DTYPE_SIZES[s.dtype], s.name))
        header: dict[str, object] = {}
        if metadata:
            header["__metadata__"] = dict(metadata)
        offset = 0
        self._specs: dict[str, TensorSpec] = {}
        self._offsets: dict[str, int] = {}
        for spec in ordered:
            if spec.name in self._specs:
                raise CheckpointError(f"tensor {spec.name} is planned twice for {self.path}")
            header[spec.name] = {
                "dtype": spec.dtype,
                "shape": list(spec.shape),
                "data_offsets": [offset, offset + spec.nbytes],
            }
            self._specs[spec.name] = spec
            self._offsets[spec.name] = offset
            offset += spec.nbytes
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        raw += b" " * (-len(raw) % 8)
        self._data_start = 8 + len(raw)
        self._total = self._data_start + offset
        self._header = struct.pack("<Q", len(raw)) + raw
        self._written: set[str] = set()
        self._handle = None

    @property
    def total_bytes(self) -> int:
        return self._total

    def __enter__(self) -> SafetensorsWriter:
        self._handle = open(self.path, "wb")
        self._handle.write(self._header)
        self._handle.truncate(self._total)
        return self

    def write(self, name: str, tensor) -> int:
        """Write one planned tensor (dtype and shape must match the plan); returns its bytes."""
        import torch

        spec = self._specs.get(name)
        if spec is None:
            raise CheckpointError(f"tensor {name} was not planned for {self.path}")
        if name in self._written:
            raise CheckpointError(f"tensor {name} was already written to {self.path}")
        if safetensors_dtype(tensor.dtype) != spec.dtype or tuple(tensor.shape) != spec.shape:
            raise CheckpointError(
                f"tensor {name} is {tensor.dtype} {list(tensor.shape)}, planned "
                f"{spec.dtype} {list(spec.shape)}"
            )
        assert self._handle is not None, "use SafetensorsWriter as a context manager"
        if spec.nbytes:
            data = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
            self._handle.seek(self._data_start + self._offsets[name])
            self._handle.write(memoryview(data))
        self._written.add(name)
        return spec.nbytes

    def __exit__(self, exc_type, exc, tb) -> None:
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            if exc_type is None:
                missing = [n for n in self._specs if n not in self._written]
                if missing:
                    raise CheckpointError(
                        f"{self.path}: {len(missing)} planned tensor(s) were never written "
                        f"(e.g. {missing[0]})"
                    )
                handle.flush()
                os.fsync(handle.fileno())
        finally:
            handle.close()


def plan_shards(specs: Iterable[TensorSpec], max_shard_bytes: int) -> list[list[TensorSpec]]:
    """Split tensors into shards of at most ``max_shard_bytes`` (a bigger tensor gets its own)."""
    shards: list[list[TensorSpec]] = [[]]
    size = 0
    for spec in specs:
        if shards[-1] and size + spec.nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(spec)
        size += spec.nbytes
    return shards


def shard_names(stem: str, count: int) -> list[str]:
    """diffusers' shard file names: ``<stem>-00001-of-00002.safetensors``, or one plain file."""
    if count == 1:
        return [f"{stem}.safetensors"]
    return [f"{stem}-{i:05d}-of-{count:05d}.safetensors" for i in range(1, count + 1)]


def index_json(shards: Sequence[Sequence[TensorSpec]], names: Sequence[str]) -> dict:
    """The ``*.safetensors.index.json`` content for sharded output."""
    total = sum(s.nbytes for shard in shards for s in shard)
    weight_map = {s.name: names[i] for i, shard in enumerate(shards) for s in shard}
    return {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
