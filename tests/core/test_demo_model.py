"""Demo model: every family writes a complete Diffusers folder that diffusers itself loads offline."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from core.models.demo import DemoModelError, create_demo_model, is_demo_model, read_marker


@pytest.mark.parametrize("family", ["t2v-a14b", "i2v-a14b", "ti2v-5b"])
def test_demo_model_loads_with_diffusers_and_denoises(family: str, demo_models) -> None:
    from diffusers import WanImageToVideoPipeline, WanPipeline
    from PIL import Image

    folder = demo_models[family]
    index = json.loads((folder / "model_index.json").read_text())
    for component in ("scheduler", "text_encoder", "tokenizer", "transformer", "vae"):
        assert (folder / component).is_dir(), component
    two_experts = family != "ti2v-5b"
    assert (folder / "transformer_2").is_dir() == two_experts
    assert index["boundary_ratio"] == {"t2v-a14b": 0.875, "i2v-a14b": 0.9, "ti2v-5b": None}[family]
    assert index["expand_timesteps"] == (family == "ti2v-5b")
    assert index["scheduler"] == ["diffusers", "UniPCMultistepScheduler"]
    assert is_demo_model(folder) and read_marker(folder)["family"] == family

    cls = WanImageToVideoPipeline if family == "i2v-a14b" else WanPipeline
    pipe = cls.from_pretrained(folder)  # HF_HUB_OFFLINE=1 is set by conftest
    kwargs = {}
    if family == "i2v-a14b":
        kwargs["image"] = Image.new("RGB", (64, 32), (200, 30, 30))
    out = pipe(
        prompt="a red fox running in the snow",
        height=32 if family != "ti2v-5b" else 64,
        width=64,
        num_frames=5,
        num_inference_steps=2,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    )
    height = 32 if family != "ti2v-5b" else 64
    assert out.frames.shape == (1, 5, height, 64, 3)
    assert not (out.frames != out.frames).any()  # no NaN


def test_block_linears_are_mxfp8_compatible(demo_t2v: Path) -> None:
    """Every block linear has K (in_features) a multiple of 64, as in the real models."""
    from diffusers import WanTransformer3DModel

    model = WanTransformer3DModel.from_pretrained(demo_t2v / "transformer")
    linears = [
        (n, m)
        for n, m in model.named_modules()
        if n.startswith("blocks.") and isinstance(m, torch.nn.Linear)
    ]
    assert len(linears) == 10 * model.config.num_layers
    assert all(m.in_features % 64 == 0 for _, m in linears)


def _tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "wan_studio.json"):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_demo_model_is_deterministic(tmp_path: Path) -> None:
    a = create_demo_model("ti2v-5b", tmp_path / "a", seed=3)
    b = create_demo_model("ti2v-5b", tmp_path / "b", seed=3)
    c = create_demo_model("ti2v-5b", tmp_path / "c", seed=4)
    assert _tree_digest(a) == _tree_digest(b)
    assert _tree_digest(a) != _tree_digest(c)


def test_refuses_non_empty_output_and_keeps_it(tmp_path: Path) -> None:
    target = tmp_path / "taken"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    with pytest.raises(DemoModelError, match="not empty"):
        create_demo_model("t2v-a14b", target)
    assert [p.name for p in target.iterdir()] == ["precious.txt"]
    assert (target / "precious.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".taken")]  # no temp left


def test_unknown_family_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(DemoModelError, match=r"t2v-a14b.*i2v-a14b.*ti2v-5b"):
        create_demo_model("t2v-14b", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_default_location_is_the_data_dir(app_home: Path) -> None:
    path = create_demo_model("ti2v-5b")
    assert path == (app_home / "data" / "models" / "demo-ti2v-5b").absolute()
