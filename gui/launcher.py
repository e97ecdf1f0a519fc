"""The `wan-studio` entry point: no command opens the desktop app, a command runs headless.

It lives in gui/ because core/ must never import the GUI; it imports Qt only when the app
is really opened, so headless commands work on machines without a display.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

HEADLESS_HINT = 'wan-studio generate --model demo --prompt "a red fox"'


def headless_hint() -> str:
    """The headless example, spelled with the path that works here (`make run` users have no
    `wan-studio` on PATH, only .venv/bin/wan-studio)."""
    program = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if not shutil.which("wan-studio") and os.path.basename(program) == "wan-studio":
        return HEADLESS_HINT.replace("wan-studio", program, 1)
    return HEADLESS_HINT


def has_display() -> bool:
    """True when Qt can open a window (or a platform was chosen explicitly)."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args:
        from core.cli import main as cli_main

        return cli_main(args)
    if not has_display():
        print(
            "wan-studio: no display found (DISPLAY/WAYLAND_DISPLAY unset), so the desktop app "
            f"cannot open; run headless instead, e.g.: {headless_hint()}",
            file=sys.stderr,
        )
        return 2
    from gui.app import run_app

    return run_app()


if __name__ == "__main__":
    sys.exit(main())
