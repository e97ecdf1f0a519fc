"""A comparison as one job of the persistent queue (core/queue): what is stored, and running it.

A compare job is queued like a generation and shows in the same Queue (label "Compare: ..."),
so it waits its turn behind other work, survives a restart and can be cancelled or retried;
the queue's executor hands it to ``run_job`` here. Stored: the request (with its seed fixed, so
a retry compares the same thing), the variant specs, and the report folder, which is fixed when
the job is added (a retry writes the same folder, which must still be new or empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from core.generate.request import GenerationRequest
from core.progress import Cancelled, CancelToken
from core.queue.kinds import COMPARE_JOB as COMPARE_JOB_KIND


@dataclass
class CompareFinished:
    """The outcome a compare job hands the queue's executor (same shape as the runner's)."""

    kind: ClassVar[str] = "done"
    video: str  # the report folder (the queue's "output")
    report: dict[str, Any]


@dataclass
class CompareFailed:
    kind: ClassVar[str] = "failed"
    message: str
    hint: str = ""


@dataclass
class CompareCancelled:
    kind: ClassVar[str] = "cancelled"
    reason: str


def compare_job(request: GenerationRequest, variants: list[str], output: str) -> dict[str, Any]:
    """The queue entry of a comparison (its ``model``/``prompt``/``seed`` show in the Queue)."""
    from core.generate.request import random_seed

    if request.seed is None or request.seed < 0:
        request = request.replace(seed=random_seed())
    names = ", ".join(variants)
    return {
        "kind": COMPARE_JOB_KIND,
        "label": f"Compare {names}: {request.prompt.strip().splitlines()[0] if request.prompt.strip() else ''}",
        "model": request.model,
        "prompt": request.prompt,
        "seed": request.seed,
        "request": request.to_dict(),
        "variants": list(variants),
        "output": str(output),
    }


def is_compare_job(entry: dict[str, Any]) -> bool:
    return entry.get("kind") == COMPARE_JOB_KIND


def run_job(entry: dict[str, Any], runner: Any, emit: Any, cancel: CancelToken) -> Any:
    """Run a stored comparison with the warm runner; progress goes to ``emit`` as
    ``CompareProgress`` events."""
    from core.compare.run import CompareError, run_compare
    from core.compare.variants import VariantError, parse_variants

    try:
        request = GenerationRequest.from_dict(dict(entry.get("request") or {}), [])
        variants = parse_variants(list(entry.get("variants") or []))
    except (ValueError, VariantError) as exc:
        return CompareFailed(f"this comparison cannot run: {exc}")

    def forward(index: int, variant: Any, event: Any) -> None:
        if getattr(event, "kind", "") != "preview":  # the compare view shows no live preview
            emit(progress_of(index, len(variants), variant.label, event))

    try:
        report = run_compare(
            request, variants, entry["output"], runner=runner, on_event=forward, cancel=cancel
        )
    except Cancelled as exc:
        return CompareCancelled(str(exc) or "cancelled")
    except CompareError as exc:
        return CompareFailed(str(exc))
    return CompareFinished(video=str(entry["output"]), report=report)


@dataclass
class CompareProgress:
    """A runner event of variant ``index`` (of ``count``), reduced to what a progress display
    needs (no tensors, no preview images: it crosses threads and is kept by the queue)."""

    kind: ClassVar[str] = "compare_progress"
    index: int
    count: int
    label: str
    event_kind: str
    variant_overall: float  # 0..1 of this variant
    text: str
    stage: str | None = None

    @property
    def overall(self) -> float:
        """0..1 of the whole comparison."""
        return (self.index + min(1.0, max(0.0, self.variant_overall))) / max(1, self.count)


def progress_of(index: int, count: int, label: str, event: Any) -> CompareProgress:
    text = getattr(event, "label", "") or getattr(event, "kind", "")
    if getattr(event, "kind", "") == "step":
        text = f"step {event.overall_index}/{event.overall_total}"
    return CompareProgress(
        index=index,
        count=count,
        label=label,
        event_kind=str(getattr(event, "kind", "")),
        variant_overall=float(getattr(event, "overall", 0.0) or 0.0),
        text=text,
        stage=getattr(event, "stage", None),
    )
