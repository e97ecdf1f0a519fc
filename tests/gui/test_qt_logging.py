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


PLAY = """
import sys
quiet = sys.argv[2] == "1"
from gui.qt_logging import quiet_qt_multimedia
quiet_qt_multimedia()
from PySide6.QtCore import QTimer, QUrl
from PySide6.QtWidgets import QApplication
app = QApplication([])
if quiet:  # the app's player (it quiets FFmpeg once the backend is loaded)
    from gui.bus import AppBus
    from gui.widgets.player import PlayerWidget
    bus = AppBus()
    player = PlayerWidget(run_io=bus.engine.run_io)
    player.show()
    player.load(sys.argv[1])
    player.media_loaded.connect(lambda *a: QTimer.singleShot(300, app.quit))
else:  # a bare QMediaPlayer: what FFmpeg prints by itself
    from PySide6.QtMultimedia import QMediaPlayer
    bus = None
    player = QMediaPlayer()
    player.mediaStatusChanged.connect(
        lambda s: s == QMediaPlayer.MediaStatus.LoadedMedia and QTimer.singleShot(300, app.quit)
    )
    player.setSource(QUrl.fromLocalFile(sys.argv[1]))
QTimer.singleShot(20000, app.quit)
app.exec()
if bus is not None:
    bus.shutdown()
print("played")
"""


def test_start_up_and_playing_a_video_print_no_backend_chatter(tmp_path) -> None:
    import imageio.v2 as imageio
    import numpy as np

    video = tmp_path / "clip.mp4"
    with imageio.get_writer(video, fps=8, macro_block_size=16) as writer:
        for i in range(4):
            writer.append_data(np.full((32, 32, 3), 40 * i, dtype=np.uint8))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    env.pop("QT_LOGGING_RULES", None)
    env.pop("QT_FFMPEG_DEBUG", None)

    def play(quiet: bool) -> str:
        done = subprocess.run(
            [sys.executable, "-c", PLAY, str(video), "1" if quiet else "0"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )
        assert done.returncode == 0 and "played" in done.stdout, done.stderr[-2000:]
        return done.stderr

    assert "Input #0" in play(quiet=False)  # FFmpeg's container dump, without the app's fix
    stderr = play(quiet=True)
    for noise in ("pipewire", "Couldn't load va", "Using Qt multimedia with FFmpeg", "Input #0"):
        assert noise not in stderr
