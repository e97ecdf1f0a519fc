"""Save screenshots of the real main window for the README (run under Xvfb).

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots.py

Shots (docs/screenshots/):
- main-window.png      Generate, idle: demo model chosen, prompt typed, ready to generate
- generate-running.png Generate mid-run: stages, step/overall bars, expert switch, live preview
- generate-done.png    Generate finished: the video playing in the in-app player
- history.png          History: the run's poster thumbnail, its player and settings
- generate-loras.png   Generate after a run with LoRAs: the LoRA section (a Lightning HIGH/LOW
                       pair and a style LoRA, strengths set, the Lightning preset selected) and
                       the progress panel's applied-LoRA lines

The demo model (random weights) is created in a temporary app home. The screen is captured
with QScreen.grabWindow(0): a QVideoWidget only shows up that way (widget.grab() is blank).
For the mid-run shot the engine thread is held at one denoising step until the picture is
taken, so the shot never depends on timing.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import shots  # noqa: E402  (scripts/shots.py, beside this file)

WIDTH, HEIGHT = 1280, 800
PROMPT = "a red fox trotting through fresh snow in a birch forest, golden hour, soft light"
HOLD_AT_STEP = 14  # of STEPS
STEPS = 20
TIMEOUT_MS = 240_000


def main() -> int:
    out = shots.prepare(__doc__.splitlines()[0], "wan-studio-shots-")
    if out is None:
        return 2

    from core import paths
    from core.models.demo import create_demo_model

    if not (paths.demo_model_dir("t2v-a14b") / "model_index.json").is_file():
        create_demo_model("t2v-a14b")  # before Qt starts: the shots show the app, not this
    lora_files = write_demo_loras(paths.data_dir() / "loras")

    from PySide6.QtCore import QTimer

    from gui import engine as engine_module

    app, window = shots.open_window(WIDTH, HEIGHT)
    ws = window.workspaces["Generate"]
    history = window.workspaces["History"]
    shooter = shots.Shooter(app, window, out)
    saved, failures, shoot = shooter.saved, shooter.failures, shooter.shoot

    # Hold the engine thread at one step until the mid-run picture is taken.
    resume = threading.Event()
    original = engine_module._Worker.forward_event

    def forward(self, job_id, event):
        original(self, job_id, event)
        if getattr(event, "kind", "") == "step" and event.overall_index == HOLD_AT_STEP:
            resume.wait(60)

    engine_module._Worker.forward_event = forward

    def fill_form() -> None:
        ws.form.prompt.setPlainText(PROMPT)
        ws.form.size.set_size(256, 160)
        ws.form.frames.setValue(17)
        ws.form.steps.setValue(STEPS)
        ws.form.seed_random.setChecked(False)
        ws.form.seed.setText("20250728")
        ws.validate_now()
        if not ws.generate_button.isEnabled():
            failures.append(f"Generate is disabled: {ws.reason.text()}")

    def idle() -> None:
        fill_form()
        shoot("main-window.png")
        ws.event_received.connect(on_event)
        ws.run_finished.connect(finished)
        ws.generate()

    def on_event(event) -> None:
        if event.kind == "step" and event.overall_index == HOLD_AT_STEP:
            QTimer.singleShot(600, running)

    def running() -> None:
        shoot("generate-running.png")
        resume.set()

    def finished(outcome) -> None:
        if getattr(outcome, "kind", "") != "done":
            failures.append(f"the run did not finish: {outcome}")
            app.quit()
            return
        QTimer.singleShot(1500, done)

    def done() -> None:
        shoot("generate-done.png")
        ws.run_finished.disconnect(finished)
        ws.run_finished.connect(more_runs)
        more_runs(None)

    extra = [
        ("a lighthouse on a cliff at dusk, waves below", 7),
        ("a paper boat on a rainy street", 11),
    ]

    def more_runs(outcome) -> None:
        """Two quick runs so History has more than one entry."""
        if outcome is not None and getattr(outcome, "kind", "") != "done":
            failures.append(f"an extra run did not finish: {outcome}")
        if not extra:
            ws.run_finished.disconnect(more_runs)
            history.refreshed.connect(lambda _n: QTimer.singleShot(1500, history_shot))
            window.show_workspace("History")
            return
        prompt, seed = extra.pop(0)
        ws.form.prompt.setPlainText(prompt)
        ws.form.size.set_size(128, 80)
        ws.form.frames.setValue(9)
        ws.form.steps.setValue(4)
        ws.form.seed.setText(str(seed))
        ws.validate_now()
        ws.generate()

    def history_shot() -> None:
        history.list.setCurrentRow(len(history.entries) - 1)  # the fox, the first run
        QTimer.singleShot(1500, lambda: (shoot("history.png"), lora_run()))

    def lora_run() -> None:
        """A Lightning pair and a style LoRA, as a user picks them, then a run with them."""
        window.show_workspace("Generate")
        loras = ws.form.loras
        loras.add_file(lora_files["high"])  # finds its LOW partner; selects the Lightning preset
        style = loras.add_file(lora_files["style"])
        style.high.setValue(0.8)
        style.low.setValue(0.6)
        ws.form.prompt.setPlainText("a paper-cut fox in a snowy forest, layered paper, soft light")
        ws.form.size.set_size(128, 80)
        ws.form.frames.setValue(9)
        ws.form.seed.setText("7")
        ws.validate_now()
        if not ws.generate_button.isEnabled():
            failures.append(f"Generate with LoRAs is disabled: {ws.reason.text()}")
            app.quit()
            return
        ws.run_finished.connect(lora_done)
        ws.generate()

    def lora_done(outcome) -> None:
        if getattr(outcome, "kind", "") != "done":
            failures.append(f"the LoRA run did not finish: {outcome}")
            app.quit()
            return
        if not ws.panel.loras_label.lines:
            failures.append("the progress panel shows no LoRA line")
        QTimer.singleShot(1500, lora_shot)

    def lora_shot() -> None:
        from PySide6.QtWidgets import QScrollArea

        ws.findChild(QScrollArea).ensureWidgetVisible(ws.form.loras, 0, 0)  # laid out by now
        shoot("generate-loras.png")
        app.quit()

    def timeout() -> None:
        failures.append("timed out")
        resume.set()
        app.quit()

    QTimer.singleShot(1500, idle)
    QTimer.singleShot(TIMEOUT_MS, timeout)
    app.exec()
    resume.set()
    window.close()
    for failure in failures:
        print(f"error: {failure}", file=sys.stderr)
    return 1 if failures or len(saved) < 5 else 0


def write_demo_loras(folder: Path) -> dict[str, Path]:
    """Tiny real LoRA files for the demo model's width (core.lora.fixtures), named as users'
    files are: a lightx2v-style HIGH/LOW pair and a style LoRA."""
    from core.lora.fixtures import write_lora

    return {
        "high": write_lora(folder / "Wan22-demo_HIGH_lightx2v_4step_r4.safetensors", "wan", seed=1),
        "low": write_lora(folder / "Wan22-demo_LOW_lightx2v_4step_r4.safetensors", "wan", seed=2),
        "style": write_lora(folder / "paper_cutout_style.safetensors", "diffusers", seed=3),
    }


if __name__ == "__main__":
    sys.exit(main())
