"""pytest fixtures for the test doubles. Import the fixture into a test module or conftest:

from tests.doubles.fixtures import fake_torch_npu  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

from tests.doubles import torch_npu as torch_npu_double


@pytest.fixture
def fake_torch_npu() -> Iterator[ModuleType]:
    """``sys.modules["torch_npu"]`` is the strict double for the test; restored afterwards."""
    with torch_npu_double.installed() as module:
        yield module
