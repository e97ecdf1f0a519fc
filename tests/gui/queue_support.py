"""Helpers for the queue GUI tests: tiny requests, a step gate (fixtures in conftest.py).

Each demo job is 64x64, 9 frames, 2 steps (about a second on two cores). The gate holds the
engine thread inside a step event until the test releases it, so "while a job runs" never
depends on timing.
"""

from __future__ import annotations

import threading
import time
from typing import Any

TIMEOUT = 60000


def tiny_request(prompt: str = "a red fox", seed: int = 7, model: str = "demo:t2v-a14b") -> dict:
    from core.generate.request import defaults_for

    request = defaults_for("t2v-a14b", demo=True, model=model)
    return request.replace(
        prompt=prompt, width=64, height=64, frames=9, steps=2, seed=seed
    ).to_dict()


def fill_tiny(ws, prompt: str = "a red fox", seed: int | None = 7) -> None:
    ws.form.prompt.setPlainText(prompt)
    ws.form.size.set_size(64, 64)
    ws.form.frames.setValue(9)
    ws.form.steps.setValue(2)
    if seed is None:
        ws.form.seed_random.setChecked(True)
    else:
        ws.form.seed_random.setChecked(False)
        ws.form.seed.setText(str(seed))
    ws.validate_now()
    assert ws.generate_button.isEnabled(), ws.reason.text()


class StepGate:
    """Holds the engine thread at the first step of each job until ``release()``."""

    def __init__(self) -> None:
        self._open = threading.Event()
        self.held: list[Any] = []  # step events at which the worker waited
        self.enabled = True

    def release(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    def wait(self, event: Any) -> None:
        if not self.enabled or getattr(event, "kind", "") != "step" or event.overall_index != 1:
            return
        self.held.append(event)
        deadline = time.monotonic() + 30
        while not self._open.wait(0.01) and time.monotonic() < deadline:
            pass


def wait_idle(qtbot, queue, timeout: int = TIMEOUT) -> None:
    """Until nothing of this app's runs and no job is queued (held ones excepted)."""
    qtbot.waitUntil(lambda: not queue.running and queue.next_job() is None, timeout=timeout)


def states(queue) -> dict[int, str]:
    return {job.id: job.state for job in queue.store.jobs()}
