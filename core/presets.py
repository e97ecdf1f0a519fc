"""Generation presets: read-only built-ins per family plus the user's own, as versioned JSON.

Built-ins come from ``resources/presets/builtin.json`` (shipped as data, Vorta style): each one
names a *base* (``official``: the catalog's Wan2.2 defaults; ``demo``: the demo model's small
run) and only the values it overrides, so "Official" cannot drift from the catalog.

User presets live as **one JSON file per preset** in ``paths.presets_dir()``: a corrupt or
half-edited file costs only that preset (it is set aside as ``<file>.corrupt`` and the rest
load), every save is one atomic ``os.replace`` of a small file, and users can share a preset by
copying its file. File names are derived from family and name (``t2v-a14b--my-preset.json``)
but the identity of a preset is the ``family`` and ``name`` inside the file.

Schema history (``version`` in every file):
- 1: ``{"version": 1, "name", "family", "description"?, "values": {"size": "832x480",
  "guidance": 4.0, ...}}``: size as a "WxH" string and one guidance for both experts.
- 2 (current): ``{"schema": "wan-studio-preset", "version": 2, "name", "family",
  "description", "values": {...GenerationRequest field names...}}``.
Older files are migrated in memory when read and rewritten in the current schema only when that
preset is saved again, so an older Wan Studio can still read an untouched file. A file from a
newer Wan Studio is refused with a message and left exactly as it is.

Values are a dict of ``core.generate.request.GenerationRequest`` field names (width, height,
frames, fps, steps, guidance_high, guidance_low, boundary, shift, negative_prompt, seed, ...).
Per-run inputs (model, image, output) are not settings and are dropped on save. Unknown keys
are kept with a warning (a newer version may know them); known keys of the wrong type are
refused on save and skipped with a warning on load.

Torch-free: the GUI reads presets at start-up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from core import paths
from core.atomicio import (
    atomic_write_json,
    quarantine,
    read_json_or_quarantine,
    remove_stale_temp_files,
)
from core.filelock import locked
from core.models.catalog import FAMILIES, Family, get_family

PRESET_SCHEMA = "wan-studio-preset"
PRESET_VERSION = 2
BUILTIN_SCHEMA = "wan-studio-builtin-presets"
MAX_NAME_LENGTH = 80
# Temp files of interrupted saves older than this are removed on load; younger ones may belong
# to another process (GUI and CLI) saving right now.
STALE_TEMP_SECONDS = 600.0
# Request fields that describe one run, not reusable settings.
RUN_INPUT_KEYS = frozenset({"model", "image", "output", "preset", "kind", "schema"})

_INT_KEYS = frozenset({"width", "height", "frames", "fps", "steps"})
_FLOAT_KEYS = frozenset({"guidance_high", "shift"})
_OPTIONAL_FLOAT_KEYS = frozenset({"guidance_low", "boundary"})
_TEXT_KEYS = frozenset(
    {"prompt", "negative_prompt", "quant", "device", "backend", "image_fit", "solver"}
)
# Fallback when core.generate.request is unavailable: the keys the catalog defaults use.
_CORE_KEYS = _INT_KEYS | _FLOAT_KEYS | _OPTIONAL_FLOAT_KEYS | _TEXT_KEYS | {"seed"}


class PresetError(ValueError):
    """A preset operation that cannot be done; the message says why and what to do instead."""


class PresetFormatError(PresetError):
    """A preset file that is not a valid preset document (broken structure or types)."""


class PresetVersionError(PresetError):
    """A preset file written by a newer Wan Studio (its schema version is unknown here)."""


@dataclass
class Preset:
    """One named set of generation values for one model family.

    ``version`` is the schema version of the file it was read from (1 when migrated on read
    and not yet saved again); built-ins and saved presets have the current version.
    ``path`` is the user preset's file (None for built-ins).
    """

    name: str
    family: str
    values: dict[str, Any]
    builtin: bool = False
    description: str = ""
    version: int = PRESET_VERSION
    path: Path | None = field(default=None, compare=False, repr=False)

    def to_document(self) -> dict[str, Any]:
        """The current-schema file form (what save and export write)."""
        return {
            "schema": PRESET_SCHEMA,
            "version": PRESET_VERSION,
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "values": dict(self.values),
        }

    def request_values(self) -> dict[str, Any]:
        """The values GenerationRequest knows (what ``--preset`` applies with ``replace``).

        Unknown keys kept from a newer version's file are left out so they cannot break it.
        """
        known = request_fields()
        return {k: v for k, v in self.values.items() if k in known}

    def copy(self) -> Preset:
        return dataclasses.replace(self, values=json.loads(json.dumps(self.values)))


PresetList = list[Preset]


# ---- values ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def request_fields() -> frozenset[str]:
    """GenerationRequest's field names: the keys a preset value dict may use."""
    try:
        from core.generate.request import GenerationRequest
    except ImportError:  # pragma: no cover - the engine module is part of the app
        return _CORE_KEYS
    return frozenset(f.name for f in dataclasses.fields(GenerationRequest))


