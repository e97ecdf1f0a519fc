"""Helpers for the hostile-input tests (issue 16): run the real CLI in-process and collect what
it printed, and list what a failed command left on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``wan-studio ARGV``."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def files_under(folder: Path) -> list[str]:
    """Every path below ``folder`` (hidden ones too), relative, sorted."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
