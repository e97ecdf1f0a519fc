"""A comparison as a queue job: queued, run by the queue's executor, recorded, recovered."""

from __future__ import annotations

import json
from pathlib import Path

from core.compare.job import compare_job
from core.compare.report import REPORT_JSON
from core.generate.request import GenerationRequest
from core.generate.runner import Runner
from core.progress import CancelToken
from core.queue import outputs
from core.queue.execute import run_claimed
from core.queue.store import QueueStore


def test_a_comparison_runs_through_the_queue(tmp_path: Path, demo_t2v: Path) -> None:
    request = GenerationRequest(
        model=str(demo_t2v), prompt="a fox", width=64, height=64, frames=5, steps=2
    )
    entry = compare_job(request, ["fp32", "mse"], str(tmp_path / "ab"))
    assert entry["seed"] is not None  # fixed once: a retry compares the same thing
    store = QueueStore(tmp_path / "q.sqlite3")
    (job_id,) = store.add([entry])
    assert store.get(job_id).label.startswith("Compare fp32, mse: a fox")
    events = []
    outcome = run_claimed(store, store.claim(), Runner(preview_fps=0), events.append, CancelToken())
    assert outcome.kind == "done"
    job = store.get(job_id)
    assert job.state == "done" and job.output == str(tmp_path / "ab")
    report = json.loads((tmp_path / "ab" / REPORT_JSON).read_text("utf-8"))
    assert [v["label"] for v in report["variants"]] == ["fp32", "mxfp8-online mse"]
    overall = [e.overall for e in events]
    assert {e.index for e in events} == {0, 1}
    assert max(overall) <= 1.0 and overall[-1] > 0.9  # the queue's progress of the whole job
    assert outputs.finished_output(tmp_path / "ab")


def test_an_interrupted_comparison_leaves_no_work_folder(tmp_path: Path) -> None:
    assert outputs.REPORT_FILE == REPORT_JSON
    work = tmp_path / ".ab.tmp-x1y2"
    work.mkdir()
    (work / "01-fp32.mp4").write_bytes(b"v")
    store = QueueStore(tmp_path / "q.sqlite3")
    (job_id,) = store.add([{"kind": "wan-studio.compare-job", "prompt": "x"}])
    store.claim()
    store.plan_output(job_id, str(tmp_path / "ab"))
    store.db.execute("UPDATE jobs SET owner = 'elsewhere:1:1', heartbeat = 0")
    assert store.recover() == [job_id]
    assert store.get(job_id).state == "interrupted" and not work.exists()
