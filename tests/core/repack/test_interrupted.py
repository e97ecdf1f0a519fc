"""Failures and interruptions mid-way leave no visible output and never touch the inputs:
a full disk (RLIMIT_FSIZE in a child), write errors, cancel at every stage, Ctrl-C, kill -9."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.progress import Cancelled, CancelToken, Progress
from core.repack import RepackFailed, plan, run, runner, verify_output
from tests.core.repack.conftest import assert_no_output, staging_leftovers, tree_hash

CHILD = Path(__file__).with_name("child_repack.py")
ROOT = Path(__file__).resolve().parents[3]


def _child(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


def _wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if line.strip() != "ready":
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"child did not get ready: {line!r}{out}\n{err}")


def test_full_disk_mid_way_leaves_nothing(demo_t2v: Path, exports, tmp_path: Path) -> None:
    export = exports("t2v-a14b")
    before = (tree_hash(demo_t2v), tree_hash(export))
    out = tmp_path / "out"
    # Big enough for the header and small files, too small for the VAE and transformer files.
    limit = 150_000
    proc = _child(
        "fsize",
        str(limit),
        "repack",
        "--original",
        str(demo_t2v),
        "--quant",
        str(export),
        "--output",
        str(out),
    )
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 1, stdout + stderr
    assert "wan-studio repack: error: writing out failed: File too large" in stderr
    assert "nothing was left behind" in stderr
    assert "Traceback" not in stderr
    assert_no_output(out)
    assert (tree_hash(demo_t2v), tree_hash(export)) == before


@pytest.mark.parametrize("failing_call", [1, 3])
def test_write_error_mid_way_leaves_nothing(
    demo_ti2v: Path, exports, tmp_path: Path, monkeypatch, failing_call: int
) -> None:
    calls = {"n": 0}
    real = runner.copy_range

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == failing_call:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "copy_range", flaky)
    out = tmp_path / "out"
    with pytest.raises(RepackFailed, match=r"No space left on device.*nothing was left behind"):
        run(plan(demo_ti2v, exports("ti2v-5b"), out))
    assert_no_output(out)


@pytest.mark.parametrize(
    "stage", ["copy components", "write transformer", "write transformer_2", "verify", "finalize"]
)
def test_cancel_at_any_stage_leaves_nothing(
    demo_i2v: Path, exports, tmp_path: Path, stage: str
) -> None:
    export = exports("i2v-a14b", "sharded")
    before = (tree_hash(demo_i2v), tree_hash(export))
    out = tmp_path / "out"
    token = CancelToken()
    seen: list[str] = []

    def on_progress(p: Progress) -> None:
        seen.append(p.stage)
        if p.stage == stage:
            token.cancel()

    with pytest.raises(Cancelled):
        run(plan(demo_i2v, export, out), progress=on_progress, cancel=token)
    assert seen[-1] == stage
    assert_no_output(out)
    assert (tree_hash(demo_i2v), tree_hash(export)) == before


def test_cancel_before_start_writes_nothing(demo_ti2v: Path, exports, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run(plan(demo_ti2v, exports("ti2v-5b"), tmp_path / "out"), cancel=token)
    assert_no_output(tmp_path / "out")


def test_kill_9_mid_way_leaves_no_visible_output_and_is_cleaned_up(
    demo_t2v: Path, exports, tmp_path: Path
) -> None:
    export = exports("t2v-a14b", "w8a8f8")
    before = (tree_hash(demo_t2v), tree_hash(export))
    out = tmp_path / "out"
    proc = _child("hang", str(demo_t2v), str(export), str(out))
    _wait_ready(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    assert not out.exists()
    visible = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert visible == []
    (leftover,) = staging_leftovers(out)  # only a hidden staging folder may remain
    assert (tree_hash(demo_t2v), tree_hash(export)) == before

    again = plan(demo_t2v, export, out)
    assert again.ok and again.stale_temps == [leftover]
    assert any("interrupted repack" in w for w in again.warnings)
    report = run(again)
    assert any(f"removed {leftover}" in n for n in report.notes)
    assert staging_leftovers(out) == []
    verify_output(out)


def test_a_live_repack_staging_folder_is_not_taken_for_stale(
    demo_ti2v: Path, exports, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    seen: list[list[Path]] = []

    def on_progress(p: Progress) -> None:
        if p.stage == "verify":  # our own staging folder exists and is locked right now
            seen.append(plan(demo_ti2v, exports("ti2v-5b"), out).stale_temps)

    run(plan(demo_ti2v, exports("ti2v-5b"), out), progress=on_progress)
    assert seen == [[]]


def test_ctrl_c_mid_way_exits_130_and_leaves_nothing(
    demo_t2v: Path, exports, tmp_path: Path
) -> None:
    export = exports("t2v-a14b", "sharded")
    before = (tree_hash(demo_t2v), tree_hash(export))
    out = tmp_path / "out"
    proc = _child(
        "sigint",
        "repack",
        "--json",
        "--original",
        str(demo_t2v),
        "--quant",
        str(export),
        "--output",
        str(out),
    )  # --json: stdout carries only "ready" and the final JSON
    _wait_ready(proc)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "cancelled: nothing was written and no temporary files are left" in stderr
    assert '"kind": "cancelled"' in stdout
    assert "Traceback" not in stderr
    assert_no_output(out)
    assert (tree_hash(demo_t2v), tree_hash(export)) == before
