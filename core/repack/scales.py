"""The MXFP8 scale facts the repack checks, importable without torch.

These mirror core.mx.format (BLOCK_SIZE, SCALE_NAN, num_blocks). They are repeated here only
because importing anything from the core.mx package loads torch (about 250 MB of RSS), which a
streaming repack that never touches a tensor must not pay. tests/core/repack/test_scales.py
pins both definitions together so they cannot drift.
"""

from __future__ import annotations

BLOCK_SIZE = 32  # elements per E8M0 scale along K (OCP MX v1.0)
SCALE_NAN = 0xFF  # the E8M0 byte meaning NaN


def scale_columns(k: int) -> int:
    """Scale bytes per row of an [N, K] MXFP8 weight: ceil(K / 32), never padded."""
    return -(-k // BLOCK_SIZE)