def _type_problem(key: str, value: Any) -> str | None:
    """Why ``value`` cannot be the value of the known key ``key``, or None when it can.

    Values are held to the request's own bounds (core.generate.limits), so a preset can never
    start a run that validation would refuse (``steps: 1000000000`` is refused on import).
    """
    from core.generate.limits import bound_problem

    problem = _plain_type_problem(key, value)
    return problem or bound_problem(key, value)


def _plain_type_problem(key: str, value: Any) -> str | None:

    def number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if key in _INT_KEYS:
        ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        return None if ok else f"{key} must be a positive whole number, not {value!r}"
    if key == "seed":
        ok = value is None or (isinstance(value, int) and not isinstance(value, bool))
        return None if ok else f"seed must be a whole number or null (random), not {value!r}"
    if key in _FLOAT_KEYS:
        return None if number(value) else f"{key} must be a number, not {value!r}"
    if key in _OPTIONAL_FLOAT_KEYS:
        ok = value is None or number(value)
        return None if ok else f"{key} must be a number or null, not {value!r}"
    if key in _TEXT_KEYS:
        return None if isinstance(value, str) else f"{key} must be text, not {value!r}"
    if key == "loras":
        return _loras_problem(value)
    if key == "lora_merge":
        return (
            None if isinstance(value, bool) else f"lora_merge must be true or false, not {value!r}"
        )

    return None


def _loras_problem(value: Any) -> str | None:
    """A preset's LoRAs: a list of LoRA entries (files need not exist on this machine)."""
    from core.lora.choice import LoraChoice
    from core.lora.errors import LoraError

    if not isinstance(value, list):
        return f"loras must be a list of LoRA entries, not {value!r}"
    for item in value:
        try:
            LoraChoice.from_dict(item)
        except LoraError as exc:
            return f"loras: {exc}"
    return None


def normalize_values(values: Any, strict: bool) -> tuple[dict[str, Any], list[str]]:
    """Clean a preset's values: (values, warnings).

    Run inputs are dropped; unknown keys kept with a warning; a known key of the wrong type
    raises PresetError when ``strict`` (saving), else it is skipped with a warning (loading).
    """
    if not isinstance(values, dict):
        raise PresetFormatError(f"'values' must be a JSON object, not {type(values).__name__}")
    known = request_fields()
    clean: dict[str, Any] = {}
    notes: list[str] = []
    for key, value in values.items():
        if not isinstance(key, str):
            raise PresetFormatError(f"value names must be text, not {key!r}")
        if key in RUN_INPUT_KEYS:
            continue
        problem = _type_problem(key, value)
        if problem:
            if strict:
                raise PresetError(problem)
            notes.append(f"{problem}; the setting is ignored")
            continue
        if key in _FLOAT_KEYS or (key in _OPTIONAL_FLOAT_KEYS and value is not None):
            value = float(value)
        if key not in known:
            notes.append(f"unknown setting {key!r} kept as is (this version does not use it)")
        clean[key] = value
    if strict:
        try:
            json.dumps(clean, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise PresetError(f"preset values must be plain JSON values: {exc}") from None
    return clean, notes


def validate_name(name: Any) -> str:
    """The cleaned preset name, or PresetError saying what is wrong with it."""
    if not isinstance(name, str) or not name.strip():
        raise PresetError("a preset needs a name: it is empty")
    clean = name.strip()
    if "/" in clean or "\\" in clean:
        raise PresetError(f"preset name {clean!r} contains a path separator (/ or \\): remove it")
    if any(ord(c) < 32 or ord(c) == 127 for c in clean):
        raise PresetError(f"preset name {clean!r} contains control characters: remove them")
    if len(clean) > MAX_NAME_LENGTH:
        raise PresetError(f"preset name is {len(clean)} characters long; the limit is 80")
    return clean


def _family_key(family: Any) -> str:
    if not isinstance(family, str):
        raise PresetFormatError(f"'family' must be text, not {family!r}")
    try:
        return get_family(family).key
    except KeyError as exc:
        raise PresetError(str(exc.args[0])) from None


# ---- schema migrations -------------------------------------------------------------------------
def _parse_size(text: Any) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX×*]\s*(\d+)\s*", str(text))
    if not match:
        raise PresetFormatError(f"size {text!r} is not WIDTHxHEIGHT (e.g. 832x480)")
    return int(match.group(1)), int(match.group(2))


