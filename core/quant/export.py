"""BF16 Diffusers Wan folder -> offline MXFP8 Diffusers folder (``wan-studio quantize``).

The output has the layout the repack writes and every MXFP8 loader reads (msmodelslim.md §9-10):
each transformer dir holds ``config.json`` marked with ``quantization_config: {quant_method:
"mxfp8", is_checkpoint_mxfp8_serialized: true}``, ``diffusion_pytorch_model.safetensors`` (sharded
with an index above ``max_shard_bytes``) with Diffusers names (fp8 ``weight``, uint8
``weight_scale``, float tensors in their stored dtype) and ``quant_model_description.json``
("W8A8_MXFP8" / "FLOAT" per tensor, ``model_quant_type`` last). Everything else is copied.

The layers are the default selection (the ten block linears of every block, both experts), the
same as online quantization, so ``quantize`` then load gives bit-identical results to loading
the BF16 folder with ``mxfp8-online``. Quantization uses each weight in its stored dtype.

Safety: the source is only read; the whole source is validated (headers, names, shapes) before a
byte is written; output goes to a hidden temporary sibling folder that is verified and then
renamed into place; any failure or cancel removes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import staging
from core.humanize import human_bytes
from core.mx import ScaleRule, num_blocks
from core.mx.format import parse_weight_rule
from core.progress import CancelToken, Progress, RateMeter
from core.quant.checkpoint import (
    PICKLE_SUFFIXES,
    CheckpointError,
    PickleWeightsRefused,
    TensorReader,
)
from core.quant.component import (
    QUANTIZATION_CONFIG,
    WEIGHT_RULE_KEY,
    ComponentError,
    TransformerDir,
    examine_transformer,
    transformer_components,
)
from core.quant.description import DESCRIPTION_FILE, QUANT_FLOAT, QUANT_MXFP8
from core.quant.writer import (
    INDEX_SUFFIX,
    SafetensorsWriter,
    TensorSpec,
    index_json,
    plan_shards,
    shard_names,
)

WEIGHTS_STEM = "diffusion_pytorch_model"
DEFAULT_MAX_SHARD_BYTES = 10 * 1000**3  # diffusers' save_pretrained default ("10GB")
_DISK_MARGIN = 64 * 1024**2


class ExportError(ValueError):
    """Bad input for ``quantize`` (source, destination); nothing was written."""


@dataclass
class ComponentExport:
    component: str
    layers_quantized: int = 0
    kept: dict[str, str] = field(default_factory=dict)
    bytes_in: int = 0
    bytes_out: int = 0
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ExportReport:
    source: str
    output: str
    rule: str
    components: dict[str, ComponentExport] = field(default_factory=dict)
    copied: list[str] = field(default_factory=list)
    copied_bytes: int = 0
    seconds: float = 0.0
    removed_stale: list[str] = field(default_factory=list)  # leftovers of killed runs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _read_model_index(src: Path) -> dict[str, Any]:
    path = src / "model_index.json"
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        exported = (
            any(src.glob("quant_model_description*.json")) or (src / "high_noise_model").is_dir()
        )
        hint = (
            "; it looks like an msmodelslim export, which is already quantized: convert it "
            "with `wan-studio repack`"
            if exported
            else ": pick a Diffusers-layout Wan2.2 folder"
        )
        raise ExportError(f"{src} has no model_index.json{hint}") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} cannot be read as JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ExportError(f"{path} must hold a JSON object")
    return data


def _check_destination(src: Path, out: Path) -> None:
    if out == src or src in out.parents:
        raise ExportError(
            f"the output {out} must be outside the source folder {src} (the source is never modified)"
        )
    if out.exists():
        if not out.is_dir():
            raise ExportError(f"{out} exists and is not a folder; choose a new output folder")
        if any(out.iterdir()):
            raise ExportError(
                f"{out} already exists and is not empty; nothing was written. Choose a new or "
                "empty output folder, or remove it first."
            )


def _refuse_pickles(folder: Path) -> None:
    """A component folder with pickle weights and no safetensors is refused (never unpickled)."""
    for sub in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        names = [p.name for p in sub.iterdir() if p.is_file()]
        pickles = [n for n in names if n.endswith(PICKLE_SUFFIXES)]
        if pickles and not any(n.endswith(".safetensors") for n in names):
            raise PickleWeightsRefused(
                f"{sub} holds only pickle-based weights ({', '.join(sorted(pickles))}). Wan "
                "Studio never unpickles files (they can run arbitrary code); convert them to "
                ".safetensors first."
            )


@dataclass
class _Plan:
    component: str
    info: TransformerDir
    quantize: list[str]
    kept: dict[str, str]
    specs: list[TensorSpec]
    order: list[str]  # output tensor names in model order (for the description)


def _plan_component(src: Path, component: str) -> _Plan:
    from core.quant.selection import plan_default
    from core.quant.streaming import MODE_NONE, build_skeleton, linear_layers, plan_tensors

    info = examine_transformer(src / component)
    info.require_layer_source()
    if info.quantized:
        raise ExportError(
            f"{info.path} is already MXFP8 (offline); `quantize` needs the BF16 model. "
            "This folder can be loaded as is."
        )
    model = build_skeleton(info.config)
    plan_tensors(model, info, MODE_NONE, [], component)  # checkpoint vs config, from headers alone
    linears = linear_layers(model)
    plan = plan_default((n, m.in_features) for n, m in linears.items())
    chosen = set(plan.quantize)
    specs: list[TensorSpec] = []
    order: list[str] = []
    entries = info.checkpoint.entries
    for name in model.state_dict(keep_vars=True):
        entry = entries[name]
        prefix, _, leaf = name.rpartition(".")
        if prefix in chosen and leaf == "weight":
            n, k = entry.shape
            specs.append(TensorSpec(name, "F8_E4M3", (n, k)))
            specs.append(TensorSpec(f"{prefix}.weight_scale", "U8", (n, num_blocks(k))))
            order += [name, f"{prefix}.weight_scale"]
        else:
            specs.append(TensorSpec(name, entry.dtype, entry.shape))
            order.append(name)
    return _Plan(component, info, plan.quantize, plan.kept, specs, order)


def _copy_entry(source: Path, target: Path) -> int:
    if source.is_dir():
        shutil.copytree(source, target, symlinks=False)
        return sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    shutil.copy2(source, target)
    return target.stat().st_size


def _write_json(path: Path, data: Any) -> None:
    # Plain write: the whole output folder is renamed into place atomically once complete.
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, ensure_ascii=False)
        handle.write("\n")


def _entry_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def quantize_folder(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    rule: ScaleRule | str | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: CancelToken | None = None,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
) -> ExportReport:
    """Write an offline MXFP8 copy of the BF16 Diffusers folder ``src`` at ``out``.

    ``rule`` is the weight scale rule (None: DEFAULT_WEIGHT_RULE); it is recorded in each
    transformer's ``quantization_config`` as ``weight_scale_rule`` so that ``inspect`` can say."""
    started = time.perf_counter()
    rule = parse_weight_rule(rule)
    source = Path(src).expanduser().absolute()
    target = Path(out).expanduser().absolute()
    if not source.is_dir():
        raise ExportError(f"{source} is not a folder")
    model_index = _read_model_index(source)
    _check_destination(source.resolve(), target.resolve())
    components = transformer_components(model_index)
    if not components:
        raise ExportError(
            f"{source}/model_index.json lists no transformer: not a Wan pipeline folder"
        )
    _refuse_pickles(source)
    plans = [_plan_component(source, c) for c in components]

    to_copy = sorted(p for p in source.iterdir() if p.name not in components)
    copy_bytes = sum(_entry_size(p) for p in to_copy)
    write_bytes = sum(s.nbytes for plan in plans for s in plan.specs)
    read_bytes = sum(plan.info.checkpoint.nbytes for plan in plans)
    target.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(target.parent).free
    if free < copy_bytes + write_bytes + _DISK_MARGIN:
        raise ExportError(
            f"not enough free space in {target.parent}: the MXFP8 copy needs about "
            f"{human_bytes(copy_bytes + write_bytes + _DISK_MARGIN)}, {human_bytes(free)} are "
            "free; nothing was written"
        )

    report = ExportReport(source=str(source), output=str(target), rule=rule)
    total = float(copy_bytes + read_bytes) or 1.0
    meter = RateMeter(total)
    done = 0.0

    def tick(stage: str, message: str) -> None:
        if progress is not None:
            progress(Progress(stage, done, total, message, meter.eta(done)))

    # A locked hidden sibling (core.staging): a kill -9 leaves it hidden, and the next quantize
    # of the same target removes it (its lock is free), as repack does.
    report.removed_stale = [str(p) for p in staging.remove_stale(target, "quantize")]
    stage = staging.Staging(target, "quantize")
    tmp = stage.path
    try:
        shutil.copymode(source, tmp)  # mkdtemp makes it private; match the source folder
        for entry in to_copy:
            if cancel is not None:
                cancel.raise_if_cancelled()
            tick("copy", f"copying {entry.name}")
            size = _copy_entry(entry, tmp / entry.name)
            report.copied.append(entry.name)
            report.copied_bytes += size
            done += size
        for plan in plans:
            comp_started = time.perf_counter()

            def advance(nbytes: int, message: str, stage: str = plan.component) -> None:
                nonlocal done
                done += nbytes
                tick(stage, message)

            result = _write_component(
                plan, tmp / plan.component, rule, max_shard_bytes, advance, cancel
            )
            result.seconds = time.perf_counter() - comp_started
            report.components[plan.component] = result
        tick("verify", "verifying the output")
        for plan in plans:
            check = examine_transformer(tmp / plan.component)
            if check.quantized_layers() != plan.quantize:
                raise ExportError(f"verification failed for {plan.component}: layer lists differ")
        if target.exists():
            target.rmdir()  # empty (checked above)
        stage.commit()
    except BaseException:
        stage.discard()
        raise
    report.seconds = time.perf_counter() - started
    return report


