"""Reference MXFP8 linear speed (W8A8 emulation and weight-only) against bf16 F.linear, for
M=4096 tokens and Wan2.2 shapes K=N=5120 and K=13824, N=5120 (goals: W8A8 <= 1.5x, weight-only
<= 1.15x). Also times the pieces of the W8A8 overhead and the explicit cached-weight option.

    .venv/bin/python bench/mx_linear.py            # 5 interleaved rounds (several minutes)
    .venv/bin/python bench/mx_linear.py --quick    # under 2 minutes: the same ops and ratios

--quick keeps the real shapes and token count (the ratios depend on them: the weight's
dequantization does not scale with M) and cuts what only tightens the medians: 2 interleaved
rounds after the warm-up instead of 5.
"""

from __future__ import annotations

import time

import _common  # noqa: F401  (puts the repo on sys.path)
from _common import bench_lock, parser, report
from mx_quantize import interleaved  # belongs in _common.py, which another engineer owns

QUICK_REPEAT = 2


class _Layer:
    def __init__(self, weight, scale, bias) -> None:
        self.weight, self.weight_scale, self.bias = weight, scale, bias
        self.out_features, self.in_features = weight.shape
        self.backend_state = None


def bench_shape(tokens: int, k: int, n: int, repeat: int) -> list[dict]:
    import torch
    import torch.nn.functional as F

    from core.backends import get_backend
    from core.mx import dequantize_mx, quantize_mx

    gen = torch.Generator().manual_seed(k)
    w = (torch.randn(n, k, generator=gen) * 0.02).to(torch.bfloat16)
    b = (torch.randn(n, generator=gen) * 0.1).to(torch.bfloat16)
    x = torch.randn(tokens, k, generator=gen).to(torch.bfloat16)
    layer = _Layer(*quantize_mx(w), b)
    qx, sx = quantize_mx(x)
    backends = {
        "reference W8A8": get_backend("reference"),
        "reference weight-only": get_backend("reference", activations="unquantized"),
        "reference W8A8 cache_weight": get_backend("reference", cache_weight=True),
    }
    for backend in backends.values():
        backend.prepare(layer)
    ops = {"bf16 F.linear": lambda: F.linear(x, w, b)}
    for label, backend in backends.items():
        ops[label] = lambda be=backend: be.linear(x, layer)
    ops["  part: quantize x"] = lambda: quantize_mx(x)
    ops["  part: dequantize x"] = lambda: dequantize_mx(qx, sx, torch.bfloat16)
    ops["  part: dequantize W"] = lambda: dequantize_mx(
        layer.weight, layer.weight_scale, torch.bfloat16
    )
    timings, ratios = interleaved(ops, "bf16 F.linear", repeat)
    goals = {"reference W8A8": 1.5, "reference weight-only": 1.15}
    rows = []
    for op, seconds in timings.items():
        goal = goals.get(op)
        ratio = ratios[op]
        rows.append(
            {
                "M,K,N": f"{tokens},{k},{n}",
                "op": op,
                "ms": seconds * 1e3,
                "x_bf16": ratio,
                "goal": f"<= {goal}x" if goal else "",
                "met": ("yes" if ratio <= goal else "NO") if goal else "",
            }
        )
    return rows


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=4096)
    p.add_argument("--shapes", default="5120x5120,13824x5120", help="KxN list")
    p.add_argument(
        "--quick", action="store_true", help="2 rounds instead of --repeat (under 2 minutes)"
    )
    args = p.parse_args()
    if args.quick:
        args.repeat = QUICK_REPEAT
    started = time.perf_counter()

    import torch

    rows = []
    with bench_lock():
        for shape in args.shapes.split(","):
            k, n = (int(v) for v in shape.split("x"))
            rows += bench_shape(args.tokens, k, n, args.repeat)
    elapsed = time.perf_counter() - started
    report(
        f"MXFP8 reference linear vs bf16 F.linear, {torch.get_num_threads()} threads, "
        f"medians of {args.repeat} interleaved rounds{' (--quick)' if args.quick else ''}",
        rows,
        args.json,
        extra={"quick": args.quick, "seconds": elapsed},
    )
    print(f"took {elapsed:.0f} s")


if __name__ == "__main__":
    main()
