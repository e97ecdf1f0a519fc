"""`wan-studio generate --lora` end to end: a Lightning pair found from one file name selects
the 4-step preset and lands in the video's metadata; bad LoRAs exit 2 with one clear line."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from core.generate.video import read_request
from core.lora.fixtures import write_lora
from tests.e2e.test_generate_cli import cli, env  # noqa: F401  (env is a fixture)


def test_lightning_pair_from_one_file(env: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    high = write_lora(tmp_path / "Wan22_T2V_HIGH_lightx2v_4step.safetensors", "wan", seed=1)
    low = write_lora(tmp_path / "Wan22_T2V_LOW_lightx2v_4step.safetensors", "wan", seed=2)
    out = tmp_path / "out"
    result = generate(
        env, "--prompt", "a red fox", "--lora", f"{high}:1,0.75", "--out", str(out), "--json"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "using the 'Lightning 4-step' preset (4 euler steps, guidance 1, shift 5)" in result.stderr
    )
    assert (
        "LoRA Wan22_T2V_HIGH+LOW_lightx2v_4step: high 1 (20/20 layers), low 0.75 (20/20 layers)"
        in result.stderr
    )
    video = json.loads(result.stdout)["video"]
    request = read_request(video)
    assert (request.steps, request.guidance_high, request.shift) == (4, 1.0, 5.0)
    (choice,) = request.loras
    assert (choice.path, choice.path_low, choice.strength_low) == (str(high), str(low), 0.75)
    assert choice.sha256_low == hashlib.sha256(low.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.safetensors", "missing.safetensors does not exist"),
        (lambda d: _write(d / "evil.pt", b"x"), "evil.pt is a pickle file"),
        (
            lambda d: write_lora(d / "wide.safetensors", "wan", dim=96, ffn_dim=192),
            "--lora: LoRA wide.safetensors does not fit transformer: blocks.0.attn1.to_q takes 64",
        ),
        (lambda d: _write(d / "cut.safetensors", b"\x10\x00"), "cut.safetensors"),
    ],
)
def test_bad_lora_exits_2_with_a_clear_message(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    make,
    message: str,
) -> None:
    path = make(tmp_path)
    out = tmp_path / "out"
    result = generate(env, "--prompt", "x", "--steps", "2", "--lora", str(path), "--out", str(out))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists() or not list(out.iterdir())


def generate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:  # noqa: F811
    """``wan-studio generate`` on the small demo run (64x64, 5 frames) with ``args``."""
    return subprocess.run(
        cli("--model", "demo", "--size", "64x64", "--frames", "5", *args),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
