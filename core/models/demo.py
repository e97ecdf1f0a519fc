"""The built-in demo model: a tiny Wan2.2-shaped Diffusers folder with random weights.

It lets a newcomer with no weights, and every test, exercise the whole product offline in
seconds: text encoder, one or two experts, VAE, MXFP8 layers and a real video file. Its video
is noise, and its folder says so in ``wan_studio.json`` so the app can label the output.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

from core import __version__
from core.models.catalog import Family, get_family
from core.progress import Progress, ProgressCallback

MARKER_FILE = "wan_studio.json"
DEMO_NOTE = "demo model: random weights"
# Official pixel multiple per family is kept (16 / 32); these sizes keep a demo run sub-second.
DEMO_DEFAULTS: dict[str, dict[str, Any]] = {
    "t2v-a14b": {"size": (128, 128), "frames": 9, "steps": 4},
    "i2v-a14b": {"size": (128, 128), "frames": 9, "steps": 4},
    "ti2v-5b": {"size": (128, 128), "frames": 9, "steps": 4},
}


# The steps of creating a demo model, as reported to a progress callback (stage, label).
DEMO_STEPS: tuple[tuple[str, str], ...] = (
    ("import", "Loading torch and diffusers"),
    ("text_encoder", "Building the text encoder"),
    ("vae", "Building the VAE"),
    ("transformer", "Building the transformer"),
    ("save", "Saving the model"),
)


def _reporter(progress: ProgressCallback | None, total: int) -> Callable[[str], None]:
    """A function that reports the start of the named step as ``Progress(done=its index)``."""
    labels = dict(DEMO_STEPS)
    order = [key for key, _ in DEMO_STEPS]

    def report(stage: str) -> None:
        if progress is not None:
            progress(Progress(stage, order.index(stage), total, labels[stage]))

    return report


class DemoModelError(ValueError):
    """Bad demo request (existing output, unknown family)."""


def demo_configs() -> dict[str, Any]:
    text = resources.files("resources").joinpath("demo/demo_configs.json").read_text("utf-8")
    return json.loads(text)


def read_marker(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The Wan Studio marker of a folder (demo models carry one), or None."""
    path = Path(folder) / MARKER_FILE
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


def is_demo_model(folder: str | os.PathLike[str]) -> bool:
    marker = read_marker(folder)
    return bool(marker and marker.get("kind") == "demo")


def _build_tokenizer(words: list[str]):
    from transformers import T5Tokenizer

    # A Unigram tokenizer built in memory: no hub, no sentencepiece model file.
    vocab: list[tuple[str, float]] = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(f"▁{w}", -float(i + 1)) for i, w in enumerate(words)]
    chars = "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"
    vocab += [(c, -100.0) for c in chars] + [("▁", -50.0)]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def build_demo_pipeline(
    family: Family | str, seed: int = 0, progress: ProgressCallback | None = None
):
    """Build the demo pipeline in memory (deterministic from ``seed``).

    ``progress`` hears the start of each step of ``DEMO_STEPS`` except the final save.
    """
    report = _reporter(progress, len(DEMO_STEPS))
    report("import")
    import torch
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    fam = get_family(family) if isinstance(family, str) else family
    cfg = demo_configs()
    tokenizer = _build_tokenizer(cfg["vocabulary"])

    report("text_encoder")
    torch.manual_seed(seed)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=len(tokenizer), **cfg["text_encoder"]))
    text_encoder.eval()

    report("vae")
    if fam.vae_z_dim == 48:  # Wan2.2 VAE (TI2V-5B)
        vae_cfg = dict(cfg["vae_wan22"])
    else:  # Wan2.1 VAE (A14B)
        vae_cfg = dict(cfg["vae_wan21"])
    z = vae_cfg["z_dim"]
    vae_cfg["latents_mean"] = [0.0] * z
    vae_cfg["latents_std"] = [1.0] * z
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLWan(**vae_cfg)

    # Real I2V-A14B: 36 = 16 noise + 16 image latents + 4 mask channels; the demo keeps the rule.
    in_channels = 2 * z + 4 if fam.key == "i2v-a14b" else z
    tcfg = dict(cfg["transformer"])
    tcfg["patch_size"] = tuple(tcfg["patch_size"])
    report("transformer")
    experts = []
    for i in range(fam.experts):
        torch.manual_seed(seed + 10 + i)
        experts.append(WanTransformer3DModel(in_channels=in_channels, out_channels=z, **tcfg))

    scheduler = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=fam.shift
    )
    common = {
        "tokenizer": tokenizer,
        "text_encoder": text_encoder,
        "vae": vae,
        "scheduler": scheduler,
        "transformer": experts[0],
        "transformer_2": experts[1] if fam.experts == 2 else None,
        "boundary_ratio": fam.boundary,
        "expand_timesteps": fam.expand_timesteps,
    }
    if fam.pipeline_class == "WanImageToVideoPipeline":
        return WanImageToVideoPipeline(image_processor=None, image_encoder=None, **common)
    return WanPipeline(**common)


def create_demo_model(
    family: str = "t2v-a14b",
    out: str | os.PathLike[str] | None = None,
    seed: int = 0,
    overwrite_empty_ok: bool = True,
    progress: ProgressCallback | None = None,
) -> Path:
    """Write a demo model folder; returns its path.

    ``progress`` hears the start of each step of ``DEMO_STEPS`` (the GUI shows them: on a
    busy machine the first one, importing torch, can take a minute).

    Refuses an existing non-empty ``out`` (nothing is overwritten). The folder is written to a
    temporary sibling and renamed into place, so a crash never leaves a half-written model.
    """
    try:
        fam = get_family(family)
    except KeyError as exc:
        raise DemoModelError(str(exc.args[0])) from None
    from core import paths

    target = Path(out) if out is not None else paths.demo_model_dir(fam.key)
    target = target.expanduser().absolute()
    if target.exists():
        if not target.is_dir():
            raise DemoModelError(f"{target} exists and is not a folder; choose another --out")
        if any(target.iterdir()):
            raise DemoModelError(
                f"{target} already exists and is not empty; nothing was overwritten. "
                "Choose an empty or new folder with --out, or remove it first."
            )
        if not overwrite_empty_ok:
            raise DemoModelError(f"{target} already exists")
    target.parent.mkdir(parents=True, exist_ok=True)

    pipe = build_demo_pipeline(fam, seed=seed, progress=progress)
    _reporter(progress, len(DEMO_STEPS))("save")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        pipe.save_pretrained(tmp, safe_serialization=True)
        marker = {
            "kind": "demo",
            "family": fam.key,
            "model_type": fam.name,
            "seed": seed,
            "note": DEMO_NOTE + " (its video is noise)",
            "created_by": f"wan-studio {__version__}",
            "defaults": {
                "width": DEMO_DEFAULTS[fam.key]["size"][0],
                "height": DEMO_DEFAULTS[fam.key]["size"][1],
                "frames": DEMO_DEFAULTS[fam.key]["frames"],
                "steps": DEMO_DEFAULTS[fam.key]["steps"],
            },
        }
        (tmp / MARKER_FILE).write_text(json.dumps(marker, indent=2), "utf-8")
        if target.exists():  # empty folder: replace it
            target.rmdir()
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
