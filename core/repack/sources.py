"""Reading the two inputs of a repack without loading a tensor: an msmodelslim export folder
(weights + description, msmodelslim.md §2-§3) and the original Diffusers folder."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.quant.description import (
    DescriptionError,
    QuantDescription,
    find_description_file,
    load_description,
)
from core.repack.errors import RepackInputError
from core.repack.safetensors_io import SafetensorsHeader, TensorInfo, read_header

EXPORT_WEIGHT_GLOB = "quant_model_weight*.safetensors"
EXPORT_SHARD_RE = re.compile(r"^quant_model_weight-(\d+)-of-(\d+)\.safetensors$")
EXPORT_INDEX = "quant_model_weight.safetensors.index.json"
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
DIFFUSERS_INDEX = "diffusion_pytorch_model.safetensors.index.json"
MODEL_INDEX = "model_index.json"


@dataclass(frozen=True)
class TensorSource:
    """Where one tensor's bytes live."""

    header: SafetensorsHeader
    info: TensorInfo

    @property
    def path(self) -> Path:
        return self.header.path

    @property
    def offset(self) -> int:
        return self.header.absolute_offset(self.info)


@dataclass
class ExportFolder:
    """One msmodelslim weights folder (a top-level TI2V-5B export, or one A14B expert)."""

    folder: Path
    weight_files: list[Path]
    index_file: Path | None
    description_file: Path
    description: QuantDescription
    tensors: dict[str, TensorSource]  # Wan-native name -> bytes, in file/data order

    @property
    def sharded(self) -> bool:
        return self.index_file is not None


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise RepackInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise RepackInputError(f"{what} {path} is not valid JSON ({exc}); restore it") from exc


def export_weight_files(folder: Path) -> tuple[list[Path], Path | None]:
    """The weight files of an export folder, in order, and its shard index (or None).

    Accepts one ``quant_model_weight*.safetensors`` or a complete set of
    ``quant_model_weight-0000i-of-0000N.safetensors`` shards with their index.
    """
    found = sorted(p for p in folder.glob(EXPORT_WEIGHT_GLOB) if p.is_file())
    shards = [(p, EXPORT_SHARD_RE.match(p.name)) for p in found]
    sharded = [(p, m) for p, m in shards if m]
    single = [p for p, m in shards if not m]
    if not found:
        raise RepackInputError(
            f"no msmodelslim weights in {folder}: expected quant_model_weight*.safetensors "
            "(msmodelslim's output), e.g. quant_model_weight_w8a8_mxfp8.safetensors"
        )
    if sharded and single:
        raise RepackInputError(
            f"{folder} mixes a single weights file ({', '.join(p.name for p in single)}) with "
            f"shards ({sharded[0][0].name}, ...); keep only one export in the folder"
        )
    if len(single) > 1:
        raise RepackInputError(
            f"{folder} holds several weights files ({', '.join(p.name for p in single)}); keep "
            "only the export you want to repack in this folder"
        )
    if single:
        return single, None
    totals = {int(m.group(2)) for _, m in sharded}  # type: ignore[union-attr]
    if len(totals) != 1:
        raise RepackInputError(
            f"{folder} holds shards of different sets ({', '.join(p.name for p, _ in sharded)}); "
            "keep only one export in the folder"
        )
    total = totals.pop()
    numbers = sorted(int(m.group(1)) for _, m in sharded)  # type: ignore[union-attr]
    missing = sorted(set(range(1, total + 1)) - set(numbers))
    if missing or len(numbers) != total:
        raise RepackInputError(
            f"{folder}: shard(s) {', '.join(str(i) for i in missing) or '?'} of {total} are "
            "missing; copy the complete export"
        )
    index = folder / EXPORT_INDEX
    if not index.is_file():
        raise RepackInputError(
            f"{folder} holds {total} weight shards but not their index {EXPORT_INDEX}; copy the "
            "complete export"
        )
    ordered = sorted(sharded, key=lambda pm: int(pm[1].group(1)))  # type: ignore[union-attr]
    return [p for p, _ in ordered], index


def _merge_headers(headers: list[SafetensorsHeader], folder: Path) -> dict[str, TensorSource]:
    tensors: dict[str, TensorSource] = {}
    for header in headers:
        for name, info in header.tensors.items():
            if name in tensors:
                raise RepackInputError(
                    f"{folder}: tensor {name!r} is stored twice, in {tensors[name].path.name} and "
                    f"{header.path.name}; the export is inconsistent, export it again"
                )
            tensors[name] = TensorSource(header, info)
    return tensors


