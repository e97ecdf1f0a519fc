"""The three Wan2.2 families, their official defaults (Wan-Video/Wan2.2) and their rules.

Pure data, no torch: the GUI reads it at start-up before torch is imported.
Sizes are (width, height). Guidance is given per expert: ``guidance_high`` drives the
high-noise expert (diffusers ``guidance_scale``), ``guidance_low`` the low-noise expert
(``guidance_scale_2``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# wan/configs/shared_config.py `sample_neg_prompt`, verbatim; used by all three families.
DEFAULT_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，"
    "最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，"
    "画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)


NUM_TRAIN_TIMESTEPS = 1000  # all three families (scheduler config)


@dataclass(frozen=True)
class Family:
    """One Wan2.2 model family: architecture facts, official defaults and input rules."""

    key: str  # "t2v-a14b" | "i2v-a14b" | "ti2v-5b"
    name: str  # msmodelslim / SGLang model type, e.g. "Wan2.2-T2V-A14B"
    title: str
    experts: int  # 2 for A14B (high noise + low noise), 1 for TI2V-5B
    # architecture (real models)
    dim: int
    ffn_dim: int
    num_layers: int
    in_channels: int
    out_channels: int
    vae_z_dim: int
    vae_stride: tuple[int, int, int]  # (t, h, w)
    pixel_multiple: int
    # official defaults
    sizes: tuple[tuple[int, int], ...]
    default_size: tuple[int, int]
    frames: int
    fps: int
    steps: int
    shift: float
    guidance_high: float
    guidance_low: float | None
    boundary: float | None
    solver: str = "unipc"
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT
    # inputs
    takes_text: bool = True
    image: str = "none"  # "none" | "required" | "optional"
    pipeline_class: str = "WanPipeline"
    expand_timesteps: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def quantized_linears_per_expert(self) -> int:
        return 10 * self.num_layers

    @property
    def boundary_timestep(self) -> float | None:
        """The timestep where the low-noise expert takes over (875 / 900), None for one expert:
        steps with t >= this run the high-noise expert."""
        return None if self.boundary is None else self.boundary * NUM_TRAIN_TIMESTEPS

    @property
    def takes_image(self) -> bool:
        return self.image in ("required", "optional")

    @property
    def size_is_area(self) -> bool:
        """With a start image the size is a maximum area and the aspect follows the image
        (official Wan2.2 I2V-A14B and TI2V-5B behaviour)."""
        return self.takes_image

    def duration_seconds(self, frames: int, fps: int | None = None) -> float:
        return frames / float(fps or self.fps)


T2V_A14B = Family(
    key="t2v-a14b",
    name="Wan2.2-T2V-A14B",
    title="Wan2.2 T2V A14B (text to video, two experts)",
    experts=2,
    dim=5120,
    ffn_dim=13824,
    num_layers=40,
    in_channels=16,
    out_channels=16,
    vae_z_dim=16,
    vae_stride=(4, 8, 8),
    pixel_multiple=16,
    sizes=((1280, 720), (720, 1280), (832, 480), (480, 832)),
    default_size=(1280, 720),
    frames=81,
    fps=16,
    steps=40,
    shift=12.0,
    guidance_high=4.0,
    guidance_low=3.0,
    boundary=0.875,
)

I2V_A14B = Family(
    key="i2v-a14b",
    name="Wan2.2-I2V-A14B",
    title="Wan2.2 I2V A14B (image to video, two experts)",
    experts=2,
    dim=5120,
    ffn_dim=13824,
    num_layers=40,
    in_channels=36,
    out_channels=16,
    vae_z_dim=16,
    vae_stride=(4, 8, 8),
    pixel_multiple=16,
    sizes=((1280, 720), (720, 1280), (832, 480), (480, 832)),
    default_size=(1280, 720),
    frames=81,
    fps=16,
    steps=40,
    shift=5.0,
    guidance_high=3.5,
    guidance_low=3.5,
    boundary=0.9,
    image="required",
    pipeline_class="WanImageToVideoPipeline",
    notes=("Sizes are a maximum area; the aspect ratio follows the input image.",),
)

TI2V_5B = Family(
    key="ti2v-5b",
    name="Wan2.2-TI2V-5B",
    title="Wan2.2 TI2V 5B (text or text+image to video)",
    experts=1,
    dim=3072,
    ffn_dim=14336,
    num_layers=30,
    in_channels=48,
    out_channels=48,
    vae_z_dim=48,
    vae_stride=(4, 16, 16),
    pixel_multiple=32,
    sizes=((1280, 704), (704, 1280)),
    default_size=(1280, 704),
    frames=121,
    fps=24,
    steps=50,
    shift=5.0,
    guidance_high=5.0,
    guidance_low=None,
    boundary=None,
    image="optional",
    expand_timesteps=True,
)

FAMILIES: dict[str, Family] = {f.key: f for f in (T2V_A14B, I2V_A14B, TI2V_5B)}


def family_keys() -> list[str]:
    return list(FAMILIES)


def get_family(key_or_name: str) -> Family:
    """Look a family up by key ("t2v-a14b") or model type ("Wan2.2-T2V-A14B"), case-insensitively."""
    wanted = key_or_name.strip().lower()
    for fam in FAMILIES.values():
        if wanted in (fam.key, fam.name.lower()):
            return fam
    valid = ", ".join(f"{f.key} ({f.name})" for f in FAMILIES.values())
    raise KeyError(f"unknown model family {key_or_name!r}; valid families: {valid}")


def snap_to_multiple(value: int, multiple: int) -> int:
    """Nearest positive multiple (ties round up), for custom sizes."""
    return max(multiple, round(value / multiple) * multiple)


def snap_size(width: int, height: int, multiple: int) -> tuple[int, int]:
    """Nearest valid (width, height) for a pixel multiple (16 for A14B, 32 for TI2V-5B)."""
    return snap_to_multiple(width, multiple), snap_to_multiple(height, multiple)


def nearest_valid_frames(frames: int) -> int:
    """Nearest 4n+1 frame count (Wan VAE temporal stride 4)."""
    n = max(0, round((frames - 1) / 4))
    return 4 * n + 1
