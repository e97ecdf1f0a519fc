"""Load one Wan transformer by streaming its safetensors into a meta-device skeleton.

One path for every mode, so no mode ever holds two copies of the model:

1. the skeleton is built on the meta device from ``config.json`` (accelerate
   ``init_empty_weights`` + ``from_config``): no memory;
2. linears become ``Mxfp8Linear`` where the plan says so (offline: the description or the tensor
   dtypes; online: the default block-linear selection);
3. the checkpoint is checked against the skeleton from the headers alone (missing / unexpected
   tensors, missing scales, wrong dtypes or shapes, description vs weights) before any data is
   read, so a bad folder fails fast with the file and tensor named;
4. tensors are read one at a time into the buffer they will live in and assigned into the model
   (``load_state_dict(assign=True)`` semantics, one tensor at a time). Online, each BF16 block
   weight is quantized as it arrives and freed at once.

Float tensors get diffusers' dtypes (``_keep_in_fp32_modules`` in fp32, the rest in the compute
dtype); fp8 codes and scale bytes are never cast.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.mx import SCALE_NAN, ScaleRule
from core.mx.format import parse_weight_rule
from core.progress import CancelToken
from core.quant.checkpoint import FLOAT_DTYPES, CheckpointError, TensorEntry, TensorReader
from core.quant.component import ComponentError, TransformerDir, examine_transformer
from core.quant.description import QUANT_MXFP8, is_attention_quant_entry
from core.quant.layer import Mxfp8Linear
from core.quant.selection import (
    REASON_DESCRIPTION_FLOAT,
    REASON_DTYPE_FLOAT,
    keeps_fp32,
    plan_default,
)

MODE_NONE = "none"
MODE_ONLINE = "mxfp8-online"
MODE_OFFLINE = "mxfp8-offline"
REQUESTS = ("auto", MODE_NONE, MODE_ONLINE, MODE_OFFLINE)
SUPPORTED_CLASSES = ("WanTransformer3DModel",)
_EXAMPLES = 3
_TRIM_BYTES = 1 << 20  # read buffers at least this big are handed back to the OS once copied


class WeightsError(CheckpointError):
    """Checkpoint tensors that do not fit the model or the description."""


@dataclass
class ComponentReport:
    """What happened to one transformer: mode, layers, bytes, time."""

    component: str
    folder: str
    mode: str
    layers_quantized: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)
    skipped_entries: list[str] = field(default_factory=list)
    bytes_before: int = 0  # parameters at the compute dtype (what quant "none" would hold)
    bytes_after: int = 0  # parameters as loaded
    checkpoint_bytes: int = 0
    seconds: float = 0.0
    description: str | None = None
    layer_source: str | None = None  # "description" | "dtypes" | "default selection" | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_mode(request: str, info: TransformerDir, component: str) -> tuple[str, list[str]]:
    """The mode one transformer is loaded in, given the requested mode and what it holds."""
    if request not in REQUESTS:
        raise ComponentError(
            f"unknown quantization mode {request!r}; choose one of {', '.join(REQUESTS)}"
        )
    info.require_layer_source()
    if info.quantized:
        if request == MODE_NONE:
            raise ComponentError(
                f"{info.path} holds offline MXFP8 weights; they cannot be loaded unquantized. "
                "Choose quantization 'auto' (offline MXFP8), or use the original BF16 model."
            )
        notes = []
        if request == MODE_ONLINE:
            notes.append(f"{component} is already MXFP8 (offline): loaded as is, not requantized")
        return MODE_OFFLINE, notes
    if request == MODE_OFFLINE:
        raise ComponentError(
            f"{info.path} has no quant_model_description.json and no MXFP8 weights; choose "
            "'mxfp8-online' to quantize at load, or create an offline copy with "
            "`wan-studio quantize`."
        )
    if request == "auto":
        return MODE_NONE, []
    return request, []


def build_skeleton(config: dict[str, Any]) -> nn.Module:
    """The transformer on the meta device (parameters without memory) from its config."""
    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel

    name = config.get("_class_name", "WanTransformer3DModel")
    if name not in SUPPORTED_CLASSES:
        raise ComponentError(
            f"transformer class {name!r} is not supported; Wan Studio loads {', '.join(SUPPORTED_CLASSES)}"
        )
    clean = {k: v for k, v in config.items() if k != "quantization_config"}
    with init_empty_weights(include_buffers=False):
        model = WanTransformer3DModel.from_config(clean)
    return model


def linear_layers(model: nn.Module) -> dict[str, nn.Linear]:
    return {n: m for n, m in model.named_modules() if type(m) is nn.Linear}


def swap_in_mxfp8(model: nn.Module, names: list[str]) -> None:
    """Replace the named nn.Linear modules by empty meta-device Mxfp8Linear modules."""
    for name in names:
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        old = getattr(parent, leaf)
        new = Mxfp8Linear(old.in_features, old.out_features, old.bias is not None, device="meta")
        setattr(parent, leaf, new)


def _examples(names: list[str]) -> str:
    shown = ", ".join(names[:_EXAMPLES])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _EXAMPLES else "")


@dataclass
class _Task:
    name: str
    kind: str  # "float" | "codes" | "scale" | "quantize"
    entry: TensorEntry


def plan_tensors(
    model: nn.Module, info: TransformerDir, mode: str, quantized: list[str], component: str
) -> tuple[list[_Task], list[str]]:
    """Check the checkpoint against the model from headers alone; returns tasks and skipped names."""
    state = model.state_dict(keep_vars=True)
    entries = info.checkpoint.entries
    where = info.path
    qset = set(quantized)
    skipped = [n for n in entries if is_attention_quant_entry(n)]

    if mode == MODE_OFFLINE:
        missing_scales = [q for q in quantized if f"{q}.weight_scale" not in entries]
        if missing_scales:
            raise WeightsError(
                f"{where}: layer(s) {_examples(missing_scales)} are {QUANT_MXFP8} but the weights "
                "have no weight_scale for them. Refusing to invent scales (the layer would output "
                "garbage). Re-export or repack the checkpoint; the scales must come from it."
            )
        desc = info.description
        if desc is not None:
            absent = [k for k in desc.tensor_keys() if k not in entries]
            if absent:
                raise WeightsError(
                    f"{desc.source} names {len(absent)} tensor(s) that the weights in {where} do "
                    f"not have ({_examples(absent)}). The description and the weights do not "
                    "belong together: repack or re-export the model."
                )
            undescribed = [
                n for n in entries if n not in desc.types and not is_attention_quant_entry(n)
            ]
            if undescribed:
                raise WeightsError(
                    f"{where}: tensor(s) {_examples(undescribed)} are not in {desc.source}. "
                    "The description and the weights do not belong together: repack the model."
                )
    expected_in_ckpt = {
        n
        for n in state
        if not (mode == MODE_ONLINE and n.endswith(".weight_scale") and n[:-13] in qset)
    }
    unexpected = [n for n in entries if n not in expected_in_ckpt and n not in skipped]
    if unexpected:
        scale_hint = ""
        if any(n.endswith(".weight_scale") for n in unexpected):
            scale_hint = (
                " Some are weight_scale tensors of layers the model holds in float: the "
                "description (or config) does not match the weights."
            )
        raise WeightsError(
            f"{where}: the checkpoint has tensor(s) the {component} model does not have: "
            f"{_examples(unexpected)}.{scale_hint} Check that config.json matches the weights "
            "(a different model size or family?)."
        )
    missing = [n for n in expected_in_ckpt if n not in entries]
    if missing:
        raise WeightsError(
            f"{where}: the checkpoint lacks {len(missing)} tensor(s) the {component} model needs "
            f"({_examples(sorted(missing))}). The weights are incomplete or belong to another "
            "model: copy the folder again."
        )

    tasks: list[_Task] = []
    for name in sorted(expected_in_ckpt, key=lambda n: (str(entries[n].file), entries[n].start)):
        entry = entries[name]
        target = state[name]
        prefix, _, leaf = name.rpartition(".")
        shape = tuple(target.shape)
        if prefix in qset and leaf in ("weight", "weight_scale"):
            layer = model.get_submodule(prefix)
            if mode == MODE_ONLINE:
                kind, dtypes = "quantize", FLOAT_DTYPES
                shape = (layer.out_features, layer.in_features)
            elif leaf == "weight":
                kind, dtypes = "codes", frozenset({"F8_E4M3"})
            else:
                kind, dtypes = "scale", frozenset({"U8", "F8_E8M0"})
        else:
            kind, dtypes = "float", FLOAT_DTYPES
        if entry.dtype not in dtypes:
            raise WeightsError(_dtype_message(where, name, entry, kind, dtypes))
        if entry.shape != shape:
            raise WeightsError(_shape_message(where, name, entry, shape, kind))
        tasks.append(_Task(name, kind, entry))
    return tasks, skipped


def _dtype_message(where: Path, name: str, entry: TensorEntry, kind: str, allowed) -> str:
    want = "/".join(sorted(allowed))
    if kind == "float" and entry.dtype == "F8_E4M3":
        return (
            f"{where}: {name} is float8 in {entry.file.name} but this layer is marked FLOAT "
            "(high precision). The description does not match the weights: repack the model."
        )
    return (
        f"{where}: {name} in {entry.file.name} is {entry.dtype}, expected {want}. "
        "The checkpoint does not match its description: repack or re-export the model."
    )


def _shape_message(where: Path, name: str, entry: TensorEntry, shape: tuple, kind: str) -> str:
    hint = ""
    if kind == "scale" and len(shape) == 2:
        n, blocks = shape
        k_pairs = (n, -(-blocks // 2), 2)
        if entry.shape == k_pairs:
            hint = " (it looks like the NPU pair layout [N, K/64, 2]; store [N, ceil(K/32)])"
        elif len(entry.shape) == 2 and entry.shape[0] == n:
            hint = f" (a K of {entry.shape[1] * 32} instead of {blocks * 32}?)"
    return (
        f"{where}: {name} in {entry.file.name} has shape {list(entry.shape)}, the model expects "
        f"{list(shape)}{hint}. Check that config.json belongs to these weights."
    )


def _assign(model: nn.Module, name: str, tensor: torch.Tensor) -> None:
    prefix, _, leaf = name.rpartition(".")
    module = model.get_submodule(prefix) if prefix else model
    if leaf in module._parameters:
        module._parameters[leaf] = nn.Parameter(tensor, requires_grad=False)
    else:
        module._buffers[leaf] = tensor


def _check_scale(where: Path, name: str, entry: TensorEntry, scale: torch.Tensor) -> None:
    if scale.numel() and int(scale.max()) == SCALE_NAN:  # 0xFF is the largest byte; max is fast
        bad = scale == SCALE_NAN
        rows, blocks = bad.nonzero()[0].tolist()
        raise WeightsError(
            f"{where}: {name} in {entry.file.name} has {int(bad.sum())} NaN scale byte(s) (0xFF), "
            f"first at row {rows}, block {blocks}: that layer would output NaN. The export was "
            "made from weights holding Inf/NaN or the file is damaged; re-export it."
        )


def load_transformer(
    folder: str | Path,
    *,
    quant: str = "auto",
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    backend: Any = None,
    rule: ScaleRule | str | None = None,
    component: str = "transformer",
    progress: Callable[[float], None] | None = None,
    cancel: CancelToken | None = None,
    info: TransformerDir | None = None,
    transform_factory: Callable[
        [str, nn.Module], Callable[[str, torch.Tensor], torch.Tensor] | None
    ]
    | None = None,
) -> tuple[nn.Module, ComponentReport]:
    """Load one transformer folder; returns the ready model and its report.

    ``backend`` (a core.backends MXFP8 backend) is required when any layer ends up MXFP8.
    ``info`` skips re-reading the folder when the caller already examined it.
    ``transform_factory(component, skeleton)`` may return a function applied to every float
    tensor as it is read, before it is quantized or cast (LoRA merging, core.lora.merge); it is
    not used for tensors stored as MXFP8 codes.
    """
    started = time.perf_counter()
    rule = parse_weight_rule(rule)  # the online weight rule (None: DEFAULT_WEIGHT_RULE)
    info = info or examine_transformer(folder)
    mode, notes = resolve_mode(quant, info, component)
    if mode != MODE_NONE and backend is None:
        raise ComponentError(f"{component}: MXFP8 loading needs a backend (none was given)")
    if info.description is not None and info.description.naming() in ("msmodelslim", "mixed"):
        raise ComponentError(
            f"{info.description.source} uses Wan-native (msmodelslim) tensor names; convert the "
            "export to a Diffusers folder first with `wan-studio repack`."
        )

    model = build_skeleton(info.config)
    report = ComponentReport(component=component, folder=str(info.path), mode=mode, notes=notes)
    quantized = _choose_layers(model, info, mode, report)
    swap_in_mxfp8(model, quantized)
    tasks, skipped = plan_tensors(model, info, mode, quantized, component)
    transform = None
    if transform_factory is not None and mode != MODE_OFFLINE:
        transform = transform_factory(component, model)
    report.skipped_entries += [n for n in skipped if n not in report.skipped_entries]
    if report.skipped_entries:
        report.notes.append(
            f"{component}: skipped {len(report.skipped_entries)} attention-quantization entries "
            "(rotation tensors / FA3 metadata); attention runs in BF16, so the result is exact"
        )
    _stream(model, info, tasks, device, dtype, rule, progress, cancel, transform)
    _finish(model, info, quantized, device, backend)

    report.checkpoint_bytes = info.checkpoint.nbytes
    report.bytes_after = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    report.bytes_before = weight_bytes(model, dtype, unquantized=True)
    report.seconds = time.perf_counter() - started
    return model, report


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None (other C libraries / platforms)."""
    if sys.platform != "linux":
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Return freed heap pages to the OS.

    Online quantization frees a BF16 buffer and its temporaries after every layer while the
    MXFP8 codes it produced stay; glibc keeps the freed holes between them resident, which
    measured +40 % peak RSS on a real-size TI2V-5B (bench/load_peak.py). malloc_trim(0) gives
    them back; elsewhere this is a no-op.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _choose_layers(
    model: nn.Module, info: TransformerDir, mode: str, report: ComponentReport
) -> list[str]:
    """The linears to make MXFP8 (model order); fills the report's kept reasons and sources."""
    linears = linear_layers(model)
    if mode == MODE_ONLINE:
        plan = plan_default((n, m.in_features) for n, m in linears.items())
        report.kept = plan.kept
        report.layer_source = "default selection"
        report.layers_quantized = list(plan.quantize)
        return plan.quantize
    if mode != MODE_OFFLINE:
        return []
    chosen = set(info.quantized_layers())
    not_linear = [q for q in info.quantized_layers() if q not in linears]
    if not_linear:
        raise WeightsError(
            f"{info.description.source if info.description else info.path}: "
            f"{_examples(not_linear)} marked {QUANT_MXFP8}, but the model has no linear "
            "layer of that name. The description does not belong to this model."
        )
    reason = REASON_DESCRIPTION_FLOAT if info.description else REASON_DTYPE_FLOAT
    report.kept = {n: reason for n in linears if n not in chosen}
    report.layer_source = info.layer_source
    report.description = str(info.description_path) if info.description_path else None
    if info.description is not None:
        report.skipped_entries.extend(info.description.attention_entries)
    report.layers_quantized = [n for n in linears if n in chosen]
    return list(report.layers_quantized)


