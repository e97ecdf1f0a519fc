"""Folder + quantization choice + device -> a ready diffusers Wan pipeline and a load report.

Quantization modes (``LoadOptions.quant``):

- ``auto``: each transformer is loaded as it is on disk: offline MXFP8 when it holds a quant
  description (or an MXFP8 ``quantization_config``), otherwise unquantized.
- ``none``: unquantized; a folder holding MXFP8 weights is refused (never silently upcast).
- ``mxfp8-online``: the ten linears of every transformer block are quantized to MXFP8 while the
  BF16 weights stream in (a transformer already MXFP8 on disk is loaded as is).
- ``mxfp8-offline``: like ``auto`` but every transformer must be MXFP8 on disk.

How the layers of an offline folder are chosen: the description decides; a folder whose
config.json carries the MXFP8 ``quantization_config`` but has no description is read from the
tensor dtypes (a layer is MXFP8 when its weight is float8_e4m3fn); float8 weights with neither
are refused (core/quant/component.py).

The transformers never pass through ``from_pretrained``: they are streamed into meta-device
skeletons (core/quant/streaming.py), so no mode holds two copies of a model and every
inconsistency in a checkpoint is an error naming the file and tensor. The other components
(text encoder, VAE, tokenizer, scheduler) come from diffusers' ``from_pretrained`` with the
transformers passed in. Pickle-based weights are refused everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.configcheck import ConfigError, model_index_problems, read_json_config
from core.models.catalog import Family, get_family
from core.progress import CancelToken

QUANT_MODES = ("auto", "none", "mxfp8-online", "mxfp8-offline")
SCALE_RULES = ("floor", "rceil")
# core.mx.format.WEIGHT_RULES plus "default", repeated here because importing core.mx loads
# torch (tests/core/mx/test_weight_search.py keeps them equal).
WEIGHT_RULE_CHOICES = ("default", "floor", "rceil", "mse")


class LoadError(Exception):
    """A model folder that cannot be loaded; the message says what, where and how to fix it."""


@dataclass
class LoadOptions:
    quant: str = "auto"  # one of QUANT_MODES
    device: str = "auto"  # "auto" | "cpu" | "cuda[:i]" | "npu[:i]"
    backend: str = "auto"  # MXFP8 kernel backend: "auto" | "reference" | "npu"
    dtype: str | None = None  # "bfloat16" | "float32" | None (bf16 on accelerators, fp32 on CPU)
    rule: str = "floor"  # activation MXFP8 scale rule: "floor" (OCP, NPU default) | "rceil"
    # Online weight scale rule: "default" (core.mx.format.DEFAULT_WEIGHT_RULE) | "floor" |
    # "rceil" | "mse" (per-block search; weights only, the format is unchanged).
    weight_rule: str = "default"
    # (component, skeleton) -> tensor transform applied as float weights stream in (LoRA
    # merging, core.lora.merge), or None.
    transform_factory: Any = None


@dataclass
class LoadReport:
    folder: str
    family: str
    quant: str  # effective mode: "none" | "mxfp8-online" | "mxfp8-offline" | "mixed"
    device: str
    dtype: str
    backend: str | None = None
    layers_quantized: int = 0
    layers_kept: int = 0
    kept_reasons: dict[str, str] = field(default_factory=dict)  # "transformer.proj_out" -> why
    bytes_before: int = 0  # transformer parameters unquantized at the compute dtype
    bytes_after: int = 0  # transformer parameters as loaded
    seconds: dict[str, float] = field(default_factory=dict)  # per component
    notes: list[str] = field(default_factory=list)
    backend_rejections: dict[str, str] = field(default_factory=dict)  # backend -> why not used
    skipped_entries: list[str] = field(default_factory=list)  # attention-quant entries skipped
    components: dict[str, dict[str, Any]] = field(default_factory=dict)  # per transformer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedModel:
    pipe: Any  # diffusers WanPipeline | WanImageToVideoPipeline
    family: Family
    folder: Path
    options: LoadOptions
    report: LoadReport


def read_model_index(folder: Path) -> dict[str, Any]:
    """model_index.json of a Wan pipeline folder (checked: core.configcheck); LoadError else."""
    try:
        doc = read_json_config(folder / "model_index.json", "model_index.json")
    except ConfigError as exc:
        raise LoadError(str(exc)) from None
    problems = model_index_problems(doc)
    if problems:
        raise LoadError(f"{folder / 'model_index.json'}: {problems[0]}")
    return doc


def detect_family(folder: Path) -> Family:
    """Family from the Diffusers folder's configs (wan22.md section 2)."""
    marker = folder / "wan_studio.json"
    if marker.is_file():
        try:
            fam = read_json_config(marker).get("family")
            if fam:
                return get_family(fam)
        except (ValueError, KeyError):
            pass
    cfg_path = folder / "transformer" / "config.json"
    if not cfg_path.exists():
        raise LoadError(f"{folder} has no transformer/config.json: not a Diffusers Wan2.2 folder")
    try:
        cfg = read_json_config(cfg_path)
    except ConfigError as exc:
        raise LoadError(str(exc)) from None
    two = (folder / "transformer_2").is_dir()
    if not two:
        return get_family("ti2v-5b")
    return get_family(
        "i2v-a14b" if cfg.get("in_channels", 16) > cfg.get("out_channels", 16) else "t2v-a14b"
    )


