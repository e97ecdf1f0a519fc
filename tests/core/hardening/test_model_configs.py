"""Items 4 and 5: absurd model configs and weights headers are refused by one validator
(core.configcheck + the checkpoint header reader) that inspect, the library, the loader and
generate share, before anything is built or read."""

from __future__ import annotations

import json
import shutil
import struct
import time
from pathlib import Path

import pytest

from tests.core.hardening.conftest import files_under, run_cli


def _edit_json(path: Path, **changes) -> None:
    doc = json.loads(path.read_text())
    doc.update(changes)
    path.write_text(json.dumps(doc))


BREAKAGES = {
    "layers-huge": (
        lambda m: _edit_json(m / "transformer" / "config.json", num_layers=10**9),
        "'num_layers' is 1000000000; a Wan transformer has 1-200",
    ),
    "layers-text": (
        lambda m: _edit_json(m / "transformer" / "config.json", num_layers="forty"),
        "'num_layers' must be a whole number, not 'forty'",
    ),
    "layers-vs-weights": (
        lambda m: _edit_json(m / "transformer" / "config.json", num_layers=150),
        "'num_layers' is 150 but the weights hold 2 blocks",
    ),
    "huge-heads": (
        lambda m: _edit_json(m / "transformer" / "config.json", attention_head_dim=1000),
        "num_attention_heads x attention_head_dim is 2000 but the weights are 64 wide",
    ),
    "not-wan": (
        lambda m: _edit_json(m / "model_index.json", _class_name="StableDiffusionPipeline"),
        "'_class_name' is 'StableDiffusionPipeline', not a Wan pipeline",
    ),
    "header-2-60": (
        lambda m: _claim_header(m / "transformer" / "diffusion_pytorch_model.safetensors"),
        "its header claims 1152921504606846976 bytes",
    ),
}


def _claim_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:8] = struct.pack("<Q", 2**60)
    path.write_bytes(bytes(data))


@pytest.fixture(params=sorted(BREAKAGES))
def broken(request, demo_t2v: Path, tmp_path: Path) -> tuple[Path, str]:
    model = tmp_path / "model"
    shutil.copytree(demo_t2v, model)
    breakage, message = BREAKAGES[request.param]
    breakage(model)
    return model, message


def test_inspect_names_the_problem(capsys: pytest.CaptureFixture[str], broken) -> None:
    model, message = broken
    code, out, err = run_cli(capsys, "inspect", str(model))
    assert code != 0 and message in out
    assert "Traceback" not in out + err


def test_generate_refuses_before_loading_with_exit_2(
    capsys: pytest.CaptureFixture[str], broken, tmp_path: Path
) -> None:
    model, message = broken
    out = tmp_path / "out"
    started = time.perf_counter()
    code, _, err = run_cli(
        capsys, "generate", "--model", str(model), "--prompt", "a fox", "--out", str(out)
    )
    assert code == 2
    assert message in err and "looks like a bug" not in err
    assert time.perf_counter() - started < 30  # no billion-block skeleton, no 2**60 read
    assert files_under(out) == []


def test_the_library_marks_it_and_the_loader_refuses_it(broken) -> None:
    from core.models.library import Library
    from core.models.loader import LoadError, LoadOptions, load_pipeline

    model, message = broken
    library = Library()
    entry = library.add(model)
    assert library.status(entry.id) == "problems"
    assert any(message in p for p in library.inspect(entry.id).problems)
    with pytest.raises(LoadError) as caught:
        load_pipeline(model, LoadOptions(device="cpu"))
    assert message in str(caught.value)
