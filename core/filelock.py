"""One exclusive lock per user file, across processes: serializes read-modify-write cycles.

Why: the GUI and any number of CLI processes change the same small JSON files (the model
library, LoRA folders, presets). An atomic write alone keeps each file whole, but two writers
that both read, change and write lose one change. Every read-modify-write of a shared user file
runs inside ``locked(path)``: an ``fcntl.flock`` on a ``<name>.lock`` sibling, which the kernel
drops when the process dies (a killed writer never leaves the file locked).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file that guards ``path`` (a file, or a folder of files such as presets): a
    sibling, so it never shows up among the files it guards."""
    target = Path(path)
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the exclusive cross-process lock of ``path`` for the ``with`` body (blocking)."""
    lock = lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = ["lock_path", "locked"]
