"""Safetensors at the byte level: a strict header reader, a header writer, a range copier.

Why our own reader: a repack must never load tensors (memory would grow with the model), and
the safetensors library only reads headers through mmap, which would put file pages of a
5 GB checkpoint into our RSS on some paths. The format is tiny and fully specified: an 8-byte
little-endian header length, a JSON header (name -> dtype, shape, [begin, end) into the data
section, plus an optional ``__metadata__`` of strings), then the data section. Every rule the
library enforces is enforced here too, with messages that say what is wrong and where.

Renaming tensors only rewrites the header; tensor bytes are copied as raw ranges with
``os.copy_file_range`` (in-kernel, no user-space buffer), falling back to ``os.sendfile`` and
finally to a bounded pread/pwrite loop on filesystems that support neither.
"""

from __future__ import annotations

import errno
import itertools
import json
import math
import os
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.repack.errors import RepackFailed, RepackInputError

# Bits per element (safetensors' Dtype::bitsize). Sub-byte types must fill whole bytes.
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "C64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
MAX_HEADER_BYTES = 100_000_000  # the library's limit
METADATA_KEY = "__metadata__"
COPY_CHUNK = 256 << 20  # bytes per copy call: bounds the time between progress/cancel checks
_RW_BUFFER = 8 << 20  # the pread/pwrite fallback's only buffer


class SafetensorsFormatError(RepackInputError):
    """A file that is not a valid safetensors file (truncated, corrupt header, bad offsets)."""


@dataclass(frozen=True)
class TensorInfo:
    """One header entry. ``start``/``end`` are relative to the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class SafetensorsHeader:
    """A parsed, validated header; ``tensors`` is in data order."""

    path: Path
    file_size: int
    data_offset: int  # absolute offset of the data section (8 + header length)
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str] | None

    def absolute_offset(self, info: TensorInfo) -> int:
        return self.data_offset + info.start

    @property
    def data_size(self) -> int:
        return self.file_size - self.data_offset


def tensor_nbytes(dtype: str, shape: Sequence[int]) -> int:
    """Bytes a tensor of ``dtype``/``shape`` occupies; ValueError if it is not whole bytes."""
    bits = DTYPE_BITS[dtype] * math.prod(shape)
    if bits % 8:
        raise ValueError(f"{dtype} {list(shape)} does not fill whole bytes")
    return bits // 8


def dtype_alignment(dtype: str) -> int:
    """Natural alignment (bytes) of one element; 1 for byte and sub-byte types."""
    return max(1, DTYPE_BITS[dtype] // 8)


def _object_no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def read_header(path: str | os.PathLike[str]) -> SafetensorsHeader:
    """Read and strictly validate the header of a safetensors file (reads the header only)."""
    source = Path(path)
    try:
        with open(source, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise SafetensorsFormatError(
                    f"{source}: not a safetensors file: it is only {size} bytes long (a "
                    "safetensors file starts with an 8-byte header length). The file is "
                    "truncated or empty: copy or export it again."
                )
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES:
                raise SafetensorsFormatError(
                    f"{source}: corrupt header: its length field says {length} bytes (limit "
                    f"{MAX_HEADER_BYTES}); this is not a safetensors file or its first bytes are "
                    "damaged."
                )
            if 8 + length > size:
                raise SafetensorsFormatError(
                    f"{source}: truncated: the header alone should be {length} bytes but only "
                    f"{size - 8} follow the length field. Copy or export the file again."
                )
            raw = handle.read(length)
    except OSError as exc:
        raise RepackInputError(f"cannot read {source}: {exc.strerror or exc}") from exc
    return _parse_header(source, raw, size)


def _parse_header(source: Path, raw: bytes, size: int) -> SafetensorsHeader:
    def bad(what: str) -> SafetensorsFormatError:
        return SafetensorsFormatError(
            f"{source}: corrupt header: {what}. The file is damaged or not a safetensors file; "
            "copy or export it again."
        )

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise bad(f"not UTF-8 text ({exc.reason} at byte {8 + exc.start})") from None
    if not text.startswith("{"):
        raise bad("it does not start with a JSON object")
    try:
        doc = json.loads(text, object_pairs_hook=_object_no_duplicates)
    except ValueError as exc:  # JSONDecodeError and duplicate keys
        raise bad(f"invalid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise bad("the header is not a JSON object")

    metadata = doc.pop(METADATA_KEY, None)
    if metadata is not None and not (
        isinstance(metadata, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise bad(f"{METADATA_KEY} must map text to text")

    data_size = size - 8 - len(raw)
    infos: list[TensorInfo] = []
    for name, entry in doc.items():
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise bad(f"entry {name!r} must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if dtype not in DTYPE_BITS:
            raise bad(f"tensor {name!r} has unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        ):
            raise bad(f"tensor {name!r} has shape {shape!r}; expected a list of sizes >= 0")
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise bad(f"tensor {name!r} has data_offsets {offsets!r}; expected [begin, end]")
        try:
            needed = tensor_nbytes(dtype, shape)
        except ValueError as exc:
            raise bad(f"tensor {name!r}: {exc}") from None
        if offsets[1] - offsets[0] != needed:
            raise bad(
                f"tensor {name!r} ({dtype} {shape}) needs {needed} bytes but its data_offsets "
                f"{offsets} span {offsets[1] - offsets[0]}"
            )
        infos.append(TensorInfo(name, dtype, tuple(shape), offsets[0], offsets[1]))

    infos.sort(key=lambda t: (t.start, t.end))
    for first, second in itertools.pairwise(infos):  # overlaps first: the more specific finding
        if second.start < first.end:
            raise bad(
                f"tensors {first.name!r} (bytes {first.start}-{first.end}) and "
                f"{second.name!r} (bytes {second.start}-{second.end}) overlap"
            )
    expected = 0
    previous: TensorInfo | None = None
    for info in infos:
        if info.start > expected:
            after = f"after {previous.name!r}" if previous else "before the first tensor"
            raise bad(
                f"{info.start - expected} bytes of the data section {after} belong to no tensor"
            )
        expected = info.end
        previous = info
    if expected > data_size:
        cut = next(t for t in infos if t.end > data_size)
        raise SafetensorsFormatError(
            f"{source}: truncated: the header describes {expected} bytes of tensor data but the "
            f"file holds only {data_size} (it is {expected - data_size} bytes short; tensor "
            f"{cut.name!r} is cut off). Copy or export the file again."
        )
    if expected < data_size:
        raise bad(f"{data_size - expected} bytes after the last tensor belong to no tensor")
    return SafetensorsHeader(
        path=source,
        file_size=size,
        data_offset=8 + len(raw),
        tensors={t.name: t for t in infos},
        metadata=metadata,
    )


@dataclass(frozen=True)
class HeaderEntry:
    """A tensor to describe in a new header (its bytes are placed in the given order)."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return tensor_nbytes(self.dtype, self.shape)


