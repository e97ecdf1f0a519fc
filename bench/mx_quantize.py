"""MXFP8 quantization speed: core.mx.quantize_mx on a bf16 [5120, 13824] weight (Wan2.2 A14B's
FFN down projection), against x.clone() of the same tensor in the same run (goal <= 6x) and,
when installed, torchao's FLOOR ``to_mx`` (goal <= 1.0x).

``--rules`` measures the weight scale rules instead (core.mx.search): weight MSE of ``mse``
(FLOOR or FLOOR+1 per block), of a wider search (FLOOR-1..FLOOR+2) and of RCEIL relative to
FLOOR, on every distinct Wan2.2 block-linear shape (wan22.md: A14B 5120/13824, TI2V-5B
3072/14336) with Gaussian bf16 weights (std 0.02) and on the demo models' own block weights,
and the quantize time of each rule against FLOOR's (goal for ``mse``: <= 3x)::

    .venv/bin/python bench/mx_quantize.py --rules            # all shapes, 5 rounds (~8 min)
    .venv/bin/python bench/mx_quantize.py --rules --quick    # two shapes, 2 rounds (~1 min)
"""

from __future__ import annotations

import _common  # noqa: F401  (puts the repo on sys.path)
from _common import bench_lock, parser, report


def interleaved(ops: dict, baseline: str, repeat: int) -> tuple[dict, dict]:
    """Median time of each op, and median of its per-round ratio to ``baseline``, with the ops
    run in turn every round so that all of them see the same machine load (this machine is
    shared: back-to-back blocks of one op each drift with the neighbours' work)."""
    import statistics
    import time

    for fn in ops.values():  # warm-up
        fn()
    times: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(repeat):
        for name, fn in ops.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratios = {
        name: statistics.median(a / b for a, b in zip(t, times[baseline], strict=True))
        for name, t in times.items()
    }
    return medians, ratios


# Distinct [out, in] shapes of the ten quantized block linears (wan22.md section 3).
WAN22_SHAPES = {
    "A14B attn q/k/v/out": (5120, 5120),
    "A14B ffn up": (13824, 5120),
    "A14B ffn down": (5120, 13824),
    "5B attn q/k/v/out": (3072, 3072),
    "5B ffn up": (14336, 3072),
    "5B ffn down": (3072, 14336),
}
QUICK_SHAPES = ("A14B attn q/k/v/out", "5B ffn down")
WIDE_OFFSETS = (0, 1, -1, 2)


def _mse(w, data, scale) -> float:
    from core.mx import dequantize_mx

    return float((dequantize_mx(data, scale) - w.float()).square().mean())


def _demo_weights() -> dict[str, object]:
    """Block-linear weights of freshly made demo models (one per VAE kind), as stored."""
    import tempfile
    from pathlib import Path

    from safetensors.torch import load_file

    from core.models.demo import create_demo_model
    from core.quant.selection import is_block_linear

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("t2v-a14b", "ti2v-5b"):
            folder = create_demo_model(family, Path(tmp) / family)
            for file in sorted((folder / "transformer").glob("*.safetensors")):
                for name, tensor in load_file(file).items():
                    prefix = name.removesuffix(".weight")
                    if name.endswith(".weight") and is_block_linear(prefix):
                        out[f"demo {family} {prefix}"] = tensor
    return out


