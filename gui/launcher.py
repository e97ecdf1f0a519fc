"""The `wan-studio` entry point: no command opens the desktop app, a command runs headless.

It lives in gui/ because core/ must never import the GUI; it imports Qt only when the app
is really opened, so headless commands work on machines without a display.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

HEADLESS_HINT = 'wan-studio generate --model demo --prompt "a red fox"'


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
            f"cannot open; run headless instead, e.g.: {HEADLESS_HINT}",
            file=sys.stderr,
        )
        return 2
    from gui.app import run_app

    return run_app()


if __name__ == "__main__":
    sys.exit(main())
