"""What a transformer folder holds: config, weight headers, quant description, MXFP8 state.

Shared by the loader (which decides how to load each expert) and folder inspection (which must
stay fast and torch-free: only JSON and safetensors headers are read).

Which layers of a quantized folder are MXFP8: the description file decides when present (the
msmodelslim / SGLang convention). A folder whose ``config.json`` carries
``quantization_config: {quant_method: "mxfp8", is_checkpoint_mxfp8_serialized: true}`` but no
description (vllm-omni style) is read from the tensor dtypes: a layer is MXFP8 exactly when its
``weight`` is float8_e4m3fn, and its ``weight_scale`` is then required. float8 tensors with
neither marker are refused: they could be another FP8 scheme (per-tensor scales), and guessing
would produce garbage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.configcheck import ConfigError, check_transformer, read_json_config
from core.quant.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from core.quant.description import (
    QUANT_MXFP8,
    QuantDescription,
    find_description_file,
    is_attention_quant_entry,
    load_description,
)

QUANT_METHOD = "mxfp8"
QUANTIZATION_CONFIG = {"quant_method": QUANT_METHOD, "is_checkpoint_mxfp8_serialized": True}
FP8_DTYPE = "F8_E4M3"
WEIGHT_RULE_KEY = "weight_scale_rule"
"""quantization_config key where ``wan-studio quantize`` records its weight scale rule (other
loaders ignore unknown keys; a repacked msmodelslim export has none)."""


class ComponentError(CheckpointError):
    """A transformer folder whose config or layout cannot be used."""


def read_config(folder: str | Path) -> dict[str, Any]:
    """The component's ``config.json`` as a dict (clear errors for missing or broken files)."""
    path = Path(folder) / "config.json"
    if not path.exists():
        raise ComponentError(
            f"{path} is missing: {Path(folder).name} needs its Diffusers config.json"
        )
    try:  # a regular file under a size cap (core.configcheck), never a FIFO or /dev/zero
        return read_json_config(path)
    except ConfigError as exc:
        raise ComponentError(str(exc)) from None


def transformer_components(model_index: dict[str, Any]) -> list[str]:
    """Names of the transformer components listed in model_index.json (non-null entries)."""
    names = []
    for name in ("transformer", "transformer_2"):
        entry = model_index.get(name)
        if isinstance(entry, list) and len(entry) == 2 and entry[1]:
            names.append(name)
    return names


def is_mxfp8_marked(config: dict[str, Any]) -> bool:
    """True when config.json says the checkpoint is MXFP8-serialized."""
    qc = config.get("quantization_config")
    return (
        isinstance(qc, dict)
        and str(qc.get("quant_method", "")).lower() == QUANT_METHOD
        and bool(qc.get("is_checkpoint_mxfp8_serialized", False))
    )


@dataclass
class TransformerDir:
    """One transformer folder, examined from its JSON files and safetensors headers."""

    path: Path
    config: dict[str, Any]
    checkpoint: Checkpoint
    description_path: Path | None = None
    description: QuantDescription | None = None
    marked: bool = False
    fp8_keys: list[str] = field(default_factory=list)

    @property
    def quantized(self) -> bool:
        """The folder holds an offline MXFP8 checkpoint (by description, marker or dtypes)."""
        return self.description is not None or self.marked or bool(self.fp8_keys)

    @property
    def layer_source(self) -> str | None:
        """Where the per-layer quant types come from: "description", "dtypes" or None."""
        if self.description is not None:
            return "description"
        if self.marked:
            return "dtypes"
        return None

    def quantized_layers(self) -> list[str]:
        """Layer prefixes that are MXFP8 in this checkpoint (Diffusers or native names)."""
        if self.description is not None:
            return self.description.quantized_layers()
        if self.marked:
            return [k[: -len(".weight")] for k in self.fp8_keys if k.endswith(".weight")]
        return []

    def require_layer_source(self) -> None:
        """Raise when float8 tensors exist but nothing says how they are quantized."""
        if self.fp8_keys and self.layer_source is None:
            raise ComponentError(
                f"{self.path} holds float8 tensors (e.g. {self.fp8_keys[0]}) but neither a "
                "quant_model_description.json nor an MXFP8 quantization_config in config.json: "
                "Wan Studio cannot tell how they are quantized. Repack the msmodelslim export "
                "with `wan-studio repack`, or re-create the folder with `wan-studio quantize`."
            )


def examine_transformer(folder: str | Path) -> TransformerDir:
    """Read config, headers and description of one transformer folder (no tensor data)."""
    path = Path(folder)
    config = read_config(path)
    checkpoint = open_checkpoint(path)
    try:  # types, ranges and the headers' shapes, before anything is built from the config
        check_transformer(path, config, {n: e.shape for n, e in checkpoint.entries.items()})
    except ConfigError as exc:
        raise ComponentError(str(exc)) from None
    description_path = find_description_file(path)
    description = load_description(description_path) if description_path else None
    fp8 = [
        name
        for name, entry in checkpoint.entries.items()
        if entry.dtype == FP8_DTYPE and not is_attention_quant_entry(name)
    ]
    return TransformerDir(
        path=path,
        config=config,
        checkpoint=checkpoint,
        description_path=description_path,
        description=description,
        marked=is_mxfp8_marked(config),
        fp8_keys=fp8,
    )


def quant_types(info: TransformerDir) -> dict[str, str]:
    """Per-tensor quant type of an offline folder (description, else derived from dtypes)."""
    if info.description is not None:
        return dict(info.description.types)
    layers = set(info.quantized_layers())
    types = {}
    for name in info.checkpoint.entries:
        prefix, _, leaf = name.rpartition(".")
        types[name] = (
            QUANT_MXFP8 if prefix in layers and leaf in ("weight", "weight_scale") else "FLOAT"
        )
    return types
