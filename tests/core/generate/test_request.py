"""GenerationRequest: official defaults, JSON round trip, validation messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from core.generate.request import (
    GenerationRequest,
    ModelError,
    defaults_for,
    errors,
    fit_size_to_image,
    model_family,
    resolve_model_path,
)
from core.models.catalog import DEFAULT_NEGATIVE_PROMPT


def issues_by_field(request: GenerationRequest, family: str | None = None) -> dict[str, list]:
    found: dict[str, list] = {}
    for issue in request.validate(family):
        found.setdefault(issue.field, []).append(issue)
    return found


def test_defaults_are_the_official_values() -> None:
    t2v = defaults_for("t2v-a14b")
    assert (t2v.width, t2v.height, t2v.frames, t2v.fps, t2v.steps) == (1280, 720, 81, 16, 40)
    assert (t2v.guidance_high, t2v.guidance_low, t2v.boundary, t2v.shift) == (4.0, 3.0, 0.875, 12.0)
    assert t2v.negative_prompt == DEFAULT_NEGATIVE_PROMPT
    i2v = defaults_for("i2v-a14b")
    assert (i2v.guidance_high, i2v.guidance_low, i2v.boundary, i2v.shift) == (3.5, 3.5, 0.9, 5.0)
    ti2v = defaults_for("ti2v-5b")
    assert (ti2v.width, ti2v.height, ti2v.frames, ti2v.fps, ti2v.steps) == (1280, 704, 121, 24, 50)
    assert (ti2v.guidance_high, ti2v.guidance_low, ti2v.boundary) == (5.0, None, None)


def test_demo_defaults_are_small_and_name_the_demo_model() -> None:
    request = defaults_for("ti2v-5b", demo=True)
    assert request.model == "demo:ti2v-5b"
    assert (request.width, request.height, request.frames, request.steps) == (128, 128, 9, 4)
    assert defaults_for("t2v-a14b", demo=True).model == "demo"


def test_json_round_trip_is_exact() -> None:
    request = defaults_for("t2v-a14b", model="/models/x")
    request.prompt = "a red fox, 夕阳"
    request.seed = 123
    request.image = None
    data = json.loads(json.dumps(request.to_dict()))
    assert data["kind"] == "wan-studio.request" and data["schema"] == 1
    assert GenerationRequest.from_dict(data) == request


def test_from_dict_tolerates_unknown_keys_and_bad_values_with_warnings() -> None:
    data = defaults_for("t2v-a14b").to_dict()
    data.update(future_knob=3, width="832", height=True, schema=99, seed=None)
    warnings: list[str] = []
    request = GenerationRequest.from_dict(data, warnings)
    assert request.width == 832  # numeric text is accepted
    assert request.height == GenerationRequest().height  # a boolean is not a size: default kept
    assert any("future_knob" in w for w in warnings)
    assert any("'height'" in w for w in warnings)
    assert any("newer" in w for w in warnings)
    with pytest.raises(ValueError, match="JSON object"):
        GenerationRequest.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


def test_valid_requests_have_no_errors(demo_t2v: Path) -> None:
    request = defaults_for("t2v-a14b", model=str(demo_t2v))
    request.prompt = "a fox"
    assert request.validate() == []


def test_bad_sizes_name_the_multiple_and_the_nearest_valid_value() -> None:
    request = defaults_for("ti2v-5b", demo=True).replace(prompt="x", width=1000, height=700)
    found = issues_by_field(request)
    width, height = found["width"][0], found["height"][0]
    assert "multiple of 32" in width.message and width.suggestion == 992
    assert "nearest valid: 992" in width.message
    assert height.suggestion == 704  # 700 / 32 = 21.9 -> 22 * 32
    a14b = defaults_for("t2v-a14b", demo=True).replace(prompt="x", width=130)
    assert issues_by_field(a14b)["width"][0].suggestion == 128


def test_frames_must_be_4n_plus_1() -> None:
    request = defaults_for("t2v-a14b", demo=True).replace(prompt="x", frames=80)
    issue = issues_by_field(request)["frames"][0]
    assert "4n+1" in issue.message and issue.suggestion == 81
    assert issues_by_field(request.replace(frames=0))["frames"][0].suggestion == 1


def test_numbers_out_of_range() -> None:
    request = defaults_for("t2v-a14b", demo=True).replace(
        prompt="x", fps=0, steps=0, guidance_high=-1.0, boundary=1.0, shift=0.0, seed=-5
    )
    found = issues_by_field(request)
    assert {"fps", "steps", "guidance_high", "boundary", "shift", "seed"} <= set(found)
    assert found["boundary"][0].suggestion == 0.875


def test_one_expert_models_take_no_low_guidance_or_boundary() -> None:
    request = defaults_for("ti2v-5b", demo=True).replace(prompt="x", guidance_low=3.0, boundary=0.9)
    found = issues_by_field(request)
    assert "one expert" in found["guidance_low"][0].message
    assert "one expert" in found["boundary"][0].message
    two = defaults_for("t2v-a14b", demo=True).replace(prompt="x", boundary=None)
    assert issues_by_field(two)["boundary"][0].suggestion == 0.875


def test_image_rules_per_family(tmp_path: Path) -> None:
    picture = tmp_path / "cat.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(picture)
    i2v = defaults_for("i2v-a14b", demo=True).replace(prompt="x")
    assert "choose a start image" in issues_by_field(i2v)["image"][0].message
    assert "image" not in issues_by_field(i2v.replace(image=str(picture)))
    t2v = defaults_for("t2v-a14b", demo=True).replace(prompt="x", image=str(picture))
    assert "takes no image" in issues_by_field(t2v)["image"][0].message
    ti2v = defaults_for("ti2v-5b", demo=True).replace(prompt="x")
    assert "image" not in issues_by_field(ti2v)  # optional
    missing = ti2v.replace(image=str(tmp_path / "nope.png"))
    assert "does not exist" in issues_by_field(missing)["image"][0].message
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    assert (
        "cannot be decoded" in issues_by_field(ti2v.replace(image=str(broken)))["image"][0].message
    )


def test_unknown_model_folder_messages(tmp_path: Path) -> None:
    request = defaults_for("t2v-a14b").replace(prompt="x", model=str(tmp_path / "missing"))
    assert "does not exist" in issues_by_field(request)["model"][0].message
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        "no model_index.json"
        in issues_by_field(request.replace(model=str(empty)))["model"][0].message
    )
    assert (
        "unknown model family"
        in issues_by_field(request.replace(model="demo:x2v"))["model"][0].message
    )
    with pytest.raises(ModelError, match="no model chosen"):
        model_family("")


def test_model_family_and_path_of_demo_names(demo_ti2v: Path) -> None:
    assert model_family("demo").key == "t2v-a14b"
    assert model_family("demo:i2v-a14b").key == "i2v-a14b"
    assert model_family(str(demo_ti2v)).key == "ti2v-5b"
    assert resolve_model_path("demo:ti2v-5b").name == "demo-ti2v-5b"


def test_runtime_options_and_output() -> None:
    request = defaults_for("t2v-a14b", demo=True).replace(
        prompt="x", quant="fp4", device="tpu", output="clip.avi"
    )
    found = issues_by_field(request)
    assert {"quant", "device", "output"} <= set(found)
    assert found["output"][0].suggestion == "clip.mp4"


def test_existing_output_file_is_refused(tmp_path: Path) -> None:
    taken = tmp_path / "taken.mp4"
    taken.write_bytes(b"x")
    request = defaults_for("t2v-a14b", demo=True).replace(prompt="x", output=str(taken))
    assert "never overwritten" in issues_by_field(request)["output"][0].message


def test_unofficial_values_are_warnings_not_errors(demo_ti2v: Path) -> None:
    request = defaults_for("ti2v-5b", model=str(demo_ti2v)).replace(
        prompt="x", width=640, height=352, fps=16
    )
    issues = request.validate()
    assert errors(issues) == []
    assert {i.field for i in issues} == {"width", "fps"}
    assert all(i.severity == "warning" for i in issues)


@pytest.mark.parametrize(
    ("image", "area", "multiple", "expected"),
    [
        ((1280, 720), (1280, 720), 16, (1280, 720)),
        ((720, 1280), (1280, 720), 16, (720, 1280)),
        ((1000, 1000), (1280, 720), 16, (960, 960)),
        ((4000, 3000), (832, 480), 16, (720, 544)),
        ((1280, 704), (1280, 704), 32, (1280, 704)),
        ((100, 100), (128, 128), 16, (128, 128)),
    ],
)
def test_fit_size_keeps_aspect_within_area(image, area, multiple, expected) -> None:
    width, height = fit_size_to_image(image, area, multiple)
    assert (width, height) == expected
    assert width % multiple == 0 and height % multiple == 0
    assert width * height <= area[0] * area[1]


def test_request_module_does_not_import_torch() -> None:
    code = (
        "import sys, core.generate.request, core.generate.events, core.generate.video, "
        "core.generate.history; print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
