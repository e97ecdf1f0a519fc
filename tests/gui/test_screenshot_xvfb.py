"""The real window renders under Xvfb and the screenshot script saves its four shots: idle,
mid-run with a live preview, finished with the player showing a frame, and History."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = (
    "main-window.png",
    "generate-running.png",
    "generate-done.png",
    "history.png",
    "generate-loras.png",
)


def _distinct_colors(image, x0: int, y0: int, x1: int, y1: int) -> int:
    return len({image.pixel(x, y) for x in range(x0, x1, 7) for y in range(y0, y1, 5)})


@pytest.mark.xvfb
def test_screenshot_script_under_xvfb(tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:  # the README test command installs it (apt-get xvfb xauth)
        pytest.fail(
            "xvfb-run is missing: install Debian's xvfb and xauth (make test does, as root)"
        )
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["WAN_STUDIO_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [
            xvfb_run,
            "-a",
            "-s",
            "-screen 0 1400x900x24",
            sys.executable,
            str(ROOT / "scripts" / "screenshots.py"),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    from PySide6.QtGui import QImage

    images = {name: QImage(str(tmp_path / name)) for name in SHOTS}
    for name, image in images.items():
        assert image.width() >= 1000 and image.height() >= 700, name
        assert _distinct_colors(image, 0, 0, image.width(), image.height()) > 3, f"{name} is blank"
    # The right-hand viewer (x > 470, between the header and the progress box) holds the
    # live preview mid-run and the playing video at the end: many colours, not a flat fill.
    for name in ("generate-running.png", "generate-done.png"):
        image = images[name]
        assert _distinct_colors(image, 500, 120, 1200, 520) > 50, f"{name}: viewer looks empty"
    idle = images["main-window.png"]
    assert _distinct_colors(idle, 500, 120, 1200, 250) < 5  # nothing shown yet: a flat area
