"""Qt multimedia's harmless start-up lines are off, its real problems and the user's rules are
not (issue #15, item 5). Each case runs in a fresh interpreter: Qt reads the rules once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
quiet = sys.argv[1] == "1"
if quiet:
    from gui.qt_logging import quiet_qt_multimedia
    quiet_qt_multimedia()
from PySide6.QtCore import QLoggingCategory
from PySide6.QtWidgets import QApplication
app = QApplication([])
def enabled(name):
    c = QLoggingCategory(name)
    return {"info": c.isInfoEnabled(), "warning": c.isWarningEnabled(),
            "critical": c.isCriticalEnabled()}
print(json.dumps({n: enabled(n) for n in (
    "qt.multimedia.symbolsresolver", "qt.multimedia.ffmpeg", "qt.multimedia.ffmpeg.hwaccel",
    "qt.multimedia.player", "qt.core")}))
"""


def _probe(quiet: bool, user_rules: str | None = None) -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env.pop("QT_LOGGING_RULES", None)
    if user_rules is not None:
        env["QT_LOGGING_RULES"] = user_rules
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "1" if quiet else "0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_harmless_categories_are_off_and_real_errors_still_print() -> None:
    loud, quiet = _probe(False), _probe(True)
    # Without the rules these print (so the test would notice the rules not applying).
    assert loud["qt.multimedia.symbolsresolver"]["warning"]
    assert loud["qt.multimedia.ffmpeg"]["info"]
    assert not quiet["qt.multimedia.symbolsresolver"]["warning"]
    assert not quiet["qt.multimedia.ffmpeg"]["info"]
    assert not quiet["qt.multimedia.ffmpeg.hwaccel"]["warning"]
    # Real problems still print: FFmpeg warnings, critical messages, other categories.
    assert quiet["qt.multimedia.ffmpeg"]["warning"]
    assert all(quiet[name]["critical"] for name in quiet)
    assert quiet["qt.multimedia.player"]["warning"] and quiet["qt.core"]["warning"]


def test_the_users_own_rules_are_kept_and_win() -> None:
    quiet = _probe(True, user_rules="qt.multimedia.symbolsresolver.warning=true")
    assert quiet["qt.multimedia.symbolsresolver"]["warning"]  # the user asked for it back
    assert not quiet["qt.multimedia.ffmpeg"]["info"]  # ours still apply to the rest


def test_no_pipewire_or_va_lines_when_the_player_backend_loads() -> None:
    code = (
        "from gui.qt_logging import quiet_qt_multimedia; quiet_qt_multimedia()\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtMultimedia import QMediaPlayer\n"
        "app = QApplication([])\n"
        "player = QMediaPlayer()\n"
        "print('loaded')\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env.pop("QT_LOGGING_RULES", None)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr
    for noise in ("pipewire", "Couldn't load va", "Using Qt multimedia with FFmpeg"):
        assert noise not in done.stderr
