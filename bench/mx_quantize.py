"""MXFP8 quantization speed: core.mx.quantize_mx on a bf16 [5120, 13824] weight (Wan2.2 A14B's
FFN down projection), against x.clone() of the same tensor in the same run (goal <= 6x) and,
when installed, torchao's FLOOR ``to_mx`` (goal <= 1.0x)."""

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


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeat=9)
    p.add_argument("--rows", type=int, default=5120)
    p.add_argument("--cols", type=int, default=13824)
    args = p.parse_args()

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
