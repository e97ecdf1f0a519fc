"""Crash-safe file writes and tolerant reads for user files (presets, library, history, sidecars).

A write goes to a temporary file in the same folder, is fsynced, then os.replace()d over the
target: readers see the old file or the new one, never a torn one, even after SIGKILL.
A file that fails to parse is set aside as ``<name>.corrupt`` (never deleted) so the app can
start and the user can recover it.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

STALE_TEMP_SECONDS = 600.0  # temp files of interrupted saves older than this are removed


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def umask_mode(base: int = 0o666) -> int:
    """The mode a plain ``open()`` (0o666) or ``mkdir()`` (0o777) would give under the current
    umask: mkstemp/mkdtemp create private 0600/0700 entries, wrong for outputs users share."""
    return base & ~_current_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (same-folder temp file, fsync, rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (exports are shared).
        with contextlib.suppress(OSError):
            os.fchmod(fd, umask_mode(0o666))
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def quarantine(path: str | os.PathLike[str]) -> Path:
    """Move an unreadable file aside as ``<name>.corrupt`` (numbered if taken); returns the new path."""
    source = Path(path)
    candidate = source.with_name(source.name + ".corrupt")
    n = 1
    while candidate.exists():
        candidate = source.with_name(f"{source.name}.corrupt.{n}")
        n += 1
    os.replace(source, candidate)
    return candidate


def read_json_or_quarantine(path: str | os.PathLike[str]) -> tuple[Any | None, str | None]:
    """(data, None) for a good file, (None, None) when missing, (None, warning) when corrupt.

    A corrupt file is moved aside (see ``quarantine``) and the warning says where it went.
    """
    source = Path(path)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        return None, None
    try:
        return json.loads(raw.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as exc:
        moved = quarantine(source)
        return None, f"{source} could not be read ({exc}); it was set aside as {moved.name}"


def remove_stale_temp_files(
    target: str | os.PathLike[str], older_than: float = STALE_TEMP_SECONDS
) -> int:
    """Remove temp files that interrupted atomic saves of ``target`` left behind.

    ``target`` may be a file (its own temp files) or a folder (temp files of every file in it).
    Only files older than ``older_than`` seconds go, so a save in progress elsewhere is safe.
    """
    path = Path(target)
    pattern = ".*.tmp" if path.is_dir() else f".{path.name}.*.tmp"
    folder = path if path.is_dir() else path.parent
    removed = 0
    now = time.time()
    for tmp in folder.glob(pattern):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > older_than:
                tmp.unlink()
                removed += 1
    return removed
