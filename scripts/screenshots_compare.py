"""Save the README's compare screenshots and print the report excerpt it quotes.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots_compare.py

A TI2V-5B demo model is compared under bf16 (the reference; fp32 on this CPU), MXFP8 online
with FLOOR scales and with mse scales (core.compare, the same engine as ``wan-studio
compare``); the Compare tab then opens the saved report. Shots: docs/screenshots/compare.png
(side by side, frame-locked, with the metrics table) and compare-wipe.png (a wipe between the
reference and the mse variant, with the plots). The demo's video is noise: the point is the
view and the figures, which are real.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import shots  # noqa: E402  (scripts/shots.py, beside this file)

WIDTH, HEIGHT = 1280, 800
PROMPT = "a red fox trotting through fresh snow in a birch forest, golden hour"
TIMEOUT_MS = 120_000


def make_report(folder: Path) -> Path:
    from core.compare import parse_variants, run_compare
    from core.generate.request import defaults_for
    from core.models.demo import create_demo_model

    model = create_demo_model("ti2v-5b", folder / "demo-ti2v", seed=0)
    request = defaults_for("ti2v-5b", demo=True, model=str(model))
    request.prompt = PROMPT
    request.width = request.height = 128
    request.frames, request.steps, request.seed = 17, 6, 42
    out = folder / "compare-demo"
    run_compare(request, parse_variants("bf16,mxfp8-online:floor,mse"), out)
    return out


def excerpt(report: dict) -> str:
    """The metrics table as Markdown (the README quotes it)."""
    from core.compare.report import table_rows

    rows = table_rows(report)
    keep = (0, 3, 5, 7, 8, 9, 11, 12)
    lines = ["| " + " | ".join(rows[0][i] for i in keep) + " |"]
    lines.append("|" + "---|" * len(keep))
    lines += ["| " + " | ".join(r[i] for i in keep) + " |" for r in rows[1:]]
    return "\n".join(lines)


def main() -> int:
    out = shots.prepare(__doc__.splitlines()[0], "wan-studio-compare-", fresh_home=True)
    if out is None:
        return 2
    folder = make_report(Path(os.environ["WAN_STUDIO_HOME"]))

    from PySide6.QtCore import QTimer

    from core.compare import load_report
    from gui.qt_logging import quiet_qt_multimedia

    quiet_qt_multimedia()
    app, window = shots.open_window(WIDTH, HEIGHT)
    ws = window.workspaces["Compare"]
    window.show_workspace("Compare")
    failures: list[str] = []

    def shoot_side() -> None:
        ws.player.stop()
        ws.player.seek(8)
        ws.tabs.setCurrentIndex(0)
        app.processEvents()
        window.grab().save(str(out / "compare.png"))
        ws.player.mode.setCurrentIndex(1)
        ws.player.wipe_b.setCurrentIndex(2)
        ws.player.split.setValue(45)
        ws.tabs.setCurrentIndex(1)
        QTimer.singleShot(400, shoot_wipe)

    def shoot_wipe() -> None:
        app.processEvents()
        window.grab().save(str(out / "compare-wipe.png"))
        window.bus.shutdown()
        window.close()
        app.quit()

    def loaded(count: int) -> None:
        if count != 3:
            failures.append(f"expected 3 videos, got {count}")
        QTimer.singleShot(600, shoot_side)

    def give_up() -> None:
        failures.append("the report never finished loading")
        app.quit()

    ws.player.loaded.connect(loaded)
    QTimer.singleShot(300, lambda: ws.open_report(folder))
    QTimer.singleShot(TIMEOUT_MS, give_up)
    app.exec()
    print(excerpt(load_report(folder)))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
