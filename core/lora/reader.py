"""Read a LoRA file: safetensors only, header checked before any data, one sequential pass that
also yields the file's sha256 (recorded in every video's metadata).

Reuses core.quant.checkpoint's strict header parser (truncation, overlaps, trailing bytes).
Only regular files are opened (never a FIFO or a device), with a size cap, and the header is
the only part read by ``read_lora_header`` (the Models workspace and ``inspect`` use it).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.lora.choice import check_lora_path
from core.lora.errors import LoraError
from core.userfiles import MAX_LORA_BYTES, UserFileError, check_user_file

_CHUNK = 8 << 20


@dataclass
class LoraHeader:
    """A LoRA file's tensor names, dtypes and shapes, without its data."""

    path: Path
    entries: dict[str, Any]  # name -> core.quant.checkpoint.TensorEntry
    metadata: dict[str, str] = field(default_factory=dict)
    file_size: int = 0


@dataclass
class LoraTensors:
    """A LoRA file read into memory (CPU tensors in their stored dtype) and its sha256."""

    path: Path
    tensors: dict[str, Any]
    metadata: dict[str, str]
    sha256: str
    file_size: int


def _checked_file(path: str | os.PathLike[str]) -> Path:
    file = Path(path).expanduser()
    problem = check_lora_path(str(file))
    if problem:
        raise LoraError(problem)
    try:  # the shared check of every user file: regular, under the size cap
        return check_user_file(file, "LoRA", MAX_LORA_BYTES)
    except UserFileError as exc:
        raise LoraError(str(exc)) from None


def read_lora_header(path: str | os.PathLike[str]) -> LoraHeader:
    """Parse the header of a LoRA file (cheap); LoraError names the file and the problem."""
    from core.quant.checkpoint import CheckpointError, read_header

    file = _checked_file(path)
    try:
        header = read_header(file)
    except CheckpointError as exc:
        raise LoraError(f"LoRA {file.name}: {exc}") from exc
    if not header.entries:
        raise LoraError(f"LoRA {file} holds no tensors")
    return LoraHeader(
        path=file, entries=header.entries, metadata=header.metadata, file_size=header.file_size
    )


def read_lora(path: str | os.PathLike[str], cancel: Any = None) -> LoraTensors:
    """Read every tensor of a LoRA file in one pass, hashing the file on the way."""
    import torch

    from core.quant.checkpoint import torch_dtype

    head = read_lora_header(path)
    digest = hashlib.sha256()
    tensors: dict[str, Any] = {}
    order = sorted(head.entries.values(), key=lambda e: e.start)
    data_start = order[0].start if order else head.file_size
    with open(head.path, "rb", buffering=0) as handle:
        prefix = handle.read(data_start)
        digest.update(prefix)
        for entry in order:
            if cancel is not None:
                cancel.raise_if_cancelled()
            try:
                dtype = torch_dtype(entry.dtype)
            except Exception as exc:
                raise LoraError(
                    f"LoRA {head.path.name}: tensor {entry.name} has dtype {entry.dtype}, which "
                    "a LoRA cannot use"
                ) from exc
            tensor = torch.empty(entry.shape, dtype=dtype)
            if entry.nbytes:
                memory = memoryview(tensor.reshape(-1).view(torch.uint8).numpy())
                got = 0
                while got < entry.nbytes:
                    n = handle.readinto(memory[got : min(entry.nbytes, got + _CHUNK)])
                    if not n:
                        raise LoraError(
                            f"LoRA {head.path} ended while reading {entry.name}: the file is "
                            "truncated. Copy or download it again."
                        )
                    got += n
                digest.update(memory)
            tensors[entry.name] = tensor
        if handle.read(1):
            raise LoraError(f"LoRA {head.path} changed while it was read: try again")
    return LoraTensors(
        path=head.path,
        tensors=tensors,
        metadata=head.metadata,
        sha256=digest.hexdigest(),
        file_size=head.file_size,
    )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file, streamed (restore checks a recorded LoRA without loading it)."""
    digest = hashlib.sha256()
    with open(_checked_file(path), "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
