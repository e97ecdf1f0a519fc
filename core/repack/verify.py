"""Checks that a repacked (or quantized) Diffusers transformer folder is complete and sound.

Run by the repack before its output is renamed into place, and usable on any offline-MXFP8
folder (tests, folder inspection). It reads headers, the config, the description and the scale
bytes (1/32 of the weight bytes, streamed in small chunks); never the weights themselves.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.quant.description import (
    QUANT_FLOAT,
    QUANT_MXFP8,
    DescriptionError,
    load_description,
)
from core.repack.errors import RepackFailed, RepackInputError
from core.repack.safetensors_io import (
    FLOAT_DTYPES,
    SafetensorsHeader,
    find_byte,
    read_header,
)
from core.repack.scales import SCALE_NAN, scale_columns
from core.repack.skeleton import expected_shapes

WEIGHTS = "diffusion_pytorch_model.safetensors"
DESCRIPTION = "quant_model_description.json"
_SHOWN = 5


class VerificationError(RepackFailed):
    """A written folder failed verification; ``issues`` lists every finding."""

    def __init__(self, folder: Path, issues: list[str]) -> None:
        self.folder = folder
        self.issues = issues
        shown = "\n".join(f"  - {i}" for i in issues[:10])
        more = f"\n  ... ({len(issues)} issues in all)" if len(issues) > 10 else ""
        super().__init__(f"{folder} failed verification:\n{shown}{more}")


class NanScaleError(RepackInputError):
    """The export itself holds a NaN (0xFF) scale byte: that layer would output NaN."""


@dataclass
class TransformerCheck:
    """What verification counted in one transformer folder."""

    folder: str
    quantized_layers: int = 0
    float_tensors: int = 0
    scale_bytes_scanned: int = 0
    tensors: int = 0
    file_bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _scale_nan_position(fd: int, header: SafetensorsHeader, name: str) -> tuple[int, int] | None:
    info = header.tensors[name]
    hit = find_byte(fd, header.absolute_offset(info), info.nbytes, SCALE_NAN)
    if hit is None:
        return None
    cols = info.shape[1] if len(info.shape) == 2 and info.shape[1] else 1
    return hit // cols, hit % cols


def verify_transformer(
    folder: str | os.PathLike[str], expected: dict[str, tuple[int, ...]] | None = None
) -> TransformerCheck:
    """Verify one offline-MXFP8 transformer folder; raises VerificationError (or NanScaleError).

    Checks: config.json is marked MXFP8-serialized; the safetensors header is valid; every
    tensor of the Diffusers skeleton (from the config, or ``expected``) is present with its
    shape; every W8A8_MXFP8 layer has weight F8_E4M3 [N, K] and weight_scale U8
    [N, ceil(K/32)]; float tensors are float; the description names exactly the stored
    tensors; no scale byte is 0xFF.
    """
    path = Path(folder)
    issues: list[str] = []
    try:
        config = json.loads((path / "config.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(path, [f"config.json unreadable: {exc}"]) from exc
    qcfg = config.get("quantization_config") if isinstance(config, dict) else None
    if not (
        isinstance(qcfg, dict)
        and qcfg.get("quant_method") == "mxfp8"
        and qcfg.get("is_checkpoint_mxfp8_serialized") is True
    ):
        issues.append(
            "config.json lacks quantization_config {quant_method: mxfp8, "
            "is_checkpoint_mxfp8_serialized: true}"
        )
    try:
        header = read_header(path / WEIGHTS)
    except RepackInputError as exc:
        raise VerificationError(path, [str(exc)]) from exc
    try:
        description = load_description(path / DESCRIPTION)
    except DescriptionError as exc:
        raise VerificationError(path, [str(exc)]) from exc
    if expected is None:
        expected = expected_shapes(config, str(path / "config.json"))

    tensors = header.tensors
    types = description.types
    check = TransformerCheck(str(path), tensors=len(tensors), file_bytes=header.file_size)
    if set(types) != set(tensors):
        extra = sorted(set(types) - set(tensors))
        absent = sorted(set(tensors) - set(types))
        if extra:
            issues.append(f"description entries without a tensor: {', '.join(extra[:_SHOWN])}")
        if absent:
            issues.append(f"tensors without a description entry: {', '.join(absent[:_SHOWN])}")
    if description.attention_entries:
        issues.append(
            "attention-quantization entries left in the output: "
            + ", ".join(description.attention_entries[:_SHOWN])
        )
    if description.model_quant_type is None:
        issues.append("the description has no model_quant_type")

    missing = [k for k in expected if k not in tensors]
    if missing:
        issues.append(f"{len(missing)} model tensor(s) missing: {', '.join(missing[:_SHOWN])}")
    scales: list[str] = []
    for name, info in tensors.items():
        quant_type = types.get(name)
        if name.endswith(".weight_scale") and quant_type == QUANT_MXFP8:
            weight = tensors.get(name[: -len("_scale")])
            if weight is None or len(weight.shape) != 2:
                issues.append(f"{name} has no 2-D weight")
                continue
            want = (weight.shape[0], scale_columns(weight.shape[1]))
            if info.dtype != "U8" or info.shape != want:
                issues.append(
                    f"{name} is {info.dtype} {list(info.shape)}, expected U8 {list(want)}"
                )
            scales.append(name)
            continue
        if name not in expected:
            issues.append(f"{name} is not a tensor of WanTransformer3DModel with this config")
            continue
        if info.shape != tuple(expected[name]):
            issues.append(
                f"{name} has shape {list(info.shape)}, the model has {list(expected[name])}"
            )
        if quant_type == QUANT_MXFP8:
            if info.dtype != "F8_E4M3" or len(info.shape) != 2:
                issues.append(f"{name} is {info.dtype}, expected F8_E4M3 for an MXFP8 weight")
            elif f"{name}_scale" not in tensors:
                issues.append(f"{name} has no {name}_scale")
            else:
                check.quantized_layers += 1
        elif quant_type == QUANT_FLOAT:
            if info.dtype not in FLOAT_DTYPES:
                issues.append(f"{name} is FLOAT but stored as {info.dtype}")
            check.float_tensors += 1
    if issues:
        raise VerificationError(path, issues)

    nan_scales: list[str] = []
    with open(path / WEIGHTS, "rb") as handle:
        for name in scales:
            where = _scale_nan_position(handle.fileno(), header, name)
            check.scale_bytes_scanned += tensors[name].nbytes
            if where is not None:
                nan_scales.append(f"{name} (row {where[0]}, block {where[1]})")
    if nan_scales:
        raise NanScaleError(
            f"the export holds NaN scale bytes (0xFF) in {len(nan_scales)} layer(s): "
            f"{', '.join(nan_scales[:_SHOWN])}; those layers would output NaN. The export is "
            "corrupt: quantize the model again"
        )
    return check


def verify_output(folder: str | os.PathLike[str]) -> list[TransformerCheck]:
    """Verify every transformer folder of a repacked Diffusers model folder."""
    root = Path(folder)
    try:
        index = json.loads((root / "model_index.json").read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise VerificationError(root, [f"model_index.json unreadable: {exc}"]) from exc
    targets = [
        t
        for t in ("transformer", "transformer_2")
        if isinstance(index.get(t), list) and all(isinstance(s, str) for s in index[t])
    ]
    if not targets:
        raise VerificationError(root, ["model_index.json lists no transformer"])
    return [verify_transformer(root / t) for t in targets]
