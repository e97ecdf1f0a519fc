"""What a LoRA costs and what a Lightning distill saves.

1. layer: one linear of a real Wan2.2 shape (K=N=5120, FFN 5120->13824 and 13824->5120) at M
   tokens, bf16 ``nn.Linear`` and MXFP8 ``Mxfp8Linear`` (reference W8A8 backend), without and
   with the LoRA side branch of rank 64 and 256: the worst case, a linear alone.
2. step: one real-size A14B transformer block (40 heads x 128, FFN 13824, 512 text tokens) at M
   tokens, its ten linears MXFP8 (the app's path; reference backend here) and bf16, with a
   rank-64 / rank-256 branch on each (goal: <= 1.05x the step without LoRA), plus the same
   ratio from a FLOP count at real 480p / 720p sizes (32,760 / 75,600 tokens), where attention
   is a far larger share than at the M a CPU can time in seconds (``--tokens 32760`` measures
   the 480p block: minutes).
3. lightning: the demo model, official defaults (40 steps with CFG) against the "Lightning
   4-step" preset with a HIGH/LOW LoRA pair: transformer forwards counted (80 vs 4) and the
   wall-time ratio of the two runs.

``--quick`` uses fewer tokens and rounds (about a minute); ratios are medians of per-round
ratios with the variants interleaved, so machine noise hits all of them alike.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the repo on sys.path)
from _common import bench_lock, parser, report
from mx_quantize import interleaved

SHAPES = (
    ("attn 5120x5120", 5120, 5120),
    ("ffn up 5120->13824", 5120, 13824),
    ("ffn down 13824->5120", 13824, 5120),
)
RANKS = (64, 256)
REAL_TOKENS = 75_600  # A14B 1280x720x81 (wan22.md section 1)
GOAL_STEP = 1.05


def _branch_terms(n: int, k: int, rank: int, dtype, device="cpu"):
    import torch

    from core.lora.branch import BranchTerm

    gen = torch.Generator().manual_seed(rank)
    return [
        BranchTerm(
            name=f"r{rank}",
            scaling=1.0,
            down=(torch.randn(rank, k, generator=gen) * 0.01).to(dtype),
            up=(torch.randn(n, rank, generator=gen) * 0.01).to(dtype),
            bias=None,
            diff=None,
        )
    ]


def bench_layers(tokens: int, repeat: int) -> list[dict]:
    import torch
    from torch import nn

    from core.backends import get_backend
    from core.lora.branch import attach
    from core.quant.layer import Mxfp8Linear

    rows = []
    for label, k, n in SHAPES:
        gen = torch.Generator().manual_seed(k + n)
        x = torch.randn(tokens, k, generator=gen).to(torch.bfloat16)
        kinds = {}
        for kind in ("bf16", "mxfp8"):
            variants = {}
            for rank in (0, *RANKS):
                linear = nn.Linear(k, n, dtype=torch.bfloat16)
                with torch.no_grad():
                    linear.weight.normal_(0, 0.02, generator=gen)
                layer = linear
                if kind == "mxfp8":
                    layer = Mxfp8Linear.from_linear(linear)
                    layer.process_weights_after_loading(get_backend("reference"))
                if rank:
                    attach(layer, _branch_terms(n, k, rank, torch.bfloat16))
                variants[f"{kind} r{rank}" if rank else f"{kind} base"] = layer
            kinds[kind] = variants
        for kind, variants in kinds.items():
            ops = {name: (lambda m=m, x=x: m(x)) for name, m in variants.items()}
            with torch.no_grad():
                times, ratios = interleaved(ops, f"{kind} base", repeat)
            for name in ops:
                rows.append(
                    {
                        "part": "layer",
                        "shape": label,
                        "M": tokens,
                        "variant": name,
                        "ms": times[name] * 1e3,
                        "x_base": ratios[name],
                        "goal": "",
                        "met": "",
                    }
                )
            del variants
    return rows


def _block(kind: str, dim: int = 5120, ffn: int = 13824, heads: int = 40):
    """A real-size A14B transformer block in bf16; ``kind`` "mxfp8" swaps its ten linears for
    online-quantized ``Mxfp8Linear`` layers on the reference backend (the app's MXFP8 path)."""
    import torch
    from diffusers.models.transformers.transformer_wan import WanTransformerBlock

    from core.backends import get_backend
    from core.quant.layer import Mxfp8Linear
    from core.quant.selection import BLOCK_LINEARS

    block = WanTransformerBlock(dim, ffn, heads, cross_attn_norm=True).to(torch.bfloat16)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.02)
    if kind == "mxfp8":
        backend = get_backend("reference")
        for name in BLOCK_LINEARS:
            parent, _, leaf = name.rpartition(".")
            owner = block.get_submodule(parent)
            layer = Mxfp8Linear.from_linear(getattr(owner, leaf))
            layer.process_weights_after_loading(backend)
            setattr(owner, leaf, layer)
    return block.eval()