def _write_component(
    plan: _Plan,
    folder: Path,
    rule: str,
    max_shard_bytes: int,
    advance: Callable[[int, str], None],
    cancel: CancelToken | None,
) -> ComponentExport:
    from core.mx.search import quantize_weight

    folder.mkdir()
    info = plan.info
    for extra in sorted(info.path.iterdir()):  # keep README etc.; weights and config are rewritten
        if (
            extra.is_file()
            and not extra.name.startswith(WEIGHTS_STEM)
            and extra.name != "config.json"
        ):
            shutil.copy2(extra, folder / extra.name)
    config = dict(info.config)
    config["quantization_config"] = {**QUANTIZATION_CONFIG, WEIGHT_RULE_KEY: rule}
    _write_json(folder / "config.json", config)

    shards = plan_shards(plan.specs, max_shard_bytes)
    names = shard_names(WEIGHTS_STEM, len(shards))
    shard_of = {s.name: i for i, shard in enumerate(shards) for s in shard}
    chosen = set(plan.quantize)
    result = ComponentExport(
        component=plan.component, layers_quantized=len(plan.quantize), kept=plan.kept
    )
    with contextlib.ExitStack() as stack:
        writers = [
            stack.enter_context(SafetensorsWriter(folder / name, shard, {"format": "pt"}))
            for name, shard in zip(names, shards, strict=True)
        ]
        entries = info.checkpoint.entries
        ordered = sorted(entries, key=lambda n: (str(entries[n].file), entries[n].start))
        with TensorReader(info.checkpoint) as reader:
            for name in ordered:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                tensor = reader.read(name)
                prefix, _, leaf = name.rpartition(".")
                if prefix in chosen and leaf == "weight":
                    codes, scale = quantize_weight(tensor, rule)
                    writers[shard_of[name]].write(name, codes)
                    scale_name = f"{prefix}.weight_scale"
                    writers[shard_of[scale_name]].write(scale_name, scale)
                    del codes, scale
                else:
                    writers[shard_of[name]].write(name, tensor)
                del tensor
                advance(entries[name].nbytes, f"{plan.component}: {name}")
    if len(shards) > 1:
        _write_json(folder / f"{WEIGHTS_STEM}{INDEX_SUFFIX}", index_json(shards, names))
    description: dict[str, str] = {}
    for name in plan.order:
        prefix, _, leaf = name.rpartition(".")
        quantized = prefix in chosen and leaf in ("weight", "weight_scale")
        description[name] = QUANT_MXFP8 if quantized else QUANT_FLOAT
    description["model_quant_type"] = QUANT_MXFP8
    _write_json(folder / DESCRIPTION_FILE, description)
    result.bytes_in = info.checkpoint.nbytes
    result.bytes_out = sum(s.nbytes for s in plan.specs)
    result.files = [*names, DESCRIPTION_FILE, "config.json"]
    return result


__all__ = [
    "DEFAULT_MAX_SHARD_BYTES",
    "CheckpointError",
    "ComponentError",
    "ComponentExport",
    "ExportError",
    "ExportReport",
    "quantize_folder",
    "transformer_components",
]
