"""Which Wan2.2 family a repack is about, and which export folder feeds which transformer.

Evidence, all read without loading tensors: the export's layout (msmodelslim writes A14B
experts into high_noise_model/ and low_noise_model/, TI2V-5B at the top level, msmodelslim.md
§2), the original folder's components (transformer_2 only for A14B) and its transformer config
(I2V-A14B takes more input channels than it outputs: image latents and a mask, wan22.md §1-§2).
A stated --model-type is checked against that evidence, never trusted blindly: pairing the
wrong expert with a transformer would be silent and wrong (msmodelslim.md §11.8).
"""

from __future__ import annotations

from pathlib import Path

from core.models.catalog import Family, get_family
from core.repack.errors import RepackInputError
from core.repack.sources import EXPORT_WEIGHT_GLOB, OriginalFolder
from core.userfiles import MAX_WEIGHTS_BYTES, UserFileError, check_user_file

HIGH_NOISE_DIR = "high_noise_model"
LOW_NOISE_DIR = "low_noise_model"
# Target transformer folder <- export subfolder (diffusers' converter and SGLang's convention).
A14B_TARGETS = (("transformer", HIGH_NOISE_DIR), ("transformer_2", LOW_NOISE_DIR))


def _has_weights(folder: Path) -> bool:
    """True when ``folder`` holds msmodelslim weights; a weights name that is a FIFO, folder or
    device is named as such (not "holds no export")."""
    found = False
    for path in folder.glob(EXPORT_WEIGHT_GLOB):
        try:
            check_user_file(
                path, "msmodelslim weights file", MAX_WEIGHTS_BYTES, "copy the export again"
            )
        except UserFileError as exc:
            raise RepackInputError(str(exc)) from None
        found = True
    return found


def export_layout(quant: Path) -> str | None:
    """ "experts" (A14B), "single" (TI2V-5B) or None when no export is recognisable."""
    if not quant.is_dir():
        state = "is not a folder" if quant.exists() else "does not exist"
        raise RepackInputError(f"msmodelslim export folder {quant} {state}")
    high, low = (quant / HIGH_NOISE_DIR).is_dir(), (quant / LOW_NOISE_DIR).is_dir()
    top = _has_weights(quant)
    if high or low:
        if top:
            raise RepackInputError(
                f"{quant} holds weights at the top level (a TI2V-5B export) and expert "
                f"subfolders (an A14B export); point --quant at one export only"
            )
        if not (high and low):
            present, absent = (
                (HIGH_NOISE_DIR, LOW_NOISE_DIR) if high else (LOW_NOISE_DIR, HIGH_NOISE_DIR)
            )
            raise RepackInputError(
                f"expert subfolder missing: {quant} has {present}/ but no {absent}/; an A14B "
                "export has both experts, copy the complete msmodelslim output"
            )
        return "experts"
    return "single" if top else None


def detect_family(
    original: OriginalFolder, quant: Path, requested: str | None = None
) -> tuple[Family, list[tuple[str, Path]]]:
    """The family and the (target transformer folder, export folder) pairs to repack."""
    wanted: Family | None = None
    if requested:
        try:
            wanted = get_family(requested)
        except KeyError as exc:
            raise RepackInputError(str(exc.args[0])) from None

    layout = export_layout(quant)
    if layout is None:
        hint = (
            f" for {wanted.name} expected them {'in high_noise_model/ and low_noise_model/' if wanted.experts == 2 else 'at the top level'}"
            if wanted
            else ""
        )
        raise RepackInputError(
            f"cannot tell the model family: {quant} holds no msmodelslim export "
            f"(quant_model_weight*.safetensors at the top level for TI2V-5B, or in "
            f"{HIGH_NOISE_DIR}/ and {LOW_NOISE_DIR}/ for T2V/I2V-A14B){hint}"
        )
    two = "transformer_2" in original.components
    if (layout == "experts") != two:
        export_kind = (
            "two experts (an A14B export)" if layout == "experts" else "one transformer (TI2V-5B)"
        )
        original_kind = "two transformers (A14B)" if two else "one transformer (TI2V-5B)"
        raise RepackInputError(
            f"the export and the original are different models: {quant} holds {export_kind} "
            f"but {original.folder} has {original_kind}; pick the original you quantized"
        )
    if two:
        cfg = original.transformer_configs["transformer"]
        i2v = int(cfg.get("in_channels", 16)) > int(cfg.get("out_channels", 16))
        detected = get_family("i2v-a14b" if i2v else "t2v-a14b")
        reason = (
            f"its transformer takes {cfg.get('in_channels')} input channels for "
            f"{cfg.get('out_channels')} output channels"
        )
    else:
        detected = get_family("ti2v-5b")
        reason = "it has a single transformer"
    if wanted is not None and wanted.key != detected.key:
        raise RepackInputError(
            f"wrong model type: --model-type is {wanted.name} but the folders hold "
            f"{detected.name} ({original.folder.name}: {reason}); drop --model-type to detect "
            "it, or pick the folders of the model you meant"
        )
    if detected.experts == 2:
        pairs = [(target, quant / sub) for target, sub in A14B_TARGETS]
    else:
        pairs = [("transformer", quant)]
    return detected, pairs
