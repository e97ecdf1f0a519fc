"""How long the queue will take: per-job estimates from the jobs that already ran.

Why from finished jobs and not from a formula: speed depends on the device, the model, the
quantization and the memory mode; the store already records how long each done job took
(``duration``), so a queued job is estimated from finished jobs of the same model, scaled by
its amount of denoising work (steps x frames x pixels, which dominates a run). With nothing to
go by the estimate is None and the panel says "unknown" rather than guessing.

Qt-free and torch-free (plain arithmetic over ``QueueJob`` rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from core.queue.store import DONE, QUEUED, RUNNING, QueueJob


def work_units(request: dict[str, Any]) -> float:
    """Relative cost of a request: steps x frames x pixels (the denoising work)."""

    def number(key: str, default: float) -> float:
        value = request.get(key)
        return float(value) if isinstance(value, (int, float)) and value > 0 else default

    return number("steps", 40) * number("frames", 81) * number("width", 832) * number("height", 480)


class EtaModel:
    """Seconds per work unit, learnt per model from the done jobs (and globally as a fallback)."""

    def __init__(self, jobs: Iterable[QueueJob]) -> None:
        per_model: dict[str, list[float]] = {}
        overall: list[float] = []
        for job in jobs:
            if job.state != DONE or not job.duration or job.duration <= 0:
                continue
            rate = job.duration / work_units(job.request)
            per_model.setdefault(job.model, []).append(rate)
            overall.append(rate)
        self._per_model = {model: _median(rates) for model, rates in per_model.items()}
        self._overall = _median(overall) if overall else None

    def estimate(self, job: QueueJob) -> float | None:
        """Seconds a queued job should take, or None when no finished job says anything."""
        rate = self._per_model.get(job.model, self._overall)
        return None if rate is None else rate * work_units(job.request)

    def remaining(self, job: QueueJob, live_eta: float | None = None) -> float | None:
        """Seconds until ``job`` ends: the runner's ETA while it runs, the estimate when queued."""
        if job.state == RUNNING:
            if live_eta is not None:
                return live_eta
            total = self.estimate(job)
            return None if total is None else total * (1.0 - job.progress)
        if job.state == QUEUED:
            return self.estimate(job)
        return 0.0


def queue_remaining(
    jobs: list[QueueJob], live_eta: dict[int, float | None] | None = None
) -> tuple[float | None, bool]:
    """(seconds left for all running and queued jobs, complete?) - complete is False when some
    job could not be estimated (the figure is then a lower bound)."""
    model = EtaModel(jobs)
    live = live_eta or {}
    total = 0.0
    complete = True
    for job in jobs:
        if job.state not in (RUNNING, QUEUED):
            continue
        seconds = model.remaining(job, live.get(job.id))
        if seconds is None:
            complete = False
        else:
            total += seconds
    return total, complete


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


__all__ = ["EtaModel", "queue_remaining", "work_units"]
