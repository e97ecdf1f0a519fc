"""What a model folder holds, read from JSON files and safetensors headers only (fast, no torch).

``inspect_folder`` answers, for the library, the GUI and ``wan-studio inspect``: which layout
(Diffusers or an msmodelslim export), which Wan2.2 family, whether it is the demo model, its
quantization state, experts, components, per-transformer linear counts, size on disk, the
weight memory each quantization mode would need, and every problem that would stop it from
loading or make it produce wrong videos (missing expert, VAE or channel counts that do not fit
the family, float8 weights without a description, corrupt or pickle-only weights).

It never raises for a bad folder: problems are collected as clear sentences. The deep analysis
of msmodelslim exports belongs to core/repack; here they are recognised and summarised.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.configcheck import (
    ConfigError,
    model_index_problems,
    read_json_config,
    transformer_config_problems,
)
from core.models.catalog import FAMILIES, Family, get_family
from core.models.demo import is_demo_model, read_marker
from core.quant.checkpoint import (
    FLOAT_DTYPES,
    PICKLE_SUFFIXES,
    CheckpointError,
    TensorEntry,
    open_checkpoint,
    read_header,
)
from core.quant.component import (
    WEIGHT_RULE_KEY,
    TransformerDir,
    examine_transformer,
    quant_types,
)
from core.quant.description import (
    DESCRIPTION_GLOB,
    QUANT_MXFP8,
    DescriptionError,
    find_description_file,
    load_description,
)
from core.quant.selection import BLOCK_SIZE, WAN_KEEP_IN_FP32, is_block_linear, keeps_fp32

LAYOUT_DIFFUSERS = "diffusers"
LAYOUT_MSMODELSLIM = "msmodelslim"
LAYOUT_UNKNOWN = "unknown"
MEMORY_DTYPE = "bfloat16"  # memory estimates assume BF16 compute (fp32-kept modules in fp32)
REQUIRED_COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
MSMODELSLIM_EXPERTS = ("high_noise_model", "low_noise_model")
_WEIGHT_GLOB = "quant_model_weight*.safetensors"
_BLOCK_RE = re.compile(r"^blocks\.(\d+)\.")
_PRECISIONS = {"BF16": "bf16", "F16": "fp16", "F32": "fp32"}


@dataclass
class FolderInfo:
    """Facts about one model folder; ``problems`` stop it from loading, ``warnings`` do not."""

    path: str
    layout: str = LAYOUT_UNKNOWN  # "diffusers" | "msmodelslim" | "unknown"
    family: str | None = None  # "t2v-a14b" | "i2v-a14b" | "ti2v-5b"
    family_name: str | None = None  # "Wan2.2-T2V-A14B"
    is_demo: bool = False
    quantization: str = (
        "unknown"  # "bf16" | "fp16" | "fp32" | "mxfp8-offline" | "mixed" | "unknown"
    )
    experts: int = 0
    components: dict[str, bool] = field(default_factory=dict)
    size_bytes: int = 0
    layer_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    memory_estimate: dict[str, int] = field(default_factory=dict)  # quant mode -> weight bytes
    memory_dtype: str = MEMORY_DTYPE
    description_files: dict[str, str] = field(default_factory=dict)
    # MXFP8 transformer -> the weight scale rule recorded by `wan-studio quantize`, or
    # "not recorded" (a repacked msmodelslim export, another tool's folder)
    weight_rules: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.layout != LAYOUT_UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inspect_folder(path: str | Path) -> FolderInfo:
    """Inspect ``path`` (never raises for bad folders; see ``FolderInfo.problems``)."""
    folder = Path(path).expanduser()
    info = FolderInfo(path=str(folder.absolute()))
    if not folder.is_dir():
        info.problems.append(
            f"{folder} is not a folder" if folder.exists() else f"{folder} does not exist"
        )
        return info
    info.is_demo = is_demo_model(folder)
    if (folder / "model_index.json").is_file() or (folder / "transformer").is_dir():
        info.layout = LAYOUT_DIFFUSERS
        _inspect_diffusers(folder, info)
    elif _msmodelslim_dirs(folder):
        info.layout = LAYOUT_MSMODELSLIM
        _inspect_msmodelslim(folder, info)
    else:
        info.problems.append(
            f"{folder} is neither a Diffusers model folder (model_index.json, transformer/, vae/, "
            "...) nor an msmodelslim export (quant_model_description*.json with "
            "quant_model_weight*.safetensors)"
        )
    if info.layout != LAYOUT_UNKNOWN:  # never walk an arbitrary tree (a home folder) for its size
        info.size_bytes = _folder_size(folder)
    if info.family:
        info.family_name = get_family(info.family).name
    if info.is_demo:
        info.warnings.append("demo model: random weights, its videos are noise")
    return info


def _folder_size(folder: Path) -> int:
    total = 0
    for item in folder.rglob("*"):
        try:
            if item.is_file():
                total += item.stat().st_size
        except OSError:
            continue
    return total


def _read_json(path: Path, info: FolderInfo) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:  # regular file, size cap, a JSON object (core.configcheck)
        return read_json_config(path)
    except ConfigError as exc:
        info.problems.append(str(exc))
        return None


# ---------------------------------------------------------------- Diffusers folders


def _inspect_diffusers(folder: Path, info: FolderInfo) -> None:
    model_index = _read_json(folder / "model_index.json", info)
    if model_index is None and not any("model_index.json" in p for p in info.problems):
        info.problems.append(
            f"{folder} has no model_index.json: the Diffusers folder is incomplete"
        )
    model_index = model_index or {}
    info.problems += [
        f"{folder / 'model_index.json'}: {p}" for p in model_index_problems(model_index)
    ]
    listed_second = _listed(model_index, "transformer_2")

    experts: dict[str, TransformerDir] = {}
    configs: dict[str, dict[str, Any]] = {}
    for name in ("transformer", "transformer_2"):
        sub = folder / name
        if sub.is_dir() or name == "transformer" or listed_second:
            info.components[name] = sub.is_dir()  # what is there or is expected
        if not sub.is_dir():
            continue
        try:
            experts[name] = examine_transformer(sub)
            configs[name] = experts[name].config
        except (CheckpointError, DescriptionError) as exc:
            info.problems.append(str(exc))
            cfg = _read_json(sub / "config.json", info)
            if cfg is not None and not transformer_config_problems(cfg):
                configs[name] = cfg  # a usable config still tells the family
    for name in REQUIRED_COMPONENTS[1:]:
        info.components[name] = (folder / name).is_dir()
    info.experts = sum(1 for n in ("transformer", "transformer_2") if info.components.get(n))

    family = _family_of_diffusers(folder, configs, info)
    info.family = family.key if family else None
    vae_cfg = _read_json(folder / "vae" / "config.json", info) if info.components["vae"] else None
    if family is not None and family.experts == 2:
        info.components.setdefault("transformer_2", False)  # the family needs it
    _check_components(folder, info, family, listed_second, model_index)
    _check_channels(info, family, configs, vae_cfg)
    _check_other_weights(folder, info, model_index)

    states = []
    for name, expert in experts.items():
        states.append(_inspect_expert(name, expert, info))
    info.quantization = _overall_state(states)
    if info.quantization == "mixed":
        info.warnings.append(
            "the transformers are in different precisions ("
            + ", ".join(f"{n}: {s}" for n, s in zip(experts, states, strict=True))
            + "); 'auto' loads each as it is"
        )
    _estimate_memory(folder, info, experts, model_index)


def _listed(model_index: dict[str, Any], name: str) -> bool:
    entry = model_index.get(name)
    return isinstance(entry, list) and len(entry) == 2 and bool(entry[1])


def _family_of_diffusers(
    folder: Path, configs: dict[str, dict[str, Any]], info: FolderInfo
) -> Family | None:
    marker = read_marker(folder) or {}
    if marker.get("family"):
        try:
            return get_family(str(marker["family"]))
        except KeyError:
            info.warnings.append(f"wan_studio.json names an unknown family {marker['family']!r}")
    cfg = configs.get("transformer") or configs.get("transformer_2")
    if cfg is None:
        info.problems.append("cannot tell the Wan2.2 family: no readable transformer/config.json")
        return None
    dim = int(cfg.get("num_attention_heads", 0)) * int(cfg.get("attention_head_dim", 0))
    layers = int(cfg.get("num_layers", 0))
    in_ch, out_ch = int(cfg.get("in_channels", 0)), int(cfg.get("out_channels", 0))
    by_arch = [f for f in FAMILIES.values() if f.dim == dim and f.num_layers == layers]
    if by_arch:
        if len(by_arch) == 1:
            return by_arch[0]
        for fam in by_arch:  # A14B: T2V and I2V share the architecture but not in_channels
            if fam.in_channels == in_ch:
                return fam
        return get_family("i2v-a14b" if in_ch > out_ch else "t2v-a14b")
    # Not a real-size model: fall back on structure (two experts -> A14B).
    if len(configs) == 2 or "transformer_2" in configs:
        return get_family("i2v-a14b" if in_ch > out_ch else "t2v-a14b")
    if in_ch and in_ch == out_ch:
        info.warnings.append(
            f"family guessed as TI2V-5B from the folder structure (dim {dim}, {layers} layers "
            "match no Wan2.2 release)"
        )
        return get_family("ti2v-5b")
    info.problems.append(
        f"cannot tell the Wan2.2 family (dim {dim}, {layers} layers, in_channels {in_ch})"
    )
    return None


def _check_components(
    folder: Path,
    info: FolderInfo,
    family: Family | None,
    listed_second: bool,
    model_index: dict[str, Any],
) -> None:
    for name in REQUIRED_COMPONENTS:
        if not info.components.get(name):
            info.problems.append(f"missing {name}/: the model folder is incomplete; copy it again")
    needs_two = family is not None and family.experts == 2
    if needs_two and not info.components.get("transformer_2"):
        info.problems.append(
            f"missing transformer_2/ (the low-noise expert): {family.name} needs both experts"
        )
    elif listed_second and not info.components.get("transformer_2"):
        info.problems.append("model_index.json lists transformer_2 but the folder has none")
    if family is not None and family.experts == 1 and info.components.get("transformer_2"):
        info.warnings.append(f"{family.name} has one transformer; transformer_2/ is not used")
    if family is not None and model_index:
        boundary = model_index.get("boundary_ratio")
        if family.experts == 2 and boundary is None:
            info.warnings.append(
                "model_index.json has no boundary_ratio; the family default is used"
            )


def _check_channels(
    info: FolderInfo,
    family: Family | None,
    configs: dict[str, dict[str, Any]],
    vae_cfg: dict[str, Any] | None,
) -> None:
    z = vae_cfg.get("z_dim") if vae_cfg else None
    if family is not None and z is not None and not info.is_demo and z != family.vae_z_dim:
        info.problems.append(
            f"vae z_dim is {z} but {family.name} needs {family.vae_z_dim} "
            f"({'Wan2.2' if family.vae_z_dim == 48 else 'Wan2.1'} VAE): wrong VAE for this model"
        )
    for name, cfg in configs.items():
        in_ch, out_ch = cfg.get("in_channels"), cfg.get("out_channels")
        if z is not None and out_ch is not None and out_ch != z:
            info.problems.append(
                f"{name} out_channels is {out_ch} but the VAE has z_dim {z}: the transformer and "
                "the VAE do not belong together"
            )
        latent = out_ch if out_ch is not None else z  # the transformer's own latent width
        if family is not None and latent is not None and in_ch is not None:
            i2v = family.key == "i2v-a14b"
            want = 2 * latent + 4 if i2v else latent
            if in_ch != want:
                rule = (
                    f"noise + image latents ({latent} each) + 4 mask channels"
                    if i2v
                    else f"its {latent} latent channels"
                )
                info.problems.append(
                    f"{name} in_channels is {in_ch} but {family.name} needs {want} ({rule}): "
                    "wrong transformer for this family"
                )
    if len(configs) == 2:
        keys = ("num_layers", "num_attention_heads", "attention_head_dim", "ffn_dim", "in_channels")
        a, b = configs.get("transformer", {}), configs.get("transformer_2", {})
        diff = [k for k in keys if a.get(k) != b.get(k)]
        if diff:
            info.problems.append(
                f"transformer and transformer_2 differ in {', '.join(diff)}: the experts do not "
                "belong to the same model"
            )


def _check_other_weights(folder: Path, info: FolderInfo, model_index: dict[str, Any]) -> None:
    for name in ("text_encoder", "vae", "image_encoder"):
        sub = folder / name
        if not sub.is_dir():
            continue
        files = [p for p in sub.iterdir() if p.is_file()]
        tensors = [p for p in files if p.suffix == ".safetensors"]
        pickles = [p.name for p in files if p.name.endswith(PICKLE_SUFFIXES)]
        if pickles and not tensors:
            info.problems.append(
                f"{sub} holds only pickle-based weights ({', '.join(sorted(pickles))}); Wan Studio "
                "never unpickles files: convert them to .safetensors"
            )
        for file in tensors:
            try:
                read_header(file)
            except CheckpointError as exc:
                info.problems.append(str(exc))


def _linear_weights(entries: dict[str, TensorEntry]) -> dict[str, TensorEntry]:
    """Linear layers by prefix: 2-D ``.weight`` tensors (conv kernels are 5-D, tables 3-D)."""
    return {
        n[: -len(".weight")]: e
        for n, e in entries.items()
        if n.endswith(".weight") and len(e.shape) == 2
    }


def _inspect_expert(name: str, expert: TransformerDir, info: FolderInfo) -> str:
    entries = expert.checkpoint.entries
    linears = _linear_weights(entries)
    blocks = sum(1 for p in linears if is_block_linear(p))
    if expert.quantized:
        if expert.fp8_keys and expert.layer_source is None:
            info.problems.append(
                f"{expert.path} holds float8 tensors (e.g. {expert.fp8_keys[0]}) but no "
                "quant_model_description.json and no MXFP8 quantization_config: it cannot be "
                "loaded. Repack the export with `wan-studio repack`."
            )
        if expert.description_path is not None:
            info.description_files[name] = str(expert.description_path)
        qcfg = expert.config.get("quantization_config")
        recorded = qcfg.get(WEIGHT_RULE_KEY) if isinstance(qcfg, dict) else None
        info.weight_rules[name] = str(recorded) if recorded else "not recorded"
        quantized = set(expert.quantized_layers())
        _check_offline_consistency(name, expert, quantized, info)
        info.layer_counts[name] = {
            "quantized": len(quantized),
            "float": sum(1 for p in linears if p not in quantized),
            "block_linears": blocks,
        }
        return "mxfp8-offline"
    info.layer_counts[name] = {"quantized": 0, "float": len(linears), "block_linears": blocks}
    # The precision of a float model is that of its block linears (the bulk of the weights).
    dtypes = {e.dtype for p, e in linears.items() if is_block_linear(p)} or {
        e.dtype for e in entries.values() if e.dtype in FLOAT_DTYPES
    }
    if len(dtypes) != 1:
        return "mixed" if dtypes else "unknown"
    return _PRECISIONS.get(dtypes.pop(), "unknown")


def _check_offline_consistency(
    name: str, expert: TransformerDir, quantized: set[str], info: FolderInfo
) -> None:
    entries = expert.checkpoint.entries
    desc = expert.description
    if desc is not None and desc.naming() in ("msmodelslim", "mixed"):
        info.problems.append(
            f"{desc.source} uses Wan-native (msmodelslim) names in a Diffusers folder; "
            "repack the export with `wan-studio repack`"
        )
        return
    no_scale = sorted(p for p in quantized if f"{p}.weight_scale" not in entries)
    if no_scale:
        info.problems.append(
            f"{name}: {len(no_scale)} MXFP8 layer(s) have no weight_scale in the weights "
            f"(e.g. {no_scale[0]}); the checkpoint is incomplete"
        )
    if desc is not None:
        absent = [k for k in desc.tensor_keys() if k not in entries]
        if absent:
            info.problems.append(
                f"{desc.source} names {len(absent)} tensor(s) the weights do not have "
                f"(e.g. {absent[0]}); description and weights do not belong together"
            )
        if desc.attention_entries:
            info.warnings.append(
                f"{name}: {len(desc.attention_entries)} attention-quantization entries will be "
                "skipped (attention runs in BF16: exact)"
            )
        info.warnings.extend(desc.warnings)


def _overall_state(states: list[str]) -> str:
    if not states:
        return "unknown"
    unique = set(states)
    return states[0] if len(unique) == 1 else "mixed"


def _float_bytes(name: str, entry: TensorEntry) -> int:
    if entry.dtype in FLOAT_DTYPES:
        return entry.numel * (4 if keeps_fp32(name, WAN_KEEP_IN_FP32) else 2)
    return entry.nbytes


def _mxfp8_bytes(entry: TensorEntry) -> int:
    n, k = entry.shape
    return n * k + n * -(-k // BLOCK_SIZE)


def _expert_memory(expert: TransformerDir) -> dict[str, int]:
    """Weight bytes of one transformer per mode that can load it."""
    entries = expert.checkpoint.entries
    if expert.quantized:
        types = quant_types(expert)
        size = sum(
            e.nbytes if types.get(n) == QUANT_MXFP8 else _float_bytes(n, e)
            for n, e in entries.items()
        )
        return {"mxfp8-offline": size, "mxfp8-online": size}
    none = sum(_float_bytes(n, e) for n, e in entries.items())
    online = 0
    for n, e in entries.items():
        prefix = n[: -len(".weight")] if n.endswith(".weight") else None
        if (
            prefix
            and is_block_linear(prefix)
            and len(e.shape) == 2
            and e.shape[1] % BLOCK_SIZE == 0
        ):
            online += _mxfp8_bytes(e)
        else:
            online += _float_bytes(n, e)
    return {"none": none, "mxfp8-online": online}


def _estimate_memory(
    folder: Path, info: FolderInfo, experts: dict[str, TransformerDir], model_index: dict[str, Any]
) -> None:
    if not experts:
        return
    others = 0
    for name in ("text_encoder", "vae", "image_encoder"):
        sub = folder / name
        if not sub.is_dir():
            continue
        try:
            checkpoint = open_checkpoint(sub)
        except CheckpointError:
            continue  # already reported by _check_other_weights when it matters
        others += sum(_float_bytes("", e) for e in checkpoint.entries.values())
    per_expert = [_expert_memory(e) for e in experts.values()]
    modes = set.intersection(*(set(m) for m in per_expert))
    if info.quantization == "mixed":
        info.memory_estimate["auto"] = others + sum(
            m.get("mxfp8-offline", m.get("none", 0)) for m in per_expert
        )
    for mode in ("none", "mxfp8-online", "mxfp8-offline"):
        if mode == "mxfp8-online" and info.quantization == "mxfp8-offline":
            continue  # already MXFP8: "online" would load it as is, the same figure
        if mode in modes:
            info.memory_estimate[mode] = others + sum(m[mode] for m in per_expert)


# ---------------------------------------------------------------- msmodelslim exports


def _msmodelslim_dirs(folder: Path) -> list[Path]:
    """Folders of an msmodelslim export: the experts' subfolders, or the folder itself."""

    def is_export(p: Path) -> bool:
        return any(p.glob(DESCRIPTION_GLOB)) and any(p.glob(_WEIGHT_GLOB))

    experts = [folder / n for n in MSMODELSLIM_EXPERTS if (folder / n).is_dir()]
    if experts and any(is_export(p) for p in experts):
        return experts
    return [folder] if is_export(folder) else []


