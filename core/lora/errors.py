"""The one error type of LoRA handling: what is wrong, which file (and key), how to fix it."""

from __future__ import annotations


class LoraError(ValueError):
    """A LoRA file or choice that cannot be used; nothing has been applied when it is raised."""
