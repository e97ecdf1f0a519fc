"""Child process of test_crash_safety: changes presets and the model library in a tight loop.

Run as ``python tests/core/helpers_crash.py MODEL_FOLDER SEED`` with WAN_STUDIO_HOME set. It
prints "ready" once its stores are open, then the count of completed steps after each one, until the
parent kills it with SIGKILL. Every kind of write the stores do is exercised: overwrite, create,
rename (write new file + remove old), delete, library add/remove/rename/notes/last-used.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.models.library import Library, LibraryError  # noqa: E402
from core.presets import Preset, PresetError, PresetStore  # noqa: E402

FAMILY = "t2v-a14b"


def preset_step(store: PresetStore, rng: random.Random, step: int) -> None:
    kind = step % 3
    if kind == 0:  # overwrite one of a few presets with new values
        values = {
            "width": 16 * rng.randint(8, 80),
            "height": 16 * rng.randint(8, 45),
            "frames": 4 * rng.randint(1, 30) + 1,
            "steps": rng.randint(1, 60),
            "guidance_high": round(rng.uniform(1, 8), 2),
            "prompt": "x" * rng.randint(0, 2000),  # bigger files: longer writes to land in
        }
        store.save(Preset(f"Loop {rng.randint(0, 4)}", FAMILY, values), overwrite=True)
    elif kind == 1:  # rename back and forth (two file operations)
        names = {p.name for p in store.list(FAMILY)}
        if "Flip" in names and "Flop" in names:  # a kill between the two steps of a rename
            store.delete(FAMILY, "Flop")
        elif "Flip" in names:
            store.rename(FAMILY, "Flip", "Flop")
        elif "Flop" in names:
            store.rename(FAMILY, "Flop", "Flip")
        else:
            store.duplicate(FAMILY, "Official", "Flip")
    else:  # create and delete
        names = {p.name for p in store.list(FAMILY)}
        if "Scratch" in names:
            store.delete(FAMILY, "Scratch")
        else:
            store.duplicate(FAMILY, "Fast preview", "Scratch")


def library_step(library: Library, folder: Path, rng: random.Random, step: int) -> None:
    entry = library.find_folder(folder)
    if entry is None:
        library.add(folder)
        return
    kind = step % 4
    if kind == 0:
        library.mark_used(entry.id)
    elif kind == 1:
        library.rename(entry.id, f"Model {rng.randint(0, 10**6)}")
    elif kind == 2:
        library.set_notes(entry.id, "n" * rng.randint(0, 3000))
    else:
        library.remove(entry.id)
        library.add(folder)


def main() -> int:
    folder, seed = Path(sys.argv[1]), int(sys.argv[2])
    rng = random.Random(seed)
    store, library = PresetStore(), Library()
    if store.warnings or library.warnings:  # every file left by a killed run must load cleanly
        print("WARNINGS", store.warnings + library.warnings, flush=True)
        return 3
    print("ready", flush=True)
    step = 0
    while True:
        try:
            preset_step(store, rng, step)
            library_step(library, folder, rng, step)
        except (PresetError, LibraryError, KeyError) as exc:
            print(f"ERROR {exc}", flush=True)
            return 4
        step += 1
        print(step, flush=True)


if __name__ == "__main__":
    sys.exit(main())
