"""Peak host memory and throughput of loading a real-size TI2V-5B transformer (CPU).

A synthetic TI2V-5B transformer checkpoint (real config, random BF16 weights, ~10 GB) is written
once to a temporary folder and quantized with ``wan-studio quantize`` (~5.3 GB MXFP8). Each
measurement then runs in a fresh subprocess that imports torch/diffusers first, records its RSS
(the import baseline), loads, and reports its peak RSS (VmHWM):

- offline: stream the MXFP8 checkpoint into the meta skeleton; goal peak / checkpoint <= 1.15;
- online: stream the BF16 checkpoint, quantizing block linears as they arrive; goal
  peak / final MXFP8 bytes <= 1.25;
- quantize: the export itself (streaming writer);
- anchor (the seed's approach): ``from_pretrained`` the BF16 transformer, then quantize its block
  linears in place. It needs about 2-3x the model in RAM, which a shared 24 GB machine cannot
  spare at full size, so by default it runs on a reduced copy (--anchor-layers of the 30 blocks)
  next to our two loaders on the same reduced copy: same run, same scale, fair ratios.

Page cache is dropped for the checkpoint files before each load (posix_fadvise), so throughput
includes reading from disk. Files are deleted afterwards. Runs under bench_lock().
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

GOAL_OFFLINE = 1.15
GOAL_ONLINE = 1.25
TI2V_5B = {
    "_class_name": "WanTransformer3DModel",
    "patch_size": [1, 2, 2],
    "num_attention_heads": 24,
    "attention_head_dim": 128,
    "in_channels": 48,
    "out_channels": 48,
    "text_dim": 4096,
    "freq_dim": 256,
    "ffn_dim": 14336,
    "num_layers": 30,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "rope_max_seq_len": 1024,
}
MODEL_INDEX = {"_class_name": "WanPipeline", "transformer": ["diffusers", "WanTransformer3DModel"]}
GB = 1e9


# ---------------------------------------------------------------- child side (fresh process)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(mode: str, path: str) -> None:
    import torch
    from diffusers import WanTransformer3DModel

    from core.backends import ReferenceBackend
    from core.quant.export import quantize_folder
    from core.quant.streaming import load_transformer

    torch.empty(1) + 1
    baseline = _status_kb("VmRSS")
    started = time.perf_counter()
    held = 0
    if mode in ("offline", "online"):
        model, report = load_transformer(
            Path(path) / "transformer",
            quant="auto" if mode == "offline" else "mxfp8-online",
            dtype=torch.bfloat16,
            backend=ReferenceBackend(),
        )
        held = report.bytes_after
    elif mode == "anchor":
        from core.quant.layer import Mxfp8Linear
        from core.quant.selection import plan_default
        from core.quant.streaming import linear_layers

        model = WanTransformer3DModel.from_pretrained(
            Path(path) / "transformer", torch_dtype=torch.bfloat16
        )
        linears = linear_layers(model)
        backend = ReferenceBackend()
        for name in plan_default((n, m.in_features) for n, m in linears.items()).quantize:
            parent, _, leaf = name.rpartition(".")
            layer = Mxfp8Linear.from_linear(linears[name])
            layer.process_weights_after_loading(backend)
            setattr(model.get_submodule(parent), leaf, layer)
        held = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    elif mode == "quantize":
        source, target = path.split(os.pathsep)
        quantize_folder(source, target)
    else:
        raise SystemExit(f"unknown child mode {mode}")
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {"baseline": baseline, "peak": _status_kb("VmHWM"), "seconds": seconds, "held": held}
        )
    )


# ---------------------------------------------------------------- parent side


def write_checkpoint(root: Path, layers: int) -> int:
    """A Diffusers-style folder with a random BF16 TI2V-5B-shaped transformer; returns bytes."""
    import torch

    from core.quant.streaming import build_skeleton
    from core.quant.writer import SafetensorsWriter, TensorSpec

    config = {**TI2V_5B, "num_layers": layers}
    model = build_skeleton(config)
    state = model.state_dict()
    specs = [TensorSpec(n, "BF16", tuple(t.shape)) for n, t in state.items()]
    folder = root / "transformer"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    (root / "model_index.json").write_text(json.dumps(MODEL_INDEX, indent=2))
    generator = torch.Generator().manual_seed(0)
    path = folder / "diffusion_pytorch_model.safetensors"
    with SafetensorsWriter(path, specs, {"format": "pt"}) as writer:
        for spec in specs:
            tensor = torch.randn(spec.shape, generator=generator, dtype=torch.bfloat16)
            writer.write(spec.name, tensor.mul_(0.02))
    return path.stat().st_size


def drop_cache(folder: Path) -> None:
    """Evict the checkpoint's pages from the page cache so loads read from disk."""
    for file in folder.rglob("*.safetensors"):
        fd = os.open(file, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def run_child(mode: str, path: str) -> dict:
    env = {**os.environ, "TORCH_DEVICE_BACKEND_AUTOLOAD": "0", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--path", path],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"child {mode} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _row(
    scale: str, method: str, data: dict, ckpt: int, reference: int, goal: float | None
) -> dict:
    ratio = data["peak"] / reference
    return {
        "scale": scale,
        "method": method,
        "checkpoint GB": ckpt / GB,
        "result GB": reference / GB,
        "peak RSS GB": data["peak"] / GB,
        "over imports GB": (data["peak"] - data["baseline"]) / GB,
        "peak/result": ratio,
        "(over imports)": (data["peak"] - data["baseline"]) / reference,
        "goal": f"<= {goal}" if goal else "",
        "met": ("yes" if ratio <= goal else "NO") if goal else "",
        "seconds": data["seconds"],
        "read GB/s": ckpt / GB / data["seconds"],
    }


def measure_set(base: Path, layers: int, label: str, anchor: bool, ours: bool) -> list[dict]:
    bf16, mx = base / "bf16", base / "mxfp8"
    print(f"[{label}] writing a random BF16 checkpoint ({layers} blocks) ...", flush=True)
    started = time.perf_counter()
    bf16_bytes = write_checkpoint(bf16, layers)
    print(
        f"[{label}] {bf16_bytes / GB:.2f} GB in {time.perf_counter() - started:.0f} s; quantizing ...",
        flush=True,
    )
    quant = run_child("quantize", f"{bf16}{os.pathsep}{mx}")
    mx_bytes = (mx / "transformer" / "diffusion_pytorch_model.safetensors").stat().st_size
    rows = [_row(label, "quantize (export, streaming)", quant, bf16_bytes, mx_bytes, None)]
    if ours:
        drop_cache(mx)
        offline = run_child("offline", str(mx))
        rows.append(_row(label, "offline load (ours)", offline, mx_bytes, mx_bytes, GOAL_OFFLINE))
        drop_cache(bf16)
        online = run_child("online", str(bf16))
        rows.append(
            _row(label, "online quantize (ours)", online, bf16_bytes, online["held"], GOAL_ONLINE)
        )
    if anchor:
        drop_cache(bf16)
        seed = run_child("anchor", str(bf16))
        rows.append(
            _row(label, "anchor: from_pretrained + quantize", seed, bf16_bytes, seed["held"], None)
        )
    shutil.rmtree(base)
    return rows


def main() -> None:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument(
        "--dir", default=None, help="where to write the temporary checkpoints (default: TMPDIR)"
    )
    p.add_argument(
        "--layers", type=int, default=30, help="blocks of the main model (30 = real TI2V-5B)"
    )
    p.add_argument("--anchor-layers", type=int, default=6, help="blocks of the reduced anchor copy")
    p.add_argument(
        "--anchor-full",
        action="store_true",
        help="also run the anchor at full size (needs ~25 GB RAM)",
    )
    p.add_argument("--child", help=argparse_hidden())
    p.add_argument("--path", help=argparse_hidden())
    args = p.parse_args()
    if args.child:
        child(args.child, args.path)
        return

    parent = Path(args.dir or tempfile.gettempdir())
    need = int(10.1 * GB + 5.4 * GB + 1 * GB)
    free = shutil.disk_usage(parent).free
    print(f"free disk in {parent}: {free / GB:.1f} GB (need about {need / GB:.1f} GB)")
    if free < need:
        raise SystemExit("not enough free disk for the real-size checkpoint set; use --dir")
    rows: list[dict] = []
    with _common.bench_lock():
        base = Path(tempfile.mkdtemp(prefix="wan-load-peak-", dir=parent))
        try:
            full_anchor = args.anchor_full
            if full_anchor:
                available = _meminfo("MemAvailable")
                if available < 25 * GB:
                    print(f"only {available / GB:.1f} GB available: skipping the full-size anchor")
                    full_anchor = False
            label = f"TI2V-5B ({args.layers} blocks)"
            rows += measure_set(base / "full", args.layers, label, anchor=full_anchor, ours=True)
            rows += measure_set(
                base / "reduced",
                args.anchor_layers,
                f"reduced ({args.anchor_layers} blocks)",
                anchor=True,
                ours=True,
            )
        finally:
            shutil.rmtree(base, ignore_errors=True)
    _common.report("Peak RSS of loading a TI2V-5B transformer (CPU, bf16 compute)", rows, args.json)
    print(
        "peak/result: peak RSS of the whole process (imports included) over the checkpoint "
        "(offline) or the final MXFP8 weights (online, anchor); '(over imports)' subtracts the "
        "RSS after importing torch + diffusers."
    )


def _meminfo(field: str) -> int:
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
