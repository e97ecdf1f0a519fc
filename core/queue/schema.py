"""The queue database's schema and its migrations (``PRAGMA user_version`` is the version).

Each migration moves the schema one version up inside the caller's transaction. A database with
a version above ``SCHEMA_VERSION`` was written by a newer Wan Studio: it is refused, never
downgraded (see store.StoreTooNew).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

JOB_STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")


def _v1(db: sqlite3.Connection) -> None:
    states = ", ".join(f"'{s}'" for s in JOB_STATES)
    db.execute(
        f"""CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            position INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ({states})),
            request TEXT NOT NULL,
            label TEXT NOT NULL DEFAULT '',
            batch TEXT,
            created REAL NOT NULL,
            started REAL,
            finished REAL,
            output TEXT,
            error TEXT,
            hint TEXT,
            owner TEXT,
            heartbeat REAL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            progress REAL NOT NULL DEFAULT 0,
            stage TEXT,
            eta REAL,
            attempts INTEGER NOT NULL DEFAULT 0
        )"""
    )
    db.execute("CREATE INDEX jobs_by_state ON jobs (state, position)")
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")


def _v2(db: sqlite3.Connection) -> None:
    """The History index: one row per sidecar, so a large History opens without parsing all."""
    db.execute(
        """CREATE TABLE history (
            sidecar TEXT PRIMARY KEY,
            folder TEXT NOT NULL,
            mtime_ns INTEGER NOT NULL,
            size INTEGER NOT NULL,
            created REAL NOT NULL,
            record TEXT
        )"""
    )
    db.execute("CREATE INDEX history_by_folder ON history (folder, created)")
    db.execute("ALTER TABLE jobs ADD COLUMN duration REAL")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def migrate(db: sqlite3.Connection, found: int) -> None:
    """Apply the migrations after version ``found`` (the caller holds a write transaction)."""
    for version in range(found, SCHEMA_VERSION):
        MIGRATIONS[version](db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