def _inspect_msmodelslim(folder: Path, info: FolderInfo) -> None:
    dirs = _msmodelslim_dirs(folder)
    info.experts = len(dirs)
    info.components = {p.name if p != folder else "weights": True for p in dirs}
    if dirs[0] != folder:
        for name in MSMODELSLIM_EXPERTS:
            if not (folder / name).is_dir():
                info.components[name] = False
                info.problems.append(f"missing {name}/: an A14B export needs both experts")
    info.warnings.append(
        "msmodelslim export: convert it with `wan-studio repack` (it needs the original "
        "Diffusers model) before loading"
    )
    blocks = 0
    states = []
    memory = 0
    for sub in dirs:
        key = sub.name if sub != folder else "weights"
        try:
            path = find_description_file(sub)
            desc = load_description(path) if path else None
        except DescriptionError as exc:
            info.problems.append(str(exc))
            states.append("unknown")
            continue
        if desc is None:
            info.problems.append(f"{sub} has weights but no quant_model_description*.json")
            states.append("unknown")
            continue
        info.description_files[key] = str(path)
        weights = sorted(sub.glob(_WEIGHT_GLOB))
        entries: dict[str, TensorEntry] = {}
        for file in weights:
            try:
                entries.update(read_header(file).entries)
            except CheckpointError as exc:
                info.problems.append(str(exc))
        quantized = set(desc.quantized_layers())
        linears = _linear_weights(entries)
        info.layer_counts[key] = {
            "quantized": len(quantized),
            "float": sum(1 for p in linears if p not in quantized),
            "block_linears": len(quantized)
            + sum(1 for p in linears if p not in quantized and _BLOCK_RE.match(p)),
        }
        blocks = max(
            [blocks, *(int(m.group(1)) + 1 for k in desc.types if (m := _BLOCK_RE.match(k)))]
        )
        memory += sum(
            e.nbytes if desc.types.get(n) == QUANT_MXFP8 else _float_bytes(n, e)
            for n, e in entries.items()
        )
        states.append("mxfp8-offline")
        if desc.attention_entries:
            info.warnings.append(
                f"{key}: {len(desc.attention_entries)} attention-quantization entries (skipped "
                "when loading; attention runs in BF16)"
            )
    info.quantization = _overall_state(states)
    if memory:
        info.memory_estimate["mxfp8-offline"] = memory
    family = _family_of_msmodelslim(folder, dirs, blocks, info)
    info.family = family.key if family else None


def _family_of_msmodelslim(
    folder: Path, dirs: list[Path], blocks: int, info: FolderInfo
) -> Family | None:
    for sub in (*dirs, folder):
        cfg = _read_json(sub / "config.json", info) if (sub / "config.json").is_file() else None
        if not cfg:
            continue
        kind = str(cfg.get("model_type", "")).lower()
        in_dim = cfg.get("in_dim")
        if kind == "ti2v" or in_dim == 48:
            return get_family("ti2v-5b")
        if kind == "i2v" or in_dim == 36:
            return get_family("i2v-a14b")
        if kind == "t2v" or in_dim == 16:
            return get_family("t2v-a14b")
    if len(dirs) == 1 and blocks == 30:
        return get_family("ti2v-5b")
    if len(dirs) == 2:
        info.warnings.append(
            "A14B export: T2V or I2V cannot be told apart without the native config.json; "
            "the repack reads it from the original Diffusers folder"
        )
    return None
