"""LoRAs in user presets and in restored videos: saved with strengths, re-selected when the
files are here (also found by name and content in a LoRA folder), named when missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.generate.request import GenerationRequest, defaults_for
from core.lora import library
from core.lora.choice import LoraChoice
from core.lora.fixtures import write_lora
from core.lora.reader import file_sha256
from core.lora.restore import resolve_recorded
from core.presets import DISTILL_PRESET, Preset, PresetError, PresetStore, builtin_presets


def test_user_preset_keeps_loras_and_strengths(tmp_path: Path) -> None:
    lora = write_lora(tmp_path / "style.safetensors", "wan")
    request = defaults_for("t2v-a14b")
    request.loras = [LoraChoice(path=str(lora), strength_high=0.7, strength_low=0.2)]
    values = {k: v for k, v in request.to_dict().items() if k not in ("kind", "schema")}
    store = PresetStore()
    store.save(Preset("my lora look", "t2v-a14b", values, False, ""))
    found = PresetStore().find("t2v-a14b", "my lora look")
    applied = defaults_for("t2v-a14b").replace(**found.request_values())
    assert applied.loras == request.loras
    with pytest.raises(PresetError, match="loras"):
        store.save(Preset("broken", "t2v-a14b", {"loras": [{"path": 3}]}, False, ""))


def test_lightning_preset_is_sampling_only_and_per_family() -> None:
    for family, boundary in (("t2v-a14b", 0.875), ("i2v-a14b", 0.9), ("ti2v-5b", None)):
        preset = next(p for p in builtin_presets()[family] if p.name == DISTILL_PRESET)
        assert preset.builtin and preset.values["steps"] == 4
        assert preset.values["guidance_high"] == 1.0 and preset.values.get("boundary") == boundary
        assert "width" not in preset.values and "frames" not in preset.values
        assert "4-step distillation LoRAs" in preset.description


def test_request_json_round_trip_and_tolerance(tmp_path: Path) -> None:
    request = defaults_for("t2v-a14b")
    request.loras = [LoraChoice(path="/x/a.safetensors", strength_low=0.0, sha256="f00")]
    request.lora_merge = True
    assert GenerationRequest.from_dict(request.to_dict()) == request
    notes: list[str] = []
    broken = GenerationRequest.from_dict({"loras": [{"nopath": 1}], "lora_merge": "yes"}, notes)
    assert broken.loras == [] and not broken.lora_merge and len(notes) == 2


def test_validation_names_lora_problems(tmp_path: Path, demo_models: dict[str, Path]) -> None:
    lora = write_lora(tmp_path / "a.safetensors", "wan")
    request = defaults_for("t2v-a14b", demo=True)
    request.prompt = "x"
    request.loras = [
        LoraChoice(str(lora)),
        LoraChoice(str(lora)),
        LoraChoice(str(tmp_path / "gone.safetensors")),
        LoraChoice(str(lora), strength_high=float("nan"), enabled=False),
    ]
    messages = [i.message for i in request.validate() if i.field == "loras"]
    assert any("a.safetensors is chosen twice" in m for m in messages)
    assert any("gone.safetensors does not exist" in m for m in messages)
    assert len(messages) == 2  # the disabled one is not checked


def test_restore_finds_moved_files_and_names_missing_ones(tmp_path: Path) -> None:
    original = write_lora(tmp_path / "here" / "style.safetensors", "wan", seed=1)
    lost = write_lora(tmp_path / "here" / "lost.safetensors", "wan", seed=2)
    recorded = [
        LoraChoice(path=str(original), sha256=file_sha256(original), strength_high=0.5),
        LoraChoice(
            path=str(tmp_path / "elsewhere" / "moved.safetensors"), sha256=file_sha256(lost)
        ),
        LoraChoice(path=str(lost), sha256="0" * 64),  # same name, other content
    ]
    folder = tmp_path / "my-loras"
    folder.mkdir()
    shutil.copy(lost, folder / "moved.safetensors")
    library.add_folder(folder)
    found, missing = resolve_recorded(recorded)
    assert [(Path(c.path).name, c.strength_high) for c in found] == [
        ("style.safetensors", 0.5),
        ("moved.safetensors", 1.0),
    ]
    assert Path(found[1].path).parent == folder
    assert missing == [
        f"LoRA lost.safetensors is not here (not at {lost}, and no file of that name and content "
        "in your LoRA folders)"
    ]


def test_lora_folder_library_groups_pairs(tmp_path: Path) -> None:
    folder = tmp_path / "loras"
    write_lora(folder / "Wan22_I2V_HIGH_lightx2v_4step.safetensors", "wan")
    write_lora(folder / "Wan22_I2V_LOW_lightx2v_4step.safetensors", "wan", seed=1)
    write_lora(folder / "anime.safetensors", "wan", seed=2)
    write_lora(folder / "solo_LOW.safetensors", "wan", seed=3)
    (folder / "notes.txt").write_text("not a lora")
    assert library.add_folder(folder) == [str(folder.resolve())]
    assert library.add_folder(folder) == [str(folder.resolve())]  # no duplicates
    items = library.all_items()[str(folder.resolve())]
    assert [(i.label, i.is_pair, i.expert) for i in items] == [
        ("anime", False, None),
        ("solo_LOW", False, "low"),
        ("Wan22_I2V_HIGH+LOW_lightx2v_4step", True, None),
    ]
    library.library_file().write_text("{broken")
    assert library.load_folders()[0] == []  # set aside, starts empty
    assert library.library_file().with_name("loras.json.corrupt").exists()


def test_concurrent_folder_adds_lose_nothing(tmp_path: Path, app_home: Path) -> None:
    """Six processes adding a folder each at the same moment: all six are kept (the library's
    read-modify-write runs under a file lock)."""
    import os
    import subprocess
    import sys

    folders = [tmp_path / f"loras-{i}" for i in range(6)]
    for folder in folders:
        folder.mkdir()
    code = (
        "import sys, time; from core.lora import library\n"
        "t = float(sys.argv[2])\n"
        "while time.time() < t: pass\n"
        "library.add_folder(sys.argv[1])\n"
    )
    import time

    start = str(time.time() + 1.5)
    env = {**os.environ, "WAN_STUDIO_HOME": str(app_home)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(f), start], env=env) for f in folders
    ]
    assert all(p.wait(timeout=60) == 0 for p in procs)
    assert sorted(library.load_folders()[0]) == sorted(str(f.resolve()) for f in folders)
