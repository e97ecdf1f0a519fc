"""Repack of a real-size synthetic Wan2.2-TI2V-5B msmodelslim export (~5.2 GB): wall time
against `cp -r` of the same input in the same run (goals: run() <= 1.1x, the whole CLI <= 1.3x),
planning time (what the wizard's planning page waits for; goal <= 1 s) and peak RSS of the
repack process, file-backed pages included (goal <= 256 MiB).

The export is generated once into a temporary folder (random bytes, real names, shapes and
dtypes; core.repack.fixtures.make_synthetic_ti2v5b) and deleted at the end. Each repack runs
in a fresh child process; its peak RSS is the child's own ru_maxrss. Three repack figures:
- run(): the streaming part (copy, verify, rename) that moves the bytes, without fsync;
- run() durable (the default): the same plus fsync of the output before the rename, against
  `cp -r` + `sync FILE` (the same durability);
- CLI: `wan-studio repack` end to end, including interpreter start and planning (the model's
  tensor names and shapes come from config.json and the safetensors headers: no diffusers).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import _common  # noqa: F401  (puts the repo on sys.path)
from _common import bench_lock, parser, report

ROOT = Path(__file__).resolve().parents[1]
GiB = 1024**3
CLI_GOAL = 1.3  # the whole `wan-studio repack` against `cp -r`
PLAN_GOAL_S = 1.0

# Peak RSS is the child's own VmHWM (resident pages, file-backed included, of its address space
# since exec). ru_maxrss is not used: after fork+exec it still reports the parent's size.
_PEAK = "int(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))"
_CHILD = """
import json, resource, sys, time
from core.repack import plan, run
original, quant, output, durable = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
t0 = time.perf_counter()
p = plan(original, quant, output)
t1 = time.perf_counter()
report = run(p, durable=durable)
t2 = time.perf_counter()
print(json.dumps({
    "plan_s": t1 - t0, "run_s": t2 - t1, "copy_method": report.copy_method,
    "quantized_layers": report.quantized_layers, "bytes": report.copied_bytes,
    "peak_kib": PEAK,
    "helper_peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
""".replace("PEAK", _PEAK)
# The wizard's own calls for its pages, in a fresh interpreter (as the first use in the app).
_WIZARD = """
import json, sys, time
from gui.wizard.findings import check_original, examine_export, plan_repack
original, quant, output = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
examine_export(quant)
t1 = time.perf_counter()
check_original(original, quant)
t2 = time.perf_counter()
planned = plan_repack(original, quant, output)
t3 = time.perf_counter()
print(json.dumps({"export_s": t1 - t0, "original_s": t2 - t1, "plan_s": t3 - t2,
                  "ok": planned.ok, "diffusers": "diffusers" in sys.modules}))
"""
_CLI = """
import json, sys
from core.cli import main
code = main(sys.argv[1:])
print(json.dumps({"peak_kib": PEAK}), file=sys.stderr)
sys.exit(code)
""".replace("PEAK", _PEAK)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    return env


def _wait(cmd: list[str]) -> float:
    """Wall seconds of one command (which must succeed)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, env=_env(), cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"{cmd[:3]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return time.perf_counter() - start


def _median_ratio(values: list[float], baselines: list[float]) -> float:
    """Median over rounds of value / baseline measured in the same round."""
    return statistics.median(v / b for v, b in zip(values, baselines, strict=True))


def _tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.set_defaults(repeat=5)
    p.add_argument("--dir", default=None, help="scratch folder (default: system temp)")
    p.add_argument(
        "--layers",
        type=int,
        default=30,
        help="transformer blocks (30 = real size; fewer: smoke test)",
    )
    args = p.parse_args()

    from core.repack.fixtures import TI2V_5B_CONFIG, make_synthetic_ti2v5b

    scratch_parent = Path(args.dir or tempfile.gettempdir())
    free = shutil.disk_usage(scratch_parent).free
    need = int(3 * 5.3 * GiB)  # the export, one copy and one repack output, with a margin
    if free < need:
        raise SystemExit(
            f"need {need / GiB:.1f} GiB free in {scratch_parent}, have {free / GiB:.1f}"
        )

    rows: list[dict] = []
    extra: dict = {}
    with bench_lock():
        scratch = Path(tempfile.mkdtemp(prefix="wan-repack-bench-", dir=scratch_parent))
        try:
            t = time.perf_counter()
            config = dict(TI2V_5B_CONFIG, num_layers=args.layers)
            original, export = make_synthetic_ti2v5b(scratch / "input", config=config)
            gen_s = time.perf_counter() - t
            size = _tree_size(export)
            print(f"synthetic export: {size / GiB:.2f} GiB written in {gen_s:.1f} s")
            weights = next(export.glob("quant_model_weight*.safetensors"))

            def cp() -> float:
                dst = scratch / "cp"
                wall = _wait(["cp", "-r", str(export), str(dst)])
                shutil.rmtree(dst)
                return wall

            def cp_sync() -> float:
                dst = scratch / "cp"
                start = time.perf_counter()
                _wait(["cp", "-r", str(export), str(dst)])
                _wait(["sync", str(dst / weights.name)])
                wall = time.perf_counter() - start
                shutil.rmtree(dst)
                return wall

            results: dict[str, list[dict]] = {"run": [], "durable": [], "cli": []}

            def repack(kind: str) -> float:
                out = scratch / "out"
                if kind == "cli":
                    cmd = [
                        sys.executable,
                        "-c",
                        _CLI,
                        "repack",
                        "--json",
                        "--original",
                        str(original),
                        "--quant",
                        str(export),
                        "--output",
                        str(out),
                    ]
                else:
                    cmd = [
                        sys.executable,
                        "-c",
                        _CHILD,
                        str(original),
                        str(export),
                        str(out),
                        "1" if kind == "durable" else "0",
                    ]
                start = time.perf_counter()
                done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT)
                wall = time.perf_counter() - start
                stdout, stderr = done.stdout, done.stderr
                if done.returncode:
                    raise SystemExit(f"repack ({kind}) failed: {stderr[-2000:]}")
                if kind == "cli":
                    info = json.loads(stderr.strip().splitlines()[-1])
                else:
                    info = json.loads(stdout)
                info["wall_s"] = wall
                results[kind].append(info)
                shutil.rmtree(out)
                return wall if kind == "cli" else info["run_s"]

            # Warm-up (page cache, imports), then paired rounds. This VM's disk throttles bursts:
            # whichever copy runs second in a round measured up to 2.7x slower than the same copy
            # run first, even with a sync between. So each round settles the disk (untimed sync)
            # before every op and alternates which op of a pair goes first; ratios are taken
            # per round, and their median is reported.
            cp()
            repack("run")
            done = subprocess.run(
                [sys.executable, "-c", _WIZARD, str(original), str(export), str(scratch / "w")],
                capture_output=True,
                text=True,
                env=_env(),
                cwd=ROOT,
            )
            if done.returncode:
                raise SystemExit(f"wizard calls failed: {done.stderr[-2000:]}")
            wizard = json.loads(done.stdout.strip().splitlines()[-1])
            times: dict[str, list[float]] = {
                k: [] for k in ("cp", "cp+sync", "run", "durable", "cli")
            }
            for kind in results:
                results[kind].clear()
            ops: dict[str, Callable[[], float]] = {
                "cp": cp,
                "run": lambda: repack("run"),
                "cp+sync": cp_sync,
                "durable": lambda: repack("durable"),
                "cli": lambda: repack("cli"),
            }
            for round_index in range(args.repeat):
                for pair in (("cp", "run"), ("cp+sync", "durable"), ("cli",)):
                    for key in pair if round_index % 2 == 0 else pair[::-1]:
                        os.sync()
                        times[key].append(ops[key]())
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    self_rss = max(r["peak_kib"] for k in ("run", "durable") for r in results[k]) / 1024
    cli_rss = max(r["peak_kib"] for r in results["cli"]) / 1024
    helper_rss = max(r["helper_peak_kib"] for k in ("run", "durable") for r in results[k]) / 1024
    plan_s = statistics.median(r["plan_s"] for r in results["run"])
    method = results["run"][0]["copy_method"]
    mib_s = size / 2**20
    labels = {
        "cp": ("cp -r", "cp", None),
        "run": ("repack run()", "cp", self_rss),
        "cp+sync": ("cp -r + sync", "cp", None),
        "durable": ("repack run() durable", "cp+sync", self_rss),
        "cli": ("wan-studio repack (CLI)", "cp", cli_rss),
    }
    rows = [
        {
            "what": label,
            "median_s": med[key],
            "min_s": best[key],
            "baseline": labels[base][0],
            "x_median": _median_ratio(times[key], times[base]),
            "x_min": best[key] / best[base],
            "MiB/s": mib_s / med[key],
            "peak_rss_MiB": rss,
        }
        for key, (label, base, rss) in labels.items()
    ]
    extra = {
        "wizard": wizard,
        "input_bytes": size,
        "generate_seconds": gen_s,
        "plan_seconds": plan_s,
        "copy_method": method,
        "repack_process_peak_rss_mib": self_rss,
        "cli_process_peak_rss_mib": cli_rss,
        "skeleton_helper_peak_rss_mib": helper_rss,
        "goal_ratio": 1.1,
        "goal_cli_ratio": CLI_GOAL,
        "goal_plan_seconds": PLAN_GOAL_S,
        "goal_rss_mib": 256,
        "raw_times": times,
    }
    report(
        f"repack of a synthetic TI2V-5B export ({size / GiB:.2f} GiB), {args.repeat} rounds, "
        f"copy method {method}",
        rows,
        args.json,
        extra=extra,
    )
    ratio = _median_ratio(times["run"], times["cp"])
    wizard = extra["wizard"]
    worst_page = max(wizard["export_s"], wizard["original_s"], wizard["plan_s"])
    print(
        f"wizard pages (fresh process): export findings {wizard['export_s']:.2f} s, original "
        f"check {wizard['original_s']:.2f} s, planning {wizard['plan_s']:.2f} s (goal <= "
        f"{PLAN_GOAL_S:g} s: {'met' if worst_page <= PLAN_GOAL_S else 'NOT met'}; diffusers "
        f"imported: {wizard['diffusers']})"
    )
    print(
        f"\nrepack run() / cp -r = {ratio:.2f}x median, {best['run'] / best['cp']:.2f}x best "
        f"(goal <= 1.1x: {'met' if ratio <= 1.1 else 'NOT met'} on the median); durable run() / "
        f"(cp -r + sync) = {_median_ratio(times['durable'], times['cp+sync']):.2f}x median"
    )
    cli_ratio = _median_ratio(times["cli"], times["cp"])
    print(
        f"wan-studio repack (CLI) / cp -r = {cli_ratio:.2f}x median, "
        f"{best['cli'] / best['cp']:.2f}x best (goal <= {CLI_GOAL}x: "
        f"{'met' if cli_ratio <= CLI_GOAL else 'NOT met'} on the median); it fsyncs its output "
        f"before the rename: against cp -r + sync (the same durability) it is "
        f"{_median_ratio(times['cli'], times['cp+sync']):.2f}x"
    )
    print(
        f"planning {plan_s:.2f} s (the wizard's planning page; goal <= {PLAN_GOAL_S:g} s: "
        f"{'met' if plan_s <= PLAN_GOAL_S else 'NOT met'})"
    )
    print(
        f"peak RSS of the repack process {self_rss:.0f} MiB (goal <= 256 MiB: "
        f"{'met' if self_rss <= 256 else 'NOT met'}); child processes of planning peaked at "
        f"{helper_rss:.0f} MiB (0: none)"
    )


if __name__ == "__main__":
    main()
