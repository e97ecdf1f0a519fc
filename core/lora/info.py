"""What a LoRA file is, from its header alone (no tensor data read): format, rank, the model
width it was made for, which families it fits and how many of its layers a family has, which
expert its name says, its partner file, whether it is a step distill. Used by ``inspect FILE``,
the Models workspace and the Generate form's LoRA list.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.lora.naming import distill_steps, expert_of, find_partner, is_step_distill

_META_OK = frozenset({"alpha"})


@dataclass
class FamilyFit:
    family: str  # family key, or "demo" for the built-in demo models
    matched: int  # LoRA layers this family has, with matching shapes
    total: int

    @property
    def fits(self) -> bool:
        return self.matched > 0 and self.matched == self.total


@dataclass
class LoraInfo:
    path: str
    size: int
    format: str
    format_label: str
    tensors: int
    layers: int  # target linears
    ranks: list[int]
    dtype: str
    dim: int | None
    ffn_dim: int | None
    blocks: int
    has_bias: bool
    has_diff: bool
    expert: str | None  # "high" / "low" from the name, None when it does not say
    partner: str | None  # the other expert's file next to it
    distill: bool
    distill_steps: int | None
    fits: list[FamilyFit] = field(default_factory=list)
    dropped: int = 0

    @property
    def fitting_families(self) -> list[str]:
        return [f.family for f in self.fits if f.fits]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["fitting_families"] = self.fitting_families
        return data


def _meta_tensors(header: Any) -> dict[str, Any]:
    """Meta tensors for every entry, except the tiny ``.alpha`` scalars (read for real: the
    conversion folds their value into the matrices)."""
    import torch

    from core.quant.checkpoint import Checkpoint, TensorReader, torch_dtype

    alphas = [n for n, e in header.entries.items() if n.endswith(".alpha") and e.numel <= 1]
    out: dict[str, Any] = {}
    for name, entry in header.entries.items():
        if name not in alphas:
            out[name] = torch.empty(entry.shape, dtype=torch_dtype(entry.dtype), device="meta")
    if alphas:
        checkpoint = Checkpoint(
            folder=header.path.parent, files=[header.path], entries=header.entries
        )
        with TensorReader(checkpoint) as reader:
            for name in alphas:
                out[name] = reader.read(name)
    return out


def layer_shapes(
    dim: int, ffn: int, blocks: int, text_dim: int, freq: int, proj_out: int
) -> dict[str, tuple[int, int]]:
    """Layer name -> (out, in) of every linear a Wan transformer of these sizes has."""
    from core.lora.fixtures import block_shapes

    shapes = {}
    for b in range(blocks):
        for name, shape in block_shapes(dim, ffn).items():
            shapes[f"blocks.{b}.{name}"] = shape
    shapes["condition_embedder.time_proj"] = (6 * dim, dim)
    shapes["condition_embedder.time_embedder.linear_1"] = (dim, freq)
    shapes["condition_embedder.time_embedder.linear_2"] = (dim, dim)
    shapes["condition_embedder.text_embedder.linear_1"] = (dim, text_dim)
    shapes["condition_embedder.text_embedder.linear_2"] = (dim, dim)
    shapes["proj_out"] = (proj_out, dim)
    return shapes


def config_shapes(config: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """The linears of the transformer a Diffusers ``config.json`` describes."""
    patch = config.get("patch_size") or (1, 2, 2)
    cells = 1
    for p in patch:
        cells *= int(p)
    dim = int(config["num_attention_heads"]) * int(config["attention_head_dim"])
    return layer_shapes(
        dim,
        int(config["ffn_dim"]),
        int(config["num_layers"]),
        int(config.get("text_dim", 4096)),
        int(config.get("freq_dim", 256)),
        int(config.get("out_channels", 16)) * cells,
    )


def family_shapes() -> dict[str, dict[str, tuple[int, int]]]:
    """Layer name -> (out, in) of every linear LoRAs target, per family (real sizes) and for
    the demo models (their tiny configs)."""
    from core.models.catalog import FAMILIES
    from core.models.demo import demo_configs

    out = {
        key: layer_shapes(f.dim, f.ffn_dim, f.num_layers, 4096, 256, f.out_channels * 4)
        for key, f in FAMILIES.items()
    }
    t = demo_configs()["transformer"]
    dim = t["num_attention_heads"] * t["attention_head_dim"]
    out["demo"] = layer_shapes(dim, t["ffn_dim"], t["num_layers"], t["text_dim"], t["freq_dim"], 16)
    return out


def count_fit(weights: Any, shapes: dict[str, tuple[int, int]]) -> tuple[int, list[str]]:
    """(layers of ``weights`` that ``shapes`` has with the same shape, names with another shape)."""
    matched, wrong = 0, []
    for name, target in weights.targets.items():
        shape = shapes.get(name)
        if shape is None:
            continue
        got = (target.out_features, target.in_features)
        if all(g is None or g == w for g, w in zip(got, shape, strict=True)):
            matched += 1
        else:
            wrong.append(name)
    return matched, wrong


def header_weights(path: str | Path) -> Any:
    """The converted LoRA with meta tensors (no data read): names, ranks and shapes."""
    from core.lora.convert import convert
    from core.lora.reader import read_lora_header

    header = read_lora_header(path)
    return convert(_meta_tensors(header), header.path, header.metadata)


def inspect_lora(path: str | Path) -> LoraInfo:
    """Describe a LoRA file from its header; LoraError when it is not a usable LoRA."""
    from core.lora.convert import FORMAT_LABELS, convert
    from core.lora.reader import read_lora_header

    header = read_lora_header(path)
    weights = convert(_meta_tensors(header), header.path, header.metadata)
    fits = []
    for family, shapes in family_shapes().items():
        matched, _wrong = count_fit(weights, shapes)
        fits.append(FamilyFit(family=family, matched=matched, total=len(weights.targets)))
    partner = find_partner(header.path)
    targets = weights.targets.values()
    return LoraInfo(
        path=str(header.path),
        size=header.file_size,
        format=weights.format,
        format_label=FORMAT_LABELS[weights.format],
        tensors=len(header.entries),
        layers=len(weights.targets),
        ranks=weights.ranks,
        dtype=weights.dtype,
        dim=weights.dim,
        ffn_dim=weights.ffn_dim,
        blocks=weights.blocks,
        has_bias=any(t.bias is not None for t in targets),
        has_diff=any(t.diff is not None for t in targets),
        expert=expert_of(header.path),
        partner=str(partner) if partner else None,
        distill=is_step_distill(header.path),
        distill_steps=distill_steps(header.path),
        fits=fits,
        dropped=len(weights.dropped),
    )


def describe_fit(info: LoraInfo) -> str:
    """'fits T2V-A14B, I2V-A14B (400/400 layers)' or why it fits none."""
    from core.models.catalog import FAMILIES

    good = [f for f in info.fits if f.fits]
    if good:
        names = [FAMILIES[f.family].name if f.family in FAMILIES else "demo models" for f in good]
        return f"fits {', '.join(names)} ({good[0].matched}/{good[0].total} layers)"
    best = max(info.fits, key=lambda f: f.matched, default=None)
    if best is None or best.matched == 0:
        return f"fits no Wan2.2 family (width {info.dim})"
    name = FAMILIES[best.family].name if best.family in FAMILIES else "the demo models"
    return f"partly fits {name} ({best.matched}/{best.total} layers)"
