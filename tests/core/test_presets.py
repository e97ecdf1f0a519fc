"""Presets store: built-ins from the catalog, user presets on disk, migration, corruption, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import paths
from core.cli import EXIT_BAD_INPUT, main
from core.generate.request import GenerationRequest, defaults_for, errors
from core.models.catalog import FAMILIES, nearest_valid_frames
from core.models.demo import DEMO_DEFAULTS
from core.presets import (
    PRESET_VERSION,
    Preset,
    PresetError,
    PresetFormatError,
    PresetStore,
    PresetVersionError,
    migrate_document,
)

FAMILY_KEYS = list(FAMILIES)


def user_preset(name: str = "Mine", family: str = "t2v-a14b", **values: object) -> Preset:
    base = {"width": 832, "height": 480, "frames": 49, "steps": 30, "guidance_high": 4.5}
    base.update(values)
    return Preset(name=name, family=family, values=base, description="my settings")


def write_json(path: Path, doc: object) -> bytes:
    data = json.dumps(doc).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


# ---- built-ins ---------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILY_KEYS)
def test_official_preset_is_exactly_the_catalog(family: str) -> None:
    fam = FAMILIES[family]
    official = PresetStore().find(family, "Official")
    expected = {
        "width": fam.default_size[0],
        "height": fam.default_size[1],
        "frames": fam.frames,
        "fps": fam.fps,
        "steps": fam.steps,
        "shift": fam.shift,
        "guidance_high": fam.guidance_high,
        "guidance_low": fam.guidance_low,
        "boundary": fam.boundary,
        "negative_prompt": fam.negative_prompt,
        "solver": "default",
    }
    assert official.values == expected
    assert official.builtin and official.path is None and official.version == PRESET_VERSION
    # The engine's own official request agrees field by field.
    request = GenerationRequest(model="x", **official.values)
    assert request == defaults_for(family, model="x")


def test_official_values_match_wan22_reference_table() -> None:
    """wan22.md section 4, typed in independently of the catalog."""
    store = PresetStore()
    t2v = store.find("t2v-a14b", "official").values
    i2v = store.find("i2v-a14b", "official").values
    ti2v = store.find("ti2v-5b", "official").values
    assert (t2v["width"], t2v["height"], t2v["frames"], t2v["fps"], t2v["steps"]) == (
        1280,
        720,
        81,
        16,
        40,
    )
    assert (t2v["shift"], t2v["guidance_high"], t2v["guidance_low"], t2v["boundary"]) == (
        12.0,
        4.0,
        3.0,
        0.875,
    )
    assert (i2v["shift"], i2v["guidance_high"], i2v["guidance_low"], i2v["boundary"]) == (
        5.0,
        3.5,
        3.5,
        0.9,
    )
    assert (ti2v["width"], ti2v["height"], ti2v["frames"], ti2v["fps"], ti2v["steps"]) == (
        1280,
        704,
        121,
        24,
        50,
    )
    assert (ti2v["shift"], ti2v["guidance_high"]) == (5.0, 5.0)
    assert ti2v["guidance_low"] is None and ti2v["boundary"] is None
    assert t2v["negative_prompt"].startswith("色调艳丽，过曝，静态")


@pytest.mark.parametrize("family", FAMILY_KEYS)
def test_fast_preview_is_small_valid_and_labelled(family: str, tmp_path: Path) -> None:
    fam = FAMILIES[family]
    store = PresetStore()
    fast = store.find(family, "Fast preview")
    official = store.find(family, "Official").values
    v = fast.values
    assert v["width"] % fam.pixel_multiple == 0 and v["height"] % fam.pixel_multiple == 0
    assert v["width"] * v["height"] <= official["width"] * official["height"] / 4
    assert v["frames"] == nearest_valid_frames(v["frames"]) and v["frames"] < official["frames"]
    assert v["steps"] < official["steps"]
    changed = {k for k in official if official[k] != v[k]}
    assert changed <= {"width", "height", "frames", "steps"}
    assert "not final quality" in fast.description
    assert f"{v['width']}x{v['height']}" in fast.description
    image = None
    if fam.image == "required":
        from PIL import Image

        image = str(tmp_path / "start.png")
        Image.new("RGB", (64, 36), "red").save(image)
    request = GenerationRequest(model="x", prompt="a fox", image=image, **v)
    assert errors(request.validate(family)) == []


@pytest.mark.parametrize("family", FAMILY_KEYS)
def test_demo_preset_uses_demo_defaults(family: str) -> None:
    demo = PresetStore().find(family, "demo").values
    small = DEMO_DEFAULTS[family]
    assert (demo["width"], demo["height"]) == small["size"]
    assert (demo["frames"], demo["steps"]) == (small["frames"], small["steps"])
    assert demo["fps"] == FAMILIES[family].fps


def test_builtins_are_read_only() -> None:
    store = PresetStore()
    with pytest.raises(PresetError, match="built-in"):
        store.delete("t2v-a14b", "Official")
    with pytest.raises(PresetError, match="built-in"):
        store.rename("t2v-a14b", "fast preview", "Quick")
    with pytest.raises(PresetError, match="built-in"):
        store.save(user_preset("official"))
    store.save(user_preset("Mine"))
    with pytest.raises(PresetError, match="built-in"):
        store.rename("t2v-a14b", "Mine", "DEMO")
    # Callers get copies: editing one changes nothing in the store.
    found = store.find("t2v-a14b", "Official")
    found.values["steps"] = 1
    assert store.find("t2v-a14b", "Official").values["steps"] == 40
    assert [p.name for p in paths.presets_dir().iterdir()] == ["t2v-a14b--mine.json"]


def test_list_puts_builtins_first_then_user_presets_by_name() -> None:
    store = PresetStore()
    store.save(user_preset("zeta"))
    store.save(user_preset("Alpha"))
    store.save(user_preset("other family", family="ti2v-5b", width=640, height=352))
    names = [p.name for p in store.list("t2v-a14b")]
    assert names == ["Official", "Fast preview", "Lightning 4-step", "Demo", "Alpha", "zeta"]
    everything = store.list()
    assert [p.family for p in everything] == sorted(
        (p.family for p in everything), key=FAMILY_KEYS.index
    )
    assert len(everything) == 3 * 4 + 3


def test_find_is_case_insensitive_and_lists_names_when_missing() -> None:
    store = PresetStore()
    store.save(user_preset("My Look"))
    assert store.find("Wan2.2-T2V-A14B", "  my look ").name == "My Look"
    with pytest.raises(KeyError) as info:
        store.find("t2v-a14b", "nope")
    message = info.value.args[0]
    assert "'nope'" in message and "'Official'" in message and "'My Look'" in message


# ---- user presets ------------------------------------------------------------------------------
def test_save_round_trip_through_a_new_store() -> None:
    store = PresetStore()
    saved = store.save(user_preset("Round trip", seed=1234, guidance_low=None, prompt="a fox"))
    assert saved.path is not None and saved.path.parent == paths.presets_dir()
    doc = json.loads(saved.path.read_text("utf-8"))
    assert doc["schema"] == "wan-studio-preset" and doc["version"] == PRESET_VERSION
    again = PresetStore().find("t2v-a14b", "round trip")
    assert again == saved
    assert again.values["guidance_high"] == 4.5 and isinstance(again.values["guidance_high"], float)
    assert again.values["seed"] == 1234 and again.values["guidance_low"] is None
    assert PresetStore().warnings == []


def test_save_refuses_bad_names_and_values() -> None:
    store = PresetStore()
    for bad in ("", "   ", "a/b", "a\\b", "tab\there", "x" * 81):
        with pytest.raises(PresetError):
            store.save(user_preset(bad))
    with pytest.raises(PresetError, match="width"):
        store.save(user_preset("bad width", width="wide"))
    with pytest.raises(PresetError, match="steps"):
        store.save(user_preset("bad steps", steps=True))
    with pytest.raises(PresetError, match="guidance_high"):
        store.save(user_preset("nan", guidance_high=float("nan")))
    with pytest.raises(PresetError, match="unknown model family"):
        store.save(user_preset("fam", family="sdxl"))
    assert list(paths.presets_dir().iterdir()) == []


def test_save_keeps_unknown_keys_with_a_warning_and_drops_run_inputs() -> None:
    store = PresetStore()
    store.save(user_preset("extra", future_knob=7, model="/models/x", image="a.png", output="o"))
    fresh = PresetStore()
    values = fresh.find("t2v-a14b", "extra").values
    assert values["future_knob"] == 7
    assert not {"model", "image", "output"} & set(values)
    assert any("future_knob" in w for w in fresh.warnings)
    # What --preset applies to a request: only the fields GenerationRequest has.
    request = defaults_for("t2v-a14b", model="x").replace(
        **fresh.find("t2v-a14b", "extra").request_values()
    )
    assert (request.width, request.steps, request.guidance_high) == (832, 30, 4.5)


@pytest.mark.parametrize("family", FAMILY_KEYS)
def test_applying_a_builtin_over_another_familys_request_gives_a_valid_request(family: str) -> None:
    other = "ti2v-5b" if family != "ti2v-5b" else "t2v-a14b"
    start = defaults_for(other, model="x").replace(prompt="a fox", image=None)
    request = start.replace(**PresetStore().find(family, "Fast preview").request_values())
    blocking = [i for i in errors(request.validate(family)) if i.field != "image"]
    assert blocking == []


def test_save_refuses_an_existing_name_unless_overwriting() -> None:
    store = PresetStore()
    first = store.save(user_preset("Same"))
    with pytest.raises(PresetError, match="already exists"):
        store.save(user_preset("same", steps=10))
    second = store.save(user_preset("same", steps=10), overwrite=True)
    assert second.path == first.path
    assert len(list(paths.presets_dir().glob("*.json"))) == 1
    assert PresetStore().find("t2v-a14b", "SAME").values["steps"] == 10


def test_same_name_in_different_families_are_different_presets() -> None:
    store = PresetStore()
    a = store.save(user_preset("Shared"))
    b = store.save(user_preset("Shared", family="i2v-a14b"))
    assert a.path != b.path
    assert PresetStore().find("i2v-a14b", "shared").family == "i2v-a14b"


def test_rename_moves_the_file_and_refuses_clashes() -> None:
    store = PresetStore()
    old = store.save(user_preset("Before"))
    store.save(user_preset("Taken"))
    with pytest.raises(PresetError, match="already exists"):
        store.rename("t2v-a14b", "before", "TAKEN")
    renamed = store.rename("t2v-a14b", "before", "After")
    assert old.path is not None and not old.path.exists()
    assert renamed.path is not None and renamed.path.exists()
    assert renamed.values == old.values
    fresh = PresetStore()
    assert [p.name for p in fresh.list("t2v-a14b") if not p.builtin] == ["After", "Taken"]
    case_only = store.rename("t2v-a14b", "After", "AFTER")
    assert (
        case_only.path == renamed.path and PresetStore().find("t2v-a14b", "after").name == "AFTER"
    )
    with pytest.raises(KeyError):
        store.rename("t2v-a14b", "nope", "x")


def test_delete_removes_the_file() -> None:
    store = PresetStore()
    saved = store.save(user_preset("Gone"))
    store.delete("t2v-a14b", "gone")
    assert saved.path is not None and not saved.path.exists()
    with pytest.raises(KeyError):
        PresetStore().find("t2v-a14b", "Gone")


def test_duplicate_a_builtin_into_an_editable_preset() -> None:
    store = PresetStore()
    copy = store.duplicate("ti2v-5b", "Official", "My official")
    assert not copy.builtin
    assert copy.values == store.find("ti2v-5b", "Official").values
    store.rename("ti2v-5b", "My official", "Tweaked")
    assert PresetStore().find("ti2v-5b", "tweaked").values["steps"] == 50


def test_a_store_can_use_another_folder(tmp_path: Path) -> None:
    folder = tmp_path / "team-presets"
    store = PresetStore(folder)
    assert store.warnings == [] and not folder.exists()
    saved = store.save(user_preset("Team"))
    assert saved.path is not None and saved.path.parent == folder
    assert list(paths.presets_dir().iterdir()) == []
    assert PresetStore(folder).find("t2v-a14b", "team") == saved


def test_names_that_slug_alike_get_separate_files() -> None:
    store = PresetStore()
    a = store.save(user_preset("a b"))
    b = store.save(user_preset("a-b"))
    assert a.path != b.path
    assert {p.name for p in PresetStore().list("t2v-a14b") if not p.builtin} == {"a b", "a-b"}


# ---- schema versions ---------------------------------------------------------------------------
V1_T2V = {
    "version": 1,
    "name": "Old style",
    "family": "t2v-a14b",
    "values": {"size": "832x480", "guidance": 3.5, "frames": 49, "steps": 30},
}


def test_migration_v1_to_v2_in_memory_leaves_the_file_until_saved() -> None:
    path = paths.presets_dir() / "old.json"
    original = write_json(path, V1_T2V)
    store = PresetStore()
    preset = store.find("t2v-a14b", "old style")
    assert preset.version == 1
    assert preset.values == {
        "width": 832,
        "height": 480,
        "guidance_high": 3.5,
        "guidance_low": 3.5,
        "frames": 49,
        "steps": 30,
    }
    assert path.read_bytes() == original and store.warnings == []
    store.save(preset, overwrite=True)
    doc = json.loads(path.read_text("utf-8"))
    assert doc["version"] == 2 and doc["values"]["width"] == 832 and "size" not in doc["values"]
    assert PresetStore().find("t2v-a14b", "old style").version == 2


def test_migration_of_a_single_expert_family_sets_only_high_guidance() -> None:
    doc, version = migrate_document(
        {
            "version": 1,
            "name": "x",
            "family": "ti2v-5b",
            "values": {"size": "704 X 1280", "guidance": 6},
        }
    )
    assert version == 1 and doc["version"] == 2 and doc["schema"] == "wan-studio-preset"
    assert doc["values"] == {"width": 704, "height": 1280, "guidance_high": 6}


def test_migration_rejects_a_bad_v1_size() -> None:
    with pytest.raises(PresetFormatError, match="WIDTHxHEIGHT"):
        migrate_document(
            {"version": 1, "name": "x", "family": "ti2v-5b", "values": {"size": "big"}}
        )


def test_newer_schema_is_refused_with_a_message_and_left_alone() -> None:
    path = paths.presets_dir() / "t2v-a14b--future.json"
    doc = {
        "schema": "wan-studio-preset",
        "version": 3,
        "name": "Future",
        "family": "t2v-a14b",
        "values": {},
    }
    original = write_json(path, doc)
    store = PresetStore()
    assert any(
        "newer Wan Studio" in w and "schema 3" in w and str(path) in w for w in store.warnings
    )
    assert path.read_bytes() == original
    assert not list(paths.presets_dir().glob("*.corrupt*"))
    with pytest.raises(KeyError):
        store.find("t2v-a14b", "Future")
    # Saving a preset of the same name never overwrites the file we could not read.
    saved = store.save(user_preset("Future"))
    assert saved.path != path and path.read_bytes() == original
    with pytest.raises(PresetVersionError, match="newer Wan Studio"):
        store.import_file(path)


def test_unknown_family_file_is_skipped_and_left_alone() -> None:
    path = paths.presets_dir() / "x.json"
    original = write_json(path, {**user_preset().to_document(), "family": "wan3-t2v"})
    store = PresetStore()
    assert any("wan3-t2v" in w for w in store.warnings)
    assert path.read_bytes() == original


# ---- corruption --------------------------------------------------------------------------------
CORRUPT_FILES = {
    "garbage.json": b"\x00\xff\xfe garbage \x81",
    "truncated.json": json.dumps(user_preset("T").to_document()).encode()[:-20],
    "values-list.json": json.dumps({**user_preset("V").to_document(), "values": [1, 2]}).encode(),
    "no-name.json": json.dumps(
        {k: v for k, v in user_preset().to_document().items() if k != "name"}
    ).encode(),
    "not-object.json": b"[1, 2, 3]",
    "bad-version.json": json.dumps({**user_preset("B").to_document(), "version": "2"}).encode(),
}


def test_corrupt_files_are_set_aside_while_the_others_load() -> None:
    store = PresetStore()
    good = store.save(user_preset("Good"))
    directory = paths.presets_dir()
    for name, data in CORRUPT_FILES.items():
        (directory / name).write_bytes(data)
    fresh = PresetStore()
    assert fresh.find("t2v-a14b", "good") == good
    assert len(fresh.warnings) == len(CORRUPT_FILES)
    for name, data in CORRUPT_FILES.items():
        assert not (directory / name).exists()
        kept = directory / f"{name}.corrupt"
        assert kept.read_bytes() == data, name  # set aside byte for byte, never deleted
        assert any(name in w and kept.name in w for w in fresh.warnings)
    # A second start is quiet: nothing left to set aside.
    assert PresetStore().warnings == []


def test_wrong_typed_value_is_skipped_on_load_with_a_warning() -> None:
    path = paths.presets_dir() / "typed.json"
    doc = user_preset("Typed").to_document()
    doc["values"]["steps"] = "many"
    original = write_json(path, doc)
    store = PresetStore()
    values = store.find("t2v-a14b", "typed").values
    assert "steps" not in values and values["width"] == 832
    assert any("steps" in w for w in store.warnings)
    assert path.read_bytes() == original


def test_two_files_defining_the_same_preset_keep_the_first() -> None:
    directory = paths.presets_dir()
    write_json(directory / "a.json", user_preset("Twin", steps=11).to_document())
    write_json(directory / "b.json", user_preset("twin", steps=22).to_document())
    store = PresetStore()
    assert store.find("t2v-a14b", "twin").values["steps"] == 11
    assert any("b.json" in w and "already defines" in w for w in store.warnings)
    assert (directory / "b.json").exists()


def test_temp_files_of_interrupted_saves_are_ignored_and_old_ones_cleaned() -> None:
    store = PresetStore()
    store.save(user_preset("Kept"))
    directory = paths.presets_dir()
    fresh_tmp = directory / ".t2v-a14b--kept.json.abc123.tmp"
    old_tmp = directory / ".t2v-a14b--kept.json.old456.tmp"
    fresh_tmp.write_bytes(b'{"half": ')
    old_tmp.write_bytes(b'{"half": ')
    an_hour_ago = time.time() - 3600
    os.utime(old_tmp, (an_hour_ago, an_hour_ago))
    again = PresetStore()
    assert again.warnings == [] and again.find("t2v-a14b", "kept").name == "Kept"
    assert fresh_tmp.exists() and not old_tmp.exists()


# ---- import / export ---------------------------------------------------------------------------
def test_export_then_import_under_a_new_name(tmp_path: Path) -> None:
    store = PresetStore()
    out = store.export("i2v-a14b", "fast preview", tmp_path)
    assert out.parent == tmp_path and out.suffix == ".json"
    with pytest.raises(PresetError, match="built-in"):
        store.import_file(out)
    before = out.read_bytes()
    imported = store.import_file(out, name="Shared fast")
    assert out.read_bytes() == before
    assert imported.values == store.find("i2v-a14b", "Fast preview").values
    assert PresetStore().find("i2v-a14b", "shared fast").path == imported.path
    with pytest.raises(PresetError, match="already exists"):
        store.export("i2v-a14b", "fast preview", out)
    store.export("i2v-a14b", "Official", out, overwrite=True)
    assert json.loads(out.read_text("utf-8"))["name"] == "Official"


def test_import_of_a_v1_file_migrates_it(tmp_path: Path) -> None:
    source = tmp_path / "old.json"
    original = write_json(source, V1_T2V)
    preset = PresetStore().import_file(source)
    assert preset.values["width"] == 832 and preset.version == PRESET_VERSION
    assert source.read_bytes() == original
    assert json.loads(preset.path.read_text("utf-8"))["version"] == 2  # type: ignore[union-attr]


def test_import_of_a_bad_file_changes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "broken.json"
    source.write_bytes(b'{"version": 2, "name": ')
    store = PresetStore()
    with pytest.raises(PresetFormatError, match="not a JSON preset file"):
        store.import_file(source)
    assert source.read_bytes() == b'{"version": 2, "name": '
    assert not list(tmp_path.glob("*.corrupt*"))
    with pytest.raises(PresetError, match="does not exist"):
        store.import_file(tmp_path / "missing.json")
    with pytest.raises(PresetError, match="is a folder"):
        store.import_file(tmp_path)
    assert list(paths.presets_dir().iterdir()) == []


# ---- CLI ---------------------------------------------------------------------------------------
def test_cli_list_show_export_import_delete(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["presets", "list", "--family", "t2v-a14b"]) == 0
    table = capsys.readouterr().out
    assert (
        "Official" in table
        and "Fast preview" in table
        and "1280x720" in table
        and "4 / 3" in table
        and "CFG HIGH/LOW" in table
    )

    assert main(["presets", "show", "official", "--family", "ti2v-5b", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["builtin"] is True and shown["values"]["frames"] == 121

    target = tmp_path / "fast.json"
    assert main(["presets", "export", "Fast preview", str(target), "--family", "ti2v-5b"]) == 0
    capsys.readouterr()
    assert main(["presets", "import", str(target), "--name", "Mine"]) == 0
    assert "imported ti2v-5b preset 'Mine'" in capsys.readouterr().out
    assert main(["presets", "--json", "list", "--family", "ti2v-5b"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listed] == [
        "Official",
        "Fast preview",
        "Lightning 4-step",
        "Demo",
        "Mine",
    ]
    assert main(["presets", "delete", "mine", "--family", "ti2v-5b"]) == 0
    capsys.readouterr()
    with pytest.raises(KeyError):
        PresetStore().find("ti2v-5b", "Mine")


def test_cli_bad_input_exits_2_with_a_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["presets", "show", "nope", "--family", "t2v-a14b"], "available: 'Official'"),
        (["presets", "show", "official", "--family", "sd15"], "valid families"),
        (["presets", "delete", "Official", "--family", "t2v-a14b"], "read-only"),
        (["presets", "import", str(tmp_path / "none.json")], "does not exist"),
    ]
    for argv, expected in cases:
        assert main(argv) == EXIT_BAD_INPUT
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, argv
    with pytest.raises(SystemExit) as info:
        main(["presets", "show", "Official"])  # --family is required
    assert info.value.code == EXIT_BAD_INPUT


def test_cli_reports_store_warnings_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    (paths.presets_dir() / "broken.json").write_bytes(b"{")
    assert main(["presets", "list"]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err and "broken.json.corrupt" in captured.err
    assert "Official" in captured.out


def test_presets_module_does_not_import_torch() -> None:
    code = "import sys, core.presets; core.presets.PresetStore(); print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
