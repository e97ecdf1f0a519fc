"""Restoring a video's LoRAs: which recorded LoRAs are here (same file, or a file with the same
name and content in a LoRA folder) and which are missing, said per file."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from core.lora.choice import LoraChoice
from core.lora.errors import LoraError


def _locate(path: str, sha256: str | None) -> Path | None:
    from core.lora.library import find_by_name
    from core.lora.reader import file_sha256

    file = Path(path).expanduser()
    if file.is_file():
        if sha256 is None:
            return file
        with contextlib.suppress(LoraError, OSError):
            if file_sha256(file) == sha256:
                return file
    return find_by_name(file.name, sha256)


class MissingLora(str):
    """The message about one missing LoRA file (a str), with the recorded ``path``."""

    path: str

    def __new__(cls, message: str, path: str) -> MissingLora:
        text = super().__new__(cls, message)
        text.path = path
        return text


def resolve_recorded(choices: list[LoraChoice]) -> tuple[list[LoraChoice], list[MissingLora]]:
    """(the choices found, with their current paths; one message per missing or changed file,
    each carrying the recorded path)."""
    found: list[LoraChoice] = []
    missing: list[MissingLora] = []
    for choice in choices:
        high = _locate(choice.path, choice.sha256)
        low = _locate(choice.path_low, choice.sha256_low) if choice.path_low else None
        lost = [
            p
            for p, hit in ((choice.path, high), (choice.path_low, low))
            if p is not None and hit is None
        ]
        if lost:
            for p in lost:
                missing.append(
                    MissingLora(
                        f"LoRA {Path(p).name} is not here (not at {p}, and no file of that name "
                        "and content in your LoRA folders)",
                        p,
                    )
                )
            continue
        found.append(
            dataclasses.replace(choice, path=str(high), path_low=str(low) if low else None)
        )
    return found, missing
