"""Start-up warm-up: the imports the first generation needs, in small steps on the engine thread.

Why steps: a first import of torch, diffusers or transformers holds the GIL in long stretches
(C extension set-up, big module bodies), which stalls the GUI thread. Each step is its own idle
job (``Engine.submit_idle``): a job the user asked for (creating the demo model, a generation)
runs before the next step, and steps wait while the user is editing the form.

Measured (bench/gui_latency.py and a tick-gap probe), the GUI thread's long stalls during
these imports had two causes, and each step avoids both:

- libtorch_cpu's dynamic loading and static initializers: 150-400 ms (more on a busy machine
  with a cold page cache) inside ``import torch``, under the GIL. ``preload_torch_libraries``
  calls libc's ``dlopen`` as a ctypes *foreign function*, which releases the GIL (``ctypes.CDLL``
  itself does not), so the later ``import torch`` finds the library loaded.
- full (generation 2) garbage collections triggered by the import's allocations: each walks
  every object alive, so they grew from 12 to 130 ms as torch, diffusers and transformers
  piled up. A step runs with the collector paused and then ``gc.freeze()``s what exists: module
  objects live as long as the app, and later collections (during runs too) skip them.

Nothing here imports torch at module level: the step functions run on the engine thread.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import importlib.util
import logging
import os
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

# Third-party modules that core imports inside functions on the way to a first video.
FIRST_RUN_LIBRARIES = (
    "torch",
    "diffusers.pipelines.wan.pipeline_wan",
    "diffusers.pipelines.wan.pipeline_wan_i2v",
    "transformers.models.umt5.modeling_umt5",
    "accelerate",
    "PIL.Image",
    "imageio",
    "imageio_ffmpeg",
    # What a first run still imported after the above (diffusers 0.42: the pipeline's guiders,
    # the scheduler and the ones it lists as compatible; the T5 tokenizer; imageio's writer).
    "diffusers.guiders",
    "diffusers.schedulers.scheduling_unipc_multistep",
    "diffusers.schedulers.scheduling_ddpm",
    "diffusers.schedulers.scheduling_deis_multistep",
    "diffusers.schedulers.scheduling_dpmsolver_singlestep",
    "diffusers.schedulers.scheduling_edm_euler",
    "diffusers.schedulers.scheduling_k_dpm_2_ancestral_discrete",
    "diffusers.schedulers.scheduling_k_dpm_2_discrete",
    "transformers.models.t5.tokenization_t5",
    "imageio.plugins.ffmpeg",
    "PIL.PngImagePlugin",
    "PIL.JpegImagePlugin",
)
# The engine's own packages are walked rather than listed, so a new module cannot be missed.
ENGINE_PACKAGES = (
    "core.mx",
    "core.backends",
    "core.quant",
    "core.models",
    "core.lora",
    "core.generate",
)
# Pure C++ libraries of the torch wheel (no Python API in their static initializers), in
# dependency order: safe to load before the interpreter imports torch.
TORCH_NATIVE_LIBRARIES = ("libc10.so", "libtorch_cpu.so")

Step = tuple[str, Callable[[], object]]


def _libc_dlopen() -> Callable[[bytes, int], int] | None:
    """libc's dlopen as a ctypes foreign function (called that way, ctypes drops the GIL)."""
    try:
        dlopen = ctypes.CDLL(None).dlopen
    except (OSError, AttributeError):
        return None
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    return dlopen


def preload_multimedia_libraries() -> list[str]:
    """dlopen Qt Multimedia and its FFmpeg backend plugin without the GIL; the files loaded.

    Run it off the GUI thread before the player's first QMediaPlayer: creating one loads these
    libraries (about 50 ms, more on a busy machine) on the GUI thread, under the GIL. Loaded
    here first, that creation finds them in the process. Only native libraries are loaded (no
    Python binding), with RTLD_LOCAL; Qt's plugin loader later opens the same files.
    """
    if not sys.platform.startswith("linux"):
        return []
    dlopen = _libc_dlopen()
    try:
        from PySide6.QtCore import QLibraryInfo
    except ImportError:
        return []
    if dlopen is None:
        return []
    libs = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    wanted = [
        libs / "libQt6Multimedia.so.6",
        libs / "libQt6MultimediaWidgets.so.6",
        plugins / "multimedia" / "libffmpegmediaplugin.so",  # pulls in FFmpeg's libraries
    ]
    loaded = []
    for path in wanted:
        if path.is_file() and dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL):
            loaded.append(path.name)
    return loaded


def preload_torch_libraries() -> list[str]:
    """dlopen torch's native libraries without holding the GIL; the names loaded.

    Best effort: on another platform, another wheel layout or any loader error nothing is
    loaded and ``import torch`` does the work as usual.
    """
    if "torch" in sys.modules or not sys.platform.startswith("linux"):
        return []
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return []
    lib_dir = Path(next(iter(spec.submodule_search_locations))) / "lib"
    dlopen = _libc_dlopen()
    if dlopen is None:
        return []
    loaded = []
    for name in TORCH_NATIVE_LIBRARIES:
        path = lib_dir / name
        if not path.is_file() or not dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_GLOBAL):
            log.info("could not preload %s", path)
            break
        loaded.append(name)
    return loaded


def without_full_collections(step: Callable[[], object]) -> Callable[[], object]:
    """``step`` with the garbage collector paused, then everything alive frozen (see above)."""

    def run() -> object:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return step()
        finally:
            gc.freeze()
            if was_enabled:
                gc.enable()

    return run


def import_package_modules(package_name: str) -> int:
    """Import a package and every module under it; how many modules were imported."""
    package = importlib.import_module(package_name)
    count = 1
    for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
        importlib.import_module(module.name)
        count += 1
    return count


def warm_up_steps() -> list[Step]:
    """The warm-up as (name, function) steps, in order (each runs on the engine thread)."""
    steps: list[Step] = [("preload torch libraries", preload_torch_libraries)]
    steps += [(f"import {name}", _importer(name)) for name in FIRST_RUN_LIBRARIES]
    steps += [(f"import {name}.*", _package_importer(name)) for name in ENGINE_PACKAGES]
    return [(name, without_full_collections(step)) for name, step in steps]


def warm_up_imports() -> None:
    """Every warm-up step at once (for callers without an engine, e.g. a headless bench)."""
    for _name, step in warm_up_steps():
        step()


def _importer(name: str) -> Callable[[], object]:
    return lambda: importlib.import_module(name)


def _package_importer(name: str) -> Callable[[], object]:
    return lambda: import_package_modules(name)


__all__ = [
    "ENGINE_PACKAGES",
    "FIRST_RUN_LIBRARIES",
    "import_package_modules",
    "preload_multimedia_libraries",
    "preload_torch_libraries",
    "warm_up_imports",
    "warm_up_steps",
    "without_full_collections",
]