def _migrate_v1_to_v2(doc: dict[str, Any]) -> dict[str, Any]:
    """v1 kept the size as "WxH" and one guidance for both experts."""
    values = doc.get("values")
    if not isinstance(values, dict):
        raise PresetFormatError("'values' must be a JSON object")
    values = dict(values)
    if "size" in values:
        values["width"], values["height"] = _parse_size(values.pop("size"))
    if "guidance" in values:
        guidance = values.pop("guidance")
        values["guidance_high"] = guidance
        fam = FAMILIES.get(str(doc.get("family", "")).lower())
        if fam is None or fam.experts == 2:
            values["guidance_low"] = guidance
    return {**doc, "schema": PRESET_SCHEMA, "version": 2, "values": values}


MIGRATIONS = {1: _migrate_v1_to_v2}  # version n -> n + 1


def migrate_document(doc: Any) -> tuple[dict[str, Any], int]:
    """Bring a preset document to the current schema: (document, version it was written in)."""
    if not isinstance(doc, dict):
        raise PresetFormatError(f"a preset file holds a JSON object, not {type(doc).__name__}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PresetFormatError(f"'version' must be a whole number >= 1, not {version!r}")
    if version > PRESET_VERSION:
        raise PresetVersionError(
            f"it was written by a newer Wan Studio (preset schema {version}; this version reads "
            f"up to {PRESET_VERSION}); update Wan Studio to use it"
        )
    if version >= 2 and doc.get("schema") != PRESET_SCHEMA:
        raise PresetFormatError(f"'schema' is {doc.get('schema')!r}, not {PRESET_SCHEMA!r}")
    original = version
    while version < PRESET_VERSION:
        doc = MIGRATIONS[version](doc)
        version = doc["version"]
    return doc, original


def parse_document(doc: Any, source: str, strict: bool = False) -> tuple[Preset, list[str]]:
    """A user Preset from a file's JSON (any known schema), with load warnings.

    ``strict`` (import): a value of the wrong type or out of range is an error, not skipped.
    """
    doc, original = migrate_document(doc)
    try:
        name = validate_name(doc.get("name"))
    except PresetError as exc:
        raise PresetFormatError(str(exc)) from None
    family = _family_key(doc.get("family"))
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise PresetFormatError(f"'description' must be text, not {description!r}")
    values, notes = normalize_values(doc.get("values"), strict=strict)
    preset = Preset(name, family, values, False, description, original)
    return preset, [f"{source} ({family} / {name}): {n}" for n in notes]


# ---- built-ins ---------------------------------------------------------------------------------
def official_values(family: Family | str) -> dict[str, Any]:
    """The catalog's official defaults as preset values (wan22.md section 4).

    TI2V-5B has one expert: its guidance_low and boundary are None (explicitly, so applying
    the preset over a two-expert request clears them).
    """
    fam = get_family(family) if isinstance(family, str) else family
    values: dict[str, Any] = {
        "width": fam.default_size[0],
        "height": fam.default_size[1],
        "frames": fam.frames,
        "fps": fam.fps,
        "steps": fam.steps,
        "shift": fam.shift,
        "guidance_high": fam.guidance_high,
        "guidance_low": fam.guidance_low,
        "boundary": fam.boundary,
        "negative_prompt": fam.negative_prompt,
        "solver": "default",  # the folder's own sampler (undoes the Lightning preset's Euler)
    }
    return values


def demo_values(family: Family | str) -> dict[str, Any]:
    """Official values with the demo model's small size, frames and steps."""
    from core.models.demo import DEMO_DEFAULTS

    fam = get_family(family) if isinstance(family, str) else family
    small = DEMO_DEFAULTS[fam.key]
    values = official_values(fam)
    values["width"], values["height"] = small["size"]
    values["frames"], values["steps"] = small["frames"], small["steps"]
    return values


def sampling_values(family: Family | str) -> dict[str, Any]:
    """No values: a preset on this base changes only the sampling values it lists (steps,
    guidance, shift, boundary), keeping the user's size and length (the distill preset)."""
    return {}


_BASES = {"official": official_values, "demo": demo_values, "sampling": sampling_values}
# The built-in preset for 4-step distillation LoRAs (selected when such a LoRA is picked).
DISTILL_PRESET = "Lightning 4-step"
_builtin_cache: dict[str, PresetList] | None = None


def _describe(template: str, values: dict[str, Any]) -> str:
    fields = dict(values)
    if "frames" in values and "fps" in values:
        fields["seconds"] = f"{values['frames'] / values['fps']:.1f}".rstrip("0").rstrip(".")
    split = ""
    if values.get("boundary") is not None:
        split = f", high-noise expert while t >= {values['boundary'] * 1000:g}"
    fields["split"] = split
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError):
        return template


