"""A repacked folder loads with the app's loader (offline MXFP8) and generates.

Depends on core.models.loader's offline-MXFP8 path (#4 [quant]); not skipped when it is
missing: these tests are the proof that a repack output is usable.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from core.models.loader import LoadOptions, load_pipeline
from core.repack import plan, run

# Every family and every export variant once (loading is the slow part of this suite).
CASES = [("t2v-a14b", "single"), ("i2v-a14b", "w8a8f8"), ("ti2v-5b", "sharded")]


def _generate(loaded, steps: int) -> torch.Tensor:
    kwargs = {
        "prompt": "a red fox running in the snow",
        "num_inference_steps": steps,
        "height": 32,
        "width": 32,
        "num_frames": 5,
        "output_type": "latent",
        "generator": torch.Generator().manual_seed(0),
    }
    if loaded.family.image == "required":
        from PIL import Image

        kwargs["image"] = Image.new("RGB", (32, 32), (200, 80, 40))
    return loaded.pipe(**kwargs).frames


@pytest.mark.parametrize(("family", "variant"), CASES)
def test_repacked_folder_loads_and_generates_one_step(
    family: str, variant: str, demo_models, exports, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    run(plan(demo_models[family], exports(family, variant), out))
    loaded = load_pipeline(out, LoadOptions(quant="auto", device="cpu"))
    experts = 2 if family.endswith("a14b") else 1
    assert loaded.report.quant == "mxfp8-offline"
    assert loaded.report.layers_quantized == 20 * experts  # 2 demo blocks x 10 linears
    latents = _generate(loaded, steps=1)
    assert latents.ndim == 5 and torch.isfinite(latents).all()


def test_repacked_experts_match_online_floor_quantization(
    demo_t2v: Path, exports, tmp_path: Path
) -> None:
    """The export was FLOOR-quantized from the demo's BF16 weights, so the repacked model must
    compute exactly what online MXFP8 of the original computes; with 8 steps both experts run
    (6 high-noise, 2 low-noise), so a swapped or misnamed expert would show."""
    out = tmp_path / "out"
    run(plan(demo_t2v, exports("t2v-a14b", "sharded"), out))
    offline = load_pipeline(out, LoadOptions(quant="auto", device="cpu"))
    online = load_pipeline(  # FLOOR weights, like the export (the online default is mse)
        demo_t2v, LoadOptions(quant="mxfp8-online", device="cpu", weight_rule="floor")
    )
    assert online.report.quant == "mxfp8-online"
    a, b = _generate(offline, steps=8), _generate(online, steps=8)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
