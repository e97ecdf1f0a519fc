"""core.repack.scales mirrors core.mx.format (kept torch-free for the streaming repack)."""

from __future__ import annotations

import subprocess
import sys

from core.mx import BLOCK_SIZE, SCALE_NAN, num_blocks
from core.repack import scales


def test_constants_match_core_mx() -> None:
    assert scales.BLOCK_SIZE == BLOCK_SIZE
    assert scales.SCALE_NAN == SCALE_NAN
    for k in [*range(0, 200), 3072, 5120, 13824, 14336, 14337]:
        assert scales.scale_columns(k) == num_blocks(k)


def test_repack_engine_imports_without_torch() -> None:
    code = (
        "import sys, core.repack, core.repack.runner, core.repack.verify, core.commands.repack;"
        "sys.exit(1 if 'torch' in sys.modules else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
