"""core.compare end to end on the TI2V demo model: identical variants, MXFP8 vs BF16, the
report folder (atomic, parseable), cancel, and the CLI's exit codes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from core.cli import EXIT_BAD_INPUT, EXIT_OK, main
from core.compare import load_report, parse_variants, run_compare
from core.compare.metrics import read_video
from core.compare.run import CompareError
from core.generate.request import GenerationRequest, defaults_for
from core.generate.runner import Runner
from core.progress import Cancelled, CancelToken


def _request(folder: Path) -> GenerationRequest:
    request = defaults_for("ti2v-5b", demo=True, model=str(folder))
    request.prompt = "a red fox running in the snow"
    request.width = request.height = 64
    request.frames, request.steps, request.seed = 5, 3, 11
    return request


def _strict_json(path: Path) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(path.read_text("utf-8"), parse_constant=refuse)


@pytest.fixture(scope="module")
def report(demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("compare") / "report"
    variants = parse_variants("bf16,bf16,mxfp8-online:floor")
    return run_compare(
        _request(demo_models["ti2v-5b"]), variants, out, runner=Runner(preview_fps=0)
    )


def test_identical_variants_give_inf_psnr_ssim_one_and_identical_latents(report: dict) -> None:
    ref, same = report["variants"][:2]
    assert same["label"] == "bf16 #2" and report["reference"] == "bf16"
    assert len(same["frames"]["psnr"]) == 5
    assert all(math.isinf(p) and p > 0 for p in same["frames"]["psnr"])
    assert same["frames"]["ssim"] == [1.0] * 5
    assert same["latents"]["cosine"] == [1.0] * 3 and same["latents"]["rel_error"] == [0.0] * 3
    assert same["latents_identical"] and same["summary"]["psnr_mean"] == math.inf
    folder = Path(report["folder"])
    assert np.array_equal(read_video(folder / ref["video"]), read_video(folder / same["video"]))
    assert same["weights"] == {} and same["quant"] == "none"


def test_mxfp8_vs_bf16_is_finite_and_consistent_with_the_quant_tests(report: dict) -> None:
    mx = report["variants"][2]
    assert mx["quant"] == "mxfp8-online" and mx["variant"]["weight_rule"] == "floor"
    psnr, ssim = mx["frames"]["psnr"], mx["frames"]["ssim"]
    assert all(math.isfinite(p) and 15 < p < 80 for p in psnr)
    assert all(0.5 < s < 1.0 for s in ssim)
    cosine, rel = mx["latents"]["cosine"], mx["latents"]["rel_error"]
    assert len(cosine) == len(rel) == 3
    # the bound tests/core/models/test_loader.py puts on one step of MXFP8 vs BF16
    assert cosine[0] > 0.999 and 0 < rel[0] < 0.05
    assert not mx["latents_identical"]
    weights = mx["weights"]  # 2 blocks x 10 linears of the demo transformer
    assert len(weights) == 20 and all(0.001 < e < 0.2 for e in weights.values())
    assert "transformer.blocks.0.attn1.to_q" in weights
    assert mx["summary"]["mxfp8_layers"] == 20
    assert mx["peak_memory_bytes"] > 0 and mx["seconds"] > 0


def test_report_files_exist_and_parse(report: dict) -> None:
    folder = Path(report["folder"])
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("0"))
    assert names == ["grid.mp4", "plots", "report.html", "report.json"]
    for v in report["variants"]:
        assert (folder / v["video"]).is_file()
    data = _strict_json(folder / "report.json")  # strict JSON: inf is the string "inf"
    assert (
        data["kind"] == "wan-studio.compare" and data["variants"][1]["frames"]["psnr"][0] == "inf"
    )
    assert (
        load_report(folder)["variants"][2]["frames"]["psnr"]
        == report["variants"][2]["frames"]["psnr"]
    )
    html = (folder / "report.html").read_text("utf-8")
    assert html.count("data:image/png;base64,") == len(report["plots"]) == 5
    assert "mxfp8-online floor" in html and "<table>" in html and 'src="plots' not in html
    grid = read_video(folder / "grid.mp4")
    tile = read_video(folder / report["variants"][0]["video"]).shape
    assert grid.shape[0] == tile[0] and grid.shape[2] == 3 * 192  # 64 px tiles scaled x3
    assert not list(folder.parent.glob(".report.tmp-*"))


def test_cancel_leaves_nothing(demo_models: dict[str, Path], tmp_path: Path) -> None:
    token = CancelToken()

    def on_event(index: int, _variant: object, event: object) -> None:
        if index == 1 and type(event).__name__ == "Step":
            token.cancel("test")

    out = tmp_path / "r"
    with pytest.raises(Cancelled):
        run_compare(
            _request(demo_models["ti2v-5b"]), parse_variants("bf16,mse"), out,
            on_event=on_event, cancel=token,
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_bad_input(demo_models: dict[str, Path], tmp_path: Path) -> None:
    from core.compare import VariantError

    for text, message in (
        ("bf16", "at least two variants"),
        ("bf16,fp8", "unknown variant 'fp8'"),
        ("bf16,mxfp8-offline", "needs a folder"),
        (f"bf16,mxfp8-offline={tmp_path}", "not a Diffusers model folder"),
        ("bf16:mse,mse", "applies to mxfp8-online only"),
        ("bf16,mse:fast", "unknown option 'fast'"),
    ):
        with pytest.raises(VariantError, match=message):
            parse_variants(text)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    with pytest.raises(CompareError, match="already exists"):
        run_compare(_request(demo_models["ti2v-5b"]), parse_variants("bf16,mse"), tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep"
    bad = _request(demo_models["ti2v-5b"]).replace(frames=6)
    with pytest.raises(CompareError, match="frames must be 4n\\+1") as info:
        run_compare(bad, parse_variants("bf16,mse"), tmp_path / "new")
    assert info.value.bad_input and not (tmp_path / "new").exists()


def test_cli(
    demo_models: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["compare", "--model", str(demo_models["ti2v-5b"]), "--prompt", "a fox"]
    small = ["--size", "64x64", "--frames", "5", "--steps", "2", "--seed", "1"]
    assert main([*base, "--variants", "bf16,nope", "--out", str(tmp_path / "a")]) == EXIT_BAD_INPUT
    assert "unknown variant 'nope'" in capsys.readouterr().err
    out = tmp_path / "b"
    assert main([*base, *small, "--variants", "bf16,mse", "--out", str(out)]) == EXIT_OK
    printed = capsys.readouterr()
    assert "[2/2 mxfp8-online mse] done" in printed.err
    assert "mxfp8-online mse" in printed.out and f"report: {out / 'report.html'}" in printed.out
    assert load_report(out)["variants"][1]["request"]["weight_rule"] == "mse"
    assert main([*base, *small, "--variants", "bf16,mse", "--out", str(out)]) == EXIT_BAD_INPUT
    assert "already exists" in capsys.readouterr().err


def test_offline_folder_equals_online_and_weights_are_measured(
    demo_models: dict[str, Path], tmp_path: Path
) -> None:
    """`quantize` then mxfp8-offline computes what mxfp8-online computes (same default weight
    rule): the comparison must say identical; its weight errors are against the BF16 folder."""
    from core.quant.export import quantize_folder

    source = demo_models["ti2v-5b"]
    folder = tmp_path / "q"
    quantize_folder(source, folder)
    request = _request(source).replace(steps=2)
    variants = parse_variants(f"mxfp8-online,mxfp8-offline={folder}")
    report = run_compare(request, variants, tmp_path / "r")
    online, offline = report["variants"]
    assert offline["label"] == "mxfp8-offline (q)" and offline["quant"] == "mxfp8-offline"
    assert offline["latents_identical"] and all(math.isinf(p) for p in offline["frames"]["psnr"])
    assert offline["weights"] == online["weights"] and len(offline["weights"]) == 20
    assert offline["request"]["model"] == str(folder) and online["request"]["model"] == str(source)


def test_lora_off_variant_drops_the_loras_only() -> None:
    from core.lora.choice import LoraChoice

    base = GenerationRequest(prompt="p", loras=[LoraChoice(path="/x/style.safetensors")])
    on, off = parse_variants("bf16,bf16:nolora")
    assert off.label == "bf16 no LoRA"
    assert on.request_for(base).loras == base.loras and off.request_for(base).loras == []
    assert off.request_for(base).replace(loras=base.loras) == on.request_for(base)