def _check_index(index_file: Path, tensors: dict[str, TensorSource]) -> None:
    doc = _read_json(index_file, "shard index")
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict):
        raise RepackInputError(f"shard index {index_file} has no weight_map object; restore it")
    listed = set(weight_map)
    stored = set(tensors)
    problems = []
    if listed - stored:
        problems.append(f"lists tensors no shard holds ({', '.join(sorted(listed - stored)[:3])})")
    if stored - listed:
        problems.append(f"does not list stored tensors ({', '.join(sorted(stored - listed)[:3])})")
    wrong = [k for k in listed & stored if weight_map[k] != tensors[k].path.name]
    if wrong:
        problems.append(f"names the wrong shard for {', '.join(sorted(wrong)[:3])}")
    if problems:
        raise RepackInputError(
            f"shard index {index_file} does not match the shards: it {'; it '.join(problems)}. "
            "The export is inconsistent: copy or export it again"
        )


def read_export(folder: Path) -> ExportFolder:
    """Weights headers and description of one export folder, validated (no tensor is read)."""
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise RepackInputError(f"msmodelslim export folder {folder} {state}")
    files, index = export_weight_files(folder)
    headers = [read_header(p) for p in files]
    tensors = _merge_headers(headers, folder)
    if index is not None:
        _check_index(index, tensors)
    try:
        description_file = find_description_file(folder)
    except DescriptionError as exc:
        raise RepackInputError(str(exc)) from exc
    if description_file is None:
        raise RepackInputError(
            f"no quant description in {folder}: expected quant_model_description*.json next to "
            "the weights (msmodelslim writes e.g. quant_model_description_w8a8_mxfp8.json)"
        )
    try:
        description = load_description(description_file)
    except DescriptionError as exc:
        raise RepackInputError(str(exc)) from exc
    return ExportFolder(folder, files, index, description_file, description, tensors)


# ---------------------------------------------------------------------------------------------
# The original Diffusers folder


@dataclass
class OriginalFolder:
    folder: Path
    model_index: dict[str, Any]
    components: list[str]  # component folders listed in model_index.json
    transformer_configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def transformer_targets(self) -> list[str]:
        return [c for c in ("transformer", "transformer_2") if c in self.components]


def read_original(folder: Path) -> OriginalFolder:
    """model_index.json, its components (all must exist) and the transformer configs."""
    if not folder.is_dir():
        state = "is not a folder" if folder.exists() else "does not exist"
        raise RepackInputError(f"original model folder {folder} {state}")
    index_path = folder / MODEL_INDEX
    if not index_path.is_file():
        raise RepackInputError(
            f"{folder} has no {MODEL_INDEX}: --original must be the BF16 Diffusers folder of the "
            "model you quantized (e.g. Wan2.2-TI2V-5B-Diffusers)"
        )
    model_index = _read_json(index_path, "pipeline index")
    if not isinstance(model_index, dict):
        raise RepackInputError(f"{index_path} is not a JSON object; restore it")
    components = [
        name
        for name, spec in model_index.items()
        if not name.startswith("_")
        and isinstance(spec, list)
        and len(spec) == 2
        and all(isinstance(s, str) for s in spec)
    ]
    missing = [c for c in components if not (folder / c).is_dir()]
    if missing:
        raise RepackInputError(
            f"the original folder {folder} is missing component folder(s) "
            f"{', '.join(missing)} listed in {MODEL_INDEX}; copy the complete Diffusers model"
        )
    if "transformer" not in components:
        raise RepackInputError(
            f"{index_path} lists no transformer: this is not a Wan2.2 Diffusers pipeline folder"
        )
    original = OriginalFolder(folder, model_index, components)
    for target in original.transformer_targets:
        cfg_path = folder / target / "config.json"
        if not cfg_path.is_file():
            raise RepackInputError(
                f"the original folder is missing {target}/config.json; copy the complete "
                "Diffusers model"
            )
        cfg = _read_json(cfg_path, "transformer config")
        if not isinstance(cfg, dict):
            raise RepackInputError(f"{cfg_path} is not a JSON object; restore it")
        original.transformer_configs[target] = cfg
    return original


def original_weights(transformer_dir: Path) -> dict[str, TensorSource]:
    """Headers of the original (BF16) transformer weights: single file or index + shards."""
    index = transformer_dir / DIFFUSERS_INDEX
    if index.is_file():
        doc = _read_json(index, "shard index")
        weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
        if not isinstance(weight_map, dict):
            raise RepackInputError(f"{index} has no weight_map object; restore it")
        names = sorted(set(weight_map.values()))
        files = [transformer_dir / n for n in names]
        absent = [p.name for p in files if not p.is_file()]
        if absent:
            raise RepackInputError(
                f"{transformer_dir} is missing weight shard(s) {', '.join(absent)} listed in "
                f"{DIFFUSERS_INDEX}"
            )
    elif (transformer_dir / DIFFUSERS_WEIGHTS).is_file():
        files = [transformer_dir / DIFFUSERS_WEIGHTS]
    else:
        return {}
    return _merge_headers([read_header(p) for p in files], transformer_dir)


def file_fingerprint(path: Path) -> tuple[int, int]:
    """(size, mtime_ns): enough to notice that an input changed between plan and run."""
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns
