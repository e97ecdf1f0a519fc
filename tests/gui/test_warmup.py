"""The start-up warm-up's steps (gui/warmup.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from gui.warmup import ENGINE_PACKAGES, FIRST_RUN_LIBRARIES, warm_up_steps


def test_steps_preload_first_then_torch_then_the_rest() -> None:
    names = [name for name, _ in warm_up_steps()]
    assert names[0] == "preload torch libraries"
    assert names[1] == "import torch"
    assert names[1 : 1 + len(FIRST_RUN_LIBRARIES)] == [f"import {n}" for n in FIRST_RUN_LIBRARIES]
    assert names[-len(ENGINE_PACKAGES) :] == [f"import {p}.*" for p in ENGINE_PACKAGES]


def test_preloading_loads_libtorch_without_importing_torch_and_torch_still_imports() -> None:
    code = (
        "import sys; from gui.warmup import preload_torch_libraries; "
        "loaded = preload_torch_libraries(); before = 'torch' in sys.modules; "
        "maps = open('/proc/self/maps').read(); "
        "import torch; x = torch.ones(2) + 1; "
        "print(','.join(loaded), before, 'libtorch_cpu.so' in maps, float(x.sum()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["libc10.so,libtorch_cpu.so", "False", "True", "4.0"]


def test_preloading_is_a_no_op_once_torch_is_imported() -> None:
    import torch  # noqa: F401

    from gui.warmup import preload_torch_libraries

    assert preload_torch_libraries() == []


def test_a_step_runs_without_the_collector_and_freezes_what_it_made() -> None:
    import gc

    from gui.warmup import without_full_collections

    seen: dict[str, object] = {}

    def step() -> str:
        seen["enabled_during"] = gc.isenabled()
        seen["made"] = [[] for _ in range(1000)]  # lists: GC-tracked (a bare object() is not)
        return "ok"

    frozen_before = gc.get_freeze_count()
    assert gc.isenabled()
    try:
        assert without_full_collections(step)() == "ok"
        assert seen["enabled_during"] is False
        assert gc.isenabled()  # back on afterwards
        assert gc.get_freeze_count() >= frozen_before + 1000
    finally:
        gc.unfreeze()  # leave the test process as it was


def test_multimedia_libraries_preload_off_the_gui_thread_and_the_player_still_works() -> None:
    code = (
        "import threading; from gui.warmup import preload_multimedia_libraries\n"
        "out = []\n"
        "t = threading.Thread(target=lambda: out.append(preload_multimedia_libraries()))\n"
        "t.start(); t.join()\n"
        "maps = open('/proc/self/maps').read()\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtMultimedia import QMediaFormat, QMediaPlayer\n"
        "app = QApplication([])\n"
        "player = QMediaPlayer()\n"
        "mp4 = QMediaFormat.FileFormat.MPEG4 in QMediaFormat().supportedFileFormats(\n"
        "    QMediaFormat.ConversionMode.Decode)\n"
        "print(','.join(out[0]), 'libffmpegmediaplugin.so' in maps, mp4)\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QT_LOGGING_RULES="qt.*=false")
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    ).stdout.split()
    assert out == [
        "libQt6Multimedia.so.6,libQt6MultimediaWidgets.so.6,libffmpegmediaplugin.so",
        "True",
        "True",
    ]
