"""Shared benchmark helpers: medians, a printed table, optional JSON output.

Benchmarks are not tests: they print figures and goals; they never fail a build.
Heavy benchmarks take /tmp/wan-studio-bench.lock so two never compete for the 2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", metavar="PATH", help="write the figures as JSON to PATH")
    p.add_argument("--repeat", type=int, default=5, help="timed repetitions (median is reported)")
    return p


def median_time(fn: Callable[[], Any], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of ``fn`` in seconds over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextlib.contextmanager
def bench_lock() -> Iterator[None]:
    """Serialize heavy benchmarks across processes on this machine."""
    with open("/tmp/wan-studio-bench.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def make_demo_model_in_child() -> None:
    """Create the T2V demo model in a child process: the benchmarking process must import torch
    on the engine thread, as the app does, or its start-up figures would be wrong."""
    import subprocess

    subprocess.run(
        [
            sys.executable,
            "-c",
            "from core.models.demo import create_demo_model; create_demo_model('t2v-a14b')",
        ],
        check=True,
        capture_output=True,
        env=os.environ,
        cwd=str(Path(__file__).resolve().parents[1]),
    )


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def report(
    title: str, rows: list[dict[str, Any]], json_path: str | None, extra: dict | None = None
) -> None:
    """Print rows as an aligned table and optionally write them (with machine info) as JSON."""
    print(f"\n{title}")
    if rows:
        cols = list(rows[0])
        width = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in cols}
        print("  ".join(c.ljust(width[c]) for c in cols))
        for r in rows:
            print("  ".join(_fmt(r.get(c)).ljust(width[c]) for c in cols))
    if json_path:
        payload = {"title": title, "rows": rows, "machine": machine(), **(extra or {})}
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(payload, indent=2))
        print(f"(written to {json_path})")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
