"""The `wan-studio` shell: --version, --help, headless message, demo command errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from core import __version__

LAUNCH = [sys.executable, "-m", "gui.launcher"]


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    environment.update(env)
    return subprocess.run(
        LAUNCH + args, capture_output=True, text=True, env=environment, timeout=120
    )


def test_version() -> None:
    result = _run(["--version"])
    assert result.returncode == 0
    assert result.stdout.strip() == f"wan-studio {__version__}"


def test_help_lists_commands() -> None:
    result = _run(["--help"])
    assert result.returncode == 0
    assert "demo" in result.stdout and "desktop app" in result.stdout


def test_no_display_prints_one_line_and_the_headless_command() -> None:
    result = _run([])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no display" in lines[0] and "wan-studio generate --model demo" in lines[0]
    assert "Traceback" not in result.stderr


def test_demo_command_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = _run(["demo", "--family", "ti2v-5b", "--out", str(out)])
    assert first.returncode == 0, first.stderr
    assert first.stderr == ""  # no library progress bars or torchvision chatter
    assert (out / "model_index.json").is_file()
    before = sorted(p.name for p in out.iterdir())
    second = _run(["demo", "--family", "ti2v-5b", "--out", str(out)])
    assert second.returncode == 2
    assert "not empty" in second.stderr and "Traceback" not in second.stderr
    assert sorted(p.name for p in out.iterdir()) == before


def test_demo_command_unknown_family(tmp_path: Path) -> None:
    result = _run(["demo", "--family", "nope", "--out", str(tmp_path / "x")])
    assert result.returncode == 2
    assert "valid families" in result.stderr and "ti2v-5b" in result.stderr
