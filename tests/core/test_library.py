"""Model library: persistence, validation, removal vs deletion, corrupt and newer files, CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import paths
from core.cli import EXIT_BAD_INPUT, EXIT_FAILED, main
from core.models.library import (
    LIBRARY_VERSION,
    Library,
    LibraryEntry,
    LibraryError,
    LibraryReadOnlyError,
)


def tree(folder: Path) -> dict[str, int]:
    """Relative file path -> size: to prove a folder was left untouched."""
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def library_doc(*entries: dict[str, object], version: int = LIBRARY_VERSION) -> dict[str, object]:
    return {"schema": "wan-studio-library", "version": version, "models": list(entries)}


def stored_entry(path: Path, entry_id: str = "m", name: str = "M") -> dict[str, object]:
    return {"id": entry_id, "path": str(path), "name": name, "added": "2026-01-01T00:00:00+00:00"}


@pytest.fixture
def msmodelslim_export(demo_t2v: Path, tmp_path: Path) -> Path:
    from core.repack.fixtures import make_msmodelslim_export

    return make_msmodelslim_export(demo_t2v, tmp_path / "export")


# ---- persistence -------------------------------------------------------------------------------
def test_new_library_is_empty_and_writes_nothing_until_changed() -> None:
    library = Library()
    assert library.list() == [] and library.warnings == [] and library.read_only_reason is None
    assert not paths.library_file().exists()


def test_add_persists_and_round_trips(demo_t2v: Path, demo_ti2v: Path) -> None:
    library = Library()
    first = library.add(demo_t2v)
    second = library.add(demo_ti2v, name="  My TI2V  ")
    assert first.path == demo_t2v and first.family == "t2v-a14b" and first.layout == "diffusers"
    assert first.name == "Demo Wan2.2-T2V-A14B (random weights)"
    assert second.name == "My TI2V" and second.id != first.id
    assert first.added and first.last_used is None
    doc = json.loads(paths.library_file().read_text("utf-8"))
    assert doc["schema"] == "wan-studio-library" and doc["version"] == LIBRARY_VERSION
    assert [m["id"] for m in doc["models"]] == [first.id, second.id]
    again = Library()
    assert again.list() == [first, second] and again.warnings == []


def test_entry_changes_are_saved(demo_t2v: Path) -> None:
    library = Library()
    entry = library.add(demo_t2v)
    library.rename(entry.id, "Fox model")
    library.set_notes(entry.id, "for the fox videos")
    used = library.mark_used(entry.id)
    assert used.last_used is not None
    stored = Library().get(entry.id)
    assert (stored.name, stored.notes, stored.last_used) == (
        "Fox model",
        "for the fox videos",
        used.last_used,
    )
    with pytest.raises(LibraryError, match="empty"):
        library.rename(entry.id, "   ")
    with pytest.raises(KeyError, match="ids: "):
        library.rename("nope", "x")


def test_changes_made_by_another_process_are_kept(demo_t2v: Path, demo_i2v: Path) -> None:
    gui, cli = Library(), Library()
    mine = gui.add(demo_t2v)
    cli.add(demo_i2v)  # sees the GUI's entry before saving
    gui.mark_used(mine.id)  # re-reads the CLI's change before saving
    assert [e.path for e in Library().list()] == [demo_t2v, demo_i2v]


def test_resolve_by_id_prefix_path_and_name(demo_t2v: Path, demo_i2v: Path) -> None:
    library = Library()
    a = library.add(demo_t2v, name="Alpha")
    b = library.add(demo_i2v, name="Beta")
    assert library.resolve(a.id) == a
    assert library.resolve(str(demo_i2v) + os.sep) == b
    assert library.resolve("beta") == b
    assert (a.id, b.id) == ("t2v-a14b", "i2v-a14b")  # ids come from the folder names
    assert library.resolve("i2v") == b
    with pytest.raises(KeyError, match="ids: "):
        library.resolve("zzz")


# ---- add validation ----------------------------------------------------------------------------
def test_add_refuses_bad_folders_and_saves_nothing(tmp_path: Path) -> None:
    library = Library()
    with pytest.raises(LibraryError, match="does not exist"):
        library.add(tmp_path / "missing")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(LibraryError, match="is a file"):
        library.add(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LibraryError, match=r"not a Wan2\.2 model folder"):
        library.add(tmp_path / "empty")
    assert library.list() == [] and not paths.library_file().exists()


def test_duplicate_add_is_refused_even_through_another_spelling(
    demo_t2v: Path, tmp_path: Path
) -> None:
    library = Library()
    entry = library.add(demo_t2v)
    link = tmp_path / "link"
    link.symlink_to(demo_t2v, target_is_directory=True)
    for spelling in (demo_t2v, Path(str(demo_t2v) + os.sep), link, demo_t2v / ".." / demo_t2v.name):
        with pytest.raises(LibraryError, match=f"already in the library as '{entry.id}'"):
            library.add(spelling)
    assert len(Library()) == 1


def test_same_folder_name_in_two_places_gets_two_ids(demo_t2v: Path, tmp_path: Path) -> None:
    a = copy_model(demo_t2v, tmp_path / "a" / "wan")
    b = copy_model(demo_t2v, tmp_path / "b" / "wan")
    library = Library()
    first, second = library.add(a), library.add(b)
    assert (first.id, second.id) == ("wan", "wan-2")


def test_msmodelslim_export_is_registered_for_the_repack_wizard(msmodelslim_export: Path) -> None:
    library = Library()
    entry = library.add(msmodelslim_export)
    assert entry.layout == "msmodelslim" and entry.family == "t2v-a14b"
    assert library.status(entry.id) == "repack"
    assert Library().get(entry.id).layout == "msmodelslim"


# ---- inspection ----------------------------------------------------------------------------
def test_inspection_is_cached_until_refreshed(demo_ti2v: Path, tmp_path: Path) -> None:
    folder = copy_model(demo_ti2v, tmp_path / "model")
    library = Library()
    entry = library.add(folder)
    info = library.inspect(entry.id)
    assert info.family == "ti2v-5b" and info.is_demo and library.status(entry.id) == "ok"
    assert library.inspect(entry.id) is info
    assert library.inspect(entry.id, refresh=True) is not info
    folder.rename(tmp_path / "moved")
    assert library.status(entry.id) == "missing"
    (tmp_path / "moved").rename(folder)
    library.refresh()
    assert library.status(entry.id) == "ok"


# ---- remove vs delete --------------------------------------------------------------------------
def test_remove_leaves_the_files(demo_t2v: Path) -> None:
    before = tree(demo_t2v)
    library = Library()
    entry = library.add(demo_t2v)
    removed = library.remove(entry.id)
    assert removed.id == entry.id and len(Library()) == 0
    assert tree(demo_t2v) == before


def test_delete_files_needs_confirm_and_a_registered_model(demo_t2v: Path, tmp_path: Path) -> None:
    folder = copy_model(demo_t2v, tmp_path / "models" / "doomed")
    library = Library()
    entry = library.add(folder)
    for confirm in (False, None, "yes", 1):
        with pytest.raises(LibraryError, match="confirm=True"):
            library.delete_files(entry.id, confirm=confirm)  # type: ignore[arg-type]
    assert folder.is_dir() and len(Library()) == 1
    with pytest.raises(KeyError):
        library.delete_files("not-registered", confirm=True)
    assert library.delete_files(entry.id, confirm=True) == folder
    assert not folder.exists() and len(Library()) == 0
    assert list(folder.parent.iterdir()) == []  # no hidden leftovers either


def test_delete_files_refuses_a_folder_that_no_longer_holds_a_model(
    demo_t2v: Path, tmp_path: Path
) -> None:
    folder = copy_model(demo_t2v, tmp_path / "reused")
    library = Library()
    entry = library.add(folder)
    for child in list(folder.iterdir()):
        shutil.rmtree(child) if child.is_dir() else child.unlink()
    (folder / "thesis.txt").write_text("important")
    with pytest.raises(LibraryError, match="no longer looks like a model"):
        library.delete_files(entry.id, confirm=True)
    assert (folder / "thesis.txt").read_text() == "important"


def test_delete_files_refuses_a_symlink(demo_t2v: Path, tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(demo_t2v, target_is_directory=True)
    library = Library()
    entry = library.add(link)
    with pytest.raises(LibraryError, match="symbolic link"):
        library.delete_files(entry.id, confirm=True)
    assert (demo_t2v / "model_index.json").is_file()


def test_ensure_demo_creates_once_and_registers() -> None:
    library = Library()
    entry = library.ensure_demo("ti2v-5b")
    assert entry.path == paths.demo_model_dir("ti2v-5b") and entry.family == "ti2v-5b"
    marker = entry.path / "wan_studio.json"
    stamp = marker.stat().st_mtime_ns
    again = Library().ensure_demo("Wan2.2-TI2V-5B")
    assert again == entry and marker.stat().st_mtime_ns == stamp and len(Library()) == 1
    with pytest.raises(KeyError, match="valid families"):
        library.ensure_demo("sdxl")


def test_ensure_demo_never_overwrites_a_foreign_folder() -> None:
    target = paths.demo_model_dir("t2v-a14b")
    target.mkdir(parents=True)
    (target / "mine.txt").write_text("not a demo")
    with pytest.raises(LibraryError, match="not empty"):
        Library().ensure_demo("t2v-a14b")
    assert [p.name for p in target.iterdir()] == ["mine.txt"] and len(Library()) == 0


# ---- damaged and newer files -------------------------------------------------------------------
CORRUPT_LIBRARIES = {
    "garbage": b"\x00\x9c\xff not json",
    "truncated": json.dumps(library_doc(stored_entry(Path("/m")))).encode()[:-7],
    "root is a list": b"[1, 2]",
    "models not a list": json.dumps(
        {"schema": "wan-studio-library", "version": 1, "models": {}}
    ).encode(),
    "version is text": json.dumps(
        {"schema": "wan-studio-library", "version": "1", "models": []}
    ).encode(),
    "other schema": json.dumps({"schema": "something-else", "version": 1, "models": []}).encode(),
}


@pytest.mark.parametrize("case", list(CORRUPT_LIBRARIES))
def test_corrupt_library_is_set_aside_and_the_app_starts_empty(case: str, demo_t2v: Path) -> None:
    file = paths.library_file()
    data = CORRUPT_LIBRARIES[case]
    file.write_bytes(data)
    library = Library()
    assert library.list() == []
    assert len(library.warnings) == 1 and "library.json.corrupt" in library.warnings[0]
    assert (file.parent / "library.json.corrupt").read_bytes() == data
    assert not file.exists()
    library.add(demo_t2v)  # the library works again and starts a fresh file
    assert len(Library()) == 1 and Library().warnings == []
    assert (file.parent / "library.json.corrupt").read_bytes() == data


def test_broken_entries_are_dropped_and_the_original_kept(demo_t2v: Path) -> None:
    file = paths.library_file()
    good = stored_entry(demo_t2v, "good", "Good")
    bad_type = {**stored_entry(demo_t2v, "bad"), "name": 42}
    relative = stored_entry(Path("relative/path"), "rel")
    twin = stored_entry(demo_t2v, "good", "Twin")
    file.write_text(json.dumps(library_doc(good, bad_type, relative, twin)))
    original = file.read_bytes()
    library = Library()
    assert [e.id for e in library.list()] == ["good"]
    assert (
        "3 unreadable entries" in library.warnings[0]
        and "library.json.corrupt" in library.warnings[0]
    )
    assert (file.parent / "library.json.corrupt").read_bytes() == original
    assert [e.id for e in Library().list()] == ["good"] and Library().warnings == []


def test_newer_schema_is_refused_and_never_overwritten(demo_t2v: Path) -> None:
    file = paths.library_file()
    file.write_text(json.dumps(library_doc(stored_entry(demo_t2v), version=LIBRARY_VERSION + 1)))
    original = file.read_bytes()
    library = Library()
    assert library.list() == []
    assert library.read_only_reason and "newer Wan Studio" in library.read_only_reason
    assert library.warnings == [library.read_only_reason]
    with pytest.raises(LibraryReadOnlyError, match="newer Wan Studio"):
        library.add(demo_t2v)
    with pytest.raises(LibraryReadOnlyError):
        library.ensure_demo("t2v-a14b")
    assert file.read_bytes() == original
    # Only the cross-process lock file (core.filelock) may appear next to it.
    assert sorted(p.name for p in file.parent.iterdir()) in (
        ["library.json"],
        ["library.json", "library.json.lock"],
    )


def test_entry_from_dict_rejects_wrong_types() -> None:
    good = stored_entry(Path("/m"))
    assert LibraryEntry.from_dict(good).path == Path("/m")
    for bad in (
        [good],
        {**good, "id": ""},
        {**good, "path": 3},
        {**good, "notes": None},
        {**good, "last_used": 5},
    ):
        with pytest.raises(ValueError):
            LibraryEntry.from_dict(bad)


# ---- CLI ---------------------------------------------------------------------------------------
def test_cli_models_add_list_info_remove(
    demo_t2v: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "list"]) == 0
    assert "the library is empty" in capsys.readouterr().out
    assert main(["models", "add", str(demo_t2v), "--name", "Fox"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("added: ") and "Fox" in out and str(demo_t2v) in out
    entry_id = Library().list()[0].id
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:4] == ["ID", "NAME", "FAMILY", "LAYOUT"]
    assert entry_id in table[2] and "t2v-a14b" in table[2] and "ok" in table[2]
    assert main(["models", "info", entry_id]) == 0
    assert "family:" in capsys.readouterr().out
    assert main(["models", "--json", "list"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["id"] == entry_id and listed[0]["status"] == "ok"
    assert listed[0]["inspection"]["family"] == "t2v-a14b"
    assert main(["models", "remove", entry_id]) == 0
    assert "files left in" in capsys.readouterr().out
    assert len(Library()) == 0 and (demo_t2v / "model_index.json").is_file()


def test_cli_models_bad_input_exits_2(
    demo_t2v: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["models", "add", str(tmp_path / "nope")], "does not exist"),
        (["models", "remove", "nope"], "library is empty"),
        (["models", "info", "nope"], "library is empty"),
        (["models", "demo", "--family", "sdxl"], "valid families"),
    ]
    for argv, expected in cases:
        assert main(argv) == EXIT_BAD_INPUT, argv
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err, (argv, err)
    assert main(["models", "add", str(demo_t2v)]) == 0
    capsys.readouterr()
    assert main(["models", "add", str(demo_t2v)]) == EXIT_BAD_INPUT
    assert "already in the library" in capsys.readouterr().err


def test_cli_refuses_changes_to_a_newer_library(
    demo_t2v: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths.library_file().write_text(json.dumps(library_doc(version=99)))
    assert main(["models", "add", str(demo_t2v)]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "newer Wan Studio" in err and "Traceback" not in err


def test_library_and_inspection_do_not_import_torch(demo_t2v: Path) -> None:
    code = (
        "import sys; from core.models.library import Library; lib = Library();"
        f"e = lib.add({str(demo_t2v)!r}); lib.inspect(e.id); lib.list();"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
