"""The hidden temporary sibling a repack or quantize writes into before renaming it over the
target (shared: both write whole model folders, and both must clean up after a kill -9).

Why a sibling: os.replace is atomic only within one filesystem, and a sibling of the target is
on the target's filesystem. Why hidden: a crash (even kill -9) must leave no visible partial
output. The folder carries a marker naming its target and its writer holds an exclusive flock
on that marker for as long as it works; the kernel drops the lock when the process dies, so a
later run of the same kind for the same target can tell an abandoned folder (lock free) from one that is still
being written (lock held) and removes only the abandoned ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from core.atomicio import umask_mode

MARKER = ".wan-studio-repack.json"  # the name repack has always used (old leftovers match)
PURPOSES = ("repack", "quantize")


def _prefix(target: Path, purpose: str) -> str:
    return f".{target.name}.{purpose}-"


def _marker_kind(purpose: str) -> str:
    return f"wan-studio {purpose} staging"


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _is_ours(candidate: Path, target: Path, purpose: str) -> bool:
    try:
        marker = json.loads((candidate / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(marker, dict)
        and marker.get("kind") == _marker_kind(purpose)
        and marker.get("target") == str(target)
    )


def _lock_is_free(candidate: Path) -> bool:
    try:
        fd = os.open(candidate / MARKER, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live repack holds it
    finally:
        os.close(fd)  # closing drops our probe lock
    return True


def find_stale(target: Path, purpose: str = "repack") -> list[Path]:
    """Abandoned staging folders of ``target`` (ours by marker, no live writer)."""
    parent = target.parent
    if not parent.is_dir():
        return []
    found = []
    for candidate in sorted(parent.glob(_prefix(target, purpose) + "*")):
        ours = (
            candidate.is_dir()
            and not candidate.is_symlink()
            and _is_ours(candidate, target, purpose)
        )
        if ours and _lock_is_free(candidate):
            found.append(candidate)
    return found


def remove_stale(target: Path, purpose: str = "repack") -> list[Path]:
    """Delete abandoned staging folders of ``target``; returns what was removed."""
    removed = []
    for candidate in find_stale(target, purpose):
        shutil.rmtree(candidate, ignore_errors=True)
        if not candidate.exists():
            removed.append(candidate)
    return removed


class Staging:
    """A locked, hidden temporary sibling of ``target``; ``commit`` renames it into place."""

    def __init__(self, target: Path, purpose: str = "repack") -> None:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown staging purpose {purpose!r}")
        self.target = target
        self.path = Path(tempfile.mkdtemp(prefix=_prefix(target, purpose), dir=target.parent))
        self._lock_fd: int | None = None
        try:
            # mkdtemp makes the folder 0700; the output must follow the umask like its files.
            os.chmod(self.path, umask_mode(0o777))
            marker = self.path / MARKER
            marker.write_text(
                json.dumps(
                    {
                        "kind": _marker_kind(purpose),
                        "target": str(target),
                        "pid": os.getpid(),
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    }
                ),
                "utf-8",
            )
            self._lock_fd = os.open(marker, os.O_RDONLY)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BaseException:
            self.discard()
            raise

    def commit(self, durable: bool = True) -> None:
        """Rename the staging folder to the target (an empty target folder is replaced)."""
        (self.path / MARKER).unlink()
        if (
            durable
        ):  # the new entries of every folder, deepest first (file data is synced by the writer)
            for root, _, _ in sorted(os.walk(self.path), key=lambda w: -len(Path(w[0]).parts)):
                _fsync_dir(Path(root))
        os.replace(self.path, self.target)
        self._release()
        if durable:
            _fsync_dir(self.target.parent)

    def discard(self) -> None:
        """Remove the staging folder and everything in it (idempotent)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None
