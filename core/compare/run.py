"""Run the variants of one request and measure them against the first (the reference).

Every variant runs the identical request with the identical seed (a random seed is drawn once)
through one ``core.generate.runner.Runner``; the model is unloaded after each variant, so only
one is resident at a time and each peak-memory figure is its own. The reference's latents are
kept (on the CPU, float32) after every step; the other variants are measured against them step
by step as they run. The finished folder appears atomically (a hidden sibling is renamed into
place); a failure or cancel leaves nothing behind.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.compare.metrics import (
    PeakMemory,
    frame_metrics,
    latent_metrics,
    read_video,
    weight_errors,
)
from core.compare.variants import Variant
from core.generate import events as ev
from core.generate.request import (
    GenerationRequest,
    errors,
    random_seed,
    resolve_model_path,
)
from core.progress import Cancelled, CancelToken

# (variant index, variant, runner event) -> None
CompareCallback = Callable[[int, Variant, ev.Event], None]


class CompareError(Exception):
    """A comparison that cannot run or did not finish; ``bad_input`` when nothing was run."""

    def __init__(self, message: str, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "variant"


def check_output(output: Path) -> None:
    """The report folder must be new (or an empty folder): nothing is ever overwritten."""
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        raise CompareError(
            f"{output} already exists and is not an empty folder; choose a new report folder",
            bad_input=True,
        )


def _prepare(request: GenerationRequest, variants: list[Variant]) -> GenerationRequest:
    if len(variants) < 2:
        raise CompareError("a comparison needs at least two variants", bad_input=True)
    seed = request.seed
    if seed is None or seed < 0:
        seed = random_seed()
    base = request.replace(seed=seed, output=None)
    for v in variants:
        problems = errors(v.request_for(base).validate())
        if problems:
            raise CompareError(
                f"variant {v.label!r}: the request is not valid: "
                + "; ".join(str(p) for p in problems),
                bad_input=True,
            )
    return base


def run_compare(
    request: GenerationRequest,
    variants: list[Variant],
    output: str | os.PathLike[str],
    *,
    runner: Any = None,
    on_event: CompareCallback | None = None,
    cancel: CancelToken | None = None,
) -> dict[str, Any]:
    """Run every variant, write the report folder ``output`` and return the report dict."""
    from core.compare.report import write_report_folder
    from core.generate.runner import Runner

    target = Path(output).expanduser().absolute()
    check_output(target)
    base = _prepare(request, variants)
    cancel = cancel or CancelToken()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    own_runner = runner is None
    runner = runner or Runner(preview_fps=0.0)
    try:
        results = []
        reference: dict[str, Any] = {}
        for index, variant in enumerate(variants):
            cancel.raise_if_cancelled()
            video = tmp / f"{index + 1:02d}-{_slug(variant.label)}.mp4"
            results.append(
                _run_variant(runner, base, index, variant, video, reference, on_event, cancel)
            )
        write_report_folder(tmp, base, variants, results)
        if target.exists():
            target.rmdir()  # empty (checked above)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        runner.step_observer = None
        if own_runner:
            runner.unload()
    from core.compare.report import load_report

    return load_report(target)


def _run_variant(
    runner: Any,
    base: GenerationRequest,
    index: int,
    variant: Variant,
    video: Path,
    reference: dict[str, Any],
    on_event: CompareCallback | None,
    cancel: CancelToken,
) -> dict[str, Any]:
    import torch

    request = variant.request_for(base).replace(output=str(video))
    is_reference = index == 0
    kept: list[Any] = reference.setdefault("latents", []) if is_reference else []
    cosines: list[float] = []
    rel_errors: list[float] = []

    def observe(step: int, latents: Any) -> None:
        current = latents.detach().to("cpu", torch.float32, copy=True)
        if is_reference:
            kept.append(current)
        elif step <= len(reference["latents"]):
            cosine, rel = latent_metrics(reference["latents"][step - 1], current)
            cosines.append(cosine)
            rel_errors.append(rel)

    def forward(event: ev.Event) -> None:
        if on_event is not None:
            on_event(index, variant, event)

    from core.models.loader import resolve_device

    peak = PeakMemory(resolve_device(request.device))
    runner.unload()  # one model resident at a time, and a clean memory baseline
    peak.reset()
    runner.step_observer = observe
    started = time.perf_counter()
    try:
        outcome = runner.run(request, on_event=forward, cancel=cancel)
    finally:
        runner.step_observer = None
    seconds = time.perf_counter() - started
    if isinstance(outcome, ev.Cancelled):
        raise Cancelled(outcome.reason)
    if not isinstance(outcome, ev.Done):
        message = getattr(outcome, "message", str(outcome))
        raise CompareError(f"variant {variant.label!r} failed: {message}")
    memory, memory_scope = peak.read()
    load = outcome.load_report
    weights: dict[str, float] = {}
    note = None
    if load.get("quant") not in (None, "none") and runner.loaded is not None:
        weights, note = weight_errors(runner.loaded.pipe, resolve_model_path(base.model))
    runner.unload()
    frames = read_video(video)
    if is_reference:
        reference["frames"] = frames
        cosines = [1.0] * len(kept)
        rel_errors = [0.0] * len(kept)
    try:
        measured = frame_metrics(reference["frames"], frames)
    except ValueError as exc:  # e.g. an offline folder of another family: other sizes
        raise CompareError(f"variant {variant.label!r} cannot be compared: {exc}") from exc
    return {
        "label": variant.label,
        "variant": variant.to_dict(),
        "video": video.name,
        "request": request.to_dict(),
        "quant": load.get("quant"),
        "backend": load.get("backend"),
        "device": load.get("device"),
        "dtype": load.get("dtype"),
        "seconds": seconds,
        "timings": dict(outcome.timings),
        "peak_memory_bytes": memory,
        "memory_scope": memory_scope,
        "frames": measured,
        "latents": {"cosine": cosines, "rel_error": rel_errors},
        "latents_identical": bool(rel_errors) and all(r == 0.0 for r in rel_errors),
        "weights": weights,
        "weights_note": note,
    }
