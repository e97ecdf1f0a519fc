"""Validation of a model folder's JSON configs: types, ranges, and consistency with the weights.

Why one place: the configs steer what gets built. ``num_layers: 10**9`` made the loader build a
billion-block skeleton (a hang in "Loading model"), ``"forty"`` ended in a TypeError labelled
a bug, huge head sizes ran for a minute before running out of memory, and a ``model_index.json``
of another pipeline was silently loaded as Wan. ``inspect``, the library (through inspect), the
repack wizard (through inspect) and the loader (through ``examine_transformer`` and
``check_model_index``) all use these checks, before anything is built, so they agree.

Ranges are generous multiples of the largest Wan2.2 release (A14B: 40 layers, 40 heads of 128,
FFN 13824; TI2V-5B: 30 layers, 24 heads): a real or demo model always passes, an absurd value
never reaches torch.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from core.userfiles import MAX_JSON_CONFIG_BYTES, UserFileError, read_user_file

WAN_PIPELINES = ("WanPipeline", "WanImageToVideoPipeline")
# key -> (low, high) for whole numbers a transformer config must hold.
TRANSFORMER_INTS: dict[str, tuple[int, int]] = {
    "num_layers": (1, 200),
    "num_attention_heads": (1, 256),
    "attention_head_dim": (1, 1024),
    "ffn_dim": (1, 1 << 17),
    "in_channels": (1, 1024),
    "out_channels": (1, 1024),
    "text_dim": (1, 1 << 15),
    "freq_dim": (1, 1 << 15),
    "rope_max_seq_len": (1, 1 << 16),
}
MAX_MODEL_DIM = 1 << 16  # heads x head_dim (A14B: 5120)
_BLOCK = re.compile(r"^blocks\.(\d+)\.")


class ConfigError(ValueError):
    """A config file that cannot describe a Wan model; the message names the file and key."""


def read_json_config(path: str | os.PathLike[str], what: str = "config") -> dict[str, Any]:
    """A JSON object from a model folder's config file (regular file, size cap, UTF-8)."""
    try:
        raw = read_user_file(path, what, MAX_JSON_CONFIG_BYTES)
    except UserFileError as exc:
        raise ConfigError(str(exc)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object, not {type(data).__name__}")
    return data


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def transformer_config_problems(cfg: dict[str, Any]) -> list[str]:
    """What is wrong with a WanTransformer3DModel config ([] when it can be built)."""
    problems = []
    for key, (low, high) in TRANSFORMER_INTS.items():
        if key not in cfg:
            continue  # diffusers' default applies
        value = cfg[key]
        if not _whole(value):
            problems.append(f"'{key}' must be a whole number, not {value!r}")
        elif not low <= value <= high:
            problems.append(f"'{key}' is {value}; a Wan transformer has {low}-{high}")
    patch = cfg.get("patch_size", [1, 2, 2])
    if not (
        isinstance(patch, list)
        and len(patch) == 3
        and all(_whole(p) and 1 <= p <= 16 for p in patch)
    ):
        problems.append(f"'patch_size' must be three whole numbers 1-16, not {patch!r}")
    heads, head_dim = cfg.get("num_attention_heads", 40), cfg.get("attention_head_dim", 128)
    if not problems and heads * head_dim > MAX_MODEL_DIM:
        problems.append(
            f"num_attention_heads x attention_head_dim is {heads * head_dim}; a Wan transformer "
            f"is at most {MAX_MODEL_DIM} wide"
        )
    return problems


def header_problems(cfg: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> list[str]:
    """Where the config disagrees with the weights' safetensors headers (name -> shape)."""
    if transformer_config_problems(cfg):
        return []  # reported already; comparing nonsense adds nothing
    problems = []
    blocks = {int(m.group(1)) for name in shapes if (m := _BLOCK.match(name))}
    layers = cfg.get("num_layers")
    if blocks and layers is not None and len(blocks) != layers:
        problems.append(f"'num_layers' is {layers} but the weights hold {len(blocks)} blocks")
    dim = cfg.get("num_attention_heads", 40) * cfg.get("attention_head_dim", 128)
    embed = shapes.get("patch_embedding.weight")
    if embed and embed[0] != dim:
        problems.append(
            f"num_attention_heads x attention_head_dim is {dim} but the weights are {embed[0]} "
            "wide (patch_embedding.weight)"
        )
    return problems


def check_transformer(
    path: str | os.PathLike[str], cfg: dict[str, Any], shapes: dict[str, tuple[int, ...]]
) -> None:
    """Raise ConfigError naming ``path`` (the component folder) for the first problems."""
    problems = transformer_config_problems(cfg) or header_problems(cfg, shapes)
    if problems:
        raise ConfigError(
            f"{Path(path) / 'config.json'}: {'; '.join(problems)}. The config does not describe "
            "these weights: restore the model's original config.json"
        )


def model_index_problems(doc: dict[str, Any]) -> list[str]:
    """What is wrong with a Diffusers model_index.json for a Wan model."""
    name = doc.get("_class_name")
    if name is None:
        return []  # older exports omit it; the components decide
    if name not in WAN_PIPELINES:
        return [
            f"'_class_name' is {name!r}, not a Wan pipeline ({', '.join(WAN_PIPELINES)}): this is "
            "not a Wan2.2 model folder"
        ]
    return []


__all__ = [
    "WAN_PIPELINES",
    "ConfigError",
    "check_transformer",
    "header_problems",
    "model_index_problems",
    "read_json_config",
    "transformer_config_problems",
]
