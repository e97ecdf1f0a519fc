"""Crash-safe writes: atomic replace, sane permissions, corrupt files set aside, stale temps cleaned."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from core.atomicio import (
    atomic_write_json,
    read_json_or_quarantine,
    remove_stale_temp_files,
)


def test_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"x": 1})
    atomic_write_json(target, {"x": 2, "name": "über"})
    assert json.loads(target.read_text("utf-8")) == {"x": 2, "name": "über"}
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]


def test_written_file_follows_the_umask_not_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "shared.json", {})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o644


def test_corrupt_file_is_set_aside_with_a_warning(tmp_path: Path) -> None:
    target = tmp_path / "library.json"
    target.write_bytes(b'{"entries": [')
    data, warning = read_json_or_quarantine(target)
    assert data is None and "library.json.corrupt" in warning
    assert not target.exists()
    assert (tmp_path / "library.json.corrupt").read_bytes() == b'{"entries": ['
    target.write_bytes(b"\xff\xfe")  # second corrupt file gets a numbered name
    read_json_or_quarantine(target)
    assert (tmp_path / "library.json.corrupt.1").read_bytes() == b"\xff\xfe"


def test_missing_file_is_not_an_error(tmp_path: Path) -> None:
    assert read_json_or_quarantine(tmp_path / "nope.json") == (None, None)


def test_only_old_temp_files_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    old = tmp_path / ".a.json.abc.tmp"
    fresh = tmp_path / ".a.json.def.tmp"
    other = tmp_path / ".b.json.ghi.tmp"
    for p in (old, fresh, other):
        p.write_text("partial")
    past = time.time() - 3600
    os.utime(old, (past, past))
    os.utime(other, (past, past))
    assert remove_stale_temp_files(target) == 1
    assert not old.exists() and fresh.exists() and other.exists()
    assert remove_stale_temp_files(tmp_path) == 1  # folder form: every file's temps
    assert not other.exists() and fresh.exists()
