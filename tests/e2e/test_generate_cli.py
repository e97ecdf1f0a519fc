"""`wan-studio generate` end to end in a subprocess: exit codes 0, 2 and 130."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.generate.video import probe_video, read_request

EXE = Path(sys.executable).with_name("wan-studio")


def cli(*args: str) -> list[str]:
    if EXE.exists():
        return [str(EXE), "generate", *args]
    return [sys.executable, "-m", "core.cli", "generate", *args]


@pytest.fixture
def env(app_home: Path, demo_t2v: Path) -> dict[str, str]:
    """The subprocess shares this test's WAN_STUDIO_HOME, with the demo model already there
    (copied from the session fixture, so no test pays for creating it)."""
    target = app_home / "data" / "models" / "demo-t2v-a14b"
    shutil.copytree(demo_t2v, target)
    return {**os.environ, "WAN_STUDIO_HOME": str(app_home), "PYTHONUNBUFFERED": "1"}


def test_generate_demo_writes_a_video_and_json(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        cli(
            "--model",
            "demo",
            "--prompt",
            "a red fox",
            "--size",
            "64x64",
            "--frames",
            "5",
            "--steps",
            "2",
            "--seed",
            "5",
            "--out",
            str(out),
            "--json",
        ),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "done" and summary["seed"] == 5 and summary["demo"] is True
    video = Path(summary["video"])
    assert video.parent == out
    info = probe_video(video)
    assert (info.codec, info.pix_fmt, info.frames, info.fps) == ("h264", "yuv420p", 5, 16.0)
    request = read_request(video)
    assert (request.prompt, request.seed, request.width, request.steps) == ("a red fox", 5, 64, 2)
    assert "step 2/2" in result.stderr and "demo model: random weights" in result.stderr


def test_bad_input_exits_2_listing_every_problem(env: dict[str, str]) -> None:
    result = subprocess.run(
        cli("--model", "demo", "--prompt", "x", "--size", "100x64", "--frames", "8"),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--size: width 100 is not a multiple of 16" in result.stderr
    assert "nearest valid: 96" in result.stderr
    assert "--frames: frames must be 4n+1" in result.stderr and "nearest valid: 9" in result.stderr
    assert result.stdout == ""
    missing = subprocess.run(
        cli("--model", "demo:i2v-a14b", "--prompt", "x"),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (
        missing.returncode == 2 and "--image:" in missing.stderr and "start image" in missing.stderr
    )
    unknown = subprocess.run(
        cli("--model", "/no/such/model", "--prompt", "x"),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr


def test_ctrl_c_cancels_cleanly_with_exit_130(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Many steps so the run is still denoising when the signal arrives.
    process = subprocess.Popen(
        cli(
            "--model",
            "demo",
            "--prompt",
            "a red fox",
            "--size",
            "64x64",
            "--frames",
            "5",
            "--steps",
            "400",
            "--out",
            str(out),
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    lines = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if " step 1/400 " in line:
                process.send_signal(signal.SIGINT)
                break
        _, rest = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, "".join(lines) + rest
    assert "cancelled: no video was written" in rest
    assert "decod" not in rest.lower()  # the decode stage never started
    assert not out.exists() or list(out.iterdir()) == []
