"""SIGKILL at random moments while presets and the library are being saved never leaves an
unreadable file: only temp files of the interrupted write may remain, and loads ignore them."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import paths
from core.models.library import LIBRARY_VERSION, Library, LibraryEntry
from core.presets import PRESET_VERSION, PresetStore, parse_document

HELPER = Path(__file__).with_name("helpers_crash.py")
KILLS = 60
TEMP_SUFFIX = ".tmp"


def check_files_after_kill(presets: Path, library_file: Path) -> list[Path]:
    """Assert every preset file and the library file are complete; return leftover temp files."""
    temps: list[Path] = []
    for path in presets.iterdir():
        if path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX):
            temps.append(path)
            continue
        assert path.suffix == ".json", f"unexpected file {path.name}"
        doc = json.loads(path.read_text("utf-8"))
        assert doc["schema"] == "wan-studio-preset" and doc["version"] == PRESET_VERSION
        parse_document(doc, path.name)
    for path in library_file.parent.glob(f".{library_file.name}.*{TEMP_SUFFIX}"):
        temps.append(path)
    if library_file.exists():
        doc = json.loads(library_file.read_text("utf-8"))
        assert doc["schema"] == "wan-studio-library" and doc["version"] == LIBRARY_VERSION
        for entry in doc["models"]:
            LibraryEntry.from_dict(entry)
    assert not list(library_file.parent.rglob("*.corrupt*")), "nothing may ever be set aside"
    return temps


@pytest.mark.slow
def test_sigkill_while_saving_never_leaves_an_unreadable_file(
    demo_t2v: Path, app_home: Path
) -> None:
    presets, library_file = paths.presets_dir(), paths.library_file()
    rng = random.Random(20261123)
    env = dict(os.environ, WAN_STUDIO_HOME=str(app_home), PYTHONDONTWRITEBYTECODE="1")
    steps_done = 0
    temps_seen: set[str] = set()
    for kill in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, str(HELPER), str(demo_t2v), str(kill)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        first = child.stdout.readline().strip()
        if first != "ready":
            child.kill()
            _, err = child.communicate()
            pytest.fail(f"child {kill} did not start cleanly: {first!r} {err}")
        time.sleep(rng.uniform(0.0, 0.12))  # a random moment inside the write loop
        os.kill(child.pid, signal.SIGKILL)
        out, err = child.communicate()
        assert child.returncode == -signal.SIGKILL, f"child {kill} ended on its own: {out} {err}"
        counts = [int(line) for line in out.split() if line.isdigit()]
        steps_done += counts[-1] if counts else 0
        temps_seen.update(p.name for p in check_files_after_kill(presets, library_file))

    # The children really wrote (each step is several atomic saves) and were cut mid-write.
    assert steps_done >= KILLS
    # A later load is clean: temp files are ignored, and removed once they are old.
    store, library = PresetStore(), Library()
    assert store.warnings == [] and library.warnings == []
    assert any(p.name.startswith("Loop ") for p in store.list("t2v-a14b"))
    # A kill between "remove" and "add" legitimately leaves the model unregistered.
    assert [e.path for e in library.list()] in ([demo_t2v], [])
    leftovers = check_files_after_kill(presets, library_file)
    long_ago = time.time() - 3600
    for tmp in leftovers:
        os.utime(tmp, (long_ago, long_ago))
    PresetStore()
    Library()
    assert check_files_after_kill(presets, library_file) == []
    print(f"{KILLS} kills, {steps_done} loop steps, {len(temps_seen)} interrupted writes seen")
