"""The History index agrees with a plain scan of the sidecars, and re-reads only what changed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.generate.history import scan
from core.queue.history_index import scan_indexed
from core.queue.store import QueueStore
from tests.core.generate.test_history import write_entry


def same(a, b) -> None:
    assert [(e.video, e.created, e.seed, e.request.to_dict()) for e in a.entries] == [
        (e.video, e.created, e.seed, e.request.to_dict()) for e in b.entries
    ]
    assert a.total == b.total


def test_index_matches_scan_through_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    for n in range(30):
        write_entry(folder, f"v{n:02d}", created=1000.0 + n, seed=n)
    (folder / "notes.json").write_text('{"other": "app"}')  # not ours: ignored
    store = QueueStore(tmp_path / "q.sqlite3")
    same(scan_indexed(folder, store), scan(folder))

    reads: list[str] = []
    real = Path.read_text

    def counting(self: Path, *args, **kwargs):
        reads.append(self.name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    newest = scan_indexed(folder, store, limit=5)
    assert reads == []  # nothing changed: no sidecar is read again
    assert [e.seed for e in newest.entries] == [29, 28, 27, 26, 25] and newest.total == 30

    (folder / "v03.json").unlink()  # deleted
    write_entry(folder, "v40", created=5000.0, seed=40)  # new
    data = json.loads(real(folder / "v10.json"))
    data["created"] = 9000.0  # changed
    (folder / "v10.json").write_text(json.dumps(data))
    (folder / "broken.json").write_text("{not json")
    reads.clear()
    indexed = scan_indexed(folder, store)
    assert sorted(reads) == ["broken.json", "v10.json", "v40.json"]
    plain = scan(folder)
    same(indexed, plain)
    assert [e.seed for e in indexed.entries[:2]] == [10, 40]
    assert any("broken.json" in p for p in indexed.problems)


def test_two_folders_with_the_same_file_names_do_not_mix(tmp_path: Path) -> None:
    store = QueueStore(tmp_path / "q.sqlite3")
    for name, seed in (("a", 1), ("b", 2)):
        (tmp_path / name).mkdir()
        write_entry(tmp_path / name, "video", created=1.0, seed=seed)
    assert [e.seed for e in scan_indexed(tmp_path / "a", store).entries] == [1]
    assert [e.seed for e in scan_indexed(tmp_path / "b", store).entries] == [2]
