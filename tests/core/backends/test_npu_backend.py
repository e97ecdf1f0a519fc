"""The npu backend, run against the strict torch_npu double: exact call contract, results
identical (bit for bit) to the reference backend, and honest availability reasons.

Nothing here runs on Ascend hardware; `wan-studio doctor` on the device does that.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from core.backends import BackendError, NpuBackend, get_backend
from core.mx import quantize_mx, scale_to_pairs
from tests.core.backends.layers import make_input, make_layer

INSTALL_REASON = (
    "torch_npu is not installed (pip install 'wan-studio[npu]' on an Ascend 950 with CANN)"
)


def test_unavailable_without_torch_npu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch_npu", raising=False)
    backend = get_backend("npu")
    assert backend.available("npu") == (False, INSTALL_REASON)
    assert backend.available("cpu") == (False, INSTALL_REASON)
    layer = make_layer(8, 64)
    with pytest.raises(BackendError, match="torch_npu is not installed"):
        backend.prepare(layer)


def test_broken_torch_npu_import_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "torch_npu.py").write_text(
        "raise ImportError('libhccl.so: cannot open shared object file')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "torch_npu", raising=False)
    ok, why = get_backend("npu").available("npu")
    assert not ok
    assert (
        why == "torch_npu failed to import: ImportError: libhccl.so: cannot open shared object file"
    )


def test_torch_npu_without_mx_ops(monkeypatch: pytest.MonkeyPatch) -> None:
    old = ModuleType("torch_npu")
    old.__version__ = "2.1.0"  # type: ignore[attr-defined]
    old.npu_quant_matmul = lambda *a, **k: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_npu", old)
    ok, why = get_backend("npu").available("npu")
    assert not ok and why.startswith("torch_npu 2.1.0 lacks npu_dynamic_mx_quant")


def test_availability_with_the_double(fake_torch_npu: ModuleType) -> None:
    backend = get_backend("npu")
    ok, why = backend.available("npu:0")
    assert ok and "Ascend950PR" in why and "test double" in why
    ok, why = backend.available("cpu")  # the double runs on CPU tensors, and says so
    assert ok and "TEST DOUBLE" in why
    assert backend.available("npu:3") == (False, "no NPU 3: 1 device(s) visible")
    assert backend.available("cuda")[0] is False


def test_not_an_ascend_950(fake_torch_npu: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_torch_npu.npu, "get_device_name", lambda index=0: "Ascend910B2")
    monkeypatch.delenv("WAN_STUDIO_NPU_ANY_SOC", raising=False)
    ok, why = get_backend("npu").available("npu")
    assert not ok and why.startswith("Ascend910B2 is not an Ascend 950PR/950DT")
    assert "WAN_STUDIO_NPU_ANY_SOC=1" in why
    monkeypatch.setenv("WAN_STUDIO_NPU_ANY_SOC", "1")
    assert get_backend("npu").available("npu")[0]
    monkeypatch.setattr(fake_torch_npu.npu, "is_available", lambda: False)
    assert get_backend("npu").available("npu") == (
        False,
        "torch_npu 2.7.1+test-double is installed but sees no NPU",
    )


CASES = [
    # (x shape, K, N, x dtype, bias dtype)
    ((4, 64), 64, 16, torch.bfloat16, torch.bfloat16),
    ((3, 5, 96), 96, 24, torch.bfloat16, torch.float32),  # odd block count: padded pairs
    ((7, 40), 40, 8, torch.float16, None),  # K not a multiple of 32
    ((2, 2, 2, 128), 128, 33, torch.float32, torch.float16),  # fp32 in: bf16 quant, fp32 out
    ((1, 320), 320, 64, torch.bfloat16, None),
]


@pytest.mark.parametrize("rule", ["floor", "rceil"])
@pytest.mark.parametrize(("shape", "k", "n", "dtype", "bias"), CASES)
def test_identical_to_reference(
    fake_torch_npu: ModuleType,
    shape: tuple[int, ...],
    k: int,
    n: int,
    dtype: torch.dtype,
    bias: torch.dtype | None,
    rule: str,
) -> None:
    layer = make_layer(n, k, bias=bias, rule=rule, seed=k + n)
    x = make_input(shape, dtype, seed=n)
    npu = get_backend("npu", rule=rule)
    npu.prepare(layer)
    y_npu = npu.linear(x, layer)
    reference = get_backend("reference", rule=rule)
    reference.prepare(layer)
    y_ref = reference.linear(x, layer)
    assert y_npu.dtype == dtype and y_npu.shape == (*shape[:-1], n)
    assert torch.equal(y_npu, y_ref)


def test_calls_follow_the_canonical_sequence(fake_torch_npu: ModuleType) -> None:
    layer = make_layer(24, 96, bias=torch.bfloat16)
    backend = get_backend("npu")
    backend.prepare(layer)
    x = make_input((2, 3, 96))
    backend.linear(x, layer)
    names = [name for name, _ in fake_torch_npu.calls]
    assert names == ["npu_dynamic_mx_quant", "npu_quant_matmul"]
    quant = fake_torch_npu.calls[0][1]
    assert quant["input"].shape == (6, 96)  # flattened to 2-D
    assert quant["dst_type"] == fake_torch_npu.float8_e4m3fn
    assert quant["scale_alg"] == 0  # FLOOR: the kernel default, not passed
    mm = fake_torch_npu.calls[1][1]
    # The weight is passed as a transpose view of the checkpoint storage, never copied.
    assert mm["x2"].shape == (96, 24) and mm["x2"].data_ptr() == layer.weight.data_ptr()
    assert torch.equal(mm["scale"].transpose(0, 1), scale_to_pairs(layer.weight_scale))
    assert mm["bias"].dtype == torch.float32 and torch.equal(mm["bias"], layer.bias.float())
    assert mm["output_dtype"] == torch.bfloat16 and mm["group_sizes"] == [1, 1, 32]
    assert mm["scale_dtype"] == mm["pertoken_scale_dtype"] == fake_torch_npu.float8_e8m0fnu


def test_rceil_uses_scale_alg_1(fake_torch_npu: ModuleType) -> None:
    layer = make_layer(8, 64, rule="rceil")
    backend = get_backend("npu", rule="rceil")
    backend.prepare(layer)
    backend.linear(make_input((2, 64)), layer)
    assert fake_torch_npu.calls[0][1]["scale_alg"] == 1


def test_older_torch_npu_with_canonical_activation_scales(
    fake_torch_npu: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some builds return [M, ceil(K/32)] scales; the backend converts them to pairs."""
    from core.mx import pairs_to_scale

    real = fake_torch_npu.npu_dynamic_mx_quant

    def canonical(input, **kwargs):
        data, pairs = real(input, **kwargs)
        return data, pairs_to_scale(pairs, input.shape[-1])

    monkeypatch.setattr(fake_torch_npu, "npu_dynamic_mx_quant", canonical)
    layer = make_layer(16, 96)
    x = make_input((5, 96))
    npu, ref = get_backend("npu"), get_backend("reference")
    npu.prepare(layer)
    y = npu.linear(x, layer)
    ref.prepare(layer)
    assert torch.equal(y, ref.linear(x, layer))
    assert torch.equal(npu.quantize(x)[1], quantize_mx(x)[1])