def _stream(
    model: nn.Module,
    info: TransformerDir,
    tasks: list[_Task],
    device: str | torch.device,
    dtype: torch.dtype,
    rule: str,
    progress: Callable[[float], None] | None,
    cancel: CancelToken | None,
    transform: Callable[[str, torch.Tensor], torch.Tensor] | None = None,
) -> None:
    """Read every tensor once, into its final dtype and device, and assign it into the model."""
    from core.mx.search import quantize_weight

    keep_fp32 = getattr(model, "_keep_in_fp32_modules", None) or []
    total = sum(t.entry.nbytes for t in tasks) or 1
    done = 0
    with TensorReader(info.checkpoint) as reader:
        for task in tasks:
            if cancel is not None:
                cancel.raise_if_cancelled()
            tensor = reader.read(task.name)
            if transform is not None and task.kind not in ("codes", "scale"):
                tensor = transform(task.name, tensor)
            if task.kind == "quantize":  # online: BF16 in, MXFP8 out, BF16 freed at once
                layer = model.get_submodule(task.name.rpartition(".")[0])
                codes, scale = quantize_weight(tensor.to(device), rule)
                del tensor
                layer.weight = nn.Parameter(codes, requires_grad=False)
                layer.weight_scale = nn.Parameter(scale, requires_grad=False)
                layer.rule = rule
                release_freed_memory()
            else:
                if task.kind == "scale":
                    tensor = tensor.view(torch.uint8)
                    _check_scale(info.path, task.name, task.entry, tensor)
                    placed = tensor.to(device)
                elif task.kind == "codes":
                    placed = tensor.to(device)
                else:
                    target = torch.float32 if keeps_fp32(task.name, keep_fp32) else dtype
                    placed = tensor.to(device=device, dtype=target)
                _assign(model, task.name, placed)
                if placed is not tensor and task.entry.nbytes >= _TRIM_BYTES:
                    del tensor  # the read buffer was copied (other dtype or device)
                    release_freed_memory()
            done += task.entry.nbytes
            if progress is not None:
                progress(done / total)


