"""Helpers for the engine tests: small demo requests and an event recorder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from core.generate.events import Event
from core.generate.request import GenerationRequest, defaults_for


def small_request(folder: Path, family: str, out: Path, **changes: Any) -> GenerationRequest:
    """A fast demo request: 64x64, 5 frames, 2 steps, fixed seed, output into ``out``."""
    request = defaults_for(family, demo=True, model=str(folder))
    request.prompt = "a red fox running in the snow"
    request.width = request.height = 64
    request.frames = 5
    request.steps = 2
    request.seed = 7
    request.output = str(out)
    for key, value in changes.items():
        setattr(request, key, value)
    return request


class Recorder:
    """Collects events; ``on_step`` callbacks can act on Step events (e.g. cancel)."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]

    def stages_started(self) -> list[str]:
        return [e.stage for e in self.of("stage_started")]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "videos"