PAGE = 4096


def build_header(
    entries: Iterable[HeaderEntry],
    metadata: dict[str, str] | None = None,
    data_offset_residue: int | None = None,
) -> tuple[bytes, list[int]]:
    """The bytes before the data section (length + JSON padded with spaces) and each entry's
    offset. Tensors are laid out contiguously in ``entries`` order, as the format requires.

    The data section starts 8-aligned, as the library writes it. ``data_offset_residue`` (a
    multiple of 8) pads further so that the data section starts at that offset modulo 4096:
    a range copy between files runs about 1.7x faster in the kernel when source and
    destination offsets are congruent modulo the page size (measured with copy_file_range on
    ext4).
    """
    doc: dict[str, object] = {}
    if metadata:
        doc[METADATA_KEY] = dict(metadata)
    offsets: list[int] = []
    position = 0
    for entry in entries:
        if entry.name in doc or entry.name == METADATA_KEY:
            raise ValueError(f"duplicate tensor name {entry.name!r}")
        end = position + entry.nbytes
        doc[entry.name] = {
            "dtype": entry.dtype,
            "shape": list(entry.shape),
            "data_offsets": [position, end],
        }
        offsets.append(position)
        position = end
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if data_offset_residue is None:
        text += b" " * (-(8 + len(text)) % 8)
    else:
        if data_offset_residue % 8:
            raise ValueError("the data section must start 8-aligned")
        text += b" " * ((data_offset_residue - 8 - len(text)) % PAGE)
    return struct.pack("<Q", len(text)) + text, offsets


# ---------------------------------------------------------------------------------------------
# Raw range copies

CopyMethod = str  # "auto" | "copy_file_range" | "sendfile" | "readwrite"
_UNSUPPORTED = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOTSUP}


