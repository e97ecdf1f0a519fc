"""The Generate form's memory: last settings per model, and the last model used.

A JSON file in the app's config folder (``generate-state.json``), written atomically; a file
that cannot be read is set aside (core.atomicio) and the form starts from the model defaults.
Per-run inputs that belong to one run only (the output path) are not kept; the prompt and the
start image are, because users iterate on them.

The file is saved on every Generate and model switch, and an atomic write fsyncs: on a disk
busy with a repack that can take seconds, so the workspace hands writes to a background
``writer`` (the engine's I/O pool). Writes are serialized and each writes the newest state, so
the file never goes back to an older one whatever order the pool runs them in.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import paths
from core.atomicio import atomic_write_json, read_json_or_quarantine

STATE_VERSION = 1
MAX_MODELS = 50  # oldest entries are dropped beyond this
_DROP = ("output", "model", "kind", "schema")


class FormState:
    """Remembered form values keyed by the request's ``model`` value."""

    def __init__(
        self,
        file: str | Path | None = None,
        writer: Callable[[Callable[[], None]], Any] | None = None,
    ) -> None:
        self.file = Path(file) if file is not None else paths.config_dir() / "generate-state.json"
        self._writer = writer  # runs a write function elsewhere; None: write here, now
        self._pending: dict[str, Any] | None = None
        self._pending_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self.warning: str | None = None
        self._models: dict[str, dict[str, Any]] = {}
        self.last_model: str | None = None
        self._load()

    def _load(self) -> None:
        data, self.warning = read_json_or_quarantine(self.file)
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            return
        models = data.get("models")
        if isinstance(models, dict):
            self._models = {k: v for k, v in models.items() if isinstance(v, dict)}
        last = data.get("last_model")
        self.last_model = last if isinstance(last, str) else None

    def get(self, model: str) -> dict[str, Any] | None:
        values = self._models.get(model)
        return dict(values) if values is not None else None

    def remember(self, model: str, values: dict[str, Any]) -> None:
        """Keep ``values`` for ``model`` and make it the last model; saved at once."""
        kept = {k: v for k, v in values.items() if k not in _DROP}
        self._models.pop(model, None)
        self._models[model] = kept  # most recent last
        while len(self._models) > MAX_MODELS:
            self._models.pop(next(iter(self._models)))
        self.last_model = model
        self.save()

    def save(self) -> None:
        """Write the state (through the writer when there is one)."""
        document = {
            "version": STATE_VERSION,
            "last_model": self.last_model,
            "models": copy.deepcopy(self._models),  # the writer's copy: edits go on meanwhile
        }
        with self._pending_lock:
            self._pending = document
        if self._writer is None:
            self.flush()
        else:
            self._writer(self.flush)

    def flush(self) -> None:
        """Write the newest pending state, if any (safe from any thread)."""
        with self._write_lock:
            with self._pending_lock:
                document, self._pending = self._pending, None
            if document is not None:
                atomic_write_json(self.file, document)