def rules_main(args) -> None:
    import time

    import torch

    from core.mx import quantize_mx
    from core.mx.search import quantize_weight, search_weight_scales

    names = QUICK_SHAPES if args.quick else tuple(WAN22_SHAPES)
    repeat = 2 if args.quick else args.repeat
    started = time.perf_counter()
    rows = []
    with bench_lock():
        gen = torch.Generator().manual_seed(0)
        for name in names:
            shape = WAN22_SHAPES[name]
            w = (torch.randn(*shape, generator=gen) * 0.02).to(torch.bfloat16)
            floor = quantize_mx(w, "floor")
            err = {"floor": _mse(w, *floor)}
            err["mse"] = _mse(w, *quantize_weight(w, "mse"))
            err["wide"] = _mse(w, *search_weight_scales(w, WIDE_OFFSETS))
            err["rceil"] = _mse(w, *quantize_mx(w, "rceil"))
            changed = float((quantize_weight(w, "mse")[1] != floor[1]).float().mean())
            ops = {
                "floor": lambda w=w: quantize_mx(w, "floor"),
                "mse": lambda w=w: quantize_weight(w, "mse"),
            }
            if not args.quick:
                ops["wide"] = lambda w=w: search_weight_scales(w, WIDE_OFFSETS)
            timings, ratios = interleaved(ops, "floor", repeat)
            rows.append(
                {
                    "weights": f"gaussian {name} {list(shape)}",
                    "floor MSE": err["floor"],
                    "mse/floor": err["mse"] / err["floor"],
                    "wide/floor": err["wide"] / err["floor"],
                    "rceil/floor": err["rceil"] / err["floor"],
                    "mse/rceil": err["mse"] / err["rceil"],
                    "blocks +1": changed,
                    "floor ms": timings["floor"] * 1e3,
                    "mse time x": ratios["mse"],
                    "wide time x": ratios.get("wide"),
                }
            )
        demo = _demo_weights()
        totals = {"floor": 0.0, "mse": 0.0, "wide": 0.0, "rceil": 0.0}
        count = 0
        for w in demo.values():
            n = w.numel()
            totals["floor"] += _mse(w, *quantize_mx(w, "floor")) * n
            totals["mse"] += _mse(w, *quantize_weight(w, "mse")) * n
            totals["wide"] += _mse(w, *search_weight_scales(w, WIDE_OFFSETS)) * n
            totals["rceil"] += _mse(w, *quantize_mx(w, "rceil")) * n
            count += n
        rows.append(
            {
                "weights": f"demo models, {len(demo)} block linears ({count} values)",
                "floor MSE": totals["floor"] / count,
                "mse/floor": totals["mse"] / totals["floor"],
                "wide/floor": totals["wide"] / totals["floor"],
                "rceil/floor": totals["rceil"] / totals["floor"],
                "mse/rceil": totals["mse"] / totals["rceil"],
                "blocks +1": None,
                "floor ms": None,
                "mse time x": None,
                "wide time x": None,
            }
        )
    elapsed = time.perf_counter() - started
    worst_time = max(r["mse time x"] for r in rows if r["mse time x"] is not None)
    wins = all(r["mse/floor"] < 1.0 for r in rows)
    report(
        f"MXFP8 weight scale rules: weight MSE relative to FLOOR and quantize time / FLOOR, "
        f"{torch.get_num_threads()} threads, medians of {repeat} interleaved rounds"
        f"{' (--quick)' if args.quick else ''}",
        rows,
        args.json,
        extra={"quick": args.quick, "seconds": elapsed, "wide_offsets": list(WIDE_OFFSETS)},
    )
    verdict = "met" if worst_time <= 3 else "NOT met"
    print(
        f"\nmse: lower MSE than FLOOR on every row: {wins}; slowest mse/floor time "
        f"{worst_time:.2f}x (goal <= 3x: {verdict}); {elapsed:.0f} s"
    )


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeat=9)
    p.add_argument("--rows", type=int, default=5120)
    p.add_argument("--cols", type=int, default=13824)
    p.add_argument("--rules", action="store_true", help="weight scale rules: MSE and time")
    p.add_argument("--quick", action="store_true", help="with --rules: two shapes, 2 rounds")
    args = p.parse_args()
    if args.rules:
        if args.repeat == 9:
            args.repeat = 5
        rules_main(args)
        return

    import torch

    from core.mx import dequantize_mx, quantize_mx

    with bench_lock():
        gen = torch.Generator().manual_seed(0)
        x = (torch.randn(args.rows, args.cols, generator=gen) * 0.02).to(torch.bfloat16)
        n = x.numel()
        data, scale = quantize_mx(x)
        ops = {
            "x.clone()": lambda: x.clone(),
            "quantize_mx floor": lambda: quantize_mx(x, "floor"),
            "quantize_mx rceil": lambda: quantize_mx(x, "rceil"),
            "dequantize_mx -> bf16": lambda: dequantize_mx(data, scale, torch.bfloat16),
        }
        torchao_note = "torchao not installed"
        try:
            from torchao.prototype.mx_formats.mx_tensor import (  # type: ignore[import-not-found]
                ScaleCalculationMode,
                to_mx,
            )
        except ImportError:
            print(torchao_note)
        else:
            import torchao  # type: ignore[import-not-found]

            torchao_note = f"torchao {torchao.__version__}"
            ops["torchao to_mx FLOOR"] = lambda: to_mx(
                x, torch.float8_e4m3fn, 32, ScaleCalculationMode.FLOOR
            )
        timings, ratios = interleaved(ops, "x.clone()", args.repeat)

    ao = timings.get("torchao to_mx FLOOR")
    rows = []
    for op, seconds in timings.items():
        rows.append(
            {
                "op": op,
                "ms": seconds * 1e3,
                "x_clone": ratios[op],
                "x_torchao": seconds / ao if ao else None,
                "Gelem/s": n / seconds / 1e9,
            }
        )
    ratio = ratios["quantize_mx floor"]
    verdict = "met" if ratio <= 6 else "NOT met"
    report(
        f"MXFP8 quantize, bf16 [{args.rows}, {args.cols}], {torch.get_num_threads()} threads, "
        f"medians of {args.repeat} interleaved rounds",
        rows,
        args.json,
        extra={"goal_clone_ratio": 6.0, "clone_ratio": ratio, "torchao": torchao_note},
    )
    print(f"\nquantize_mx floor / x.clone() = {ratio:.2f}x (goal <= 6x: {verdict}); {torchao_note}")
    if ao:
        print(f"quantize_mx floor / torchao to_mx FLOOR = {timings['quantize_mx floor'] / ao:.2f}x")


if __name__ == "__main__":
    main()
