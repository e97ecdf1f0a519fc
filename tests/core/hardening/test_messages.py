"""Item 8: messages that named the wrong problem now name the right one: a weights file that is
a FIFO, folder or link to /dev/zero (export and transformer), a free-space shortfall in real
units, and an unwritable --out found before the model loads."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from core.humanize import human_bytes
from tests.core.hardening.conftest import files_under, run_cli


def _replace(path: Path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    else:
        path.symlink_to("/dev/zero")


EXPECTED = {"fifo": "is not a regular file (a FIFO)", "folder": "is a folder",
            "zero": "is not a regular file (a device)"}  # fmt: skip


@pytest.fixture(scope="module")
def export(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from core.repack.fixtures import make_msmodelslim_export

    return make_msmodelslim_export(demo_models["ti2v-5b"], tmp_path_factory.mktemp("x") / "exp")


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_export_weights_that_are_not_files_are_named(
    capsys: pytest.CaptureFixture[str], demo_ti2v: Path, export: Path, tmp_path: Path, kind: str
) -> None:
    broken = tmp_path / "export"
    shutil.copytree(export, broken, symlinks=True)
    (weights,) = broken.glob("quant_model_weight*.safetensors")
    _replace(weights, kind)
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, "repack", "--original", str(demo_ti2v), "--quant", str(broken), "--output", str(out)
    )
    assert code == 2
    assert f"msmodelslim weights file {weights} {EXPECTED[kind]}" in err
    assert "holds no msmodelslim export" not in err
    assert files_under(out) == [] and not list(tmp_path.glob(".out.*"))


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_transformer_weights_that_are_not_files_are_named(
    capsys: pytest.CaptureFixture[str], demo_ti2v: Path, tmp_path: Path, kind: str
) -> None:
    model = tmp_path / "model"
    shutil.copytree(demo_ti2v, model)
    weights = model / "transformer" / "diffusion_pytorch_model.safetensors"
    _replace(weights, kind)
    code, stdout, _ = run_cli(capsys, "inspect", str(model))
    assert code != 0
    assert f"weights file {weights} {EXPECTED[kind]}" in stdout
    assert "(found diffusion_pytorch_model.safetensors)" not in stdout
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, "generate", "--model", str(model), "--prompt", "a", "--out", str(out)
    )
    assert code == 2 and f"weights file {weights} {EXPECTED[kind]}" in err
    assert files_under(out) == []


def test_free_space_is_stated_in_real_units(
    capsys: pytest.CaptureFixture[str], demo_ti2v: Path, tmp_path: Path, monkeypatch
) -> None:
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: usage(10**6, 10**6, 1234))
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "quantize", str(demo_ti2v), str(out))
    assert code == 2
    assert f"{human_bytes(1234)} are free" in err and "0.00 GB" not in err
    assert "nothing was written" in err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_unwritable_out_is_reported_before_the_model_loads(
    capsys: pytest.CaptureFixture[str], demo_t2v: Path, tmp_path: Path, monkeypatch
) -> None:
    loads: list[object] = []
    monkeypatch.setattr("core.models.loader.load_pipeline", lambda *a, **k: loads.append(a))
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    started = time.perf_counter()
    code, _, err = run_cli(
        capsys, "generate", "--model", str(demo_t2v), "--prompt", "a fox",
        "--out", str(blocker / "sub" / "video.mp4"),
    )  # fmt: skip
    assert code == 2
    assert f"{blocker} is a file, not a folder: choose a folder" in err
    assert loads == [] and time.perf_counter() - started < 10
    code, _, err = run_cli(
        capsys, "generate", "--model", str(demo_t2v), "--prompt", "a fox", "--out", "/proc/v.mp4"
    )
    assert code == 2 and "cannot write into /proc" in err and loads == []
    assert blocker.read_text() == "not a folder"
