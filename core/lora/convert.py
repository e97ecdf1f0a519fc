"""LoRA files of every common Wan format -> one form: per target linear (Diffusers module name)
the down (A [r, K]) and up (B [N, r]) matrices with alpha folded in, an optional bias delta and
an optional full weight delta.

Formats (detected from the keys):
- ``diffusers``: peft keys as diffusers saves them (``transformer.blocks.0.attn1.to_q.lora_A.weight``,
  ``lora_B.weight``, ``lora_B.bias``), with or without the ``transformer.`` prefix;
- ``wan``: original Wan / ComfyUI keys (``diffusion_model.blocks.0.self_attn.q.lora_down.weight``,
  ``lora_up``, ``.alpha``, ``diff`` / ``diff_b`` deltas), as lightx2v and Kijai publish them;
- ``musubi``: Kohya-style ``lora_unet_blocks_0_self_attn_q.lora_down.weight`` keys, which is what
  musubi-tuner (kohya-ss) writes for Wan.

The key mapping and alpha folding are diffusers' own (``WanLoraLoaderMixin.lora_state_dict``,
which calls ``lora_conversion_utils``). One gap is filled here: diffusers drops the ``.diff`` full
weight deltas of linears ("not handled yet"), so those are renamed with the Wan->Diffusers rules
of core.repack.rename before the rest goes to diffusers.

Works on meta tensors too (``inspect`` and the Models workspace convert headers only); the
``.alpha`` scalars are the only values the conversion must read.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.lora.errors import LoraError

FORMAT_DIFFUSERS = "diffusers"
FORMAT_WAN = "wan"
FORMAT_MUSUBI = "musubi"
FORMAT_LABELS = {
    FORMAT_DIFFUSERS: "diffusers / peft",
    FORMAT_WAN: "original Wan / ComfyUI",
    FORMAT_MUSUBI: "Kohya / musubi-tuner",
}
_WAN_PREFIX = "diffusion_model."
_MUSUBI_PREFIX = "lora_unet_"
_PEFT_PREFIXES = ("base_model.model.", "transformer.")


@dataclass
class LoraTarget:
    """What one LoRA does to one linear layer: ``W' = W + s * (scale * B @ A + diff)``,
    ``b' = b + s * scale * bias`` (``s`` the user's strength)."""

    module: str
    down: Any = None  # A [r, K]
    up: Any = None  # B [N, r]
    bias: Any = None  # [N]
    diff: Any = None  # [N, K]
    scale: float = 1.0  # alpha / r when the file keeps it outside A and B (peft metadata)

    @property
    def rank(self) -> int:
        return int(self.down.shape[0]) if self.down is not None else 0

    @property
    def in_features(self) -> int | None:
        if self.down is not None:
            return int(self.down.shape[1])
        return int(self.diff.shape[1]) if self.diff is not None else None

    @property
    def out_features(self) -> int | None:
        if self.up is not None:
            return int(self.up.shape[0])
        if self.diff is not None:
            return int(self.diff.shape[0])
        return int(self.bias.shape[0]) if self.bias is not None else None


@dataclass
class LoraWeights:
    """A converted LoRA file: its targets by Diffusers module name, and what was dropped."""

    path: Path
    format: str
    targets: dict[str, LoraTarget]
    source_keys: int  # tensors in the file
    dropped: dict[str, str] = field(default_factory=dict)  # key -> why it is not applied
    sha256: str | None = None

    @property
    def ranks(self) -> list[int]:
        return sorted({t.rank for t in self.targets.values() if t.rank})

    @property
    def dtype(self) -> str:
        for target in self.targets.values():
            for tensor in (target.down, target.up, target.diff, target.bias):
                if tensor is not None:
                    return str(tensor.dtype).removeprefix("torch.")
        return "?"

    @property
    def dim(self) -> int | None:
        """The model width the LoRA was made for (in_features of ``blocks.N.attn1.to_q``)."""
        for name, target in self.targets.items():
            if name.endswith("attn1.to_q"):
                return target.in_features
        return None

    @property
    def ffn_dim(self) -> int | None:
        for name, target in self.targets.items():
            if name.endswith("ffn.net.0.proj"):
                return target.out_features
        return None

    @property
    def blocks(self) -> int:
        found = {n.split(".")[1] for n in self.targets if n.startswith("blocks.")}
        return len(found)


def detect_format(keys: list[str], path: Path) -> str:
    """Which LoRA format ``keys`` are in; LoraError when none (with examples)."""
    if any(k.startswith(_WAN_PREFIX) for k in keys):
        return FORMAT_WAN
    if any(k.startswith(_MUSUBI_PREFIX) for k in keys):
        return FORMAT_MUSUBI
    if any(".lora_A." in k or ".lora_B." in k for k in keys):
        return FORMAT_DIFFUSERS
    examples = ", ".join(sorted(keys)[:3])
    raise LoraError(
        f"{path.name} is not a Wan LoRA: none of its {len(keys)} keys (e.g. {examples}) is in a "
        "known LoRA format (diffusers/peft lora_A/lora_B, Wan/ComfyUI diffusion_model.*, "
        "Kohya/musubi lora_unet_*)"
    )


def convert(
    tensors: dict[str, Any],
    path: str | Path,
    metadata: dict[str, str] | None = None,
    sha256: str | None = None,
) -> LoraWeights:
    """Convert a LoRA state dict to per-layer targets (see the module docstring)."""
    file = Path(path)
    keys = list(tensors)
    fmt = detect_format(keys, file)
    dora = [k for k in keys if "dora_scale" in k or "lora_magnitude_vector" in k]
    if dora:
        raise LoraError(
            f"{file.name} is a DoRA (it has {dora[0]}): DoRA is not supported by Wan Studio or "
            "diffusers; use a plain LoRA version"
        )
    state = dict(tensors)
    dropped: dict[str, str] = {}
    diffs: dict[str, Any] = {}
    if fmt == FORMAT_WAN:
        diffs = _take_weight_diffs(state, dropped)
    elif fmt == FORMAT_DIFFUSERS:
        state = {_strip_peft_prefix(k): v for k, v in state.items()}
        alien = [k for k in state if ".lora_A." not in k and ".lora_B." not in k]
        for key in alien:
            dropped[key] = "not a LoRA tensor (no lora_A / lora_B in its name)"
            state.pop(key)
        state = {f"transformer.{k}": v for k, v in state.items()}
    converted = _diffusers_convert(state, file) if fmt != FORMAT_DIFFUSERS else state
    scale = _peft_scale(metadata or {}) if fmt == FORMAT_DIFFUSERS else 1.0
    targets: dict[str, LoraTarget] = {}
    for key, tensor in converted.items():
        name = key.removeprefix("transformer.")
        split = _split_key(name)
        if split is None:
            dropped[key] = "not a lora_A / lora_B weight or lora_B bias"
            continue
        module, part = split
        target = targets.setdefault(module, LoraTarget(module=module, scale=scale))
        if part == "lora_A.weight":
            target.down = tensor
        elif part == "lora_B.weight":
            target.up = tensor
        else:
            target.bias = tensor
    for module, delta in diffs.items():
        targets.setdefault(module, LoraTarget(module=module, scale=scale)).diff = delta
    _check_targets(targets, file)
    return LoraWeights(
        path=file,
        format=fmt,
        targets=targets,
        source_keys=len(keys),
        dropped=dropped,
        sha256=sha256,
    )


def _strip_peft_prefix(key: str) -> str:
    for prefix in _PEFT_PREFIXES:
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.replace(".default.", ".")


def _take_weight_diffs(state: dict[str, Any], dropped: dict[str, str]) -> dict[str, Any]:
    """Pop ``<linear>.diff`` full-weight deltas (diffusers drops them) as Diffusers names."""
    from core.repack.rename import to_diffusers

    out = {}
    for key in [k for k in state if k.endswith(".diff")]:
        native = key[len(_WAN_PREFIX) :].removesuffix(".diff")
        tensor = state[key]
        if "norm" in native or tensor.dim() != 2:
            continue  # norm / modulation diffs: diffusers drops them (zeroed in known files)
        state.pop(key)
        out[to_diffusers(native)] = tensor
    for key in [k for k in state if k.endswith(".diff")]:
        dropped[key] = "norm or modulation delta (diffusers drops these; zero in known LoRAs)"
    return out


def _diffusers_convert(state: dict[str, Any], file: Path) -> dict[str, Any]:
    # The module itself, not diffusers' lazy top level: two threads importing through the lazy
    # module at once can fail with "cannot import name 'WanPipeline'".
    from diffusers.pipelines.wan.pipeline_wan import WanPipeline

    try:
        return WanPipeline.lora_state_dict(state)
    except (KeyError, ValueError, IndexError, RuntimeError) as exc:
        detail = exc.args[0] if exc.args else type(exc).__name__
        raise LoraError(
            f"{file.name}: diffusers cannot convert its keys ({type(exc).__name__}: "
            f"{str(detail)[:300]}); the file is incomplete or in an unknown layout"
        ) from exc


def _peft_scale(metadata: dict[str, str]) -> float:
    """alpha / r from diffusers' ``lora_adapter_metadata`` (absent: 1, as diffusers assumes)."""
    raw = metadata.get("lora_adapter_metadata")
    if not raw:
        return 1.0
    try:
        data = json.loads(raw)
        data = data.get("transformer", data) if isinstance(data, dict) else {}
        rank, alpha = float(data["r"]), float(data.get("lora_alpha", data["r"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return 1.0
    if rank <= 0 or not math.isfinite(alpha):
        return 1.0
    return alpha / math.sqrt(rank) if data.get("use_rslora") else alpha / rank


def _split_key(name: str) -> tuple[str, str] | None:
    """(module, part) of a converted key, None for anything else."""
    for part in ("lora_A.weight", "lora_B.weight", "lora_B.bias"):
        if name.endswith("." + part):
            return name[: -len(part) - 1], part
    return None


def _check_targets(targets: dict[str, LoraTarget], file: Path) -> None:
    if not targets:
        raise LoraError(f"{file.name} holds no LoRA weights for a Wan transformer")
    for module, t in targets.items():
        if (t.down is None) != (t.up is None):
            missing = "lora_A (down)" if t.down is None else "lora_B (up)"
            raise LoraError(
                f"{file.name}: {module} has no {missing} matrix: the file is incomplete"
            )
        if t.down is not None:
            if t.down.dim() != 2 or t.up.dim() != 2:
                raise LoraError(
                    f"{file.name}: {module} LoRA matrices must be 2-D, got A "
                    f"{list(t.down.shape)} and B {list(t.up.shape)}"
                )
            if t.down.shape[0] != t.up.shape[1]:
                raise LoraError(
                    f"{file.name}: {module} has rank {t.down.shape[0]} in lora_A "
                    f"{list(t.down.shape)} but {t.up.shape[1]} in lora_B {list(t.up.shape)}: "
                    "A and B must share the rank"
                )
        if t.diff is not None and t.diff.dim() != 2:
            raise LoraError(f"{file.name}: {module}.diff must be 2-D, got {list(t.diff.shape)}")
