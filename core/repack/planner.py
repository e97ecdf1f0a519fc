"""plan(): everything a repack will read, write and rename, decided from headers alone.

Planning reads only JSON files and safetensors headers, so it takes well under a second
whatever the model size, has no side effects (a dry run is just a plan), and finds every input
problem before a byte is written. ``run`` (core.repack.runner) executes a plan.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import staging
from core.humanize import human_bytes
from core.quant.description import QUANT_FLOAT, QUANT_MXFP8, is_attention_quant_entry
from core.repack.detect import detect_family
from core.repack.errors import RepackInputError
from core.repack.rename import to_diffusers
from core.repack.safetensors_io import (
    FLOAT_DTYPES,
    PAGE,
    HeaderEntry,
    build_header,
    dtype_alignment,
)
from core.repack.scales import scale_columns
from core.repack.skeleton import expected_shapes
from core.repack.sources import (
    ExportFolder,
    TensorSource,
    file_fingerprint,
    original_weights,
    read_export,
    read_original,
)

OUTPUT_WEIGHTS = "diffusion_pytorch_model.safetensors"
OUTPUT_DESCRIPTION = "quant_model_description.json"
QUANTIZATION_CONFIG = {"quant_method": "mxfp8", "is_checkpoint_mxfp8_serialized": True}
ATTENTION_NOTE = "attention quantization ignored: attention runs in BF16"
_SHOWN = 5  # examples named in one message

# Smoothing wrappers (msmodelslim.md §4, §6): the wrapped linear lives under `<p>.linear.*` and
# a `<p>.div.mul_scale` multiplies activations first. Their math is not implemented: refuse.
_SMOOTHING_RE = re.compile(r"\.linear\.|\.div\.|(^|\.)mul_scale$")


def _examples(items: list[str], n: int = _SHOWN) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


@dataclass(frozen=True)
class TensorMove:
    """One output tensor and where its bytes come from."""

    name: str  # Diffusers name in the output
    source_name: str  # name in the source file
    origin: str  # "export" | "original"
    path: Path
    offset: int  # absolute offset of the bytes in ``path``
    nbytes: int
    dtype: str  # output dtype string
    shape: tuple[int, ...]
    quant_type: str  # W8A8_MXFP8 | FLOAT


@dataclass
class TransformerPlan:
    """How one transformer folder of the output is produced."""

    target: str  # "transformer" | "transformer_2"
    export_dir: Path
    weight_files: list[Path]
    description_file: Path
    original_dir: Path
    config: dict[str, Any]  # the ORIGINAL Diffusers config (marked when written)
    expected: dict[str, tuple[int, ...]]  # Diffusers skeleton: key -> shape
    tensors: list[TensorMove]  # in output data order
    description: dict[str, str]  # output description (Diffusers names)
    header: bytes  # the output safetensors header (length + JSON)
    renamed: int  # tensors whose name changed
    quantized_layers: list[str]
    filled: list[str]  # Diffusers names taken from the original BF16 weights
    skipped_attention: list[str]  # Wan-native export keys skipped (rotations, FA metadata)
    normalized_scales: list[str] = field(default_factory=list)  # F8_E8M0 scales written as U8

    @property
    def data_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def file_bytes(self) -> int:
        return len(self.header) + self.data_bytes

    @property
    def float_tensors(self) -> int:
        return sum(1 for t in self.tensors if t.quant_type == QUANT_FLOAT)

    def summary(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "export_folder": str(self.export_dir),
            "weight_files": [p.name for p in self.weight_files],
            "description_file": self.description_file.name,
            "tensors": len(self.tensors),
            "renamed": self.renamed,
            "quantized_layers": len(self.quantized_layers),
            "float_tensors": self.float_tensors,
            "filled_from_original": list(self.filled),
            "skipped_attention_entries": list(self.skipped_attention),
            "bytes": self.file_bytes,
        }


@dataclass(frozen=True)
class ComponentFile:
    """A file of the original folder copied (or hard-linked) unchanged."""

    rel: str  # POSIX path relative to the original folder
    source: Path
    size: int


@dataclass
class RepackPlan:
    original: Path
    quant: Path
    output: Path
    link: bool = False
    family: str | None = None  # catalog key
    family_name: str | None = None  # e.g. "Wan2.2-TI2V-5B"
    transformers: list[TransformerPlan] = field(default_factory=list)
    components: list[ComponentFile] = field(default_factory=list)
    component_dirs: list[str] = field(default_factory=list)  # incl. empty ones
    linkable: bool = False  # same filesystem: --link can hard-link
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stale_temps: list[Path] = field(default_factory=list)
    fingerprints: dict[Path, tuple[int, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def raise_if_problems(self) -> None:
        if self.problems:
            if len(self.problems) == 1:
                raise RepackInputError(self.problems[0])
            raise RepackInputError(
                "cannot repack:\n" + "\n".join(f"  - {p}" for p in self.problems)
            )

    @property
    def component_bytes(self) -> int:
        return sum(c.size for c in self.components)

    @property
    def transformer_bytes(self) -> int:
        return sum(t.file_bytes for t in self.transformers)

    @property
    def bytes_to_write(self) -> int:
        """Bytes new on disk (hard-linked components cost nothing)."""
        linked = self.link and self.linkable
        return self.transformer_bytes + (0 if linked else self.component_bytes)

    @property
    def bytes_to_read(self) -> int:
        return self.transformer_bytes + self.component_bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": str(self.original),
            "quant": str(self.quant),
            "output": str(self.output),
            "family": self.family,
            "model_type": self.family_name,
            "link": self.link,
            "linkable": self.linkable,
            "transformers": [t.summary() for t in self.transformers],
            "components": {"files": len(self.components), "bytes": self.component_bytes},
            "bytes_to_write": self.bytes_to_write,
            "problems": list(self.problems),
            "warnings": list(self.warnings),
            "stale_temps": [str(p) for p in self.stale_temps],
        }


# ---------------------------------------------------------------------------------------------


def plan(
    original: str | os.PathLike[str],
    quant: str | os.PathLike[str],
    output: str | os.PathLike[str],
    model_type: str | None = None,
    link: bool = False,
) -> RepackPlan:
    """Plan a repack. Never raises for bad input: problems are collected in ``plan.problems``
    (``run`` refuses a plan with problems). Has no side effects."""
    result = RepackPlan(
        original=_absolute(original), quant=_absolute(quant), output=_absolute(output), link=link
    )
    result.problems += _output_problems(result)
    try:
        source = read_original(result.original)
        family, pairs = detect_family(source, result.quant, model_type)
    except RepackInputError as exc:
        result.problems.append(str(exc))
        return result
    result.family, result.family_name = family.key, family.name

    for target, export_dir in pairs:
        try:
            tplan = _plan_transformer(
                target, export_dir, result.original / target, source.transformer_configs[target]
            )
        except RepackInputError as exc:
            message = str(exc)
            if len(pairs) > 1:  # say which expert, whatever the message names
                message = f"{target} (from {export_dir.name}/): {message}"
            result.problems.append(message)
            continue
        result.transformers.append(tplan)
        for move in tplan.tensors:
            result.fingerprints.setdefault(move.path, file_fingerprint(move.path))
        if tplan.filled:
            result.warnings.append(
                f"{target}: {len(tplan.filled)} tensor(s) the export omits are taken from the "
                f"original BF16 weights: {_examples(tplan.filled)}"
            )
        if tplan.skipped_attention:
            tensors = sum(1 for k in tplan.skipped_attention if k.endswith("_rot"))
            entries = len(tplan.skipped_attention) - tensors
            result.warnings.append(
                f"{target}: {ATTENTION_NOTE} (skipped {tensors} QuaRot rotation tensor(s) and "
                f"{entries} FA metadata entr{'y' if entries == 1 else 'ies'} of the w8a8f8 recipe)"
            )
        if tplan.normalized_scales:
            result.warnings.append(
                f"{target}: {len(tplan.normalized_scales)} scale tensors stored as F8_E8M0 are "
                "written as uint8 (same bytes)"
            )
        if not tplan.quantized_layers:
            result.warnings.append(
                f"{target}: the description marks no layer {QUANT_MXFP8}; the output holds "
                "only float weights"
            )

    try:
        result.components, result.component_dirs = _list_components(
            result.original, source.transformer_targets
        )
    except OSError as exc:
        result.problems.append(f"cannot list {result.original}: {exc.strerror or exc}")
    result.linkable = _same_filesystem(result.original, result.output.parent)
    if link and not result.linkable:
        result.warnings.append(
            "--link: the output is on another filesystem than the original; components are "
            "copied instead"
        )
    result.stale_temps = staging.find_stale(result.output)
    for stale in result.stale_temps:
        result.warnings.append(
            f"{stale} is left over from an interrupted repack of the same output; it will be "
            "removed"
        )
    if not result.problems:
        result.problems += _space_problems(result)
    return result


def _absolute(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.abspath(Path(path).expanduser()))


def _inside(child: Path, parent: Path) -> bool:
    child_r, parent_r = Path(os.path.realpath(child)), Path(os.path.realpath(parent))
    return child_r == parent_r or parent_r in child_r.parents


def _output_problems(p: RepackPlan) -> list[str]:
    out = p.output
    problems = []
    for name, folder in (("original", p.original), ("msmodelslim export", p.quant)):
        if _inside(out, folder):
            problems.append(
                f"the output {out} is inside the {name} folder {folder}; the inputs are never "
                "modified, choose an output folder outside them"
            )
        elif out.exists() and _inside(folder, out):
            problems.append(f"the {name} folder {folder} is inside the output {out}")
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        problems.append(f"{out} exists and is not a folder; choose a new output folder")
    elif out.is_dir() and any(out.iterdir()):
        problems.append(
            f"the output {out} already exists and is not empty; nothing was overwritten. "
            "Choose a new folder or remove it first"
        )
    parent = out.parent
    if not parent.is_dir():
        problems.append(f"the output's parent folder {parent} does not exist; create it first")
    elif not os.access(parent, os.W_OK | os.X_OK):
        problems.append(f"cannot write into {parent} (permission denied)")
    return problems


def _space_problems(p: RepackPlan) -> list[str]:
    try:
        free = shutil.disk_usage(p.output.parent).free
    except OSError:
        return []
    needed = p.bytes_to_write + (1 << 20)
    if free < needed:
        return [
            f"not enough free space in {p.output.parent}: the output needs "
            f"{human_bytes(needed)}, {human_bytes(free)} are free"
            + ("" if p.link else " (--link avoids copying the other components)")
        ]
    return []


def _same_filesystem(a: Path, b: Path) -> bool:
    try:
        return os.stat(a).st_dev == os.stat(b).st_dev
    except OSError:
        return False


def _list_components(
    original: Path, transformer_targets: list[str]
) -> tuple[list[ComponentFile], list[str]]:
    """Every file of the original except the transformer folders (symlinks followed)."""
    files: list[ComponentFile] = []
    dirs: list[str] = []
    seen: set[tuple[int, int]] = set()
    for root, subdirs, names in os.walk(original, followlinks=True):
        here = Path(root)
        st = os.stat(here)
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            subdirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        rel_root = here.relative_to(original)
        if rel_root == Path("."):
            subdirs[:] = [d for d in subdirs if d not in transformer_targets]
        subdirs.sort()
        for d in subdirs:
            dirs.append((rel_root / d).as_posix())
        for name in sorted(names):
            path = here / name
            try:
                st = os.stat(path)
            except OSError as exc:
                raise OSError(exc.errno, f"{path}: {exc.strerror}") from exc
            if not os.path.isfile(path):
                continue  # sockets, fifos: not part of a model
            files.append(ComponentFile((rel_root / name).as_posix(), path, st.st_size))
    return files, dirs


# ---------------------------------------------------------------------------------------------
# One transformer


def _plan_transformer(
    target: str, export_dir: Path, original_dir: Path, config: dict[str, Any]
) -> TransformerPlan:
    export = read_export(export_dir)
    expected = expected_shapes(config, str(original_dir / "config.json"))
    types = export.description.types  # tensor key -> W8A8_MXFP8 | FLOAT (attention excluded)
    dsource = export.description_file.name

    smoothing = [k for k in (*export.tensors, *types) if _SMOOTHING_RE.search(k)]
    if smoothing:
        raise RepackInputError(
            f"{export_dir}: smoothing wrappers found ({_examples(sorted(set(smoothing)))}); "
            "they multiply activations before the linear, which Wan Studio does not implement. "
            "Re-export with msmodelslim --quant_type w8a8f8 or a linear-only MXFP8 recipe"
        )

    skipped, kept = _split_attention(export)
    skipped += [k for k in export.description.attention_entries if k not in export.tensors]
    _check_description_matches(export, kept, types, dsource)
    normalized = _check_dtypes(export, kept, types, dsource)

    # Rename, and make sure no two source tensors land on the same name.
    renamed_to: dict[str, str] = {}
    by_target: dict[str, list[str]] = {}
    for name in kept:
        new = to_diffusers(name)
        renamed_to[name] = new
        by_target.setdefault(new, []).append(name)
    collisions = [f"{' and '.join(v)} -> {k}" for k, v in by_target.items() if len(v) > 1]
    if collisions:
        raise RepackInputError(
            f"{export_dir}: tensors collide after renaming to Diffusers names: "
            f"{_examples(collisions, 3)}. The export holds duplicate tensors; export it again"
        )

    _check_against_skeleton(export_dir, export, kept, types, renamed_to, expected, config)

    moves: list[TensorMove] = []
    for name in kept:
        info = export.tensors[name].info
        dtype = "U8" if name in normalized else info.dtype
        moves.append(
            TensorMove(
                name=renamed_to[name],
                source_name=name,
                origin="export",
                path=export.tensors[name].path,
                offset=export.tensors[name].offset,
                nbytes=info.nbytes,
                dtype=dtype,
                shape=info.shape,
                quant_type=types[name],
            )
        )
    produced = {m.name for m in moves}
    missing = [k for k in expected if k not in produced]
    filled = _fill_from_original(missing, original_dir, expected) if missing else []
    moves += filled

    # Data order: larger alignment first (stable, so source order and contiguous runs survive),
    # which keeps every tensor naturally aligned as the safetensors library's writer does.
    moves.sort(key=lambda m: -dtype_alignment(m.dtype))
    entries = [HeaderEntry(m.name, m.dtype, m.shape) for m in moves]
    header, _ = build_header(
        entries, metadata={"format": "pt"}, data_offset_residue=_page_residue(moves)
    )

    description: dict[str, str] = {}
    for name in types:
        description[renamed_to[name]] = types[name]
    for move in filled:
        description[move.name] = QUANT_FLOAT
    for key, value in export.description.metadata.items():
        if key != "model_quant_type":
            description[key] = value
    quantized = [
        m.name[: -len(".weight")]
        for m in moves
        if m.quant_type == QUANT_MXFP8 and m.name.endswith(".weight")
    ]
    description["model_quant_type"] = export.description.model_quant_type or (
        QUANT_MXFP8 if quantized else QUANT_FLOAT
    )
    return TransformerPlan(
        target=target,
        export_dir=export_dir,
        weight_files=export.weight_files,
        description_file=export.description_file,
        original_dir=original_dir,
        config=config,
        expected=expected,
        tensors=moves,
        description=description,
        header=header,
        renamed=sum(1 for k, v in renamed_to.items() if k != v),
        quantized_layers=quantized,
        filled=[m.name for m in filled],
        skipped_attention=skipped,
        normalized_scales=[renamed_to[n] for n in normalized],
    )


def coalesce(moves: list[TensorMove]) -> list[tuple[Path, int, int, int]]:
    """Output tensors as (source file, source offset, length, offset in the output data section);
    tensors that are neighbours in the source and in the output become one range (one copy
    call for a whole file when nothing is skipped or reordered)."""
    ranges: list[tuple[Path, int, int, int]] = []
    position = 0
    for move in moves:
        if ranges:
            path, offset, length, at = ranges[-1]
            if path == move.path and offset + length == move.offset:
                ranges[-1] = (path, offset, length + move.nbytes, at)
                position += move.nbytes
                continue
        ranges.append((move.path, move.offset, move.nbytes, position))
        position += move.nbytes
    return ranges


def _page_residue(moves: list[TensorMove]) -> int | None:
    """Where the output data section should start modulo the page size so that the largest
    copied range is page-congruent with its source (see build_header); None if that would
    break 8-byte alignment."""
    ranges = coalesce(moves)
    if not ranges:
        return None
    _, offset, _, at = max(ranges, key=lambda r: r[2])
    residue = (offset - at) % PAGE
    return residue if residue % 8 == 0 else None


def _split_attention(export: ExportFolder) -> tuple[list[str], list[str]]:
    """(attention-quant tensors to skip, tensors to keep), validating the skipped ones."""
    skipped, kept = [], []
    for name, src in export.tensors.items():
        if not is_attention_quant_entry(name):
            kept.append(name)
            continue
        info = src.info
        if not (
            len(info.shape) == 2 and info.shape[0] == info.shape[1] and info.dtype in FLOAT_DTYPES
        ):
            raise RepackInputError(
                f"{src.path}: {name} looks like a QuaRot rotation but is {info.dtype} "
                f"{list(info.shape)}, not a square float matrix; this export is not a w8a8f8 "
                "export Wan Studio understands"
            )
        skipped.append(name)
    return skipped, kept


def _check_description_matches(
    export: ExportFolder, kept: list[str], types: dict[str, str], dsource: str
) -> None:
    undocumented = [k for k in kept if k not in types]
    absent = [k for k in types if k not in export.tensors]
    if not (undocumented or absent):
        return
    parts = []
    if undocumented:
        parts.append(
            f"{len(undocumented)} tensor(s) in the weights have no entry in {dsource} "
            f"({_examples(undocumented)})"
        )
    if absent:
        parts.append(
            f"{len(absent)} entr{'y' if len(absent) == 1 else 'ies'} of {dsource} "
            f"name{'s' if len(absent) == 1 else ''} no tensor in the weights ({_examples(absent)})"
        )
    raise RepackInputError(
        f"{export.folder}: the description and the weights do not match: {'; '.join(parts)}. "
        "They come from different exports: copy the matching pair"
    )


def _check_dtypes(
    export: ExportFolder, kept: list[str], types: dict[str, str], dsource: str
) -> set[str]:
    """Dtype and scale-shape rules per key; returns F8_E8M0 scales to write as U8."""
    problems: list[str] = []
    normalized: set[str] = set()
    for name in kept:
        info = export.tensors[name].info
        quant_type = types[name]
        shape = list(info.shape)
        if quant_type == QUANT_MXFP8 and name.endswith(".weight"):
            if info.dtype != "F8_E4M3" or len(shape) != 2:
                problems.append(
                    f"{name} is {quant_type} in {dsource} but stored as {info.dtype} {shape}; "
                    "expected F8_E4M3 [out, in]"
                )
        elif quant_type == QUANT_MXFP8:  # weight_scale (the description parser allows no other)
            weight = export.tensors.get(name[: -len("_scale")])
            if weight is None:
                problems.append(f"{name} has no weight tensor next to it")
                continue
            if info.dtype == "F8_E8M0":
                normalized.add(name)
            elif info.dtype != "U8":
                problems.append(
                    f"{name} is stored as {info.dtype}; an MXFP8 scale is U8 (E8M0 bytes)"
                )
            wshape = list(weight.info.shape)
            if len(wshape) == 2:
                want = [wshape[0], scale_columns(wshape[1])]
                if shape != want:
                    problems.append(
                        f"{name} has shape {shape}, expected {want} = [N, ceil(K/32)] for its "
                        f"weight {wshape}"
                    )
        elif info.dtype not in FLOAT_DTYPES:
            problems.append(
                f"{name} is {quant_type} in {dsource} but stored as {info.dtype}; a FLOAT tensor "
                f"must be one of {', '.join(sorted(FLOAT_DTYPES))}"
            )
    for name, quant_type in types.items():
        if quant_type == QUANT_MXFP8 and name.endswith(".weight") and f"{name}_scale" not in types:
            problems.append(
                f"{name} is {QUANT_MXFP8} but has no {name}_scale; without its scales the "
                "layer would compute garbage"
            )
    if problems:
        raise RepackInputError(
            f"{export.folder}: {len(problems)} tensor(s) do not match their quant type: "
            + "; ".join(problems[:_SHOWN])
            + ("; ..." if len(problems) > _SHOWN else "")
        )
    return normalized


def _check_against_skeleton(
    export_dir: Path,
    export: ExportFolder,
    kept: list[str],
    types: dict[str, str],
    renamed_to: dict[str, str],
    expected: dict[str, tuple[int, ...]],
    config: dict[str, Any],
) -> None:
    patch = export.tensors.get("patch_embedding.weight")
    want = expected.get("patch_embedding.weight")
    if patch is not None and want is not None and patch.info.shape[:2] != want[:2]:
        raise RepackInputError(
            f"{export_dir}: the export's patch_embedding maps {patch.info.shape[1]} input "
            f"channels to {patch.info.shape[0]}, the original transformer {want[1]} to {want[0]}; "
            "the export was made from a different model (check the family and the original "
            "folder)"
        )
    unknown, wrong = [], []
    for name in kept:
        new = renamed_to[name]
        shape = export.tensors[name].info.shape
        if types[name] == QUANT_MXFP8 and new.endswith(".weight_scale"):
            continue  # its shape was checked against its weight's
        if new not in expected:
            unknown.append(f"{name} (-> {new})")
        elif tuple(shape) != tuple(expected[new]):
            wrong.append(f"{name}: {list(shape)}, the model has {list(expected[new])}")
    if unknown or wrong:
        parts = []
        if unknown:
            parts.append(f"tensors that are not part of the model: {_examples(unknown)}")
        if wrong:
            parts.append(f"shapes that differ from the model: {_examples(wrong)}")
        raise RepackInputError(
            f"{export_dir} does not fit the original transformer (WanTransformer3DModel with "
            f"{config.get('num_layers')} layers, dim "
            f"{config.get('num_attention_heads', 0) * config.get('attention_head_dim', 0)}): "
            + "; ".join(parts)
            + ". The export was made from a different model: pick the original you quantized"
        )


def _fill_from_original(
    missing: list[str], original_dir: Path, expected: dict[str, tuple[int, ...]]
) -> list[TensorMove]:
    weights = original_weights(original_dir)
    absent = [k for k in missing if k not in weights]
    if absent:
        where = (
            f"{original_dir} has no such tensors"
            if weights
            else f"{original_dir} holds no weights to take them from"
        )
        raise RepackInputError(
            f"the export omits {len(absent)} tensor(s) of the model ({_examples(absent)}) and "
            f"{where}; copy the complete export or the complete original"
        )
    moves = []
    for key in missing:
        src: TensorSource = weights[key]
        info = src.info
        if info.dtype not in FLOAT_DTYPES or tuple(info.shape) != tuple(expected[key]):
            raise RepackInputError(
                f"{src.path}: {key} is {info.dtype} {list(info.shape)}, expected a float tensor "
                f"of shape {list(expected[key])}; the original folder is not the BF16 model"
            )
        moves.append(
            TensorMove(
                name=key,
                source_name=key,
                origin="original",
                path=src.path,
                offset=src.offset,
                nbytes=info.nbytes,
                dtype=info.dtype,
                shape=info.shape,
                quant_type=QUANT_FLOAT,
            )
        )
    return moves
