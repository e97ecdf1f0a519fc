"""Backend registry: names, options, and device-based selection with every rejection explained."""

from __future__ import annotations

import sys
from types import ModuleType

import pytest

from core.backends import (
    BackendUnavailable,
    NpuBackend,
    ReferenceBackend,
    get_backend,
    list_backends,
    register_backend,
    select_backend,
    unregister_backend,
)

NO_NPU = (
    "npu: torch_npu is not installed (pip install 'wan-studio[npu]' on an Ascend 950 with CANN)"
)


@pytest.fixture
def no_torch_npu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch_npu", raising=False)


def test_names_in_priority_order() -> None:
    assert list_backends() == ["npu", "reference"]


def test_get_backend_builds_with_options() -> None:
    backend = get_backend("Reference", rule="rceil", activations="unquantized")
    assert isinstance(backend, ReferenceBackend)
    assert backend.rule.value == "rceil" and backend.activations == "unquantized"
    assert isinstance(get_backend("npu"), NpuBackend)
    with pytest.raises(
        ValueError, match="unknown MXFP8 backend 'cuda'; available names: npu, reference"
    ):
        get_backend("cuda")
    with pytest.raises(ValueError, match="does not accept options"):
        get_backend("npu", activations="unquantized")


def test_auto_on_cpu_picks_reference_and_explains_npu(no_torch_npu: None) -> None:
    backend, rejected = select_backend("cpu")
    assert backend.name == "reference"
    assert rejected == [NO_NPU]


def test_auto_on_npu_without_torch_npu_fails_with_all_reasons(no_torch_npu: None) -> None:
    with pytest.raises(BackendUnavailable) as info:
        select_backend("npu:0")
    assert info.value.reasons[0] == NO_NPU
    assert info.value.reasons[1].startswith("reference: torch does not know the device 'npu:0'")
    assert "no MXFP8 backend available on npu:0" in str(info.value)


def test_auto_on_npu_with_torch_npu_picks_npu(fake_torch_npu: ModuleType) -> None:
    backend, rejected = select_backend("npu")
    assert backend.name == "npu"
    assert rejected == ["reference: not needed (npu was chosen first)"]


def test_auto_on_cpu_with_the_double_still_picks_reference(fake_torch_npu: ModuleType) -> None:
    backend, rejected = select_backend("cpu")
    assert backend.name == "reference"
    assert rejected == ["npu: auto uses it only on an npu device, not cpu"]


def test_explicit_preference(no_torch_npu: None) -> None:
    backend, rejected = select_backend("cpu", "reference", options={"reference": {"rule": "rceil"}})
    assert backend.name == "reference" and backend.rule.value == "rceil"
    assert rejected == ["npu: not requested (preference 'reference')"]
    with pytest.raises(
        BackendUnavailable, match="MXFP8 backend 'npu' is not available on cpu"
    ) as info:
        select_backend("cpu", "npu")
    assert info.value.reasons == [NO_NPU, "reference: not requested (preference 'npu')"]
    with pytest.raises(ValueError, match="use 'auto' or one of npu, reference"):
        select_backend("cpu", "fastest")


def test_registering_a_backend(no_torch_npu: None) -> None:
    class Never(ReferenceBackend):
        name = "never"

        def available(self, device=None):
            return False, "never available"

    register_backend("never", Never)
    try:
        assert list_backends()[-1] == "never"
        backend, rejected = select_backend("cpu")
        assert backend.name == "reference"
        assert rejected == [NO_NPU, "never: not needed (reference was chosen first)"]
    finally:
        unregister_backend("never")
    assert "never" not in list_backends()
