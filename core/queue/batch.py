"""Batches: one request turned into several jobs (a count, a prompt list), each with its seed.

Every job gets its effective seed when it is added, not when it runs, so the queue shows the
seed that will be used and a retried job makes the same video (pain point 15 in wan22.md).
``increment`` gives seed, seed+1, ...; ``random`` draws a new seed per job.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from core.generate.request import MAX_SEED, GenerationRequest, random_seed

SEED_MODES = ("increment", "random")
MAX_BATCH_JOBS = 1000  # a mistyped count must not fill the store with a million jobs
MAX_PROMPT_FILE_BYTES = 1 << 20


class BatchError(ValueError):
    """A batch that cannot be made; the message names the option and the fix."""


def parse_prompt_list(text: str) -> list[str]:
    """One prompt per non-empty line; lines starting with '#' are comments."""
    prompts = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            prompts.append(line)
    return prompts


def read_prompt_file(path: str) -> list[str]:
    """The prompts of a text file (regular file, UTF-8, at most 1 MiB)."""
    from pathlib import Path

    source = Path(path).expanduser()
    if not source.is_file():
        raise BatchError(f"{source} is not a file: give a text file with one prompt per line")
    if source.stat().st_size > MAX_PROMPT_FILE_BYTES:
        raise BatchError(f"{source} is larger than 1 MiB: is it really a prompt list?")
    try:
        text = source.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{source} could not be read as UTF-8 text ({exc})") from None
    prompts = parse_prompt_list(text)
    if not prompts:
        raise BatchError(f"{source} holds no prompt (one per line; '#' starts a comment)")
    return prompts


def expand(
    request: GenerationRequest,
    count: int = 1,
    seed_mode: str = "increment",
    prompts: list[str] | None = None,
) -> list[GenerationRequest]:
    """The jobs of a batch: each prompt (or the request's own) ``count`` times, seeds fixed."""
    if seed_mode not in SEED_MODES:
        raise BatchError(f"unknown seed mode {seed_mode!r}: use {' or '.join(SEED_MODES)}")
    if not isinstance(count, int) or count < 1:
        raise BatchError(f"the count must be 1 or more, not {count!r}")
    texts = prompts if prompts else [request.prompt]
    total = len(texts) * count
    if total > MAX_BATCH_JOBS:
        raise BatchError(
            f"{total} jobs is more than one batch may add ({MAX_BATCH_JOBS}): "
            "lower the count or split the prompt list"
        )
    first = request.seed if request.seed is not None and request.seed >= 0 else random_seed()
    jobs = []
    for n in range(total):
        if seed_mode == "random" and n > 0:
            seed = random_seed()
        else:
            seed = (first + n) % (MAX_SEED + 1) if seed_mode == "increment" else first
        jobs.append(
            replace(request, prompt=texts[n // count], seed=seed, loras=list(request.loras))
        )
    return jobs


def to_dicts(requests: list[GenerationRequest]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in requests]
