"""The user's LoRA folders and what is in them, shared by the GUI and the CLI.

The folder list is one small JSON document (``loras.json`` in the app data folder) written
atomically under an exclusive lock, so the GUI and a CLI adding folders at the same time lose
nothing; a corrupt file is set aside as ``loras.json.corrupt`` and an empty list starts.
Scanning a folder lists its ``.safetensors`` files (not recursive: a LoRA folder is flat in
every app users know) and groups HIGH/LOW partners into one item. Torch-free.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from core import paths
from core.atomicio import atomic_write_json, read_json_or_quarantine
from core.filelock import locked
from core.lora.errors import LoraError
from core.lora.naming import EXPERT_HIGH, display_name, expert_of, partner_name

LIBRARY_SCHEMA = "wan-studio-lora-library"
LIBRARY_VERSION = 1
MAX_FILES_PER_FOLDER = 5000


def library_file() -> Path:
    return paths.data_dir() / "loras.json"


@dataclass(frozen=True)
class LoraItem:
    """One entry of a LoRA folder: a file, or a HIGH/LOW pair shown as one."""

    path: str  # the file, or the HIGH file of a pair
    path_low: str | None = None
    expert: str | None = None  # for a lone file: the expert its name says

    @property
    def label(self) -> str:
        return display_name(self.path, self.path_low)

    @property
    def is_pair(self) -> bool:
        return self.path_low is not None


def load_folders() -> tuple[list[str], str | None]:
    """The saved LoRA folders and a note when the file was unreadable (set aside)."""
    data, problem = read_json_or_quarantine(library_file())
    if data is None:
        return [], problem
    folders = data.get("folders") if isinstance(data, dict) else None
    if not isinstance(folders, list):
        return [], f"{library_file()} holds no folder list; starting empty"
    return [f for f in folders if isinstance(f, str)], problem


def _save(folders: list[str]) -> None:
    atomic_write_json(
        library_file(),
        {"schema": LIBRARY_SCHEMA, "version": LIBRARY_VERSION, "folders": folders},
    )


def add_folder(folder: str | os.PathLike[str]) -> list[str]:
    """Add a LoRA folder (absolute, deduplicated); returns the new list."""
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise LoraError(f"{path} is not a folder: pick the folder that holds your LoRA files")
    text = str(path.resolve())
    file = library_file()
    with locked(file):
        folders, _problem = load_folders()
        if text not in folders:
            folders.append(text)
            _save(folders)
    return folders


def remove_folder(folder: str | os.PathLike[str]) -> list[str]:
    text = str(Path(folder).expanduser().resolve())
    file = library_file()
    with locked(file):
        folders, _problem = load_folders()
        kept = [f for f in folders if f != text]
        if kept != folders:
            _save(kept)
    return kept


def scan_folder(folder: str | os.PathLike[str]) -> list[LoraItem]:
    """The LoRA items of one folder, sorted by label (pairs merged, regular files only)."""
    base = Path(folder)
    try:
        names = sorted(
            e.name
            for e in os.scandir(base)
            if e.name.lower().endswith(".safetensors") and e.is_file(follow_symlinks=True)
        )
    except OSError:
        return []
    names = names[:MAX_FILES_PER_FOLDER]
    present = set(names)
    used: set[str] = set()
    items: list[LoraItem] = []
    for name in names:
        if name in used:
            continue
        expert = expert_of(name)
        other = partner_name(name)
        if other and other in present and other not in used:
            high, low = (name, other) if expert == EXPERT_HIGH else (other, name)
            items.append(LoraItem(path=str(base / high), path_low=str(base / low)))
            used.update((name, other))
            continue
        used.add(name)
        items.append(LoraItem(path=str(base / name), expert=expert))
    return sorted(items, key=lambda i: i.label.lower())


def all_items() -> dict[str, list[LoraItem]]:
    """Folder -> its items, for every saved folder (missing folders map to [])."""
    folders, _problem = load_folders()
    return {folder: scan_folder(folder) for folder in folders}


def find_by_name(name: str, sha256: str | None = None) -> Path | None:
    """A file called ``name`` in the LoRA folders (restoring a video made on another machine);
    with ``sha256`` only a file with that content."""
    from core.lora.reader import file_sha256

    folders, _problem = load_folders()
    for folder in folders:
        candidate = Path(folder) / name
        if not candidate.is_file():
            continue
        if sha256 is None:
            return candidate
        with contextlib.suppress(LoraError, OSError):
            if file_sha256(candidate) == sha256:
                return candidate
    return None
