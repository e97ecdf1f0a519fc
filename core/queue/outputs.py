"""Where a queued job writes, decided before it runs, and what a crash may have left there.

The queue fixes each job's exact .mp4 path when the job starts (``plan_output``) and records it,
so that after a crash ``recover`` knows which files were this job's: a run is complete when its
sidecar (written last) exists; anything else of it is a partial result and is removed.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from core.generate.video import poster_path, sidecar_path

# core.compare.report.REPORT_JSON (not imported: that pulls numpy into every queue start)
REPORT_FILE = "report.json"


def finished_output(output: str | Path) -> bool:
    """True when the run that planned ``output`` completed: a video and its sidecar exist, or
    a comparison's report folder (which appears whole, by one rename) holds its report."""
    path = Path(output)
    if path.suffix.lower() != ".mp4":
        return (path / REPORT_FILE).is_file()
    return path.is_file() and sidecar_path(path).is_file()


def remove_partial_output(video: str | Path) -> list[Path]:
    """Remove what an interrupted run of ``video`` left: its temp files, and the video and
    poster if the sidecar was never written. Returns the removed paths."""
    path = Path(video)
    removed: list[Path] = []
    if path.suffix.lower() != ".mp4":  # a comparison: its hidden work folder
        for work in path.parent.glob(f".{path.name}.tmp-*"):
            shutil.rmtree(work, ignore_errors=True)
            removed.append(work)
        return removed
    candidates = list(path.parent.glob(f".{path.stem}.*.part.mp4"))
    if not sidecar_path(path).exists():
        candidates += [path, poster_path(path)]
    for candidate in candidates:
        with contextlib.suppress(OSError):
            if candidate.is_file():
                candidate.unlink()
                removed.append(candidate)
    return removed
