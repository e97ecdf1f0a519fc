"""History: sidecars in an output folder, newest first, tolerant of broken files."""

from __future__ import annotations

import json
from pathlib import Path

from core.generate import history
from core.generate.request import defaults_for
from core.generate.video import record_payload, write_sidecar


def write_entry(folder: Path, stem: str, created: float, seed: int) -> Path:
    request = defaults_for("t2v-a14b", demo=True).replace(prompt=f"clip {stem}")
    (folder / f"{stem}.mp4").write_bytes(b"video")
    (folder / f"{stem}.png").write_bytes(b"poster")
    payload = record_payload(request, seed, True, "t2v-a14b")
    payload.update(video=f"{stem}.mp4", poster=f"{stem}.png", created=created)
    return write_sidecar(folder / f"{stem}.json", payload)


def test_scan_lists_newest_first_and_skips_broken_files(tmp_path: Path) -> None:
    write_entry(tmp_path, "old", 100.0, 1)
    write_entry(tmp_path, "new", 200.0, 2)
    (tmp_path / "broken.json").write_text("{not json", "utf-8")
    (tmp_path / "other.json").write_text(json.dumps({"some": "thing"}), "utf-8")
    broken_before = (tmp_path / "broken.json").read_bytes()
    result = history.scan(tmp_path)
    assert [e.request.prompt for e in result.entries] == ["clip new", "clip old"]
    newest = result.entries[0]
    assert newest.seed == 2 and newest.request.seed == 2 and newest.demo
    assert newest.video == tmp_path / "new.mp4" and newest.video_exists
    assert newest.poster == tmp_path / "new.png"
    assert len(result.problems) == 1 and "broken.json" in result.problems[0]
    assert (tmp_path / "broken.json").read_bytes() == broken_before  # left untouched


def test_missing_video_and_missing_folder(tmp_path: Path) -> None:
    write_entry(tmp_path, "gone", 1.0, 3)
    (tmp_path / "gone.mp4").unlink()
    (tmp_path / "gone.png").unlink()
    entry = history.scan(tmp_path).entries[0]
    assert not entry.video_exists and entry.poster is None
    assert history.scan(tmp_path / "nope").entries == []
    assert len(history.scan(tmp_path, limit=0).entries) == 0
