"""The real-export variants the tests use, and how to compare a repack with what msmodelslim wrote.

Shared by tests/realtools (CLI) and tests/gui (wizard): one definition of the variants and of
the byte-for-byte comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.realtools.msmodelslim_export import make_real_export

# variant -> (source weights dtype, MindIEFormatSaver part_file_size)
VARIANTS = {"bf16-single": ("bf16", 0), "fp32-sharded": ("fp32", 1)}
FAMILIES = ("t2v-a14b", "i2v-a14b", "ti2v-5b")
CASES = [(f, v) for f in FAMILIES for v in VARIANTS]
EXPERTS = {
    "t2v-a14b": (("high_noise_model", "transformer"), ("low_noise_model", "transformer_2")),
    "i2v-a14b": (("high_noise_model", "transformer"), ("low_noise_model", "transformer_2")),
    "ti2v-5b": ((".", "transformer"),),
}


def make_variant(demo: Path, out: Path, family: str, variant: str) -> Path:
    dtype, part = VARIANTS[variant]
    return make_real_export(demo, out, family, dtype=dtype, part_file_size=part)


def load_tensors(folder: Path, pattern: str) -> dict:
    from safetensors.torch import load_file

    state: dict = {}
    for path in sorted(folder.glob(pattern)):
        state.update(load_file(str(path)))
    return state


@dataclass
class Comparison:
    """Per expert: tensors compared byte for byte, rotations the repack leaves out knowingly."""

    compared: int = 0
    mxfp8_weights: int = 0
    scales: int = 0
    float_tensors: int = 0
    rotations_skipped: int = 0


def compare_with_export(export: Path, output: Path, family: str) -> list[Comparison]:
    """Every tensor msmodelslim wrote equals (dtype, shape, bytes) the repacked one under its
    Diffusers name; QuaRot rotations are the only tensors absent, and nothing is added."""
    import torch

    from core.repack.rename import to_diffusers

    results = []
    for sub, target in EXPERTS[family]:
        written = load_tensors(export / sub, "quant_model_weight*.safetensors")
        repacked = load_tensors(output / target, "*.safetensors")
        result = Comparison()
        expected_names = set()
        for name, tensor in written.items():
            if name.endswith(("q_rot", "k_rot")):
                result.rotations_skipped += 1
                continue
            new = to_diffusers(name)
            expected_names.add(new)
            assert new in repacked, f"{target}: {new} (from {name}) missing"
            got = repacked[new]
            assert (got.dtype, tuple(got.shape)) == (tensor.dtype, tuple(tensor.shape)), name
            assert torch.equal(
                got.contiguous().view(torch.uint8), tensor.contiguous().view(torch.uint8)
            ), f"{target}: {new} differs from msmodelslim's {name}"
            result.compared += 1
            if name.endswith(".weight_scale"):
                result.scales += 1
            elif tensor.dtype == torch.float8_e4m3fn:
                result.mxfp8_weights += 1
            else:
                result.float_tensors += 1
        assert set(repacked) == expected_names, sorted(set(repacked) ^ expected_names)[:5]
        results.append(result)
    return results


def generate_two_steps(folder: Path, family: str, blocks: int = 2):
    """Load a repacked folder with the app's loader (offline MXFP8) and denoise 2 steps; for
    A14B with the expert boundary between them (as the runner sets it), so both experts run."""
    import torch

    from core.models.loader import LoadOptions, load_pipeline

    loaded = load_pipeline(folder, LoadOptions(quant="auto", device="cpu"))
    experts = 2 if family.endswith("a14b") else 1
    assert loaded.report.quant == "mxfp8-offline"
    assert loaded.report.layers_quantized == 10 * blocks * experts
    kwargs = {
        "prompt": "a red fox running in the snow",
        "num_inference_steps": 2,
        "height": 32,
        "width": 32,
        "num_frames": 5,
        "output_type": "latent",
        "generator": torch.Generator().manual_seed(0),
    }
    if loaded.family.image == "required":
        from PIL import Image

        kwargs["image"] = Image.new("RGB", (32, 32), (200, 80, 40))
    experts_run: list[str] = []
    hooks = []
    if experts == 2:
        # 2 UniPC steps at flow shift 12 sit at t=999 and t~923: a boundary of 0.95 splits them
        loaded.pipe.register_to_config(boundary_ratio=0.95)
        for name in ("transformer", "transformer_2"):
            module = getattr(loaded.pipe, name)
            hooks.append(module.register_forward_hook(lambda *_, n=name: experts_run.append(n)))
    try:
        latents = loaded.pipe(**kwargs).frames
    finally:
        for hook in hooks:
            hook.remove()
    if experts == 2:
        assert set(experts_run) == {"transformer", "transformer_2"}, experts_run
    return latents