def bench_step(tokens: int, repeat: int, kind: str) -> list[dict]:
    import torch
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    from core.lora.branch import attach, detach_all
    from core.quant.selection import BLOCK_LINEARS

    dim, text = 5120, 512
    side = round((tokens / 4) ** 0.5)
    latent = torch.zeros(1, 16, 4, 2 * side, 2 * side)
    rope = WanRotaryPosEmbed(128, (1, 2, 2), 1024)(latent)
    m = 4 * side * side
    gen = torch.Generator().manual_seed(0)
    hidden = torch.randn(1, m, dim, generator=gen).to(torch.bfloat16)
    context = torch.randn(1, text, dim, generator=gen).to(torch.bfloat16)
    temb = torch.randn(1, 6, dim, generator=gen).to(torch.bfloat16)
    block = _block(kind)

    def with_rank(rank: int):
        def run():
            return block(hidden, context, temb, rope)

        def setup():
            detach_all(block)
            if rank:
                for name in BLOCK_LINEARS:
                    layer = block.get_submodule(name)
                    attach(
                        layer,
                        _branch_terms(layer.out_features, layer.in_features, rank, torch.bfloat16),
                    )

        return setup, run

    # The branches of one rank are attached in turn; rounds alternate ranks.
    setups = {f"{kind} r{r}" if r else f"{kind} base": with_rank(r) for r in (0, *RANKS)}
    times: dict[str, list[float]] = {name: [] for name in setups}
    with torch.no_grad():
        for setup, run in setups.values():  # warm-up
            setup()
            run()
        for _ in range(repeat):
            for name, (setup, run) in setups.items():
                setup()
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    import statistics

    rows = []
    for name, t in times.items():
        ratio = statistics.median(a / b for a, b in zip(t, times[f"{kind} base"], strict=True))
        goal = f"<= {GOAL_STEP}x" if name != f"{kind} base" else ""
        met = ("yes" if ratio <= GOAL_STEP else "NO") if goal else ""
        rows.append(
            {
                "part": "step (measured)",
                "shape": f"A14B block, {kind}",
                "M": m,
                "variant": name,
                "ms": statistics.median(t) * 1e3,
                "x_base": ratio,
                "goal": goal,
                "met": met,
            }
        )
    return rows


def flop_rows() -> list[dict]:
    """The step ratio from a FLOP count at real run sizes (too slow to time on a CPU)."""
    rows = []
    for label, tokens in (("480p 81 frames", 32_760), ("720p 81 frames", REAL_TOKENS)):
        for rank in RANKS:
            ratio = flop_ratio(tokens, rank)
            rows.append(
                {
                    "part": "step (FLOP count)",
                    "shape": f"A14B block {label}",
                    "M": tokens,
                    "variant": f"r{rank}",
                    "ms": None,
                    "x_base": ratio,
                    "goal": f"<= {GOAL_STEP}x",
                    "met": "yes" if ratio <= GOAL_STEP else "NO",
                }
            )
    return rows


