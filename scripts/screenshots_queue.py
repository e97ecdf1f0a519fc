"""Save screenshots of the job queue for the README (run under Xvfb).

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots_queue.py

Shots (docs/screenshots/):
- queue-panel.png     Queue: two done jobs, one failed (its model folder vanished) with the
                      error below the table, one running with its progress bar and ETA, three
                      queued (a prompt list) with their estimates; whole-queue progress
- queue-generate.png  Generate while the queue runs: the live preview of the running job,
                      the batch controls, "Add to queue" and the queue's line

The demo model (random weights) is created in a temporary app home. The engine thread is held
at one denoising step of the running job until the pictures are taken, so the shots never
depend on timing.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import shots  # noqa: E402  (scripts/shots.py, beside this file)

WIDTH, HEIGHT = 1280, 800
STEPS = 20  # the running job's; the others take 4
HOLD_AT_STEP = 9
TIMEOUT_MS = 240_000


def request(prompt: str, seed: int, model: str, size=(128, 80), steps: int = 4) -> dict:
    from core.generate.request import defaults_for

    base = defaults_for("t2v-a14b", demo=True, model=model)
    return base.replace(
        prompt=prompt, width=size[0], height=size[1], frames=9, steps=steps, seed=seed
    ).to_dict()


def main() -> int:
    out = shots.prepare(__doc__.splitlines()[0], "wan-studio-shots-")
    if out is None:
        return 2

    from core import paths
    from core.models.demo import create_demo_model

    demo = paths.demo_model_dir("t2v-a14b")
    if not (demo / "model_index.json").is_file():
        create_demo_model("t2v-a14b")
    external = Path(os.environ["WAN_STUDIO_HOME"]) / "usb-drive" / "Wan2.2-T2V-A14B-mxfp8"
    shutil.copytree(demo, external, dirs_exist_ok=True)

    from PySide6.QtCore import QTimer

    from gui import engine as engine_module

    resume = threading.Event()
    original = engine_module._Worker.forward_event

    def forward(self, job_id, event):
        original(self, job_id, event)
        if (
            getattr(event, "kind", "") == "step"
            and event.overall_total == STEPS
            and event.overall_index == HOLD_AT_STEP
        ):
            resume.wait(60)

    engine_module._Worker.forward_event = forward

    app, window = shots.open_window(WIDTH, HEIGHT)
    ws = window.workspaces["Generate"]
    panel = window.workspaces["Queue"].panel
    queue = window.bus.queue
    shooter = shots.Shooter(app, window, out)
    saved, failures, shoot = shooter.saved, shooter.failures, shooter.shoot

    model = "demo:t2v-a14b"

    def start() -> None:
        ws.form.prompt.setPlainText("a red fox trotting through fresh snow, golden hour")
        ws.form.size.set_size(256, 160)
        ws.form.frames.setValue(17)
        ws.form.steps.setValue(STEPS)
        ws.form.seed_random.setChecked(False)
        ws.form.seed.setText("20250728")
        ws.run_bar.count.setValue(3)
        ws.validate_now()
        queue.add(
            [
                request("a lighthouse on a cliff at dusk, waves below", 7, model),
                request("a paper boat on a rainy street, reflections", 11, model),
                request("a heron taking off from a misty lake", 3, str(external)),
                request(
                    "a red fox trotting through fresh snow in a birch forest, golden hour",
                    20250728,
                    model,
                    size=(256, 160),
                    steps=STEPS,
                ),
                request("a cat asleep on a sunny windowsill", 101, model),
                request("a hot-air balloon over autumn hills", 102, model),
                request("a tram crossing a bridge at night, neon lights", 103, model),
            ]
        )
        shutil.rmtree(external)  # the drive was unplugged after the job was queued
        queue.job_event.connect(on_event)

    def on_event(_job_id, event) -> None:
        held = event.kind == "step" and event.overall_total == STEPS
        if held and event.overall_index == HOLD_AT_STEP:
            queue.job_event.disconnect(on_event)
            QTimer.singleShot(900, take_shots)

    def take_shots() -> None:
        window.show_workspace("Queue")
        failed = next((job for job in queue.jobs if job.state == "failed"), None)
        if failed is None:
            failures.append(f"no failed job: {[j.state for j in queue.jobs]}")
        else:
            panel.select_job(failed.id)
        QTimer.singleShot(400, lambda: (shoot("queue-panel.png"), generate_shot()))

    def generate_shot() -> None:
        window.show_workspace("Generate")
        QTimer.singleShot(400, lambda: (shoot("queue-generate.png"), finish()))

    def finish() -> None:
        queue.set_paused(True)  # the queued ones need not run for the pictures
        resume.set()
        QTimer.singleShot(3000, app.quit)

    def timeout() -> None:
        failures.append("timed out")
        resume.set()
        app.quit()

    QTimer.singleShot(1500, start)
    QTimer.singleShot(TIMEOUT_MS, timeout)
    app.exec()
    resume.set()
    window.bus.shutdown()
    window.close()
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures or len(saved) < 2 else 0


if __name__ == "__main__":
    sys.exit(main())
