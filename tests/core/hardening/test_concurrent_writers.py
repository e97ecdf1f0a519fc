"""Item 2: read-modify-write of user files is serialized across processes: six real processes
adding at once all end up in the file (before: 1-2 of 6 were lost)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

WRITERS = 6
NAMES = "!?#$%&"


def _start_together(target, args_list: list[tuple]) -> None:
    """Run ``target(*args)`` in one real process each, released at the same instant."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(args_list))
    procs = [ctx.Process(target=target, args=(barrier, *args)) for args in args_list]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0, f"a writer failed (exit {proc.exitcode})"


def _add_model(barrier, home: str, folder: str) -> None:
    os.environ["WAN_STUDIO_HOME"] = home
    from core.models.library import Library

    library = Library()  # every writer read the library before any other one wrote
    barrier.wait()
    library.add(folder)


def _save_preset(barrier, home: str, index: int) -> None:
    os.environ["WAN_STUDIO_HOME"] = home
    from core.presets import Preset, PresetStore

    store = PresetStore()
    barrier.wait()
    # Six names with one file name ("mine.json"): without the lock all six pick the same file.
    store.save(Preset(f"Mine{NAMES[index]}", "t2v-a14b", {"steps": 10 + index}))


def _add_lora_folder(barrier, home: str, folder: str) -> None:
    os.environ["WAN_STUDIO_HOME"] = home
    from core.lora.library import add_folder

    barrier.wait()
    add_folder(folder)


@pytest.fixture
def model_copies(demo_ti2v: Path, tmp_path: Path) -> list[Path]:
    import shutil

    copies = []
    for i in range(WRITERS):
        copy = tmp_path / f"model-{i}"
        shutil.copytree(demo_ti2v, copy)
        copies.append(copy)
    return copies


def test_six_models_add_at_once_keep_all_six(app_home: Path, model_copies: list[Path]) -> None:
    from core.models.library import Library

    _start_together(_add_model, [(str(app_home), str(p)) for p in model_copies])
    library = Library()
    assert sorted(str(e.path) for e in library.list()) == sorted(str(p) for p in model_copies)
    assert library.warnings == []


def test_six_preset_saves_at_once_keep_all_six(app_home: Path) -> None:
    from core.presets import PresetStore

    _start_together(_save_preset, [(str(app_home), i) for i in range(WRITERS)])
    store = PresetStore()
    mine = {p.name: p.values["steps"] for p in store.list("t2v-a14b") if not p.builtin}
    assert mine == {f"Mine{NAMES[i]}": 10 + i for i in range(WRITERS)}
    assert store.warnings == []


def test_six_lora_folders_added_at_once_keep_all_six(app_home: Path, tmp_path: Path) -> None:
    from core.lora.library import load_folders

    folders = [tmp_path / f"loras-{i}" for i in range(WRITERS)]
    for folder in folders:
        folder.mkdir()
    _start_together(_add_lora_folder, [(str(app_home), str(f)) for f in folders])
    saved, problem = load_folders()
    assert problem is None and sorted(saved) == sorted(str(f.resolve()) for f in folders)