def test_quantizer_is_bit_exact_with_core_mx(fake_torch_npu: ModuleType) -> None:
    x = make_input((9, 200))
    x[3, 17] = float("inf")
    for rule in ("floor", "rceil"):
        data, scale = get_backend("npu", rule=rule).quantize(x)
        want_data, want_scale = quantize_mx(x, rule)
        assert torch.equal(scale, want_scale)
        assert torch.equal(data.view(torch.uint8), want_data.view(torch.uint8))


def test_empty_batch_and_unprepared_layer(fake_torch_npu: ModuleType) -> None:
    layer = make_layer(8, 64)
    backend = NpuBackend()
    with pytest.raises(BackendError, match="not prepared for the npu backend"):
        backend.linear(make_input((1, 64)), layer)
    backend.prepare(layer)
    assert backend.linear(make_input((0, 64)), layer).shape == (0, 8)
    assert fake_torch_npu.calls == []


def test_no_torch_npu_import_at_module_import_time(tmp_path: Path) -> None:
    """Importing core.mx, the backends and the doctor must never import torch_npu (installed
    without CANN it breaks torch). A torch_npu that explodes on import is put on the path."""
    import os
    import subprocess

    (tmp_path / "torch_npu.py").write_text("raise SystemExit('torch_npu was imported')\n")
    root = Path(__file__).resolve().parents[3]
    code = (
        "import sys, core.mx, core.backends, core.backends.npu, core.doctor, core.commands.doctor\n"
        "assert 'torch_npu' not in sys.modules\n"
        "print('clean')\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{root}"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr
