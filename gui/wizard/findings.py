"""What the repack wizard checks, as plain functions (no Qt; run off the GUI thread).

- ``examine_export``: what an msmodelslim export holds (family, experts, files, quant types,
  w8a8f8 attention entries), from ``inspect_folder`` plus the description files.
- ``check_original``: whether a Diffusers folder is the original of an export, by planning the
  repack into a throw-away location: the planner's own input checks (family, experts, shapes)
  decide, and only the problems about that location are dropped.
- ``guess_original`` / ``default_output``: the prefilled answers that make the wizard one
  click from a detected export.
- ``run_repack``: the run page's job (repack, then inspect the result as the library will).

Torch is imported only by ``core.repack.plan``/``run`` themselves, inside these calls.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.models.catalog import FAMILIES, get_family
from core.models.inspect import (
    LAYOUT_DIFFUSERS,
    LAYOUT_MSMODELSLIM,
    MSMODELSLIM_EXPERTS,
    FolderInfo,
    inspect_folder,
)
from core.progress import CancelToken, ProgressCallback
from core.quant.description import (
    QUANT_FLOAT,
    QUANT_MXFP8,
    DescriptionError,
    find_description_file,
    load_description,
)

EXPORT_WEIGHT_GLOB = "quant_model_weight*.safetensors"
MAX_SIBLINGS = 40  # folders next to an export looked at when guessing its original


@dataclass
class ExpertFindings:
    """One weights folder of an export (an A14B expert, or a TI2V-5B export's top level)."""

    name: str  # "high_noise_model" | "low_noise_model" | "weights"
    weight_files: list[tuple[str, int]] = field(default_factory=list)  # (file name, bytes)
    description_file: str | None = None
    quantized_layers: int = 0
    float_tensors: int = 0
    model_quant_type: str | None = None
    rotations: list[str] = field(default_factory=list)  # QuaRot q_rot / k_rot tensors
    attention_metadata: list[str] = field(default_factory=list)  # FA3 *.quant_type keys

    @property
    def weight_bytes(self) -> int:
        return sum(size for _, size in self.weight_files)

    @property
    def attention_entries(self) -> int:
        return len(self.rotations) + len(self.attention_metadata)


@dataclass
class ExportFindings:
    """What the first wizard page shows; ``ok`` when the folder can be repacked."""

    path: Path
    info: FolderInfo
    experts: list[ExpertFindings] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def family(self) -> str | None:
        return self.info.family

    @property
    def family_name(self) -> str | None:
        return self.info.family_name

    @property
    def attention_entries(self) -> int:
        return sum(e.attention_entries for e in self.experts)


def _expert_dirs(folder: Path, info: FolderInfo) -> list[tuple[str, Path]]:
    if any(name in info.components for name in MSMODELSLIM_EXPERTS):
        return [(n, folder / n) for n in MSMODELSLIM_EXPERTS if (folder / n).is_dir()]
    return [("weights", folder)]


def _examine_expert(name: str, folder: Path) -> tuple[ExpertFindings, list[str]]:
    found = ExpertFindings(name)
    problems: list[str] = []
    for path in sorted(folder.glob(EXPORT_WEIGHT_GLOB)):
        with contextlib.suppress(OSError):
            found.weight_files.append((path.name, path.stat().st_size))
    description = find_description_file(folder)
    if description is None:
        return found, problems  # inspect_folder already says so
    found.description_file = description.name
    try:
        parsed = load_description(description)
    except DescriptionError:
        return found, problems  # inspect_folder already reports the same error
    found.model_quant_type = parsed.model_quant_type
    found.quantized_layers = len(parsed.quantized_layers())
    found.float_tensors = sum(1 for t in parsed.types.values() if t == QUANT_FLOAT)
    for key in parsed.attention_entries:
        (found.rotations if key.endswith("_rot") else found.attention_metadata).append(key)
    if found.quantized_layers == 0:
        problems.append(
            f"{description.name} in {folder.name}/ marks no layer {QUANT_MXFP8}: this is not an "
            "MXFP8 export"
        )
    return found, problems


def examine_export(path: str | os.PathLike[str]) -> ExportFindings:
    """Inspect an msmodelslim export folder for the wizard's first page (never raises)."""
    folder = Path(path).expanduser().absolute()
    info = inspect_folder(folder)
    findings = ExportFindings(folder, info)
    if info.layout == LAYOUT_DIFFUSERS:
        findings.problems.append(
            f"{folder.name} is a Diffusers model folder, not an msmodelslim export: it needs no "
            "repack (add it in Models). Choose the folder msmodelslim wrote (--save_path)."
        )
        return findings
    if info.layout != LAYOUT_MSMODELSLIM:
        findings.problems += info.problems or [f"{folder} holds no msmodelslim export"]
        return findings
    findings.problems += info.problems
    findings.warnings += [w for w in info.warnings if "attention-quantization" not in w]
    for name, sub in _expert_dirs(folder, info):
        expert, problems = _examine_expert(name, sub)
        findings.experts.append(expert)
        findings.problems += problems
    # inspect_folder's advice to run `wan-studio repack` is what this wizard does.
    findings.warnings = [w for w in findings.warnings if "wan-studio repack" not in w]
    return findings


# ---- the original Diffusers folder ---------------------------------------------------------


@dataclass
class OriginalCheck:
    """Whether ``original`` is the Diffusers model ``export`` was quantized from."""

    original: Path
    export: Path
    family: str | None = None
    family_name: str | None = None
    transformers: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)  # folders copied unchanged
    component_files: int = 0
    component_bytes: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    is_demo: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems


def check_original(
    original: str | os.PathLike[str],
    export: str | os.PathLike[str],
    export_family: str | None = None,
) -> OriginalCheck:
    """Plan the repack into a fresh temporary location and keep only the input problems.

    The planner is the single authority on what fits (experts, channels, shapes); the output
    it is given cannot collide with anything, and every problem naming that location (space,
    permissions) belongs to the output page, not to this one.
    """
    from core.models.demo import is_demo_model
    from core.repack import plan

    source = Path(original).expanduser().absolute()
    result = OriginalCheck(source, Path(export).expanduser().absolute())
    if not source.is_dir():
        result.problems.append(
            f"{source} does not exist" if not source.exists() else f"{source} is not a folder"
        )
        return result
    result.is_demo = is_demo_model(source)
    probe_parent = Path(tempfile.mkdtemp(prefix="wan-studio-plan-"))
    try:
        planned = plan(source, result.export, probe_parent / "output")
    finally:
        shutil.rmtree(probe_parent, ignore_errors=True)
    result.problems = [p for p in planned.problems if str(probe_parent) not in p]
    result.warnings = list(planned.warnings)
    result.family, result.family_name = planned.family, planned.family_name
    result.transformers = [t.target for t in planned.transformers]
    result.components = [d for d in planned.component_dirs if "/" not in d]
    result.component_files = len(planned.components)
    result.component_bytes = planned.component_bytes
    if result.ok and export_family and planned.family and export_family != planned.family:
        result.problems.append(
            f"the export is {get_family(export_family).name} (its config.json says so) but "
            f"{source.name} is {planned.family_name}: pick the original you quantized"
        )
    if result.ok and _is_quantized(source):
        result.warnings.append(
            f"{source.name} already holds MXFP8 weights; the original is normally the BF16 "
            "model you quantized"
        )
    return result


def _is_quantized(folder: Path) -> bool:
    from core.configcheck import read_json_config

    try:  # the shared config reader: regular file, size cap (never blocks the GUI on a FIFO)
        config = read_json_config(folder / "transformer" / "config.json")
    except ValueError:
        return False
    return "quantization_config" in config


@dataclass(frozen=True)
class Candidate:
    """A folder that may be the original (from the library or next to the export)."""

    path: Path
    family: str | None = None
    source: str = "library"  # "library" | "next to the export"


def _sibling_candidates(export: Path) -> list[Candidate]:
    found: list[Candidate] = []
    try:
        entries = sorted(export.parent.iterdir())
    except OSError:
        return found
    for entry in entries[: MAX_SIBLINGS * 4]:
        if len(found) >= MAX_SIBLINGS:
            break
        if entry != export and entry.is_dir() and (entry / "model_index.json").is_file():
            found.append(Candidate(entry, None, "next to the export"))
    return found


def guess_original(
    export: str | os.PathLike[str],
    export_family: str | None,
    library: Iterable[Candidate] = (),
) -> tuple[Candidate, OriginalCheck] | None:
    """The first candidate the planner accepts: library models of the export's family first,
    then Diffusers folders next to the export, demo models last (a real export is never
    repacked onto a demo). None when nothing fits."""
    from core.models.demo import is_demo_model

    folder = Path(export).expanduser().absolute()
    wanted = {export_family} if export_family else set(FAMILIES)
    pool = [c for c in library if c.family in wanted or c.family is None]
    pool += _sibling_candidates(folder)
    seen: set[Path] = set()
    ordered: list[Candidate] = []
    for candidate in pool:
        resolved = candidate.path.resolve()
        if resolved in seen or resolved == folder.resolve():
            continue
        seen.add(resolved)
        ordered.append(candidate)
    ordered.sort(key=lambda c: (is_demo_model(c.path), _is_quantized(c.path)))
    for candidate in ordered:
        check = check_original(candidate.path, folder, export_family)
        if check.ok:
            return candidate, check
    return None


# ---- the output folder --------------------------------------------------------------------


def default_output(export: str | os.PathLike[str]) -> Path:
    """A new folder next to the export (in the app's models folder if that one is read-only),
    named after it; a free name is chosen so the prefilled answer is always valid."""
    from core import paths

    folder = Path(export).expanduser().absolute()
    parent = folder.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        parent = paths.models_dir()
    stem = f"{folder.name}-diffusers"
    candidate, n = parent / stem, 2
    while candidate.exists() or candidate.is_symlink():
        candidate = parent / f"{stem}-{n}"
        n += 1
    return candidate


def staging_leftovers(output: str | os.PathLike[str]) -> list[Path]:
    """Hidden temporary siblings a repack of ``output`` writes into (core.staging)."""
    target = Path(output)
    return sorted(target.parent.glob(f".{target.name}.repack-*"))


@dataclass
class PlannedRepack:
    """A repack plan and the free space where it would write (for the output page)."""

    plan: Any  # core.repack.RepackPlan
    free_bytes: int | None

    @property
    def ok(self) -> bool:
        return bool(self.plan.ok)


def plan_repack(
    original: str | os.PathLike[str],
    export: str | os.PathLike[str],
    output: str | os.PathLike[str],
    link: bool = False,
) -> PlannedRepack:
    """core.repack.plan (headers only, no writes) plus the free space where it will write."""
    from core.repack import plan

    planned = plan(original, export, output, link=link)
    try:
        free: int | None = shutil.disk_usage(planned.output.parent).free
    except OSError:
        free = None
    return PlannedRepack(planned, free)


# ---- the run ------------------------------------------------------------------------------


@dataclass
class RepackOutcome:
    """What the last page shows: the verification report and how the library will see it."""

    report: Any  # core.repack.RepackReport
    info: FolderInfo


def run_repack(plan: Any, progress: ProgressCallback, cancel: CancelToken) -> RepackOutcome:
    """Run a plan (streaming, verified, renamed into place), then inspect the result."""
    from core.repack import run

    report = run(plan, progress=progress, cancel=cancel)
    return RepackOutcome(report, inspect_folder(plan.output))
