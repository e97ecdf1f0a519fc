"""The user's model library: registered model folders, persisted as versioned JSON.

The library stores only what the user decided (which folders, their display names, notes, when
they were added and last used); everything about the folder itself (family, layout, experts,
quantization, size, problems) comes from a fresh ``inspect_folder`` on demand, cached in memory
until ``refresh()``, so a model edited or repacked on disk is never described from stale data.
The family and layout seen when a folder was added are kept as hints for listing a folder that
is offline (an unplugged drive).

Crash safety: every save is atomic (core.atomicio). A file that cannot be parsed, or whose
structure is wrong, is set aside as ``library.json.corrupt`` with a warning and the library
starts empty; entries that are individually broken are dropped from a salvaged library after the
original file is set aside the same way, so nothing is ever lost.

A library file from a newer Wan Studio (higher schema version) is never overwritten: the library
opens **read-only and empty** (``read_only_reason`` says why, every change raises
``LibraryReadOnlyError``). Guessing at a newer format could silently drop what that version
stored, and saving over it would destroy it for the version that wrote it.

Several processes (the GUI and the CLI) may share the file: each change holds the file's
cross-process lock (core.filelock) and reads the file again if another process changed it
since, so a change made elsewhere is never lost.

Torch-free at import: the GUI lists the library at start-up.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import paths
from core.atomicio import (
    atomic_write_json,
    quarantine,
    read_json_or_quarantine,
    remove_stale_temp_files,
)
from core.filelock import locked
from core.models.catalog import get_family
from core.progress import ProgressCallback

if TYPE_CHECKING:
    from core.models.inspect import FolderInfo

LIBRARY_SCHEMA = "wan-studio-library"
LIBRARY_VERSION = 1
LAYOUTS = ("diffusers", "msmodelslim")
STALE_TEMP_SECONDS = 600.0  # temp files of interrupted saves older than this are removed


class LibraryError(ValueError):
    """A library operation that cannot be done; the message says why and what to do instead."""


class LibraryReadOnlyError(LibraryError):
    """The library file was written by a newer Wan Studio and is not changed by this one."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class LibraryEntry:
    """One registered model folder.

    ``family`` and ``layout`` are what inspection found when it was added (hints for offline
    folders); ask ``Library.inspect`` for the current facts.
    """

    id: str
    path: Path
    name: str
    added: str
    last_used: str | None = None
    notes: str = ""
    family: str | None = None
    layout: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> LibraryEntry:
        """Parse one stored entry; ValueError says what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError(f"an entry must be a JSON object, not {type(data).__name__}")
        for key in ("id", "path", "name", "added"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise ValueError(f"'{key}' must be non-empty text, not {data.get(key)!r}")
        for key in ("last_used", "family", "layout"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise ValueError(f"'{key}' must be text or null, not {data[key]!r}")
        if not isinstance(data.get("notes", ""), str):
            raise ValueError(f"'notes' must be text, not {data['notes']!r}")
        path = Path(data["path"])
        if not path.is_absolute():
            raise ValueError(f"'path' must be absolute, not {data['path']!r}")
        return cls(
            id=data["id"],
            path=path,
            name=data["name"],
            added=data["added"],
            last_used=data.get("last_used"),
            notes=data.get("notes", ""),
            family=data.get("family"),
            layout=data.get("layout"),
        )


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9._]+", "-", text.casefold()).strip("-.")
    return slug[:40].strip("-.") or "model"


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them is missing: compare the paths themselves
        return a.resolve() == b.resolve()


class Library:
    """The registered model folders (see the module docstring for persistence rules).

    Problems met while reading the file are in ``warnings``; they never raise.
    """

    def __init__(self, file: str | os.PathLike[str] | None = None) -> None:
        self.file = Path(file) if file is not None else paths.library_file()
        self.warnings: list[str] = []
        self.read_only_reason: str | None = None
        self._entries: dict[str, LibraryEntry] = {}
        self._inspections: dict[str, FolderInfo] = {}
        self._load()

    # ---- persistence ----
    def reload(self) -> None:
        """Read the file again (warnings start afresh)."""
        self.warnings = []
        self._load()

    def _load(self) -> None:
        self._entries = {}
        self.read_only_reason = None
        remove_stale_temp_files(self.file)
        doc, problem = read_json_or_quarantine(self.file)
        if problem:
            self.warnings.append(f"model library {problem}; starting with an empty library")
            return
        if doc is None:
            return
        try:
            entries, bad = self._parse(doc)
        except ValueError as exc:
            moved = quarantine(self.file)
            self.warnings.append(
                f"model library {self.file} is not a valid library file ({exc}); it was set "
                f"aside as {moved.name} and the library starts empty"
            )
            return
        if entries is None:  # newer schema
            return
        self._entries = {e.id: e for e in entries}
        if bad:
            moved = quarantine(self.file)
            self._save()
            details = "; ".join(bad)
            self.warnings.append(
                f"model library {self.file}: {len(bad)} unreadable entr"
                f"{'y was' if len(bad) == 1 else 'ies were'} dropped ({details}); the original "
                f"file was kept as {moved.name}"
            )

    def _parse(self, doc: Any) -> tuple[list[LibraryEntry] | None, list[str]]:
        """(entries, problems with single entries); ValueError when the whole file is wrong."""
        if not isinstance(doc, dict):
            raise ValueError(f"it holds a JSON {type(doc).__name__}, not an object")
        version = doc.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"'version' must be a whole number >= 1, not {version!r}")
        if version > LIBRARY_VERSION:
            self.read_only_reason = (
                f"{self.file} was written by a newer Wan Studio (library schema {version}; this "
                f"version reads up to {LIBRARY_VERSION}). It is left unchanged and the library "
                "is shown empty and read-only: update Wan Studio, or move the file aside to "
                "start a new library."
            )
            self.warnings.append(self.read_only_reason)
            return None, []
        if doc.get("schema") != LIBRARY_SCHEMA:
            raise ValueError(f"'schema' is {doc.get('schema')!r}, not {LIBRARY_SCHEMA!r}")
        models = doc.get("models")
        if not isinstance(models, list):
            raise ValueError(f"'models' must be a list, not {type(models).__name__}")
        entries: list[LibraryEntry] = []
        bad: list[str] = []
        for index, raw in enumerate(models):
            try:
                entry = LibraryEntry.from_dict(raw)
            except ValueError as exc:
                bad.append(f"entry {index + 1}: {exc}")
                continue
            if any(e.id == entry.id for e in entries):
                bad.append(f"entry {index + 1}: id {entry.id!r} is used twice")
                continue
            entries.append(entry)
        return entries, bad

    def _save(self) -> None:
        doc = {
            "schema": LIBRARY_SCHEMA,
            "version": LIBRARY_VERSION,
            "models": [e.to_dict() for e in self._entries.values()],
        }
        atomic_write_json(self.file, doc)

    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        """Under the file's cross-process lock: re-read a file another process changed, refuse
        when read-only, save afterwards (six `models add` at once keep all six)."""
        with locked(self.file):
            self._load()  # always: an inode reused by another writer could fool a stamp check
            if self.read_only_reason:
                raise LibraryReadOnlyError(
                    f"the model library cannot be changed: {self.read_only_reason}"
                )
            yield
            self._save()

    # ---- reading ----
    def list(self) -> list[LibraryEntry]:
        """Entries in the order they were added."""
        return [replace(e) for e in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, entry_id: str) -> LibraryEntry:
        """The entry with exactly this id; KeyError lists the ids."""
        entry = self._entries.get(entry_id)
        if entry is None:
            raise KeyError(self._unknown(entry_id))
        return replace(entry)

    def resolve(self, ref: str | os.PathLike[str]) -> LibraryEntry:
        """An entry by id, folder path, unique id prefix or display name (case-insensitive)."""
        text = str(ref).strip()
        if text in self._entries:
            return self.get(text)
        folded = text.casefold()
        for check in (
            lambda e: e.id.casefold() == folded,
            lambda e: _same_folder(e.path, Path(text).expanduser().absolute()),
            lambda e: e.name.casefold() == folded,
        ):
            hits = [e for e in self._entries.values() if check(e)]
            if len(hits) == 1:
                return replace(hits[0])
        prefix = [e for e in self._entries.values() if e.id.casefold().startswith(folded)]
        if text and len(prefix) == 1:
            return replace(prefix[0])
        if len(prefix) > 1:
            ids = ", ".join(e.id for e in prefix)
            raise KeyError(f"{text!r} matches several models ({ids}); give the full id")
        raise KeyError(self._unknown(text))

    def _unknown(self, ref: str) -> str:
        if not self._entries:
            return f"no model {ref!r}: the library is empty (add a folder first)"
        return f"no model {ref!r} in the library; ids: {', '.join(self._entries)}"

    def find_folder(self, folder: str | os.PathLike[str]) -> LibraryEntry | None:
        """The entry registered for this folder, if any."""
        target = Path(folder).expanduser().absolute()
        for entry in self._entries.values():
            if _same_folder(entry.path, target):
                return replace(entry)
        return None

    # ---- inspection ----
    def inspect(self, entry_id: str, refresh: bool = False) -> FolderInfo:
        """What is in the entry's folder now (cached until ``refresh``)."""
        entry = self.get(entry_id)
        if refresh or entry_id not in self._inspections:
            from core.models.inspect import inspect_folder

            self._inspections[entry_id] = inspect_folder(entry.path)
        return self._inspections[entry_id]

    def refresh(self, entry_id: str | None = None) -> None:
        """Forget cached inspections (one entry or all) so the next inspect() looks again."""
        if entry_id is None:
            self._inspections.clear()
        else:
            self._inspections.pop(entry_id, None)

    def status(self, entry_id: str) -> str:
        """One word for tables: "missing", "problems", "repack" (msmodelslim export) or "ok"."""
        entry = self.get(entry_id)
        if not entry.path.is_dir():
            return "missing"
        info = self.inspect(entry_id)
        if info.problems:
            return "problems"
        if info.layout == "msmodelslim":
            return "repack"
        return "ok"

    # ---- changes ----
    def add(self, folder: str | os.PathLike[str], name: str | None = None) -> LibraryEntry:
        """Register a model folder after checking it is a Wan2.2 model (Diffusers or msmodelslim)."""
        path = Path(folder).expanduser().absolute()
        if not path.exists():
            raise LibraryError(f"{path} does not exist: check the path")
        if not path.is_dir():
            raise LibraryError(f"{path} is a file: choose the model's folder")
        with self._change():
            existing = self.find_folder(path)
            if existing is not None:
                raise LibraryError(
                    f"{path} is already in the library as {existing.id!r} ({existing.name})"
                )
            from core.models.inspect import inspect_folder

            info = inspect_folder(path)
            if info.layout not in LAYOUTS:
                found = "; ".join(info.problems) if info.problems else "no model files found"
                raise LibraryError(
                    f"{path} is not a Wan2.2 model folder ({found}). Choose a Diffusers folder "
                    "(model_index.json, transformer/, vae/, ...) or an msmodelslim export."
                )
            label = self._clean_name(name) if name is not None else _default_name(path, info)
            entry = LibraryEntry(
                id=self._new_id(path.name),
                path=path,
                name=label,
                added=_now(),
                family=info.family,
                layout=info.layout,
            )
            self._entries[entry.id] = entry
            self._inspections[entry.id] = info
        return replace(entry)

    def remove(self, entry_id: str) -> LibraryEntry:
        """Forget a model; its files stay where they are."""
        with self._change():
            entry = self._entries.pop(self.get(entry_id).id)
            self._inspections.pop(entry.id, None)
        return entry

    def rename(self, entry_id: str, name: str) -> LibraryEntry:
        """Change a model's display name (its folder is not renamed)."""
        label = self._clean_name(name)
        with self._change():
            entry = self._entries[self.get(entry_id).id]
            entry.name = label
        return replace(entry)

    def set_notes(self, entry_id: str, notes: str) -> LibraryEntry:
        if not isinstance(notes, str):
            raise LibraryError("notes must be text")
        with self._change():
            entry = self._entries[self.get(entry_id).id]
            entry.notes = notes
        return replace(entry)

    def mark_used(self, entry_id: str) -> LibraryEntry:
        """Record that the model was just used (the GUI sorts recent models first)."""
        with self._change():
            entry = self._entries[self.get(entry_id).id]
            entry.last_used = _now()
        return replace(entry)

    def delete_files(self, entry_id: str, confirm: bool = False) -> Path:
        """Delete a registered model's folder from disk and forget it; returns the folder.

        Irreversible, hence ``confirm=True`` is required, only registered folders can be
        deleted, and only while they still look like a model folder (a path reused for
        something else since is refused). The folder is first renamed to a hidden sibling, so a
        failure half way never leaves a half-deleted model under its own name.
        """
        if confirm is not True:
            raise LibraryError(
                "deleting a model's files cannot be undone: call again with confirm=True"
            )
        entry = self.get(entry_id)
        folder = entry.path
        if self.read_only_reason:
            raise LibraryReadOnlyError(
                f"the model library cannot be changed: {self.read_only_reason}"
            )
        if folder.is_symlink():
            raise LibraryError(
                f"{folder} is a symbolic link: remove it from the library and delete its target "
                "yourself"
            )
        if folder.exists():
            protected = {Path(folder.anchor), Path.home(), paths.data_dir(), paths.models_dir()}
            if folder.resolve() in {p.resolve() for p in protected}:
                raise LibraryError(f"refusing to delete {folder}: it is not a model folder")
            from core.models.inspect import inspect_folder

            info = inspect_folder(folder)
            if info.layout not in LAYOUTS:
                raise LibraryError(
                    f"refusing to delete {folder}: it no longer looks like a model folder; "
                    "remove it from the library instead"
                )
            doomed = Path(tempfile.mkdtemp(prefix=f".{folder.name}.deleting-", dir=folder.parent))
            os.replace(folder, doomed / folder.name)
        else:
            doomed = None
        self.remove(entry.id)
        if doomed is not None:
            try:
                shutil.rmtree(doomed)
            except OSError as exc:
                raise LibraryError(
                    f"{folder} was removed from the library but some files could not be "
                    f"deleted ({exc}); what is left is in {doomed}"
                ) from None
        return folder

    def ensure_demo(
        self, family: str = "t2v-a14b", progress: ProgressCallback | None = None
    ) -> LibraryEntry:
        """The family's demo model, created in the app data folder if missing, and registered.

        ``progress`` hears each step of creating it (core.models.demo.DEMO_STEPS)."""
        fam = get_family(family)
        if self.read_only_reason:
            raise LibraryReadOnlyError(
                f"the model library cannot be changed: {self.read_only_reason}"
            )
        from core.models.demo import DemoModelError, create_demo_model, is_demo_model

        target = paths.demo_model_dir(fam.key)
        if not (target.is_dir() and is_demo_model(target)):
            try:
                create_demo_model(fam.key, target, progress=progress)
            except DemoModelError as exc:
                raise LibraryError(str(exc)) from None
        existing = self.find_folder(target)
        if existing is not None:
            self.refresh(existing.id)
            return existing
        return self.add(target, name=f"Demo {fam.name} (random weights)")

    # ---- helpers ----
    @staticmethod
    def _clean_name(name: str) -> str:
        if not isinstance(name, str) or not name.strip():
            raise LibraryError("a model needs a display name: it is empty")
        if any(ord(c) < 32 for c in name):
            raise LibraryError("a display name cannot contain control characters")
        return name.strip()

    def _new_id(self, base: str) -> str:
        stem = _slug(base)
        candidate, n = stem, 2
        while candidate in self._entries:
            candidate = f"{stem}-{n}"
            n += 1
        return candidate


def _default_name(path: Path, info: FolderInfo) -> str:
    if info.is_demo and info.family:
        return f"Demo {get_family(info.family).name} (random weights)"
    return path.name


__all__ = [
    "LIBRARY_VERSION",
    "Library",
    "LibraryEntry",
    "LibraryError",
    "LibraryReadOnlyError",
]
