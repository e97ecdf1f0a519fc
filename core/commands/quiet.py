"""Silence third-party chatter in the CLI, which prints its own progress."""

from __future__ import annotations

import os
import warnings

# Read by the libraries when they are imported (every command imports them lazily, after this
# runs), so nothing has to be imported here: `wan-studio presets list` stays instant.
_QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",  # e.g. the torchvision fallback warning
    "DIFFUSERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # also transformers' "Writing model shards" bars
    "TQDM_DISABLE": "1",  # diffusers' "Loading pipeline components" bar is plain tqdm
}


def quiet_libraries() -> None:
    """Turn off library progress bars and warnings for this process and its helpers.

    Call it before torch, diffusers, transformers or tqdm are imported: they read these then.

    A value the user set explicitly is kept, so TQDM_DISABLE=0 brings the bars back.
    """
    for name, value in _QUIET_ENV.items():
        os.environ.setdefault(name, value)
    warnings.filterwarnings("ignore", category=FutureWarning)