def builtin_presets() -> dict[str, PresetList]:
    """Family key -> its read-only presets, in the order of ``resources/presets/builtin.json``.

    The data file ships with the app; a broken one is a packaging bug, so it raises.
    """
    global _builtin_cache
    if _builtin_cache is None:
        text = resources.files("resources").joinpath("presets/builtin.json").read_text("utf-8")
        _builtin_cache = _parse_builtins(json.loads(text))
    return {key: [p.copy() for p in presets] for key, presets in _builtin_cache.items()}


def _parse_builtins(doc: dict[str, Any]) -> dict[str, PresetList]:
    if doc.get("schema") != BUILTIN_SCHEMA or doc.get("version") != PRESET_VERSION:
        raise PresetFormatError("resources/presets/builtin.json: unexpected schema or version")
    out: dict[str, PresetList] = {key: [] for key in FAMILIES}
    for entry in doc["presets"]:
        name = validate_name(entry["name"])
        base = _BASES[entry["base"]]
        for key, overrides in entry["families"].items():
            family = get_family(key).key
            values = base(family)
            values.update(overrides)
            values, notes = normalize_values(values, strict=True)
            if notes:
                raise PresetFormatError(f"built-in preset {name!r} ({family}): {notes}")
            description = _describe(entry.get("description", ""), values)
            out[family].append(Preset(name, family, values, True, description))
    return out


# ---- the store ---------------------------------------------------------------------------------
def _slug(text: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in text.casefold())
    slug = re.sub(r"-{2,}", "-", slug).strip("-")
    return slug[:60] or "preset"


