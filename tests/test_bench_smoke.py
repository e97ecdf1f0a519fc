"""The cheap benchmarks still run: a refactor that breaks a bench's imports fails here, not
weeks later when someone needs the figures. Timings are not checked (benchmarks, not tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "first_column"),
    [
        ("generate.py", ["--repeat", "1"], "measure"),
        ("quant_memory.py", [], "model"),
        ("lora.py", ["--part", "lightning", "--repeat", "1"], "part"),
        ("mx_linear.py", ["--quick", "--tokens", "64", "--shapes", "256x128"], "M,K,N"),
    ],
)
def test_bench_runs_and_writes_its_figures(
    script: str, args: list[str], first_column: str, tmp_path: Path
) -> None:
    out = tmp_path / "figures.json"
    env = dict(os.environ, WAN_STUDIO_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text("utf-8"))
    assert figures["rows"] and first_column in figures["rows"][0]
    numbers = [v for v in figures["rows"][0].values() if isinstance(v, (int, float))]
    assert numbers and all(v >= 0 for v in numbers)
