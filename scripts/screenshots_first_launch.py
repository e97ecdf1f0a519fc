"""Save the README's first-launch screenshot: an empty app home, the demo model being made.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots_first_launch.py

Shot (docs/screenshots/first-launch.png): no models yet; the user typed a prompt (the form works
before any model exists) and clicked "Create demo model" (TI2V-5B, the default): the banner
shows the current step and the elapsed time. The engine thread is held at the "Building the
transformer" step until the picture is taken, so the shot never depends on timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT = 1280, 800
PROMPT = "a red fox trotting through fresh snow in a birch forest, golden hour"
HOLD_AT = "transformer"  # core.models.demo.DEMO_STEPS key
TIMEOUT_MS = 240_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("needs an X display: run under xvfb-run", file=sys.stderr)
        return 2
    os.environ["WAN_STUDIO_HOME"] = tempfile.mkdtemp(prefix="wan-studio-first-")  # empty
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QTimer
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from gui import engine as engine_module
    from gui.app import configure_application
    from gui.main_window import MainWindow
    from gui.qt_logging import quiet_qt_multimedia

    quiet_qt_multimedia()
    app = QApplication(sys.argv[:1])
    configure_application(app)
    window = MainWindow()
    window.resize(WIDTH, HEIGHT)
    window.move(0, 0)
    window.show()
    ws = window.workspaces["Generate"]
    failures: list[str] = []

    resume = threading.Event()
    original = engine_module._Worker.forward_event

    def forward(self, job_id, event):  # on the engine thread
        original(self, job_id, event)
        if getattr(event, "stage", "") == HOLD_AT:
            resume.wait(60)

    engine_module._Worker.forward_event = forward

    def start() -> None:
        QTest.keyClicks(ws.form.prompt, PROMPT)  # typed, as a user would, before any model
        ws.banner.step_changed.connect(on_step)
        ws.banner.create_button.click()

    def on_step(index: int, label: str) -> None:
        if label.startswith("Building the transformer"):
            QTimer.singleShot(2200, shoot)  # let the elapsed clock tick past 0:02

    def shoot() -> None:
        app.processEvents()
        geometry = window.frameGeometry()
        image = app.primaryScreen().grabWindow(
            0, geometry.x(), geometry.y(), geometry.width(), geometry.height()
        )
        path = out / "first-launch.png"
        if not image.save(str(path)):
            failures.append(f"could not save {path}")
        print(f"saved {path}")
        resume.set()
        ws.models_reloaded.connect(app.quit)

    def timeout() -> None:
        failures.append("timed out")
        resume.set()
        app.quit()

    QTimer.singleShot(1500, start)
    QTimer.singleShot(TIMEOUT_MS, timeout)
    app.exec()
    resume.set()
    window.bus.shutdown()
    window.close()
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
