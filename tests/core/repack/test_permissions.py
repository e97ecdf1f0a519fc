"""A repack output is created with the modes a plain mkdir/open give under the umask (not the
0700 of a temporary folder): users share these folders (issue #11, found on a real export)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from core.repack import plan, run


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_the_output_follows_the_umask(umask: int, demo_models, exports, tmp_path: Path) -> None:
    out = tmp_path / "out"
    previous = os.umask(umask)
    try:
        run(plan(demo_models["ti2v-5b"], exports("ti2v-5b", "single"), out))
    finally:
        os.umask(previous)
    folders = [out, *(p for p in out.rglob("*") if p.is_dir())]
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(folders) >= 5 and len(files) >= 8
    for folder in folders:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask, folder
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask, file
