"""msmodelslim ``quant_model_description*.json`` files: which tensor is MXFP8 and which stays float.

A description is a flat JSON object: one entry per saved tensor (key = tensor name, value = quant
type string) plus metadata keys such as ``model_quant_type`` (msmodelslim.md §3). It decides,
layer by layer, what an offline checkpoint holds, so it is parsed strictly: any quant type other
than W8A8_MXFP8 / FLOAT is refused with the type and the first layers that use it, instead of
being loaded as something it is not.

Attention-quantization entries of w8a8f8 exports (``q_rot`` / ``k_rot`` rotation tensors, also in
their renamed ``attn1.to_q_rot`` form, ``*.quant_type`` and ``fa_quant_type`` keys) are skipped
and listed: skipping them is exact while attention runs in BF16 (msmodelslim.md §6).

Works with Wan-native (msmodelslim) and Diffusers tensor names. No torch: the GUI and folder
inspection read descriptions at start-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUANT_MXFP8 = "W8A8_MXFP8"
QUANT_FLOAT = "FLOAT"
SUPPORTED_TYPES = (QUANT_MXFP8, QUANT_FLOAT)

DESCRIPTION_FILE = "quant_model_description.json"
DESCRIPTION_GLOB = "quant_model_description*.json"

# Keys that describe the export, not a tensor. ``model_quant_type`` is informational only:
# per-key types decide (mixed recipes record the last layer's type there, msmodelslim.md §3).
METADATA_KEYS = frozenset({"model_quant_type", "version", "group_size", "quant_version"})

# Attention quantization of w8a8f8 exports (msmodelslim.md §6): QuaRot rotation tensors in the
# native (`self_attn.q_rot`) and renamed (`attn1.to_q_rot`) forms, FA3 metadata keys.
_ROTATION_RE = re.compile(r"(^|\.)(to_)?[qk]_rot$")
_FA_KEYS = frozenset({"fa_quant_type"})

# Smooth-quant wrappers change the math (x * mul_scale before the linear): refused.
_SMOOTH_RE = re.compile(r"(^|\.)(div\.)?mul_scale$")

_FIRST_LAYERS_SHOWN = 3


class DescriptionError(ValueError):
    """A description file that cannot be used; the message names the file and what to do."""


class UnsupportedQuantType(DescriptionError):
    """The description uses a quant type other than W8A8_MXFP8 / FLOAT."""

    def __init__(
        self, quant_type: str, layers: list[str], count: int, source: str, layer_count: int = 0
    ) -> None:
        self.quant_type = quant_type
        self.layers = layers
        self.count = count
        self.source = source
        layer_count = max(layer_count, len(layers))
        shown = ", ".join(layers)
        more = (
            f" and {layer_count - len(layers)} more layer(s)" if layer_count > len(layers) else ""
        )
        super().__init__(
            f"{source}: quant type {quant_type!r} (used by {shown}{more}; {count} entries) is not "
            f"supported; Wan Studio loads only {QUANT_MXFP8} and {QUANT_FLOAT} layers. Re-export "
            "the model with msmodelslim --quant_type w8a8f8 (or a linear-only MXFP8 recipe), or "
            "use the BF16 model with the 'MXFP8 (online)' option."
        )


def is_attention_quant_entry(key: str) -> bool:
    """True for attention-quantization entries (rotation tensors, FA3 metadata keys)."""
    return key in _FA_KEYS or key.endswith(".quant_type") or bool(_ROTATION_RE.search(key))


def _layer_prefix(key: str) -> str:
    for suffix in (".weight_scale", ".weight", ".bias"):
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


@dataclass
class QuantDescription:
    """A parsed description. ``types`` maps every tensor key to its quant type."""

    source: str
    types: dict[str, str]
    model_quant_type: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    attention_entries: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def quantized_layers(self) -> list[str]:
        """Layer prefixes whose ``weight`` is W8A8_MXFP8, in file order."""
        return [
            k[: -len(".weight")]
            for k, t in self.types.items()
            if t == QUANT_MXFP8 and k.endswith(".weight")
        ]

    def float_keys(self) -> list[str]:
        return [k for k, t in self.types.items() if t == QUANT_FLOAT]

    def tensor_keys(self) -> list[str]:
        """Every tensor the description expects in the weights (attention entries excluded)."""
        return list(self.types)

    def type_of(self, key: str) -> str | None:
        return self.types.get(key)

    def is_quantized(self, layer: str) -> bool:
        return self.types.get(f"{layer}.weight") == QUANT_MXFP8

    def naming(self) -> str:
        """``"diffusers"``, ``"msmodelslim"`` (Wan-native names), ``"mixed"`` or ``"unknown"``."""
        return naming_of(self.types)


def naming_of(keys: Iterable[str]) -> str:
    """Naming scheme of Wan transformer tensor keys: "diffusers", "msmodelslim" (Wan-native),
    "mixed" (both: a half-renamed export) or "unknown"."""
    diffusers = native = 0
    for key in keys:
        if (
            ".attn1." in key
            or ".attn2." in key
            or key.startswith(("condition_embedder.", "proj_out."))
        ):
            diffusers += 1
        elif (
            ".self_attn." in key
            or ".cross_attn." in key
            or key.startswith(("head.", "time_embedding."))
        ):
            native += 1
    if diffusers and native:
        return "mixed"
    if diffusers:
        return "diffusers"
    return "msmodelslim" if native else "unknown"


def parse_description(mapping: Mapping[str, Any], source: str = "<memory>") -> QuantDescription:
    """Validate and classify a description mapping; raises DescriptionError / UnsupportedQuantType."""
    if not isinstance(mapping, Mapping):
        raise DescriptionError(
            f"{source}: a quant description must be a JSON object of tensor name -> quant type, "
            f"not {type(mapping).__name__}"
        )
    types: dict[str, str] = {}
    metadata: dict[str, Any] = {}
    attention: list[str] = []
    smooth: list[str] = []
    unsupported: dict[str, list[str]] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not key:
            raise DescriptionError(f"{source}: empty or non-text key {key!r}")
        if key in METADATA_KEYS:
            metadata[key] = value
            continue
        if is_attention_quant_entry(key):
            attention.append(key)
            continue
        if not isinstance(value, str):
            raise DescriptionError(
                f"{source}: entry {key!r} has value {value!r}; every tensor entry must be a quant "
                f"type string such as {QUANT_MXFP8!r} or {QUANT_FLOAT!r}"
            )
        quant_type = value.strip()
        if _SMOOTH_RE.search(key):
            smooth.append(key)
        if quant_type not in SUPPORTED_TYPES:
            unsupported.setdefault(quant_type, []).append(key)
        types[key] = quant_type

    if unsupported:
        quant_type, keys = next(iter(unsupported.items()))
        layers = list(dict.fromkeys(_layer_prefix(k) for k in keys))
        raise UnsupportedQuantType(
            quant_type, layers[:_FIRST_LAYERS_SHOWN], len(keys), source, layer_count=len(layers)
        )
    if smooth:
        raise DescriptionError(
            f"{source}: smooth-quant scales ({', '.join(smooth[:_FIRST_LAYERS_SHOWN])}"
            f"{', ...' if len(smooth) > _FIRST_LAYERS_SHOWN else ''}) multiply activations before "
            "the linear, which Wan Studio does not implement. Re-export without smoothing "
            "(msmodelslim --quant_type w8a8f8 or a linear-only MXFP8 recipe)."
        )
    _check_layer_consistency(types, source)

    warnings: list[str] = []
    model_quant_type = metadata.get("model_quant_type")
    if model_quant_type is not None and not isinstance(model_quant_type, str):
        raise DescriptionError(
            f"{source}: model_quant_type must be a string, not {model_quant_type!r}"
        )
    if model_quant_type is None:
        warnings.append(f"{source}: no model_quant_type entry; layer types come from the entries")
    elif model_quant_type not in SUPPORTED_TYPES:
        warnings.append(
            f"{source}: model_quant_type is {model_quant_type!r}, but every entry is "
            f"{QUANT_MXFP8} or {QUANT_FLOAT}; the per-entry types are used"
        )
    return QuantDescription(
        source=source,
        types=types,
        model_quant_type=model_quant_type,
        metadata=metadata,
        attention_entries=attention,
        warnings=warnings,
    )


def _check_layer_consistency(types: Mapping[str, str], source: str) -> None:
    """A layer's weight decides; its scale must agree and its bias must be float."""
    for key, quant_type in types.items():
        prefix = _layer_prefix(key)
        weight_type = types.get(f"{prefix}.weight")
        if key.endswith(".weight_scale"):
            if quant_type != QUANT_MXFP8 or weight_type != QUANT_MXFP8:
                raise DescriptionError(
                    f"{source}: {key} is {quant_type} but {prefix}.weight is "
                    f"{weight_type or 'missing'}; a weight_scale belongs to a {QUANT_MXFP8} weight. "
                    "The description is inconsistent: re-export or repack the model."
                )
        elif quant_type == QUANT_MXFP8 and not key.endswith(".weight"):
            raise DescriptionError(
                f"{source}: {key} is marked {QUANT_MXFP8}; only a layer's weight and weight_scale "
                "can be. The description is inconsistent: re-export or repack the model."
            )


