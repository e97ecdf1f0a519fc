"""`wan-studio queue` and `generate --count/--prompts` end to end, in subprocesses, on the demo
model: batches and seeds, order, pause, cancel, retry, a real SIGKILL of `queue run`, a corrupt
database."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.queue.store import QueueStore, default_store_path

EXE = Path(sys.executable).with_name("wan-studio")
SMALL = ["--model", "demo", "--size", "64x64", "--frames", "5", "--steps", "2"]


def wan(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    command = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "core.cli"]
    return subprocess.run(
        [*command, *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def listing(env: dict[str, str]) -> list[dict]:
    done = wan(env, "queue", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["jobs"]


@pytest.fixture
def env(app_home: Path, demo_t2v: Path) -> dict[str, str]:
    shutil.copytree(demo_t2v, app_home / "data" / "models" / "demo-t2v-a14b")
    return {**os.environ, "WAN_STUDIO_HOME": str(app_home), "PYTHONUNBUFFERED": "1"}


def test_queue_add_order_pause_cancel_retry_run(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    added = wan(env, "queue", "add", *SMALL, "--prompt", "a fox", "--seed", "10", "--count", "3",
                "--out", str(out), "--json")  # fmt: skip
    assert added.returncode == 0, added.stderr
    ids = json.loads(added.stdout)["ids"]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# two clips\na cat\n\na dog\n", "utf-8")
    more = wan(env, "queue", "add", *SMALL, "--prompts", str(prompts), "--seed-mode", "random",
               "--out", str(out), "--json")  # fmt: skip
    assert more.returncode == 0, more.stderr
    ids += json.loads(more.stdout)["ids"]
    jobs = listing(env)
    assert [j["id"] for j in jobs] == ids
    assert [j["seed"] for j in jobs[:3]] == [10, 11, 12]  # fixed when added, +1 per job
    assert [j["label"] for j in jobs[3:]] == ["a cat", "a dog"]
    assert jobs[3]["seed"] != jobs[4]["seed"]

    assert wan(env, "queue", "move", str(ids[4]), "1").returncode == 0
    assert wan(env, "queue", "cancel", str(ids[1])).returncode == 0
    assert wan(env, "queue", "remove", str(ids[2])).returncode == 0
    assert wan(env, "queue", "pause").returncode == 0
    paused = wan(env, "queue", "run")
    assert paused.returncode == 0 and "paused" in paused.stderr
    assert [j["state"] for j in listing(env)].count("queued") == 3
    assert wan(env, "queue", "resume").returncode == 0
    ran = wan(env, "queue", "run", "--json")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert [r["id"] for r in json.loads(ran.stdout)["ran"]] == [ids[4], ids[0], ids[3]]
    by_id = {j["id"]: j for j in listing(env)}
    assert {by_id[i]["state"] for i in (ids[0], ids[3], ids[4])} == {"done"}
    assert all(Path(by_id[i]["output"]).is_file() for i in (ids[0], ids[3], ids[4]))
    assert by_id[ids[1]]["state"] == "cancelled" and ids[2] not in by_id

    assert wan(env, "queue", "retry", str(ids[1])).returncode == 0
    once = wan(env, "queue", "run", "--once")
    assert once.returncode == 0, once.stderr[-2000:]
    assert {j["id"]: j for j in listing(env)}[ids[1]]["state"] == "done"
    assert sorted(p.name.split("_")[-1] for p in out.glob("*.mp4"))[:2] == ["10.mp4", "11.mp4"]
    wrong = wan(env, "queue", "retry", str(ids[1]))
    assert wrong.returncode == 2 and "only failed, cancelled or interrupted" in wrong.stderr
    cleared = wan(env, "queue", "clear")
    assert cleared.returncode == 0 and "removed 4" in cleared.stdout
    assert listing(env) == []


def test_sigkill_of_queue_run_leaves_an_interrupted_retryable_job(
    env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert wan(env, "queue", "add", *SMALL, "--steps", "1000", "--prompt", "slow",
               "--out", str(out)).returncode == 0  # fmt: skip
    command = [str(EXE)] if EXE.exists() else [sys.executable, "-m", "core.cli"]
    child = subprocess.Popen(
        [*command, "queue", "run"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.environ["WAN_STUDIO_HOME"] = env["WAN_STUDIO_HOME"]
    store = QueueStore(default_store_path(), recover=False)
    deadline = time.time() + 120
    while time.time() < deadline:  # until it is denoising
        (job,) = store.jobs()
        if job.stage and job.stage.startswith("denoise"):
            break
        time.sleep(0.2)
    else:
        child.kill()
        pytest.fail("the run never reached denoising")
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)

    (job,) = listing(env)  # any start recovers: the job is interrupted, not lost, not running
    assert job["state"] == "interrupted" and "interrupted at" in job["error"]
    assert not out.exists() or not list(out.iterdir())  # no partial video, no temp file
    assert QueueStore(default_store_path()).integrity_check() == "ok"
    assert wan(env, "queue", "retry", str(job["id"])).returncode == 0
    assert wan(env, "queue", "add", *SMALL, "--prompt", "quick", "--out", str(out)).returncode == 0
    store.db.execute("UPDATE jobs SET request = json_set(request, '$.steps', 2)")
    ran = wan(env, "queue", "run")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert {j["state"] for j in listing(env)} == {"done"}
    assert len(list(out.glob("*.mp4"))) == 2 and not list(out.glob(".*"))


def test_generate_count_and_prompt_list(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat\na dog\n", "utf-8")
    done = wan(env, "generate", *SMALL, "--prompts", str(prompts), "--count", "2", "--seed", "5",
               "--out", str(out), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert [r["seed"] for r in results] == [5, 6, 7, 8]
    assert [r["request"]["prompt"] for r in results] == ["a cat", "a cat", "a dog", "a dog"]
    assert len(list(out.glob("*.mp4"))) == 4
    missing = wan(env, "generate", *SMALL, "--prompts", str(tmp_path / "nope.txt"))
    assert missing.returncode == 2 and "nope.txt is not a file" in missing.stderr
    zero = wan(env, "generate", *SMALL, "--prompt", "x", "--count", "0")
    assert zero.returncode == 2 and "count must be 1 or more" in zero.stderr


def test_a_corrupt_database_is_named_kept_and_reset_on_request(env: dict[str, str]) -> None:
    path = Path(env["WAN_STUDIO_HOME"]) / "data" / "queue.sqlite3"
    path.write_bytes(b"not a database" * 512)
    before = path.read_bytes()
    listed = wan(env, "queue", "list")
    assert listed.returncode == 1
    assert "is damaged" in listed.stderr and str(path) in listed.stderr
    assert "queue reset" in listed.stderr
    assert path.read_bytes() == before
    asked = wan(env, "queue", "reset")  # not a terminal: says how, changes nothing
    assert asked.returncode == 2 and "--yes" in asked.stderr and path.read_bytes() == before
    reset = wan(env, "queue", "reset", "--yes")
    assert reset.returncode == 0, reset.stderr
    kept = list(path.parent.glob("queue.sqlite3.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == before
    assert listing(env) == []
