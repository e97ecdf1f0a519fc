"""`wan-studio quantize`: output, JSON report, exit codes, errors as a user reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.cli import EXIT_BAD_INPUT, EXIT_OK, main
from tests.core.quant.helpers import DESCRIPTION


def test_quantize_prints_a_summary(
    demo_t2v: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mxfp8"
    assert main(["quantize", str(demo_t2v), str(out)]) == EXIT_OK
    printed = capsys.readouterr()
    assert f"wrote {out} (MXFP8, rule mse)" in printed.out  # the default weight rule
    assert "transformer: 20 linears -> W8A8_MXFP8, 6 kept in high precision" in printed.out
    assert "transformer_2: 20 linears" in printed.out
    assert "copied: model_index.json, scheduler, text_encoder, tokenizer, vae" in printed.out
    assert "100.0%" in printed.err  # progress goes to stderr
    assert (out / "transformer" / DESCRIPTION).is_file()
    config = json.loads((out / "transformer" / "config.json").read_text())
    assert config["quantization_config"]["weight_scale_rule"] == "mse"
    assert main(["inspect", str(out)]) == EXIT_OK
    shown = capsys.readouterr().out
    assert "weight rule    transformer: mse" in shown and "transformer_2: mse" in shown
    assert main(["inspect", str(demo_t2v)]) == EXIT_OK
    assert "weight rule" not in capsys.readouterr().out  # BF16: no MXFP8 layers, no rule


def test_quantize_json_report(
    demo_ti2v: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mxfp8"
    assert main(["quantize", str(demo_ti2v), str(out), "--rule", "rceil", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["rule"] == "rceil" and report["output"] == str(out)
    assert report["components"]["transformer"]["layers_quantized"] == 20
    assert "proj_out" in report["components"]["transformer"]["kept"]


def test_quantize_bad_input_exit_code_and_message(
    demo_t2v: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["quantize", str(tmp_path / "nope"), str(tmp_path / "out")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.startswith("wan-studio quantize: error: ") and "is not a folder" in err
    assert "nothing was written" in err
    out = tmp_path / "taken"
    out.mkdir()
    (out / "x").write_text("x")
    assert main(["quantize", str(demo_t2v), str(out)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("nothing was written") == 1
    assert not (tmp_path / "out").exists()


def test_quantize_help_explains_the_choices(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["quantize", "--help"])
    text = capsys.readouterr().out
    assert "--rule {default,floor,rceil,mse}" in text and "--weight-rule" in text
    assert "SRC" in text and "OUT" in text