def _finish(
    model: nn.Module,
    info: TransformerDir,
    quantized: list[str],
    device: str | torch.device,
    backend: Any,
) -> None:
    """Check nothing is left on meta, move runtime buffers, hand MXFP8 layers to the backend."""
    leftover = [n for n, t in model.state_dict(keep_vars=True).items() if t.is_meta]
    if leftover:  # plan_tensors guarantees this cannot happen; keep the invariant explicit
        raise WeightsError(f"{info.path}: tensors never loaded: {_examples(leftover)}")
    target = torch.device(device)
    for module in model.modules():  # non-persistent buffers (rope tables) follow the model
        for key, buf in module._buffers.items():
            if buf is not None and buf.device != target:
                module._buffers[key] = buf.to(target)
    model.eval()
    model.requires_grad_(False)
    for name in quantized:
        try:
            model.get_submodule(name).process_weights_after_loading(backend)
        except Exception as exc:
            raise WeightsError(f"{info.path}: layer {name}: {exc}") from exc


def weight_bytes(model: nn.Module, dtype: torch.dtype, *, unquantized: bool = False) -> int:
    """Parameter bytes of ``model`` loaded at ``dtype``: fp32-kept modules in fp32, MXFP8 codes
    and scales as stored. ``unquantized=True`` counts every Mxfp8Linear as a plain linear (what
    quant "none" would hold). Works on meta-device models, so it costs no memory."""
    size = torch.empty((), dtype=dtype).element_size()
    keep_fp32 = getattr(model, "_keep_in_fp32_modules", None) or []
    quantized = {n for n, m in model.named_modules() if isinstance(m, Mxfp8Linear)}
    total = 0
    for name, tensor in model.state_dict().items():
        prefix, _, leaf = name.rpartition(".")
        if prefix in quantized and leaf in ("weight", "weight_scale"):
            if not unquantized:
                total += tensor.numel() * tensor.element_size()
            elif leaf == "weight":
                total += tensor.numel() * size
        elif tensor.is_floating_point():
            total += tensor.numel() * (4 if keeps_fp32(name, keep_fp32) else size)
        else:
            total += tensor.numel() * tensor.element_size()
    return total


def quantized_layer_count(model: nn.Module) -> int:
    """Number of Mxfp8Linear modules in ``model``."""
    return sum(1 for m in model.modules() if isinstance(m, Mxfp8Linear))
