"""msmodelslim-style exports for tests, the GUI repack wizard's tests and the benchmark.

``make_msmodelslim_export(demo_folder, out)`` turns a demo model (core.models.demo; the
``demo_models`` pytest fixtures) into what ``msmodelslim quant`` would write for it
(shared/reference/msmodelslim.md §2-§6):

- Wan-native tensor names (the exact inverse of the repack's renaming rules);
- the 10 linears of every block FLOOR-quantized with core.mx: ``weight`` float8_e4m3fn [N, K],
  ``weight_scale`` uint8 [N, ceil(K/32)], ``bias`` float32; every other tensor kept as is;
- a description JSON (indent 4) in msmodelslim's order: per block modulation, self_attn
  q/k/v/o (weight, weight_scale, bias), self_attn norm_q/norm_k, norm3, cross_attn q/k/v/o,
  cross_attn norm_q/norm_k, ffn.0/ffn.2; then patch_embedding, text_embedding,
  time_embedding, time_projection, head.modulation, head.head and finally model_quant_type;
- single file ``quant_model_weight_w8a8_mxfp8.safetensors`` +
  ``quant_model_description_w8a8_mxfp8.json``, or (``sharded=True``)
  ``quant_model_weight-0000i-of-0000N.safetensors`` + ``quant_model_weight.safetensors.index.json``
  + still ``quant_model_description_w8a8_mxfp8.json`` (the real msmodelslim 26.1.0 keeps the
  type suffix of the description in both layouts; only the weight files lose it);
- a native-style ``config.json`` copy, as msmodelslim copies the input's JSON files;
- A14B: the two experts in ``high_noise_model/`` (from ``transformer``) and
  ``low_noise_model/`` (from ``transformer_2``); TI2V-5B: at the top level.

``w8a8f8=True`` adds what msmodelslim's w8a8f8 recipes add: bf16 QuaRot matrices
``blocks.N.self_attn.q_rot`` / ``k_rot`` [head_dim, head_dim] (FLOAT) and
``"blocks.N.self_attn.quant_type": "FP8_DYNAMIC"`` entries, in every block but block 0 for
T2V-A14B (its recipe excludes ``*blocks.0.self_attn*``) and in every block for I2V-A14B and
TI2V-5B (their recipes do not).

These exports are imitations, kept for what a real export cannot give (bad inputs, corrupt
files, the real-size benchmark); tests/realtools writes real ones with msmodelslim itself.

``make_synthetic_ti2v5b(root)`` writes a real-size (about 5.2 GB) TI2V-5B export with random
bytes, streaming, plus a minimal original folder (real transformer config, tiny components):
for benchmarks only, its weights are noise.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.repack.detect import A14B_TARGETS
from core.repack.rename import to_diffusers, to_native
from core.repack.safetensors_io import HeaderEntry, build_header, dtype_alignment

SINGLE_WEIGHTS = "quant_model_weight_w8a8_mxfp8.safetensors"
SINGLE_DESCRIPTION = "quant_model_description_w8a8_mxfp8.json"
SHARD_INDEX = "quant_model_weight.safetensors.index.json"
SHARDED_DESCRIPTION = SINGLE_DESCRIPTION  # msmodelslim keeps the suffix when sharding too
MXFP8 = "W8A8_MXFP8"
FLOAT = "FLOAT"
FA_QUANT_TYPE = "FP8_DYNAMIC"

_BLOCK_LINEARS_NATIVE = (
    "self_attn.q",
    "self_attn.k",
    "self_attn.v",
    "self_attn.o",
    "cross_attn.q",
    "cross_attn.k",
    "cross_attn.v",
    "cross_attn.o",
    "ffn.0",
    "ffn.2",
)
_TAIL_NATIVE = (
    "patch_embedding.weight",
    "patch_embedding.bias",
    "text_embedding.0.weight",
    "text_embedding.0.bias",
    "text_embedding.2.weight",
    "text_embedding.2.bias",
    "time_embedding.0.weight",
    "time_embedding.0.bias",
    "time_embedding.2.weight",
    "time_embedding.2.bias",
    "time_projection.1.weight",
    "time_projection.1.bias",
    "head.modulation",
    "head.head.weight",
    "head.head.bias",
)


def shard_name(i: int, n: int) -> str:
    return f"quant_model_weight-{i:05d}-of-{n:05d}.safetensors"


def _linear(prefix: str) -> list[tuple[str, str]]:
    return [
        (f"{prefix}.weight", MXFP8),
        (f"{prefix}.weight_scale", MXFP8),
        (f"{prefix}.bias", FLOAT),
    ]


def description_order(
    num_layers: int, w8a8f8: bool = False, rotate_block0: bool = False
) -> list[tuple[str, str]]:
    """(Wan-native key, quant type) in the order msmodelslim writes its description.

    ``rotate_block0``: the w8a8f8 attention entries also in block 0 (I2V / TI2V recipes)."""
    entries: list[tuple[str, str]] = []
    for n in range(num_layers):
        b = f"blocks.{n}"
        entries.append((f"{b}.modulation", FLOAT))
        for proj in "qkvo":
            entries += _linear(f"{b}.self_attn.{proj}")
        entries += [
            (f"{b}.self_attn.norm_q.weight", FLOAT),
            (f"{b}.self_attn.norm_k.weight", FLOAT),
        ]
        if w8a8f8 and (n > 0 or rotate_block0):
            entries += [(f"{b}.self_attn.q_rot", FLOAT), (f"{b}.self_attn.k_rot", FLOAT)]
            entries.append((f"{b}.self_attn.quant_type", FA_QUANT_TYPE))
        entries += [(f"{b}.norm3.weight", FLOAT), (f"{b}.norm3.bias", FLOAT)]
        for proj in "qkvo":
            entries += _linear(f"{b}.cross_attn.{proj}")
        entries += [
            (f"{b}.cross_attn.norm_q.weight", FLOAT),
            (f"{b}.cross_attn.norm_k.weight", FLOAT),
        ]
        entries += _linear(f"{b}.ffn.0") + _linear(f"{b}.ffn.2")
    entries += [(k, FLOAT) for k in _TAIL_NATIVE]
    return entries


def native_config(config: dict[str, Any], model_type: str) -> dict[str, Any]:
    """The Wan-native config.json msmodelslim copies next to its output (from a Diffusers one)."""
    heads, head_dim = config["num_attention_heads"], config["attention_head_dim"]
    return {
        "_class_name": "WanModel",
        "_diffusers_version": "0.33.0",
        "model_type": model_type,
        "patch_size": list(config.get("patch_size", (1, 2, 2))),
        "text_len": 512,
        "in_dim": config["in_channels"],
        "dim": heads * head_dim,
        "ffn_dim": config["ffn_dim"],
        "freq_dim": config["freq_dim"],
        "text_dim": config["text_dim"],
        "out_dim": config["out_channels"],
        "num_heads": heads,
        "num_layers": config["num_layers"],
        "window_size": [-1, -1],
        "qk_norm": True,
        "cross_attn_norm": True,
        "eps": config.get("eps", 1e-6),
    }


def rotation_matrix(head_dim: int, seed: int = 0):
    """A random-sign Hadamard matrix scaled to be orthogonal (QuaRot), bf16 [d, d]."""
    import torch

    if head_dim & (head_dim - 1):
        raise ValueError(f"head_dim {head_dim} is not a power of two")
    h = torch.ones(1, 1)
    while h.shape[0] < head_dim:
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    gen = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, (head_dim,), generator=gen).float() * 2 - 1
    return (h * signs / math.sqrt(head_dim)).to(torch.bfloat16)


def _family_of(demo_folder: Path, family: str | None):
    from core.models.catalog import get_family
    from core.models.demo import read_marker

    if family:
        return get_family(family)
    marker = read_marker(demo_folder) or {}
    if marker.get("family"):
        return get_family(marker["family"])
    from core.models.loader import detect_family

    return detect_family(demo_folder)


def _export_one(
    transformer_dir: Path,
    out: Path,
    model_type: str,
    sharded: bool,
    shards: int,
    w8a8f8: bool,
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    from core.mx import quantize_mx

    config = json.loads((transformer_dir / "config.json").read_text("utf-8"))
    state = load_file(str(transformer_dir / "diffusion_pytorch_model.safetensors"))
    order = description_order(config["num_layers"], w8a8f8, rotate_block0=model_type != "t2v")
    quantized = {
        f"blocks.{n}.{p}" for n in range(config["num_layers"]) for p in _BLOCK_LINEARS_NATIVE
    }

    natives = {to_native(k): k for k in state}
    expected_natives = {
        k for k, t in order if not k.endswith((".weight_scale", "_rot", ".quant_type"))
    }
    if set(natives) != expected_natives:
        raise ValueError(
            f"{transformer_dir}: unexpected tensors for a Wan2.2 transformer: "
            f"{sorted(set(natives) ^ expected_natives)[:5]}"
        )
    assert all(to_diffusers(n) == d for n, d in natives.items())

    rotation = rotation_matrix(config["attention_head_dim"]) if w8a8f8 else None
    tensors: dict[str, torch.Tensor] = {}
    description: dict[str, str] = {}
    for key, quant_type in order:
        description[key] = quant_type
        if key.endswith(".quant_type"):
            continue
        if key.endswith(("q_rot", "k_rot")):
            tensors[key] = rotation.clone()  # type: ignore[union-attr]
            continue
        prefix = key.rsplit(".", 1)[0]
        if key.endswith(".weight_scale"):
            continue  # written with its weight
        value = state[natives[key]]
        if prefix in quantized and key.endswith(".weight"):
            data, scale = quantize_mx(value.float(), rule="floor")
            tensors[key] = data.contiguous()
            tensors[f"{prefix}.weight_scale"] = scale.contiguous()
        elif prefix in quantized:  # bias
            tensors[key] = value.to(torch.float32).contiguous()
        else:
            tensors[key] = value.contiguous()
    description["model_quant_type"] = MXFP8

    out.mkdir(parents=True, exist_ok=True)
    ordered = [k for k, _ in order if k in tensors]
    if not sharded:
        save_file({k: tensors[k] for k in ordered}, str(out / SINGLE_WEIGHTS))
        description_name = SINGLE_DESCRIPTION
    else:
        total = sum(t.numel() * t.element_size() for t in tensors.values())
        per_shard = total / shards
        groups: list[list[str]] = [[]]
        size = 0
        for key in ordered:
            nbytes = tensors[key].numel() * tensors[key].element_size()
            if groups[-1] and size + nbytes > per_shard * len(groups) and len(groups) < shards:
                groups.append([])
            groups[-1].append(key)
            size += nbytes
        weight_map = {}
        for i, group in enumerate(groups, start=1):
            name = shard_name(i, len(groups))
            save_file({k: tensors[k] for k in group}, str(out / name))
            weight_map.update(dict.fromkeys(group, name))
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        (out / SHARD_INDEX).write_text(json.dumps(index, indent=2), "utf-8")
        description_name = SHARDED_DESCRIPTION
    (out / description_name).write_text(json.dumps(description, indent=4), "utf-8")
    (out / "config.json").write_text(
        json.dumps(native_config(config, model_type), indent=4), "utf-8"
    )


def make_msmodelslim_export(
    demo_folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    family: str | None = None,
    sharded: bool = False,
    w8a8f8: bool = False,
    shards: int = 2,
) -> Path:
    """Write an msmodelslim-style MXFP8 export of a demo (or any small Diffusers Wan2.2)
    model into ``out`` (created; must not exist or be empty). Returns ``out``."""
    source = Path(demo_folder)
    target = Path(out)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    fam = _family_of(source, family)
    native_type = {"t2v-a14b": "t2v", "i2v-a14b": "i2v", "ti2v-5b": "ti2v"}[fam.key]
    pairs = (
        [(t, target / sub) for t, sub in A14B_TARGETS]
        if fam.experts == 2
        else [("transformer", target)]
    )
    try:
        for component, folder in pairs:
            _export_one(source / component, folder, native_type, sharded, shards, w8a8f8)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


# ---------------------------------------------------------------------------------------------
# Real-size synthetic TI2V-5B export (benchmark)

TI2V_5B_CONFIG: dict[str, Any] = {
    "_class_name": "WanTransformer3DModel",
    "_diffusers_version": "0.35.0",
    "added_kv_proj_dim": None,
    "attention_head_dim": 128,
    "cross_attn_norm": True,
    "eps": 1e-06,
    "ffn_dim": 14336,
    "freq_dim": 256,
    "image_dim": None,
    "in_channels": 48,
    "num_attention_heads": 24,
    "num_layers": 30,
    "out_channels": 48,
    "patch_size": [1, 2, 2],
    "pos_embed_seq_len": None,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
    "text_dim": 4096,
}


def _synthetic_specs(config: dict[str, Any]) -> list[tuple[str, str, tuple[int, ...], str]]:
    """(native name, dtype, shape, quant type) of a real-size export, msmodelslim's order."""
    from core.repack.skeleton import expected_shapes

    shapes = expected_shapes(config)
    specs = []
    for key, quant_type in description_order(config["num_layers"]):
        if key.endswith(".weight_scale"):
            n, k = shapes[to_diffusers(key[: -len("_scale")])]
            specs.append((key, "U8", (n, -(-k // 32)), quant_type))
            continue
        shape = shapes[to_diffusers(key)]
        if quant_type == MXFP8:
            specs.append((key, "F8_E4M3", shape, quant_type))
        elif key.startswith("blocks.") and key.endswith(".bias") and ".norm" not in key:
            specs.append((key, "F32", shape, quant_type))
        else:
            specs.append((key, "BF16", shape, quant_type))
    return specs


def _pools(seed: int, size: int) -> dict[str, bytes]:
    import numpy as np

    rng = np.random.default_rng(seed)
    fp8 = rng.integers(0, 256, size, dtype=np.uint8)
    fp8[(fp8 & 0x7F) == 0x7F] = 0x00  # no NaN codes
    scale = rng.integers(112, 128, size, dtype=np.uint8)  # plausible weight scales, never 0xFF
    normal = rng.standard_normal(size // 4).astype(np.float32) * 0.02
    bf16 = (normal.view(np.uint32) >> 16).astype(np.uint16).tobytes()
    bf16 = (bf16 * 2)[:size]
    return {"F8_E4M3": fp8.tobytes(), "U8": scale.tobytes(), "F32": normal.tobytes(), "BF16": bf16}


def make_synthetic_ti2v5b(
    root: str | os.PathLike[str],
    seed: int = 0,
    on_bytes: Callable[[int, int], None] | None = None,
    config: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``root/original`` (a minimal Diffusers TI2V-5B folder: real transformer config,
    tiny placeholder components, no transformer weights) and ``root/export`` (a real-size
    msmodelslim export with random bytes, written streaming). Returns (original, export).

    ``on_bytes(done, total)`` reports progress. Weights are noise: benchmarks only.
    """
    base = Path(root)
    config = dict(config or TI2V_5B_CONFIG)
    original, export = base / "original", base / "export"
    for sub in ("scheduler", "text_encoder", "tokenizer", "vae"):
        (original / sub).mkdir(parents=True, exist_ok=True)
        (original / sub / "config.json").write_text(json.dumps({"placeholder": sub}), "utf-8")
    (original / "transformer").mkdir(parents=True, exist_ok=True)
    (original / "transformer" / "config.json").write_text(json.dumps(config, indent=2), "utf-8")
    model_index = {
        "_class_name": "WanPipeline",
        "_diffusers_version": "0.35.0",
        "boundary_ratio": None,
        "expand_timesteps": True,
        "scheduler": ["diffusers", "UniPCMultistepScheduler"],
        "text_encoder": ["transformers", "UMT5EncoderModel"],
        "tokenizer": ["transformers", "T5TokenizerFast"],
        "transformer": ["diffusers", "WanTransformer3DModel"],
        "transformer_2": [None, None],
        "vae": ["diffusers", "AutoencoderKLWan"],
    }
    (original / "model_index.json").write_text(json.dumps(model_index, indent=2), "utf-8")

    export.mkdir(parents=True, exist_ok=True)
    specs = _synthetic_specs(config)
    # Same layout as the safetensors library's writer: alignment first, then name.
    in_file = sorted(specs, key=lambda s: (-dtype_alignment(s[1]), s[0]))
    header, offsets = build_header(HeaderEntry(n, d, s) for n, d, s, _ in in_file)
    sizes = [HeaderEntry(n, d, s).nbytes for n, d, s, _ in in_file]
    total = len(header) + sum(sizes)
    pool_size = 16 << 20
    pools = _pools(seed, pool_size)
    done = 0
    fd = os.open(export / SINGLE_WEIGHTS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, header)
        done += len(header)
        cursor = 0
        for (_, dtype, _, _), nbytes in zip(in_file, sizes, strict=True):
            pool = pools[dtype]
            left = nbytes
            while left:
                start = cursor % (pool_size - 4096) // 4 * 4  # keep 4-byte element alignment
                n = min(left, pool_size - start)
                written = os.write(fd, memoryview(pool)[start : start + n])
                left -= written
                done += written
                cursor += written + 4099
                if on_bytes:
                    on_bytes(done, total)
    finally:
        os.close(fd)
    del offsets
    description = {name: quant_type for name, _, _, quant_type in specs}
    description["model_quant_type"] = MXFP8
    (export / SINGLE_DESCRIPTION).write_text(json.dumps(description, indent=4), "utf-8")
    (export / "config.json").write_text(json.dumps(native_config(config, "ti2v"), indent=4))
    return original, export