def resolve_device(device: str) -> str:
    """auto -> npu (torch_npu importable) -> cuda -> cpu."""
    import torch

    if device != "auto":
        return device
    try:
        import torch_npu  # noqa: F401

        if torch.npu.is_available():  # type: ignore[attr-defined]
            return "npu"
    except Exception:
        pass
    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def _choose_backend(name: str, device: str, rule: str) -> tuple[Any, dict[str, str]]:
    """The MXFP8 backend for ``device`` and why each other one was not used.

    ``rule`` is the activation scale rule (weights have their own, LoadOptions.weight_rule).
    """
    from core.backends import BackendUnavailable, list_backends, select_backend

    try:
        backend, rejected = select_backend(
            device, preference=name, options={b: {"rule": rule} for b in list_backends()}
        )
    except BackendUnavailable as exc:
        raise LoadError(f"cannot load MXFP8 layers: {exc}") from exc
    except ValueError as exc:
        raise LoadError(str(exc)) from exc
    reasons = {}
    for line in rejected:
        backend_name, _, why = str(line).partition(": ")
        reasons[backend_name] = why
    return backend, reasons


def _dtype_keyword() -> str:
    """diffusers renamed ``torch_dtype`` to ``dtype`` (0.37+); use whichever this version takes."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return "torch_dtype"
    return "dtype"


def _check_component_weights(folder: Path, components: list[str]) -> None:
    """Refuse pickle-only components before diffusers gets a chance to unpickle them."""
    from core.quant.checkpoint import PICKLE_SUFFIXES

    for name in components:
        sub = folder / name
        if not sub.is_dir():
            continue
        files = [p.name for p in sub.iterdir() if p.is_file()]
        pickles = sorted(n for n in files if n.endswith(PICKLE_SUFFIXES))
        if pickles and not any(n.endswith(".safetensors") for n in files):
            raise LoadError(
                f"{sub} holds only pickle-based weights ({', '.join(pickles)}). Wan Studio never "
                "unpickles files (they can run arbitrary code); convert them to .safetensors or "
                "download the safetensors version of the model."
            )


def load_pipeline(
    folder: str | Path,
    options: LoadOptions | None = None,
    progress: Callable[[str, float], None] | None = None,
    cancel: CancelToken | None = None,
) -> LoadedModel:
    """Load a Diffusers Wan2.2 folder. ``progress(component, fraction)`` is called as it goes."""
    import torch

    from core.mx import MxFormatError
    from core.quant.checkpoint import CheckpointError
    from core.quant.description import DescriptionError

    options = options or LoadOptions()
    folder = Path(folder)
    if options.quant not in QUANT_MODES:
        raise LoadError(
            f"unknown quantization mode {options.quant!r}; choose one of {', '.join(QUANT_MODES)}"
        )
    if options.rule not in SCALE_RULES:
        raise LoadError(f"unknown MXFP8 scale rule {options.rule!r}; choose floor or rceil")
    if options.weight_rule not in WEIGHT_RULE_CHOICES:
        raise LoadError(
            f"unknown MXFP8 weight scale rule {options.weight_rule!r}; choose one of "
            + ", ".join(WEIGHT_RULE_CHOICES)
        )
    index_path = folder / "model_index.json"
    if not index_path.is_file():
        raise LoadError(f"{folder} has no model_index.json: pick a Diffusers-layout Wan2.2 folder")
    model_index = read_model_index(folder)
    family = detect_family(folder)
    device = resolve_device(options.device)
    dtype_name = options.dtype or ("float32" if device == "cpu" else "bfloat16")
    if dtype_name not in ("float32", "bfloat16", "float16"):
        raise LoadError(f"unsupported compute dtype {dtype_name!r}; use bfloat16 or float32")
    dtype = getattr(torch, dtype_name)
    try:
        return _load(
            folder, model_index, family, device, dtype, dtype_name, options, progress, cancel
        )
    except (CheckpointError, DescriptionError, MxFormatError) as exc:
        raise LoadError(str(exc)) from exc


def _load(
    folder: Path,
    model_index: dict[str, Any],
    family: Family,
    device: str,
    dtype: Any,
    dtype_name: str,
    options: LoadOptions,
    progress: Callable[[str, float], None] | None,
    cancel: CancelToken | None,
) -> LoadedModel:
    from diffusers import WanImageToVideoPipeline, WanPipeline

    from core.quant.component import examine_transformer, transformer_components
    from core.quant.streaming import MODE_NONE, load_transformer, resolve_mode

    components = transformer_components(model_index)
    if not components:
        raise LoadError(
            f"{folder}/model_index.json lists no transformer: not a Wan pipeline folder"
        )
    if family.experts == 2 and "transformer_2" not in components:
        raise LoadError(
            f"{folder}/model_index.json lists no transformer_2, but {family.name} needs both "
            "experts (high noise: transformer, low noise: transformer_2); the folder is incomplete"
        )
    missing = [c for c in components if not (folder / c).is_dir()]
    if missing:
        raise LoadError(
            f"{folder} lacks {', '.join(missing)} (listed in model_index.json): the model folder "
            "is incomplete; copy or download it again"
        )
    others = [
        k for k, v in model_index.items() if isinstance(v, list) and v[-1] and k not in components
    ]
    _check_component_weights(folder, others)

    infos = {c: examine_transformer(folder / c) for c in components}
    modes = {c: resolve_mode(options.quant, infos[c], c)[0] for c in components}
    backend, rejections = None, {}
    if any(m != MODE_NONE for m in modes.values()):
        backend, rejections = _choose_backend(options.backend, device, options.rule)

    report = LoadReport(
        folder=str(folder),
        family=family.key,
        quant="none",
        device=device,
        dtype=dtype_name,
        backend=getattr(backend, "name", None) if backend is not None else None,
        backend_rejections=rejections,
    )
    loaded = {}
    for component in components:
        model, comp = load_transformer(
            folder / component,
            quant=options.quant,
            device=device,
            dtype=dtype,
            backend=backend,
            rule=options.weight_rule,
            component=component,
            progress=(lambda f, c=component: progress(c, f)) if progress else None,
            cancel=cancel,
            info=infos[component],
            transform_factory=options.transform_factory,
        )
        loaded[component] = model
        report.components[component] = comp.to_dict()
        report.seconds[component] = comp.seconds
        report.layers_quantized += len(comp.layers_quantized)
        report.layers_kept += len(comp.kept)
        report.kept_reasons.update({f"{component}.{n}": r for n, r in comp.kept.items()})
        report.bytes_before += comp.bytes_before
        report.bytes_after += comp.bytes_after
        report.skipped_entries += [f"{component}.{n}" for n in comp.skipped_entries]
        report.notes += comp.notes
    effective = {report.components[c]["mode"] for c in components}
    report.quant = effective.pop() if len(effective) == 1 else "mixed"
    if report.quant == "mixed":
        report.notes.append(
            "the transformers are in different states: "
            + ", ".join(f"{c}: {report.components[c]['mode']}" for c in components)
        )

    if cancel is not None:
        cancel.raise_if_cancelled()
    started = time.perf_counter()
    cls = (
        WanImageToVideoPipeline
        if family.pipeline_class == "WanImageToVideoPipeline"
        else WanPipeline
    )
    try:
        pipe = cls.from_pretrained(
            folder, **{_dtype_keyword(): dtype}, use_safetensors=True, **loaded
        )
    except (OSError, ValueError) as exc:
        raise LoadError(f"cannot load the other components of {folder}: {exc}") from exc
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    report.seconds["other components"] = time.perf_counter() - started
    if progress:
        progress("pipeline", 1.0)
    return LoadedModel(pipe=pipe, family=family, folder=folder, options=options, report=report)
