"""The torch_npu test double rejects every documented contract violation (mxfp8.md §7).

If the double were lax, the npu backend tests below it would prove nothing: each violation is
checked here against a canonical, accepted call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from core.backends.reference import mx_matmul
from core.mx import quantize_mx, scale_to_pairs
from tests.doubles import torch_npu as npu

M, K, N = 6, 96, 10  # 3 scale blocks: an odd count, so the pair layout carries a pad byte


def operands() -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(M, K, generator=gen).to(torch.bfloat16)
    w = (torch.randn(N, K, generator=gen) * 0.02).to(torch.bfloat16)
    qx, sx = npu.npu_dynamic_mx_quant(x, dst_type=npu.float8_e4m3fn)
    qw, sw = quantize_mx(w)
    pairs = scale_to_pairs(sw)
    return {
        "x": x,
        "args": [qx, qw.transpose(0, 1), pairs.transpose(0, 1)],
        "kwargs": dict(
            scale_dtype=npu.float8_e8m0fnu,
            pertoken_scale=sx,
            pertoken_scale_dtype=npu.float8_e8m0fnu,
            bias=torch.randn(N, generator=gen),
            output_dtype=torch.bfloat16,
            group_sizes=[1, 1, 32],
        ),
        "qw": qw,
        "sw": sw,
    }


def test_canonical_calls_are_accepted_and_computed_with_reference_numerics() -> None:
    ops = operands()
    qx, sx = ops["args"][0], ops["kwargs"]["pertoken_scale"]
    ref_q, ref_s = quantize_mx(ops["x"])
    assert torch.equal(qx.view(torch.uint8), ref_q.view(torch.uint8))
    assert sx.shape == (M, 2, 2) and sx.dtype == torch.uint8
    assert torch.equal(sx, scale_to_pairs(ref_s))
    out = npu.npu_quant_matmul(*ops["args"], **ops["kwargs"])
    expected = mx_matmul(ref_q, ref_s, ops["qw"], ops["sw"], ops["kwargs"]["bias"], torch.bfloat16)
    assert out.dtype == torch.bfloat16 and torch.equal(out, expected)


def test_contiguous_copies_of_both_weight_and_scale_are_accepted() -> None:
    """Pre-transposing weight and scale alike (SGLang's LLM path) is within the contract."""
    ops = operands()
    qx, w_t, s_t = ops["args"]
    out = npu.npu_quant_matmul(qx, w_t.contiguous(), s_t.contiguous(), **ops["kwargs"])
    assert torch.equal(out, npu.npu_quant_matmul(*ops["args"], **ops["kwargs"]))


QUANT_VIOLATIONS: dict[str, tuple[Callable[[torch.Tensor], tuple[Any, dict]], str]] = {
    "fp4 default dst_type": (lambda x: (x, {}), "FP4 default"),
    "int input": (lambda x: (x.to(torch.int8), {}), "input dtype"),
    "fp64 input": (lambda x: (x.double(), {}), "input dtype"),
    "round_mode": (lambda x: (x, {"round_mode": "round"}), "round_mode='rint'"),
    "scale_alg": (lambda x: (x, {"scale_alg": 2}), "scale_alg must be 0"),
    "block_size": (lambda x: (x, {"block_size": 48}), "multiple of 32"),
    "dst_type_max": (lambda x: (x, {"dst_type_max": 6.0}), "FP4 destinations only"),
    "max_low_bound": (lambda x: (x, {"max_low_bound": 1e-3}), "scale_alg=1"),
    "fp32 short axis": (lambda x: (x[:, :16].float(), {}), "at least 32"),
    "axis range": (lambda x: (x, {"axis": 2}), "out of range"),
    "rank 8": (lambda x: (x.reshape(1, 1, 1, 1, 1, 1, M, K), {}), "rank must be 1..7"),
    "unknown dst_type": (lambda x: (x, {"dst_type": torch.int8}), "unsupported dst_type"),
}


@pytest.mark.parametrize("case", list(QUANT_VIOLATIONS))
def test_dynamic_mx_quant_rejects(case: str) -> None:
    build, message = QUANT_VIOLATIONS[case]
    x = operands()["x"]
    tensor, kwargs = build(x)
    if case != "fp4 default dst_type":
        kwargs.setdefault("dst_type", npu.float8_e4m3fn)
    with pytest.raises(npu.ContractViolation, match=message):
        npu.npu_dynamic_mx_quant(tensor, **kwargs)


def test_dynamic_mx_quant_arguments_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        npu.npu_dynamic_mx_quant(operands()["x"], -1)  # type: ignore[misc]


def test_dynamic_mx_quant_accepts_torch_dtype_and_rceil() -> None:
    x = operands()["x"]
    y, s = npu.npu_dynamic_mx_quant(x, dst_type=torch.float8_e4m3fn, scale_alg=1)
    q, sc = quantize_mx(x, "rceil")
    assert torch.equal(y.view(torch.uint8), q.view(torch.uint8))
    assert torch.equal(s, scale_to_pairs(sc))


def _mutate(ops: dict[str, Any], **changes: Any) -> tuple[list, dict]:
    args, kwargs = list(ops["args"]), dict(ops["kwargs"])
    for key, value in changes.items():
        if key in ("x1", "x2", "scale"):
            args[("x1", "x2", "scale").index(key)] = value(args) if callable(value) else value
        elif value is _DROP:
            kwargs.pop(key)
        else:
            kwargs[key] = value(kwargs) if callable(value) else value
    return args, kwargs


_DROP = object()

MATMUL_VIOLATIONS: dict[str, tuple[Callable[[dict], dict], str]] = {
    "missing output_dtype": (lambda o: {"output_dtype": _DROP}, r"output_dtype must be given"),
    "int8 output_dtype": (lambda o: {"output_dtype": torch.int8}, "output_dtype must be"),
    "bf16 bias": (lambda o: {"bias": lambda kw: kw["bias"].bfloat16()}, "bias must be float32"),
    "bias shape": (lambda o: {"bias": torch.zeros(N + 1)}, r"bias must be \(N,\)"),
    "missing scale_dtype": (lambda o: {"scale_dtype": _DROP}, "scale_dtype must be"),
    "wrong scale_dtype": (lambda o: {"scale_dtype": npu.float8_e4m3fn}, "scale_dtype must be"),
    "missing pertoken_scale_dtype": (
        lambda o: {"pertoken_scale_dtype": _DROP},
        "pertoken_scale_dtype must be",
    ),
    "missing pertoken_scale": (lambda o: {"pertoken_scale": _DROP}, "needs pertoken_scale"),
    "group_sizes none": (lambda o: {"group_sizes": _DROP}, r"group_sizes=\[1, 1, 32\]"),
    "group_sizes 128": (lambda o: {"group_sizes": [1, 1, 128]}, r"group_sizes=\[1, 1, 32\]"),
    "bf16 activations": (lambda o: {"x1": o["x"]}, "x1 must be float8_e4m3fn"),
    "uint8 weight": (lambda o: {"x2": lambda a: a[1].view(torch.uint8)}, "x2 must be"),
    "float scale": (lambda o: {"scale": lambda a: a[2].float()}, "scale must be a 1-byte tensor"),
    "scale transposed, weight not": (
        lambda o: {"x2": lambda a: a[1].contiguous()},
        "same transpose state",
    ),
    "weight transposed, scale not": (
        lambda o: {"scale": lambda a: a[2].contiguous()},
        "same transpose state",
    ),
    "canonical 3-D scale for another K": (
        lambda o: {
            "scale": lambda a: scale_to_pairs(torch.zeros(N, 5, dtype=torch.uint8)).transpose(0, 1)
        },
        r"scale must be \[ceil\(K/64\), N, 2\]",
    ),
    "pertoken scale shape": (
        lambda o: {"pertoken_scale": lambda kw: kw["pertoken_scale"][:, :1]},
        r"pertoken_scale must be \[M, ceil\(K/64\), 2\]",
    ),
    "non-zero pad byte": (
        lambda o: {"pertoken_scale": lambda kw: _with_pad(kw["pertoken_scale"])},
        "non-zero pad byte",
    ),
    "K mismatch": (lambda o: {"x1": lambda a: a[0][:, :64].contiguous()}, "K must match"),
    "offset": (lambda o: {"offset": torch.zeros(1)}, "offset and y_scale must be None"),
    "fp4 x1_dtype": (lambda o: {"x1_dtype": npu.float4_e2m1fn_x2}, "x1_dtype"),
}


def _with_pad(pairs: torch.Tensor) -> torch.Tensor:
    bad = pairs.clone()
    bad[:, -1, 1] = 7
    return bad


@pytest.mark.parametrize("case", list(MATMUL_VIOLATIONS))
def test_quant_matmul_rejects(case: str) -> None:
    ops = operands()
    change, message = MATMUL_VIOLATIONS[case]
    args, kwargs = _mutate(ops, **change(ops))
    with pytest.raises(npu.ContractViolation, match=message):
        npu.npu_quant_matmul(*args, **kwargs)


def test_undocumented_or_unused_features_are_not_faked() -> None:
    ops = operands()
    with pytest.raises(NotImplementedError):
        npu.npu_quant_matmul(ops["args"][0].unsqueeze(0), *ops["args"][1:], **ops["kwargs"])
    with pytest.raises(NotImplementedError):
        npu.npu_dynamic_mx_quant(ops["x"], dst_type=npu.float8_e5m2)
    with pytest.raises(NotImplementedError):
        npu.npu_dynamic_mx_quant(ops["x"], dst_type=npu.float8_e4m3fn, axis=0)


def test_installed_context_restores_sys_modules() -> None:
    import sys

    before = sys.modules.get("torch_npu")
    with npu.installed() as module:
        import torch_npu  # type: ignore[import-not-found]

        assert torch_npu is module and module.IS_TEST_DOUBLE
    assert sys.modules.get("torch_npu") is before