def flop_ratio(tokens: int, rank: int, dim: int = 5120, ffn: int = 13824, text: int = 512) -> float:
    """(block + side branches) / block, in multiply-adds, for one A14B block: the branch of a
    [K -> N] linear on r tokens costs r * rank * (K + N) next to the linear's r * K * N."""
    m = tokens
    on_latents = 6 * dim * dim + 2 * dim * ffn  # self q,k,v,o + cross q,o; ffn up and down
    on_text = 2 * dim * dim  # cross-attention k, v
    attention = 2 * m * m * dim + 2 * m * text * dim  # QK^T and PV, self and cross
    base = m * on_latents + text * on_text + attention
    branch = rank * (m * (6 * 2 * dim + 2 * (dim + ffn)) + text * 2 * 2 * dim)
    return (base + branch) / base


def bench_lightning(repeat: int) -> list[dict]:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from core.generate.request import defaults_for
    from core.generate.runner import Runner
    from core.lora.choice import LoraChoice
    from core.lora.fixtures import write_lora
    from core.models.demo import create_demo_model
    from core.presets import DISTILL_PRESET, builtin_presets

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = create_demo_model("t2v-a14b", root / "demo")
        high = write_lora(root / "Wan22_T2V_HIGH_lightx2v_4step.safetensors", "wan", seed=1)
        low = write_lora(root / "Wan22_T2V_LOW_lightx2v_4step.safetensors", "wan", seed=2)
        official = defaults_for("t2v-a14b", model=str(model))
        official.prompt, official.seed = "a red fox", 1
        official.width, official.height, official.frames = 128, 128, 9
        preset = next(p for p in builtin_presets()["t2v-a14b"] if p.name == DISTILL_PRESET)
        lightning = official.replace(**preset.request_values())
        lightning.loras = [LoraChoice(path=str(high), path_low=str(low))]
        runner = Runner(preview_fps=0, output_folder=root / "out")
        runner.run(official)  # load and warm up
        pipe = runner.loaded.pipe
        calls = [0]
        for expert in (pipe.transformer, pipe.transformer_2):
            expert.register_forward_pre_hook(lambda _m, _a: calls.__setitem__(0, calls[0] + 1))
        results: dict[str, dict] = {}
        for _ in range(repeat):
            for name, request in (("official", official), ("lightning", lightning)):
                calls[0] = 0
                start = time.perf_counter()
                outcome = runner.run(request)
                seconds = time.perf_counter() - start
                if outcome.kind != "done":
                    raise SystemExit(f"{name} run failed: {outcome.message}")
                entry = results.setdefault(name, {"forwards": calls[0], "seconds": []})
                entry["seconds"].append(seconds)
    import statistics

    base = statistics.median(results["official"]["seconds"])
    rows = []
    for name, entry in results.items():
        seconds = statistics.median(entry["seconds"])
        rows.append(
            {
                "part": "lightning (demo)",
                "shape": "128x128x9",
                "M": entry["forwards"],
                "variant": f"{name}: {entry['forwards']} forwards",
                "ms": seconds * 1e3,
                "x_base": seconds / base,
                "goal": "",
                "met": "",
            }
        )
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer tokens and rounds (~1 minute)")
    p.add_argument("--tokens", type=int, default=None, help="M of the layer and step parts")
    p.add_argument("--part", choices=("all", "layer", "step", "lightning"), default="all")
    args = p.parse_args()
    tokens = args.tokens or (1024 if args.quick else 4096)
    repeat = 3 if args.quick else args.repeat
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    rows: list[dict] = []
    with bench_lock():
        if args.part in ("all", "layer"):
            rows += bench_layers(tokens, repeat)
        if args.part in ("all", "step"):
            for kind in ("mxfp8", "bf16"):
                rows += bench_step(tokens, repeat, kind)
            rows += flop_rows()
        if args.part in ("all", "lightning"):
            rows += bench_lightning(repeat)
    report(
        "LoRA side branch cost and Lightning savings",
        rows,
        args.json,
        {"tokens": tokens, "repeat": repeat},
    )


if __name__ == "__main__":
    main()
