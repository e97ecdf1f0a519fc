"""What the screenshot scripts share: their options, the main window under Xvfb, one shot.

Each script (screenshots*.py) drives the real app to a state and saves PNGs for the README;
this module keeps their start-up and their grab in one place.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def prepare(description: str, home_prefix: str, fresh_home: bool = False) -> Path | None:
    """Parse ``--out``, check for a display and set up a throwaway app home; the output
    folder, or None (after saying why) when there is no X display."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("needs an X display: run under xvfb-run", file=sys.stderr)
        return None
    home = tempfile.mkdtemp(prefix=home_prefix)
    if fresh_home:
        os.environ["WAN_STUDIO_HOME"] = home
    else:
        os.environ.setdefault("WAN_STUDIO_HOME", home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def open_window(width: int, height: int) -> tuple[Any, Any]:
    """The QApplication and the app's main window, shown at the top left at ``width``x``height``."""
    from PySide6.QtWidgets import QApplication

    from gui.app import configure_application
    from gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    configure_application(app)
    window = MainWindow()
    window.resize(width, height)
    window.move(0, 0)
    window.show()
    return app, window


class Shooter:
    """Saves the window as the screen shows it (frame included) and remembers what failed."""

    def __init__(self, app: Any, window: Any, out: Path) -> None:
        self.app, self.window, self.out = app, window, out
        self.saved: list[Path] = []
        self.failures: list[str] = []

    def shoot(self, name: str) -> None:
        self.app.processEvents()
        geometry = self.window.frameGeometry()
        image = self.app.primaryScreen().grabWindow(
            0, geometry.x(), geometry.y(), geometry.width(), geometry.height()
        )
        path = self.out / name
        if not image.save(str(path)):
            self.failures.append(f"could not save {path}")
        self.saved.append(path)
        print(f"saved {path}")
