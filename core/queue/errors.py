"""Errors of the job queue: each says what went wrong, where, and what the user can do."""

from __future__ import annotations

from pathlib import Path


class QueueError(Exception):
    """A queue operation that cannot be done; ``hint`` says what to do instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class StoreUnusable(QueueError):
    """The database file cannot be used as it is; it is kept untouched until the user agrees."""

    def __init__(self, path: Path, message: str, hint: str) -> None:
        super().__init__(message, hint)
        self.path = path


class StoreCorrupt(StoreUnusable):
    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(
            path,
            f"The job queue database {path} is damaged ({detail}).",
            "It was left as it is. Start a fresh queue (the damaged file is kept beside it as "
            f"{path.name}.corrupt-<time>) with `wan-studio queue reset`, or in the app when asked.",
        )


class StoreTooNew(StoreUnusable):
    def __init__(self, path: Path, found: int, known: int) -> None:
        super().__init__(
            path,
            f"The job queue database {path} was made by a newer Wan Studio (schema {found}; "
            f"this version knows up to {known}).",
            "Update Wan Studio to use it, or start a fresh queue with `wan-studio queue reset` "
            "(the newer file is kept beside it).",
        )


class JobNotFound(QueueError):
    def __init__(self, job_id: int) -> None:
        super().__init__(
            f"There is no job {job_id} in the queue.",
            "See the job numbers with `wan-studio queue list`.",
        )
        self.job_id = job_id


class JobStateError(QueueError):
    """The job is not in a state that allows the operation (e.g. removing a running job)."""
