"""Without the real tools the tests FAIL with what to fetch; they are never skipped."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.realtools import paths


def test_missing_msmodelslim_fails_with_what_to_fetch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(paths.ROOT_ENV, str(tmp_path / "nothing-here"))
    monkeypatch.delitem(sys.modules, "msmodelslim", raising=False)
    with pytest.raises(pytest.fail.Exception) as failure:
        paths.require_msmodelslim()
    message = str(failure.value)
    assert "the real msmodelslim 26.1.0 is not installed" in message
    assert "msmodelslim==26.1.0" in message and "torch-npu==2.14.0" in message
    assert "constraints/real-tools.txt" in message and "make test" in message


def test_missing_torch_npu_files_fail_with_what_to_fetch(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(paths.ROOT_ENV, str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"torch_npu 2\.14\.0 contract is not"):
        paths.torch_npu_files()


def test_the_pins_name_every_file_with_its_sha256() -> None:
    lines = [
        line
        for line in paths.PINS.read_text("utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = {line.split("==", 1)[0] for line in lines}
    assert {"msmodelslim", "torch-npu", "scipy", "easydict", "einops", "wcmatch"} <= names
    assert all("==" in line and "--hash=sha256:" in line for line in lines)
