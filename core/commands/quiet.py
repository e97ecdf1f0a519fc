"""Silence third-party chatter in commands that print their own progress."""

from __future__ import annotations


def quiet_libraries() -> None:
    """The CLI has its own progress display: silence library progress bars and chatter."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from diffusers.utils import logging as dlog

        dlog.set_verbosity_error()
        dlog.disable_progress_bar()
    except ImportError:
        pass
    try:
        from transformers.utils import logging as tlog

        tlog.set_verbosity_error()
        tlog.disable_progress_bar()
    except ImportError:
        pass
    try:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    except ImportError:
        pass
    logging.getLogger("transformers").setLevel(logging.ERROR)