def copy_range(
    src_fd: int,
    src_offset: int,
    dst_fd: int,
    dst_offset: int,
    length: int,
    on_chunk: Callable[[int], None] | None = None,
    method: CopyMethod = "auto",
) -> str:
    """Copy ``length`` bytes between two files by offset; returns the method that was used.

    ``on_chunk(n)`` is called after every chunk of at most ``COPY_CHUNK`` bytes; it may raise
    (e.g. core.progress.Cancelled) to stop the copy. "auto" tries copy_file_range, then
    sendfile, then pread/pwrite, switching only when the kernel or filesystem says the call is
    unsupported; real errors (ENOSPC, EFBIG, EIO) propagate as OSError.
    """
    order = {
        "auto": ("copy_file_range", "sendfile", "readwrite"),
        "copy_file_range": ("copy_file_range",),
        "sendfile": ("sendfile",),
        "readwrite": ("readwrite",),
    }[method]
    copied = [0]  # shared with the copiers so a fallback resumes where the last one stopped
    for candidate in order:
        if candidate == "copy_file_range" and not hasattr(os, "copy_file_range"):
            continue
        if candidate == "sendfile" and not hasattr(os, "sendfile"):
            continue
        try:
            _COPIERS[candidate](src_fd, src_offset, dst_fd, dst_offset, length, copied, on_chunk)
            return candidate
        except OSError as exc:
            # Only "not supported" falls through to the next method; anything else is real.
            if exc.errno not in _UNSUPPORTED or candidate == order[-1]:
                raise
    raise OSError(errno.ENOSYS, "no copy method available")  # pragma: no cover


def _short_source(done: int, length: int) -> RepackFailed:
    return RepackFailed(
        f"the source file ended after {done} of {length} bytes while copying: it was changed "
        "or truncated during the repack"
    )


def _copy_file_range(src, src_off, dst, dst_off, length, copied, on_chunk) -> None:
    while (done := copied[0]) < length:
        n = os.copy_file_range(
            src, dst, min(COPY_CHUNK, length - done), src_off + done, dst_off + done
        )
        if n == 0:
            raise _short_source(done, length)
        copied[0] += n
        if on_chunk:
            on_chunk(n)


def _sendfile(src, src_off, dst, dst_off, length, copied, on_chunk) -> None:
    os.lseek(dst, dst_off + copied[0], os.SEEK_SET)
    while (done := copied[0]) < length:
        n = os.sendfile(dst, src, src_off + done, min(COPY_CHUNK, length - done))
        if n == 0:
            raise _short_source(done, length)
        copied[0] += n
        if on_chunk:
            on_chunk(n)


def _readwrite(src, src_off, dst, dst_off, length, copied, on_chunk) -> None:
    reported = 0
    while (done := copied[0]) < length:
        block = os.pread(src, min(_RW_BUFFER, length - done), src_off + done)
        if not block:
            raise _short_source(done, length)
        view = memoryview(block)
        while view:
            written = os.pwrite(dst, view, dst_off + copied[0])
            view = view[written:]
            copied[0] += written
            reported += written
        if on_chunk and (reported >= COPY_CHUNK or copied[0] == length):
            on_chunk(reported)
            reported = 0


_COPIERS = {
    "copy_file_range": _copy_file_range,
    "sendfile": _sendfile,
    "readwrite": _readwrite,
}


def copy_file(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    on_chunk: Callable[[int], None] | None = None,
    method: CopyMethod = "auto",
) -> int:
    """Copy one whole file (new file, fails if ``dst`` exists); returns its size."""
    with open(src, "rb") as fin:
        size = os.fstat(fin.fileno()).st_size
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if size:
                copy_range(fin.fileno(), 0, fd, 0, size, on_chunk, method)
        finally:
            os.close(fd)
    return size


def find_byte(
    fd: int, offset: int, length: int, value: int, buffer_size: int = 4 << 20
) -> int | None:
    """Offset (relative to ``offset``) of the first byte equal to ``value`` in a range, or None.

    Reads in bounded chunks, for scanning scale tensors of any size.
    """
    needle = bytes([value])
    position = 0
    while position < length:
        block = os.pread(fd, min(buffer_size, length - position), offset + position)
        if not block:
            raise RepackFailed(f"file ended while scanning ({position} of {length} bytes)")
        hit = block.find(needle)
        if hit >= 0:
            return position + hit
        position += len(block)
    return None
