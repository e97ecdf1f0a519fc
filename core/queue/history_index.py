"""History from the sidecars, indexed in the queue database so a large folder opens fast.

The sidecar JSON files stay the source of truth (core/generate/history.py). The index keeps, per
sidecar, its size and mtime, when the video was made and the record itself: a scan lists the
folder (one ``stat`` per file), re-reads only the files that changed, and parses the records of
the newest ``limit`` entries only. With 10,000 videos that is a directory listing and one
query instead of 10,000 JSON parses. A damaged index never hides a video: any doubt falls back
to reading the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.generate.history import History, entry_from_record
from core.generate.video import RECORD_KIND
from core.queue.store import QueueStore


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    files: dict[str, tuple[int, int]] = {}
    with os.scandir(root) as entries:
        for entry in entries:
            name = entry.name
            if name.startswith(".") or not name.endswith(".json"):
                continue
            try:
                if not entry.is_file():
                    continue
                stat = entry.stat()
            except OSError:
                continue
            files[name] = (stat.st_mtime_ns, stat.st_size)
    return files


def scan_indexed(
    folder: str | os.PathLike[str], store: QueueStore, limit: int | None = None
) -> History:
    """Like ``core.generate.history.scan`` (newest first, problems listed), through the index."""
    root = Path(folder).expanduser()
    history = History()
    if not root.is_dir():
        return history
    key = str(root.resolve())
    files = _listing(root)
    known = {
        Path(row[0]).name: (row[1], row[2])
        for row in store.db.execute(
            "SELECT sidecar, mtime_ns, size FROM history WHERE folder = ?", (key,)
        )
    }
    fresh: list[tuple[str, int, int, float, str | None]] = []
    for name, (mtime_ns, size) in files.items():
        if known.get(name) == (mtime_ns, size):
            continue
        try:
            data = json.loads((root / name).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            history.problems.append(f"{name}: unreadable ({exc})")
            continue
        ours = isinstance(data, dict) and data.get("kind") == RECORD_KIND
        created = data.get("created") if ours else None
        if not isinstance(created, (int, float)) or isinstance(created, bool):
            created = mtime_ns / 1e9
        record = json.dumps(data, ensure_ascii=False) if ours else None  # None: not ours
        fresh.append((name, mtime_ns, size, float(created), record))
    gone = [name for name in known if name not in files]
    if fresh or gone:
        with store.write() as db:
            db.executemany(
                "DELETE FROM history WHERE sidecar = ?", [(os.path.join(key, n),) for n in gone]
            )
            db.executemany(
                "INSERT INTO history (sidecar, folder, mtime_ns, size, created, record)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sidecar) DO UPDATE SET"
                " folder = excluded.folder, mtime_ns = excluded.mtime_ns, size = excluded.size,"
                " created = excluded.created, record = excluded.record",
                [(os.path.join(key, n), key, m, s, c, r) for n, m, s, c, r in fresh],
            )
    history.total = store.db.execute(
        "SELECT COUNT(*) FROM history WHERE folder = ? AND record IS NOT NULL", (key,)
    ).fetchone()[0]
    query = (
        "SELECT sidecar, record FROM history WHERE folder = ? AND record IS NOT NULL"
        " ORDER BY created DESC"
    )
    args: tuple = (key,)
    if limit is not None:
        query += " LIMIT ?"
        args = (key, int(limit))
    for path, record in store.db.execute(query, args).fetchall():
        name = Path(path).name
        if name not in files:
            continue
        try:
            data = json.loads(record)
        except ValueError:
            data = None
        if not isinstance(data, dict):  # a damaged index row: the file decides
            try:
                data = json.loads((root / name).read_text("utf-8"))
            except (OSError, UnicodeDecodeError, ValueError) as exc:
                history.problems.append(f"{name}: unreadable ({exc})")
                continue
        entry = entry_from_record(root / name, data, history.problems)
        if entry is not None:
            history.entries.append(entry)
    return history
