"""Opening a file a user handed the app (a preset, LoRA, image, description): one safe check.

Why: a path from a user can name anything. ``/dev/zero`` read with ``read_bytes()`` grows
until the kernel kills the process, a FIFO blocks ``open()`` forever, and a folder or a
multi-GB file given by mistake turns into a confusing parse error much later. Every such file
goes through here first: it must be a regular file (after following links) no bigger than the
cap for its kind, or the caller gets one ``UserFileError`` saying what, where and how to fix.
Reading opens with ``O_NONBLOCK`` and re-checks the opened descriptor, so a file swapped for a
FIFO between the check and the read still cannot block, and never reads past the cap.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.humanize import human_bytes

# Caps per kind: far above any real file of the kind, far below what could hurt the machine.
MAX_PRESET_BYTES = 1 << 20  # a preset is a few hundred bytes of JSON
MAX_DESCRIPTION_BYTES = 64 << 20  # msmodelslim descriptions: ~1 line per tensor, < 2 MB for A14B
MAX_IMAGE_BYTES = 256 << 20  # a 8K PNG is ~100 MB at worst
MAX_JSON_CONFIG_BYTES = 16 << 20  # config.json / model_index.json / index files
MAX_LORA_BYTES = 16 << 30  # a rank-256 A14B LoRA in fp32 is about 5 GiB
MAX_WEIGHTS_BYTES = 1 << 44  # one safetensors file of a model: no real cap, only "regular"


class UserFileError(ValueError):
    """A user-supplied file that cannot be read as one: the message names it and the fix."""


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


_FIX = "save the data to a file and choose that"


def check_user_file(
    path: str | os.PathLike[str], what: str, max_bytes: int, fix: str = _FIX
) -> Path:
    """``path`` as a Path when it is a regular file of at most ``max_bytes``; else UserFileError.

    ``what`` names the file for the message ("preset file", "image", ...), ``fix`` says what to
    do about a FIFO or device. Links are followed (a link to a real file is fine; a link to
    /dev/zero is not).
    """
    source = Path(path).expanduser()
    try:
        info = os.stat(source)
    except FileNotFoundError:
        raise UserFileError(f"{what} {source} does not exist: check the path") from None
    except OSError as exc:
        raise UserFileError(f"{what} {source} cannot be read: {exc.strerror or exc}") from None
    _check_stat(source, info, what, max_bytes, fix)
    return source


def _check_stat(
    source: Path, info: os.stat_result, what: str, max_bytes: int, fix: str = _FIX
) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UserFileError(f"{what} {source} is a folder: choose a file")
    if not stat.S_ISREG(info.st_mode):
        raise UserFileError(
            f"{what} {source} is not a regular file ({_kind_of(info.st_mode)}): Wan Studio "
            f"reads only regular files; {fix}"
        )
    if info.st_size > max_bytes:
        raise UserFileError(
            f"{what} {source} is {human_bytes(info.st_size)}; a {what} is at most "
            f"{human_bytes(max_bytes)}: this is probably not the file you meant"
        )


def read_user_file(path: str | os.PathLike[str], what: str, max_bytes: int) -> bytes:
    """The bytes of a checked user file (see ``check_user_file``), never more than ``max_bytes``."""
    source = check_user_file(path, what, max_bytes)
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise UserFileError(f"{what} {source} cannot be read: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        _check_stat(source, os.fstat(handle.fileno()), what, max_bytes)  # swapped meanwhile?
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:  # grew while we read
        raise UserFileError(
            f"{what} {source} is larger than {human_bytes(max_bytes)}, the limit for a {what}"
        )
    return data


__all__ = [
    "MAX_DESCRIPTION_BYTES",
    "MAX_IMAGE_BYTES",
    "MAX_JSON_CONFIG_BYTES",
    "MAX_LORA_BYTES",
    "MAX_PRESET_BYTES",
    "MAX_WEIGHTS_BYTES",
    "UserFileError",
    "check_user_file",
    "read_user_file",
]
