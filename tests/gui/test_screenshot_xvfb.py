"""The real window renders under Xvfb and the screenshot script saves a non-blank PNG."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.xvfb
def test_screenshot_script_under_xvfb(tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:  # the README test command installs it (apt-get xvfb xauth)
        pytest.fail("xvfb-run is missing: install Debian's xvfb and xauth (make test does, as root)")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    env["WAN_STUDIO_HOME"] = str(tmp_path / "home")
    result = subprocess.run(
        [xvfb_run, "-a", "-s", "-screen 0 1400x900x24", sys.executable,
         str(ROOT / "scripts" / "screenshots.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=180, env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(tmp_path / "main-window.png"))
    assert image.width() >= 1000 and image.height() >= 700
    colors = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 29)}
    assert len(colors) > 3, "screenshot looks blank"
