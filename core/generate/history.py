"""Past generations, read from the sidecar JSON files in an output folder (the GUI's History).

The sidecars are the source of truth (no separate index to go stale): ``scan(folder)`` reads
every ``*.json`` that is a Wan Studio video record, newest first. A corrupt or foreign JSON file
is skipped and reported in ``problems``, never modified or moved: the folder belongs to the user.
Torch-free.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.generate.request import GenerationRequest
from core.generate.video import RECORD_KIND


@dataclass
class HistoryEntry:
    video: Path
    poster: Path | None
    sidecar: Path
    request: GenerationRequest  # with the effective seed, like read_request
    seed: int | None
    created: float  # seconds since the epoch
    demo: bool
    record: dict[str, Any]
    video_exists: bool = True


@dataclass
class History:
    entries: list[HistoryEntry] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per skipped file
    total: int = 0  # videos in the folder; ``entries`` may hold only the newest ``limit``


def scan(folder: str | os.PathLike[str], limit: int | None = None) -> History:
    """Entries for the sidecars in ``folder`` (not recursive), newest first."""
    root = Path(folder).expanduser()
    history = History()
    if not root.is_dir():
        return history
    for sidecar in root.glob("*.json"):
        if sidecar.name.startswith("."):
            continue
        try:
            data = json.loads(sidecar.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            history.problems.append(f"{sidecar.name}: unreadable ({exc})")
            continue
        if not isinstance(data, dict) or data.get("kind") != RECORD_KIND:
            continue  # some other JSON file: not ours, not a problem
        entry = entry_from_record(sidecar, data, history.problems)
        if entry is not None:
            history.entries.append(entry)
    history.entries.sort(key=lambda e: e.created, reverse=True)
    history.total = len(history.entries)
    if limit is not None:
        history.entries = history.entries[:limit]
    return history


def entry_from_record(
    sidecar: Path, data: dict[str, Any], problems: list[str]
) -> HistoryEntry | None:
    """The entry of one parsed sidecar, or None (the reason appended to ``problems``)."""
    raw = data.get("request")
    if not isinstance(raw, dict):
        problems.append(f"{sidecar.name}: no request in the record")
        return None
    notes: list[str] = []
    try:
        request = GenerationRequest.from_dict(raw, notes)
    except ValueError as exc:
        problems.append(f"{sidecar.name}: {exc}")
        return None
    seed = data.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        request.seed = seed
    else:
        seed = None
    video = sidecar.with_name(str(data.get("video") or sidecar.with_suffix(".mp4").name))
    poster_name = data.get("poster")
    poster = sidecar.with_name(str(poster_name)) if poster_name else None
    created = data.get("created")
    if not isinstance(created, (int, float)):
        try:
            created = sidecar.stat().st_mtime
        except OSError:
            created = 0.0
    return HistoryEntry(
        video=video,
        poster=poster if poster is not None and poster.is_file() else None,
        sidecar=sidecar,
        request=request,
        seed=seed,
        created=float(created),
        demo=bool(data.get("demo", False)),
        record=data,
        video_exists=video.is_file(),
    )
