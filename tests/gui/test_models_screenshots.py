"""scripts/screenshots_models.py renders the Models workspace, every repack wizard page and
the Presets workspace under Xvfb (the README's screenshots)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = (
    "models-workspace.png",
    "wizard-1-export.png",
    "wizard-2-original.png",
    "wizard-3-output.png",
    "wizard-4-summary.png",
    "wizard-5-run.png",
    "wizard-6-done.png",
    "presets-workspace.png",
    "models-loras.png",
)


def _distinct_colors(image, x0: int, y0: int, x1: int, y1: int) -> int:
    return len({image.pixel(x, y) for x in range(x0, x1, 7) for y in range(y0, y1, 5)})


@pytest.mark.xvfb
def test_models_screenshot_script_under_xvfb(tmp_path: Path) -> None:
    xvfb_run = shutil.which("xvfb-run")
    if xvfb_run is None:  # the README test command installs it (apt-get xvfb xauth)
        pytest.fail("xvfb-run is missing: install Debian's xvfb and xauth")
    env = {k: v for k, v in os.environ.items() if k != "QT_QPA_PLATFORM"}
    home = tmp_path / "home"
    result = subprocess.run(
        [
            xvfb_run,
            "-a",
            "-s",
            "-screen 0 1400x900x24",
            sys.executable,
            str(ROOT / "scripts" / "screenshots_models.py"),
            "--out",
            str(tmp_path),
            "--home",
            str(home),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    from PySide6.QtGui import QImage

    for name in SHOTS:
        image = QImage(str(tmp_path / name))
        minimum = (1000, 700) if not name.startswith("wizard") else (700, 500)
        assert image.width() >= minimum[0] and image.height() >= minimum[1], name
        assert _distinct_colors(image, 0, 0, image.width(), image.height()) > 3, f"{name} blank"
    # The wizard's run was held half way: its progress bar is partly filled (highlight blue).
    run = QImage(str(tmp_path / "wizard-5-run.png"))
    row = [run.pixelColor(x, 101) for x in range(30, run.width() - 30, 4)]
    filled = sum(1 for c in row if c.blue() > 150 and c.red() < 120)
    assert 0.2 < filled / len(row) < 0.95, "the progress bar should be part way"
    # The repacked output joined the library of the script's home.
    library = (home / "data" / "library.json").read_text("utf-8")
    assert "msmodelslim-diffusers" in library
