"""A LoRA described from its header alone: format, rank, width, expert, what it fits; the
``inspect FILE`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.lora.fixtures import write_lora
from core.lora.info import describe_fit, inspect_lora


@pytest.mark.parametrize("fmt", ["diffusers", "wan", "musubi"])
def test_header_only_description(tmp_path: Path, fmt: str) -> None:
    path = write_lora(
        tmp_path / f"style_HIGH_{fmt}.safetensors", fmt, rank=8, alpha=4.0, dtype=torch.float16
    )
    info = inspect_lora(path)
    assert info.format == fmt and info.ranks == [8] and info.dtype == "float16"
    assert (info.dim, info.ffn_dim, info.blocks, info.layers) == (64, 128, 2, 20)
    assert info.expert == "high" and info.partner is None and not info.distill
    assert info.fitting_families == ["demo"]
    assert {f.family: f.matched for f in info.fits}["t2v-a14b"] == 0
    assert describe_fit(info) == "fits demo models (20/20 layers)"


def test_real_size_shapes_fit_the_a14b_families(tmp_path: Path) -> None:
    path = write_lora(
        tmp_path / "a14b.safetensors",
        "wan",
        dim=5120,
        ffn_dim=13824,
        blocks=1,
        rank=1,
        layers=("attn1.to_q", "ffn.net.2"),
    )
    info = inspect_lora(path)
    assert info.fitting_families == ["t2v-a14b", "i2v-a14b"]
    assert describe_fit(info) == "fits Wan2.2-T2V-A14B, Wan2.2-I2V-A14B (2/2 layers)"


def test_inspect_cli(tmp_path: Path) -> None:
    path = write_lora(tmp_path / "Wan22_HIGH_lightx2v_4step.safetensors", "wan")
    write_lora(tmp_path / "Wan22_LOW_lightx2v_4step.safetensors", "wan", seed=3)
    cmd = [sys.executable, "-m", "core.cli", "inspect", str(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "LoRA (step distill, 4 steps)" in out.stdout
    assert "partner        " + str(tmp_path / "Wan22_LOW_lightx2v_4step.safetensors") in out.stdout
    data = json.loads(
        subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=120).stdout
    )
    assert data["fitting_families"] == ["demo"] and data["format"] == "wan"
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"x")
    out = subprocess.run(
        [sys.executable, "-m", "core.cli", "inspect", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "never unpickles" in out.stderr
