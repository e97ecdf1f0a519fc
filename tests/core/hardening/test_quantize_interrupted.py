"""Item 7: a quantize killed with kill -9 leaves only a hidden, locked staging folder, and the
next quantize of the same target removes it (the same mechanism and test as repack's)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core import staging
from tests.core.hardening.conftest import run_cli

ROOT = Path(__file__).resolve().parents[3]
HANG = """
import sys, time
from core.quant import export

def hang(*args, **kwargs):
    print("ready", flush=True)
    time.sleep(600)

export._write_component = hang
export.quantize_folder(sys.argv[1], sys.argv[2])
"""


def test_kill_9_mid_way_leaves_no_visible_output_and_is_cleaned_up(
    capsys: pytest.CaptureFixture[str], demo_ti2v: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", HANG, str(demo_ti2v), str(out)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    try:
        assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
        (live,) = tmp_path.glob(".out.quantize-*")
        assert staging.find_stale(out, "quantize") == []  # a live writer's folder is kept
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
    assert staging.find_stale(out, "quantize") == [live]

    code, _, err = run_cli(capsys, "quantize", str(demo_ti2v), str(out))
    assert code == 0, err
    assert f"removed {live}, the temporary folder of an interrupted quantize" in err
    assert list(tmp_path.glob(".out.quantize-*")) == []
    assert (out / "transformer" / "config.json").is_file()
