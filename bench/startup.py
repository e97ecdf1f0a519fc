"""Start-up time: process start to the main window shown (goal <= 1.5 s), torch not loaded.

    .venv/bin/python bench/startup.py [--repeat 5] [--json out.json]
    xvfb-run -a .venv/bin/python bench/startup.py      # a real X window instead of offscreen

Each repetition starts a fresh interpreter that opens the app as `wan-studio` does
(QApplication, stylesheet, MainWindow, show) and reports when the window is exposed, whether
torch was imported by then, and its own import time of gui.main_window. The wall time is
measured by this parent process from just before it spawns the child (interpreter start-up
included). One warm-up run is not counted (disk cache).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import parser, report

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 1.5

CHILD = r"""
import sys, time
t0 = time.perf_counter()
from PySide6.QtWidgets import QApplication
from PySide6.QtTest import QTest
app = QApplication(sys.argv[:1])
from gui.app import configure_application
configure_application(app)
t_import = time.perf_counter()
from gui.main_window import MainWindow
t_imported = time.perf_counter()
window = MainWindow()
window.show()
heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
QTest.qWaitForWindowExposed(window, 10000)
app.processEvents()
shown = time.perf_counter()
print("RESULT " + __import__("json").dumps({
    "in_process_s": shown - t0,
    "import_main_window_s": t_imported - t_import,
    "heavy_modules": heavy,
}), flush=True)
window.close()
"""


def run_once(env: dict[str, str]) -> dict:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    result = None
    for line in proc.stdout:
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            result["wall_s"] = time.perf_counter() - start
            break
    proc.wait(60)
    if result is None:
        raise RuntimeError("the child did not report (did the window fail to open?)")
    return result


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    env = dict(os.environ)
    if not env.get("DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    env["WAN_STUDIO_HOME"] = tempfile.mkdtemp(prefix="wan-studio-bench-startup-")
    platform = env.get("QT_QPA_PLATFORM") or "xcb"
    run_once(env)  # warm-up
    runs = [run_once(env) for _ in range(args.repeat)]
    wall = statistics.median(r["wall_s"] for r in runs)
    rows = [
        {
            "measure": "process start -> window shown (median)",
            "seconds": wall,
            "goal": f"<= {GOAL_SECONDS}",
            "ok": wall <= GOAL_SECONDS,
        },
        {
            "measure": "  of which in-process (QApplication -> shown)",
            "seconds": statistics.median(r["in_process_s"] for r in runs),
            "goal": "",
            "ok": "",
        },
        {
            "measure": "  of which importing gui.main_window",
            "seconds": statistics.median(r["import_main_window_s"] for r in runs),
            "goal": "",
            "ok": "",
        },
        {"measure": "slowest run", "seconds": max(r["wall_s"] for r in runs), "goal": "", "ok": ""},
    ]
    heavy = sorted({m for r in runs for m in r["heavy_modules"]})
    report(
        f"Start-up ({platform}, {args.repeat} runs after 1 warm-up)",
        rows,
        args.json,
        extra={"heavy_modules_at_show": heavy, "platform": platform},
    )
    print(f"torch/diffusers/transformers imported when shown: {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
