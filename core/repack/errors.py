"""The two ways a repack can fail, so callers (CLI exit codes, the GUI wizard) can tell them apart."""

from __future__ import annotations


class RepackInputError(ValueError):
    """The inputs cannot be repacked as given (missing files, wrong family, corrupt or
    unsupported export). Nothing was written; the message says what, where and how to fix it."""


class RepackFailed(RuntimeError):
    """The inputs were fine but the work failed (disk full, write error, verification of the
    written output). The partial output was removed; the inputs are untouched."""
