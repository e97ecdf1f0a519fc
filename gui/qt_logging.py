"""Quiet Qt multimedia's harmless start-up chatter; keep its real errors and the user's rules.

On every start the FFmpeg media backend probes optional libraries (pipewire, VA-API for
hardware decoding) and logs each one it cannot load, then logs the FFmpeg version: a dozen
lines that look like problems and are not (the player decodes in software without them).
Those categories are switched off through ``QT_LOGGING_RULES`` (warnings of the symbol
resolver, info of the FFmpeg backend and its hardware-acceleration probing); critical messages
and warnings of every other category still print. Qt reads the variable when the first
logging category is used, so ``quiet_qt_multimedia`` must run before QApplication exists.

A user's own ``QT_LOGGING_RULES`` is kept and put after ours: in Qt's rules the last match
wins, so ``QT_LOGGING_RULES="qt.multimedia.*=true"`` brings everything back.
"""

from __future__ import annotations

import os

RULES_ENV = "QT_LOGGING_RULES"
QUIET_RULES = (
    "qt.multimedia.symbolsresolver.warning=false",  # "Couldn't load pipewire-0.3 / va library"
    "qt.multimedia.symbolsresolver.info=false",
    "qt.multimedia.ffmpeg.info=false",  # "Using Qt multimedia with FFmpeg version ..."
    "qt.multimedia.ffmpeg.hwaccel*.warning=false",  # hardware decoders that are not there
    "qt.multimedia.ffmpeg.hwaccel*.info=false",
)


def quiet_qt_multimedia() -> str:
    """Set QT_LOGGING_RULES for this process (ours first, the user's after); the new value."""
    own = os.environ.get(RULES_ENV, "").strip().strip(";")
    if own and all(rule in own for rule in QUIET_RULES):
        return own  # already applied (e.g. a second window in the same process)
    value = ";".join(QUIET_RULES + ((own,) if own else ()))
    os.environ[RULES_ENV] = value
    return value


__all__ = ["QUIET_RULES", "quiet_qt_multimedia"]