class PresetStore:
    """Built-in and user presets of every family.

    The directory is read once on construction (``reload()`` reads it again); problems found
    there are in ``warnings`` and never raise. Operations that cannot be done raise PresetError
    (KeyError for a preset that does not exist, listing the available names).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(directory) if directory is not None else paths.presets_dir()
        self.warnings: list[str] = []
        self._builtins = builtin_presets()
        self._user: dict[tuple[str, str], Preset] = {}
        self.reload()

    # ---- reading ----
    def reload(self) -> None:
        """Read the user presets again; corrupt files are set aside, newer ones left alone."""
        self.warnings = []
        self._user = {}
        if not self.directory.is_dir():
            return
        remove_stale_temp_files(self.directory, STALE_TEMP_SECONDS)
        for path in sorted(self.directory.glob("*.json")):
            self._load_file(path)

    def _load_file(self, path: Path) -> None:
        doc, problem = read_json_or_quarantine(path)
        if problem:
            self.warnings.append(f"preset {problem}")
            return
        if doc is None:  # vanished meanwhile
            return
        try:
            preset, notes = parse_document(doc, path.name)
        except PresetVersionError as exc:
            self.warnings.append(f"preset file {path} was skipped and left unchanged: {exc}")
            return
        except PresetFormatError as exc:
            moved = quarantine(path)
            self.warnings.append(
                f"preset file {path} is not a valid preset ({exc}); it was set aside as "
                f"{moved.name}"
            )
            return
        except PresetError as exc:  # e.g. unknown family: maybe from a newer version
            self.warnings.append(f"preset file {path} was skipped and left unchanged: {exc}")
            return
        preset.path = path
        key = (preset.family, preset.name.casefold())
        if self._builtin(preset.family, preset.name) is not None:
            self.warnings.append(
                f"preset file {path} was skipped: {preset.name!r} is the name of a built-in "
                f"{preset.family} preset; rename it in the file"
            )
            return
        if key in self._user:
            other = self._user[key].path
            self.warnings.append(
                f"preset file {path} was skipped: {other} already defines {preset.family} / "
                f"{preset.name!r}"
            )
            return
        self.warnings.extend(notes)
        self._user[key] = preset

    def _builtin(self, family: str, name: str) -> Preset | None:
        wanted = name.strip().casefold()
        for preset in self._builtins.get(family, []):
            if preset.name.casefold() == wanted:
                return preset
        return None

    def list(self, family: str | None = None) -> PresetList:
        """Presets of one family (or all), built-ins first, then user presets by name."""
        keys = [get_family(family).key] if family is not None else list(FAMILIES)
        out: PresetList = []
        for key in keys:
            out += [p.copy() for p in self._builtins.get(key, [])]
            mine = [p for (fam, _), p in self._user.items() if fam == key]
            out += [p.copy() for p in sorted(mine, key=lambda p: p.name.casefold())]
        return out

    def names(self, family: str) -> list[str]:
        return [p.name for p in self.list(family)]

    def find(self, family: str, name: str) -> Preset:
        """The preset called ``name`` (case-insensitive) of ``family``; KeyError lists the names."""
        key = get_family(family).key
        preset = self._builtin(key, name) or self._user.get((key, name.strip().casefold()))
        if preset is None:
            available = ", ".join(repr(n) for n in self.names(key))
            raise KeyError(f"no {key} preset called {name!r}; available: {available}")
        return preset.copy()

    # ---- writing ----
    def save(self, preset: Preset, overwrite: bool = False) -> Preset:
        """Save a user preset (new, or replacing the same name when ``overwrite``)."""
        with self._change():
            return self._save(preset, overwrite)

    def _save(self, preset: Preset, overwrite: bool) -> Preset:
        name = validate_name(preset.name)
        family = _family_key(preset.family)
        values, _ = normalize_values(preset.values, strict=True)
        if not isinstance(preset.description, str):
            raise PresetError("a preset description must be text")
        self._refuse_builtin_name(family, name)
        existing = self._user.get((family, name.casefold()))
        if existing is not None and not overwrite:
            raise PresetError(
                f"a {family} preset called {existing.name!r} already exists; choose another "
                "name or overwrite it"
            )
        path = existing.path if existing is not None else self._new_path(family, name)
        assert path is not None  # every user preset was read from, or is given, a file
        saved = Preset(name, family, values, False, preset.description, PRESET_VERSION, path)
        atomic_write_json(path, saved.to_document())
        self._user[(family, name.casefold())] = saved
        return saved.copy()

    def rename(self, family: str, old: str, new: str) -> Preset:
        """Rename a user preset (its file is renamed with it)."""
        with self._change():
            return self._rename(family, old, new)

    def _rename(self, family: str, old: str, new: str) -> Preset:
        current = self._user_preset(family, old)
        new_name = validate_name(new)
        self._refuse_builtin_name(current.family, new_name)
        clash = self._user.get((current.family, new_name.casefold()))
        if clash is not None and clash is not current:
            raise PresetError(f"a {current.family} preset called {clash.name!r} already exists")
        old_path = current.path
        assert old_path is not None
        wanted = self.directory / f"{current.family}--{_slug(new_name)}.json"
        new_path = old_path if wanted == old_path else self._new_path(current.family, new_name)
        renamed = dataclasses.replace(current, name=new_name, version=PRESET_VERSION, path=new_path)
        # New file first, then the old one goes: a crash in between leaves both, never neither.
        atomic_write_json(new_path, renamed.to_document())
        if new_path != old_path:
            with contextlib.suppress(FileNotFoundError):
                old_path.unlink()
        del self._user[(current.family, current.name.casefold())]
        self._user[(current.family, new_name.casefold())] = renamed
        return renamed.copy()

    def delete(self, family: str, name: str) -> None:
        """Delete a user preset and its file (built-ins are read-only)."""
        with self._change():
            current = self._user_preset(family, name)
            assert current.path is not None
            with contextlib.suppress(FileNotFoundError):
                current.path.unlink()
            del self._user[(current.family, current.name.casefold())]

    def duplicate(self, family: str, name: str, new_name: str) -> Preset:
        """Save a copy of any preset (built-in or user) as a new user preset."""
        source = self.find(family, name)
        copy = Preset(new_name, source.family, source.values, False, source.description)
        return self.save(copy)

    def import_file(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        overwrite: bool = False,
        strict: bool = False,
    ) -> Preset:
        """Add a preset from a JSON file (any known schema); the file itself is not changed.

        A setting of the wrong type or out of range (core.generate.limits) is skipped, as when
        loading (the GUI says which); ``strict`` (the CLI) refuses the whole file instead, so a
        script never gets a different preset than the one it named.
        """
        source = Path(path).expanduser()
        doc = read_preset_file(source)
        try:
            preset, _ = parse_document(doc, source.name, strict=strict)
        except PresetVersionError as exc:
            raise PresetVersionError(f"{source} cannot be imported: {exc}") from None
        except PresetError as exc:
            raise type(exc)(f"{source} is not a valid preset: {exc}") from None
        if name is not None:
            preset.name = name
        elif self._builtin(preset.family, preset.name) is not None:
            raise PresetError(
                f"{preset.name!r} is a built-in {preset.family} preset name; import it under "
                "another name"
            )
        return self.save(preset, overwrite=overwrite)

    def export(
        self, family: str, name: str, path: str | os.PathLike[str], overwrite: bool = False
    ) -> Path:
        """Write a preset (built-in or user) to a JSON file; into a folder, a file is named for it.

        Refuses to replace an existing file unless ``overwrite``.
        """
        preset = self.find(family, name)
        target = Path(path).expanduser()
        if target.is_dir():
            target = target / f"{preset.family}--{_slug(preset.name)}.json"
        if target.exists() and not overwrite:
            raise PresetError(f"{target} already exists; choose another file or overwrite it")
        atomic_write_json(target, preset.to_document())
        return target

    # ---- helpers ----
    @contextlib.contextmanager
    def _change(self) -> Iterator[None]:
        """Under the folder's cross-process lock, with the presets other processes saved
        meanwhile read in: two saves at once never pick the same file or overwrite each other."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with locked(self.directory):
            warnings = self.warnings
            self.reload()
            self.warnings = warnings
            yield

    def _user_preset(self, family: str, name: str) -> Preset:
        key = get_family(family).key
        if self._builtin(key, name) is not None:
            raise PresetError(
                f"{name!r} is a built-in {key} preset, which is read-only; duplicate it to "
                "make your own"
            )
        preset = self._user.get((key, name.strip().casefold()))
        if preset is None:
            self.find(key, name)  # raises KeyError listing the names
        assert preset is not None
        return preset

    def _refuse_builtin_name(self, family: str, name: str) -> None:
        builtin = self._builtin(family, name)
        if builtin is not None:
            raise PresetError(
                f"{builtin.name!r} is a built-in {family} preset name; choose another name"
            )

    def _new_path(self, family: str, name: str) -> Path:
        """A file name for a new preset that no file (even one we could not read) uses."""
        stem = f"{family}--{_slug(name)}"
        taken = {p.path for p in self._user.values()}
        candidate = self.directory / f"{stem}.json"
        n = 2
        while candidate in taken or candidate.exists() or _has_sidecars(candidate):
            candidate = self.directory / f"{stem}-{n}.json"
            n += 1
        return candidate


def read_preset_file(path: str | os.PathLike[str]) -> Any:
    """The JSON document of a preset file a user picked (regular file under a size cap: a
    FIFO or /dev/zero must not hang the app); PresetError / PresetFormatError otherwise."""
    from core.userfiles import MAX_PRESET_BYTES, UserFileError, read_user_file

    source = Path(path).expanduser()
    try:
        raw = read_user_file(source, "preset file", MAX_PRESET_BYTES)
    except UserFileError as exc:
        raise PresetError(str(exc)) from None
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PresetFormatError(f"{source} is not a JSON preset file ({exc})") from None


def _has_sidecars(path: Path) -> bool:
    """A set-aside ``.corrupt`` copy keeps its name reserved so recovering it never clashes."""
    return path.with_name(path.name + ".corrupt").exists()


__all__ = [
    "PRESET_VERSION",
    "Preset",
    "PresetError",
    "PresetFormatError",
    "PresetStore",
    "PresetVersionError",
    "builtin_presets",
    "demo_values",
    "migrate_document",
    "official_values",
    "read_preset_file",
    "validate_name",
]
