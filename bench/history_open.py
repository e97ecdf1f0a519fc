"""Opening History on a folder of 10,000 videos (goal <= 0.3 s), through the queue database's index.

    .venv/bin/python bench/history_open.py [--entries 10000] [--repeat 5] [--json out.json]

Writes ``--entries`` real sidecars (and stand-in video/poster files) into a temp folder, then
times, in one run:
- plain scan: core.generate.history.scan, which parses every sidecar (the baseline);
- index, first open: scan_indexed building the index (once per folder);
- index, warm: scan_indexed on the unchanged folder (median);
- GUI open: the History workspace from refresh() until its list shows (median), with the
  posters decoded afterwards, off the GUI thread.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_lock, parser, report

GOAL_S = 0.3
HISTORY_ENTRIES = 10_000


def write_sidecars(folder: Path, n: int) -> None:
    from core.generate.request import defaults_for
    from core.generate.video import record_payload

    request = defaults_for("t2v-a14b", demo=True)
    base = record_payload(request, 0, True, "t2v-a14b")
    for i in range(n):
        stem = f"v{i:05d}"
        payload = dict(base, seed=i, video=f"{stem}.mp4", created=1.7e9 + i)
        payload["request"] = dict(base["request"], prompt=f"clip {i}: a red fox in the snow")
        (folder / f"{stem}.json").write_text(json.dumps(payload), "utf-8")
        (folder / f"{stem}.mp4").write_bytes(b"")


def gui_open(folder: Path, repeat: int) -> float:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from gui.bus import AppBus
    from gui.engine import Engine
    from gui.workspaces.history import HistoryWorkspace

    app = QApplication.instance() or QApplication(sys.argv)
    engine = Engine()
    ws = HistoryWorkspace(AppBus(engine))
    ws.folder = lambda: folder  # type: ignore[method-assign]
    times = []
    shown: list[float] = []
    ws.refreshed.connect(lambda _n: shown.append(time.perf_counter()))
    for _ in range(repeat + 1):  # the first builds the index
        shown.clear()
        start = time.perf_counter()
        ws.refresh()
        while not shown:
            app.processEvents()
            time.sleep(0.001)
        times.append(shown[0] - start)
    engine.shutdown()
    return statistics.median(times[1:])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--entries", type=int, default=HISTORY_ENTRIES)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp, bench_lock():
        os.environ["WAN_STUDIO_HOME"] = str(Path(tmp) / "home")
        from core.generate.history import scan
        from core.queue.history_index import scan_indexed
        from core.queue.store import QueueStore

        folder = Path(tmp) / "videos"
        folder.mkdir()
        write_sidecars(folder, args.entries)
        store = QueueStore()
        start = time.perf_counter()
        plain = scan(folder, limit=500)
        plain_s = time.perf_counter() - start
        start = time.perf_counter()
        first = scan_indexed(folder, store, limit=500)
        first_s = time.perf_counter() - start
        warm = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            again = scan_indexed(folder, store, limit=500)
            warm.append(time.perf_counter() - start)
        assert first.total == again.total == plain.total == args.entries
        gui_s = gui_open(folder, args.repeat)
    rows = [
        {"measure": "plain scan (parses all)", "seconds": plain_s, "goal_s": None},
        {"measure": "index, first open", "seconds": first_s, "goal_s": None},
        {"measure": "index, warm (median)", "seconds": statistics.median(warm), "goal_s": GOAL_S},
        {"measure": "GUI History open (median)", "seconds": gui_s, "goal_s": GOAL_S},
    ]
    report(f"History with {args.entries:,} entries", rows, args.json)


if __name__ == "__main__":
    main()
