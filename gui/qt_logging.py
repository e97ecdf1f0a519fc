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

FFmpeg itself also prints, outside Qt's categories: every video the player opens dumps its
container ("Input #0, mov,mp4..." and all metadata, our JSON record included) at FFmpeg's
info level. ``quiet_ffmpeg`` sets the FFmpeg log level Qt's backend uses to warnings, so its
warnings and errors still print; ``QT_FFMPEG_DEBUG`` (Qt's own switch) leaves it alone.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)
AV_LOG_WARNING = 24  # libavutil/log.h

RULES_ENV = "QT_LOGGING_RULES"
QUIET_RULES = (
    "qt.multimedia.symbolsresolver.warning=false",  # "Couldn't load pipewire-0.3 / va library"
    "qt.multimedia.symbolsresolver.info=false",
    "qt.multimedia.ffmpeg.info=false",  # "Using Qt multimedia with FFmpeg version ..."
    "qt.multimedia.ffmpeg.hwaccel*.warning=false",  # hardware decoders that are not there
    "qt.multimedia.ffmpeg.hwaccel*.info=false",
    "qt.multimedia.playbackengine.codec.warning=false",  # "No HW decoder found"
    "qt.multimedia.playbackengine.codec.info=false",
)


def quiet_qt_multimedia() -> str:
    """Set QT_LOGGING_RULES for this process (ours first, the user's after); the new value."""
    own = os.environ.get(RULES_ENV, "").strip().strip(";")
    if own and all(rule in own for rule in QUIET_RULES):
        return own  # already applied (e.g. a second window in the same process)
    value = ";".join(QUIET_RULES + ((own,) if own else ()))
    os.environ[RULES_ENV] = value
    return value


def quiet_ffmpeg() -> bool:
    """Lower the log level of the FFmpeg that Qt Multimedia loaded to warnings; True if set.

    Call it once the media backend is up (after the first QMediaPlayer): only an FFmpeg already
    in the process is touched (``RTLD_NOLOAD``), the one next to Qt's libraries (PySide6
    wheels). With a system Qt, or when ``QT_FFMPEG_DEBUG`` asks for FFmpeg's output, nothing
    is changed.
    """
    if os.environ.get("QT_FFMPEG_DEBUG"):
        return False
    try:
        from PySide6.QtCore import QLibraryInfo

        lib_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
        for path in sorted(lib_dir.glob("libavutil.so*"), key=lambda p: len(p.name)):
            try:
                avutil = ctypes.CDLL(str(path), mode=os.RTLD_NOLOAD | os.RTLD_NOW)
            except OSError:
                continue  # not this name, or not loaded
            avutil.av_log_set_level(AV_LOG_WARNING)
            return True
    except (AttributeError, ImportError) as exc:
        log.debug("FFmpeg log level left as is: %s", exc)
    return False


__all__ = ["QUIET_RULES", "quiet_ffmpeg", "quiet_qt_multimedia"]
