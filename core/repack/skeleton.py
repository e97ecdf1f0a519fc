"""The tensors a Diffusers WanTransformer3DModel expects, from its config, without weights.

Why: a repack must prove its output is complete before it is renamed into place. The only
authority on which tensors (and shapes) the model has is diffusers itself, so the model is
instantiated on the meta device (no memory) from the ORIGINAL config and its state-dict keys
are read.

Importing torch + diffusers costs about 400 MB of RSS, more than the whole streaming repack
needs. A process that has not imported torch yet (the `wan-studio repack` CLI) therefore asks a
short-lived child interpreter for the shapes; a process that already holds torch (the GUI,
tests) builds the skeleton in-process. Both run the same function.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from core.repack.errors import RepackInputError

TRANSFORMER_CLASS = "WanTransformer3DModel"
_CHILD_TIMEOUT = 600.0


def expected_shapes(
    config: dict[str, Any], source: str = "config.json", in_process: bool | None = None
) -> dict[str, tuple[int, ...]]:
    """Diffusers state-dict key -> shape for a transformer config (meta device, no weights).

    ``in_process`` None: in-process when torch is already imported, else in a child process.
    """
    cls = config.get("_class_name", TRANSFORMER_CLASS)
    if cls != TRANSFORMER_CLASS:
        raise RepackInputError(
            f"{source}: the transformer is a {cls}, not a {TRANSFORMER_CLASS}; pick the original "
            "Diffusers folder of a Wan2.2 model"
        )
    config_json = json.dumps(config, sort_keys=True)
    if in_process is None:
        in_process = "torch" in sys.modules
    shapes = _shapes_here(config_json, source) if in_process else _shapes_child(config_json, source)
    return dict(shapes)


@functools.lru_cache(maxsize=8)
def _shapes_here(config_json: str, source: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    import logging

    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel

    config = json.loads(config_json)
    config.pop("quantization_config", None)
    quiet = logging.getLogger("diffusers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # unknown keys in hand-edited configs are not our concern
    try:
        with init_empty_weights():
            model = WanTransformer3DModel.from_config(config)
    except Exception as exc:  # diffusers raises TypeError/ValueError/... for a bad config
        raise RepackInputError(
            f"{source}: diffusers cannot build {TRANSFORMER_CLASS} from this config "
            f"({type(exc).__name__}: {exc}); pick the original Diffusers folder of a Wan2.2 model"
        ) from exc
    finally:
        quiet.setLevel(level)
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


@functools.lru_cache(maxsize=8)
def _shapes_child(config_json: str, source: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "core.repack.skeleton", source],
            input=config_json,
            capture_output=True,
            text=True,
            timeout=_CHILD_TIMEOUT,
            env=env,
            cwd=root,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RepackInputError(f"{source}: could not build the model skeleton ({exc})") from exc
    try:
        answer = json.loads(done.stdout)
    except ValueError:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RepackInputError(
            f"{source}: could not build the model skeleton: {' / '.join(tail)}"
        ) from None
    if "error" in answer:
        raise RepackInputError(answer["error"])
    return tuple((k, tuple(v)) for k, v in answer["shapes"])


def _main() -> int:
    """Child entry point: config JSON on stdin -> {"shapes": [[key, shape], ...]} on stdout."""
    source = sys.argv[1] if len(sys.argv) > 1 else "config.json"
    try:
        shapes = _shapes_here(sys.stdin.read(), source)
    except RepackInputError as exc:
        print(json.dumps({"error": str(exc)}))
        return 2
    print(json.dumps({"shapes": [[k, list(v)] for k, v in shapes]}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
