"""`wan-studio repack`: output a user reads, --json for scripts, --dry-run writes nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.cli import build_parser
from core.cli import main as cli_main
from core.commands.repack import TerminalProgress
from core.progress import Progress
from core.repack import verify_output
from tests.core.repack.conftest import assert_no_output, tree_hash


def _argv(original: Path, quant: Path, out: Path, *extra: str) -> list[str]:
    return [
        "repack",
        "--original",
        str(original),
        "--quant",
        str(quant),
        "--output",
        str(out),
        *extra,
    ]


def test_repack_prints_a_readable_report(demo_t2v: Path, exports, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert cli_main(_argv(demo_t2v, exports("t2v-a14b", "w8a8f8"), out)) == 0
    captured = capsys.readouterr()
    assert "repack plan: Wan2.2-T2V-A14B" in captured.out
    assert (
        "transformer   <- high_noise_model/quant_model_weight_w8a8_mxfp8.safetensors"
        in captured.out
    )
    assert "transformer_2 <- low_noise_model/" in captured.out
    assert f"repacked Wan2.2-T2V-A14B into {out}" in captured.out
    assert "note: attention quantization ignored: attention runs in BF16" in captured.out
    assert "write transformer" in captured.err  # progress goes to stderr
    verify_output(out)


def test_dry_run_writes_nothing(demo_ti2v: Path, exports, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    before = tree_hash(tmp_path)
    assert cli_main(_argv(demo_ti2v, exports("ti2v-5b", "sharded"), out, "--dry-run")) == 0
    captured = capsys.readouterr()
    assert (
        "quant_model_weight-00001-of-00002.safetensors, quant_model_weight-00002-of-00002"
        in captured.out
    )
    assert "20 MXFP8 layers, 49 float" in captured.out
    assert "dry run: nothing was written" in captured.out
    assert tree_hash(tmp_path) == before
    assert_no_output(out)


def test_dry_run_json_lists_problems_and_exits_2(
    demo_ti2v: Path, exports, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    code = cli_main(_argv(demo_ti2v, exports("t2v-a14b"), out, "--dry-run", "--json"))
    assert code == 2
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is False
    assert "different models" in data["plan"]["problems"][0]


def test_json_report_and_link(demo_i2v: Path, exports, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert cli_main(_argv(demo_i2v, exports("i2v-a14b"), out, "--json", "--link")) == 0
    data = json.loads(capsys.readouterr().out)
    report = data["report"]
    assert data["ok"] is True
    assert report["model_type"] == "Wan2.2-I2V-A14B"
    assert report["quantized_layers"] == 40
    assert report["components_linked"] > 0 and report["components_copied"] == 0
    assert [t["target"] for t in report["transformers"]] == ["transformer", "transformer_2"]
    assert os.path.samefile(out / "model_index.json", demo_i2v / "model_index.json")


def test_help_names_every_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["repack"].format_help()  # type: ignore[union-attr]
    for option in (
        "--original",
        "--quant",
        "--output",
        "--model-type",
        "--dry-run",
        "--link",
        "--json",
    ):
        assert option in text
    assert "130 cancelled" in text


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> None:
        self.text += s

    def flush(self) -> None:
        pass


def test_progress_bar_on_a_terminal_and_in_a_log() -> None:
    tty = _Stream(True)
    bar = TerminalProgress(tty)  # type: ignore[arg-type]
    bar(Progress("write transformer", 512 * 2**20, 2 * 2**30, eta_seconds=75))
    bar.close()
    assert tty.text.startswith("\rwrite transformer ")
    assert "[######..................]  25.0%  512.00 MB / 2.00 GB" in tty.text
    assert "ETA 1:15" in tty.text and tty.text.endswith("\n")

    log = _Stream(False)
    bar = TerminalProgress(log)  # type: ignore[arg-type]
    for i in range(101):
        bar(Progress("write transformer", i, 100))
    lines = log.text.splitlines()
    assert len(lines) == 11  # one per 10 %, no carriage returns in logs
    assert "\r" not in log.text
