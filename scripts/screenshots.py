"""Save screenshots of the real main window for the README (run under Xvfb).

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py

Captures the whole X screen with QScreen.grabWindow(0) (a QVideoWidget only shows up that way).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("needs an X display: run under xvfb-run", file=sys.stderr)
        return 2
    os.environ.setdefault("WAN_STUDIO_HOME", tempfile.mkdtemp(prefix="wan-studio-shots-"))
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.app import configure_application
    from gui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    configure_application(app)
    window = MainWindow()
    window.resize(1280, 800)
    window.move(0, 0)
    window.show()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def shoot() -> None:
        image = app.primaryScreen().grabWindow(0, 0, 0, 1280, 800)
        path = out / "main-window.png"
        image.save(str(path))
        print(f"saved {path}")
        app.quit()

    QTimer.singleShot(1500, shoot)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
