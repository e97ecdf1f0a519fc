"""Item 1: every request field is bounded (CLI, presets, GUI ranges), and the memory pre-flight
refuses a job that cannot fit before anything is loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.generate import preflight as preflight_module
from core.generate.limits import LIMITS, bound_problem
from core.generate.request import GenerationRequest, errors
from tests.core.hardening.conftest import files_under, run_cli


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("--steps", "1000000000"), "--steps: steps must be 1-1000"),
        (("--frames", "1000001"), "--frames: frames must be 1-1001"),
        (("--size", "1000000x64"), "--size: width must be 16-8192"),
        (("--fps", "100000"), "--fps: fps must be 1-120"),
        (("--shift", "1e9"), "--shift: shift must be more than 0 and at most 50"),
        (("--guidance", "1e6"), "--guidance: guidance_high must be 0-30"),
        (("--prompt", "x" * 30_000), "--prompt: prompt is 30000 characters long"),
    ],
)
def test_absurd_values_are_refused_with_field_option_and_range(
    capsys: pytest.CaptureFixture[str], demo_t2v: Path, tmp_path: Path, argv, expected
) -> None:
    out = tmp_path / "out"
    base = ["generate", "--model", str(demo_t2v), "--out", str(out)]
    if "--prompt" not in argv:
        base += ["--prompt", "a fox"]
    code, _, err = run_cli(capsys, *base, *argv)
    assert code == 2
    assert expected in err
    assert files_under(out) == []


def test_real_runs_stay_inside_the_bounds() -> None:
    for width, height, frames, steps in (
        (1280, 720, 121, 50),
        (1280, 704, 121, 50),
        (1920, 1088, 241, 4),
    ):
        request = GenerationRequest(
            prompt="a fox", width=width, height=height, frames=frames, steps=steps
        )
        assert errors(request.validate("t2v-a14b")) == [], (width, height)
    assert bound_problem("steps", 1000) is None and bound_problem("steps", 1001)


def _preset(tmp_path: Path, values: dict) -> Path:
    path = tmp_path / "p.json"
    doc = {"schema": "wan-studio-preset", "version": 2, "name": "Huge", "family": "t2v-a14b"}
    path.write_text(json.dumps({**doc, "values": values}))
    return path


def test_presets_import_refuses_out_of_range_values(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, app_home: Path
) -> None:
    code, _, err = run_cli(capsys, "presets", "import", str(_preset(tmp_path, {"steps": 10**9})))
    assert code == 2
    assert "steps must be 1-1000" in err and "not 1000000000" in err
    assert files_under(app_home / "data" / "presets") == []
    # The GUI's import keeps the rest and names what it skipped: the bound is applied there too.
    from core.presets import PresetStore

    store = PresetStore()
    imported = store.import_file(_preset(tmp_path, {"steps": 10**9, "fps": 16}))
    assert imported.values == {"fps": 16}


def test_a_preset_on_disk_with_absurd_values_cannot_start_that_run(
    capsys: pytest.CaptureFixture[str], demo_t2v: Path, tmp_path: Path
) -> None:
    from core.presets import PresetStore

    store = PresetStore()
    store.directory.mkdir(parents=True, exist_ok=True)
    doc = json.loads(_preset(tmp_path, {"steps": 10**9, "shift": 3.0}).read_text())
    (store.directory / "t2v-a14b--huge.json").write_text(json.dumps(doc))
    store.reload()
    assert store.find("t2v-a14b", "Huge").values == {"shift": 3.0}  # steps skipped, said why
    assert any("steps must be 1-1000" in w for w in store.warnings)


def test_gui_ranges_come_from_the_same_table(qtbot) -> None:
    from gui.widgets.generate_form import GenerateForm

    form = GenerateForm(run_io=lambda *a, **k: None)
    qtbot.addWidget(form)
    assert form.steps.maximum() == LIMITS["steps"].high
    assert form.frames.maximum() == LIMITS["frames"].high
    assert form.size.width_spin.maximum() == LIMITS["width"].high


def test_memory_preflight_refuses_before_loading(
    capsys: pytest.CaptureFixture[str],
    demo_t2v: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.generate import memory

    monkeypatch.setattr(memory, "host_available_bytes", lambda: 50 << 20)
    monkeypatch.setattr(memory, "swap_free_bytes", lambda: 0)
    loads: list[object] = []
    monkeypatch.setattr("core.models.loader.load_pipeline", lambda *a, **k: loads.append(a))
    out = tmp_path / "out"
    code, _, err = run_cli(
        capsys, "generate", "--model", str(demo_t2v), "--prompt", "a fox",
        "--size", "1280x720", "--frames", "121", "--out", str(out),
    )  # fmt: skip
    assert code == 2
    assert "this job needs about" in err and "but the limit is 50.0 MB (free RAM and swap)" in err
    assert "reduce --size or --frames" in err
    assert loads == [] and files_under(out) == []


def test_runner_refuses_the_same_job_for_the_gui(
    demo_t2v: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.generate import memory
    from core.generate.events import Failed
    from core.generate.runner import Runner

    monkeypatch.setattr(memory, "host_available_bytes", lambda: 50 << 20)
    monkeypatch.setattr(memory, "swap_free_bytes", lambda: 0)
    request = GenerationRequest(
        model=str(demo_t2v), prompt="a fox", width=1280, height=720, frames=121, steps=2,
        guidance_low=3.0, boundary=0.875, output=str(tmp_path / "out"),
    )  # fmt: skip
    outcome = Runner(preview_fps=0).run(request, lambda e: None)
    assert isinstance(outcome, Failed) and "this job needs about" in outcome.message
    assert "Nothing was loaded" in outcome.hint
    assert files_under(tmp_path / "out") == []


def test_position_table_limit_is_checked_from_the_config() -> None:
    cfg = {"rope_max_seq_len": 32, "patch_size": [1, 2, 2]}
    vae = {"scale_factor_spatial": 8, "scale_factor_temporal": 4}
    preflight_module.check_positions(cfg, vae, 512, 512, 125)  # 32 positions each: fits
    with pytest.raises(preflight_module.PreflightError, match="--frames: frames is too large"):
        preflight_module.check_positions(cfg, vae, 512, 512, 129)