def load_description(path: str | Path) -> QuantDescription:
    """Read and parse one description file."""
    from core.userfiles import MAX_DESCRIPTION_BYTES, UserFileError, read_user_file

    source = Path(path)
    try:  # a regular file under the cap: a FIFO or /dev/zero must not hang or fill memory
        raw = read_user_file(source, "quant description", MAX_DESCRIPTION_BYTES)
    except UserFileError as exc:
        raise DescriptionError(str(exc)) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DescriptionError(
            f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from exc
    except json.JSONDecodeError as exc:
        raise DescriptionError(
            f"{source} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "restore it from the export or repack the model again"
        ) from exc
    return parse_description(data, source=str(source))


def find_description_file(folder: str | Path) -> Path | None:
    """The description of one weights folder, or None.

    ``quant_model_description.json`` wins; otherwise the single ``quant_model_description*.json``
    (msmodelslim appends the type, e.g. ``_w8a8_mxfp8``). Several candidates without the plain
    name are ambiguous: guessing could pair weights with the wrong description.
    """
    base = Path(folder)
    plain = base / DESCRIPTION_FILE
    if plain.is_file():
        return plain
    candidates = sorted(p for p in base.glob(DESCRIPTION_GLOB) if p.is_file())
    if not candidates:
        return None
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise DescriptionError(
            f"{base} holds several quant descriptions ({names}); keep only the one that matches "
            f"the weights, or rename it to {DESCRIPTION_FILE}"
        )
    return candidates[0]
