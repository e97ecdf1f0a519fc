"""Sizes as people read them: one formatter for the CLI and the GUI, so both say the same."""

from __future__ import annotations


def human_bytes(size: float | None, missing: str = "-") -> str:
    """1536 -> '1.5 KB', 1_034_240 -> '0.99 MB' (binary units, at most three digits)."""
    if size is None:
        return missing
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        # Roll over at 1000 so a size never reads "1010.0 KB".
        if abs(value) < (1024 if unit == "B" else 1000) or unit == "TB":
            if unit == "B":
                return f"{value:.0f} B"
            return f"{value:.2f} {unit}" if value < 1 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop always returns
