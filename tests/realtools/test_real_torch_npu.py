"""The npu backend against the REAL torch_npu 2.14.0 contract: the wheel's op schemas and its own
meta kernels (tests/realtools/torch_npu_contract.py), on meta tensors, for every MXFP8 linear
shape of the three real Wan2.2 families and the activation shapes a generation uses; and the
strict double (tests/doubles/torch_npu.py) held to the same answers.

Meta tensors carry shapes, strides and dtypes but no data: these tests prove the calls are
well-formed for the real op plugin, not the numerics (the double and the reference do those).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
import torch

import core.backends.npu as npu_backend
from core.backends import NpuBackend, get_backend
from core.models.catalog import get_family
from core.mx import quantize_mx, scale_to_pairs
from core.quant.selection import is_block_linear
from core.repack.skeleton import expected_shapes
from tests.core.backends.layers import StandInLayer, make_input, make_layer
from tests.doubles import torch_npu as double
from tests.realtools.paths import torch_npu_files
from tests.realtools.torch_npu_contract import OPS, installed, read_schemas

FAMILIES = ("t2v-a14b", "i2v-a14b", "ti2v-5b")
# Tokens per sample at the official sizes (81 frames): A14B 1280x720 -> 21x45x80 patches,
# 832x480 -> 21x30x52; TI2V-5B 1280x704 (VAE x16) -> 21x22x40; UMT5 text: 512 tokens.
TOKENS = {"t2v-a14b": (75600, 32760), "i2v-a14b": (75600, 32760), "ti2v-5b": (18480,)}
TEXT_TOKENS = 512


def family_linear_shapes(family: str) -> list[tuple[int, int]]:
    """(N, K) of every linear the app runs in MXFP8 (the 10 block linears) of a real family."""
    fam = get_family(family)
    config = {
        "_class_name": "WanTransformer3DModel",
        "attention_head_dim": 128,
        "num_attention_heads": fam.dim // 128,
        "ffn_dim": fam.ffn_dim,
        "num_layers": 1,
        "in_channels": fam.in_channels,
        "out_channels": fam.in_channels,
        "freq_dim": 256,
        "text_dim": 4096,
        "patch_size": [1, 2, 2],
        "image_dim": None,
        "added_kv_proj_dim": None,
        "pos_embed_seq_len": None,
        "cross_attn_norm": True,
        "qk_norm": "rms_norm_across_heads",
        "eps": 1e-6,
        "rope_max_seq_len": 1024,
    }
    shapes = expected_shapes(config)
    return sorted(
        {
            shapes[name]
            for name in shapes
            if name.endswith(".weight") and is_block_linear(name.removesuffix(".weight"))
        }
    )


def meta_layer(n: int, k: int, bias: torch.dtype | None) -> StandInLayer:
    weight = torch.empty(n, k, dtype=torch.float8_e4m3fn, device="meta")
    scale = torch.empty(n, -(-k // 32), dtype=torch.uint8, device="meta")
    b = None if bias is None else torch.empty(n, dtype=bias, device="meta")
    return StandInLayer(weight, scale, b)


@pytest.fixture
def real_npu() -> Iterator[ModuleType]:
    """``import torch_npu`` gives the real-contract stand-in; ``.calls`` records every op call
    as (op, args, kwargs, output)."""
    with installed() as module:
        calls: list[tuple[str, tuple, dict, Any]] = []
        for op in OPS:
            real = getattr(module, op)

            def record(*args: Any, _op: str = op, _real: Any = real, **kwargs: Any) -> Any:
                out = _real(*args, **kwargs)
                calls.append((_op, args, kwargs, out))
                return out

            setattr(module, op, record)
        module.calls = calls
        yield module


def test_the_ops_are_defined_from_the_wheels_schemas(real_npu) -> None:
    schemas = read_schemas(torch_npu_files()[0])
    for op in OPS:
        defined = str(getattr(torch.ops.npu, op).default._schema)
        assert defined == str(torch._C.parse_schema(f"npu::{schemas[op]}"))
    assert "int dst_type=296" in schemas["npu_dynamic_mx_quant"]  # the FP4 default
    assert real_npu.float8_e4m3fn == 292 and real_npu.float8_e8m0fnu == 293


@pytest.mark.parametrize("family", FAMILIES)
def test_every_real_linear_and_activation_shape_passes_the_real_meta(family: str, real_npu) -> None:
    shapes = family_linear_shapes(family)
    dim = get_family(family).dim
    assert shapes == sorted(
        {(dim, dim), (get_family(family).ffn_dim, dim), (dim, get_family(family).ffn_dim)}
    )
    backend = get_backend("npu")
    runs = 0
    for (n, k), bias in itertools.product(shapes, (torch.float32, torch.bfloat16, None)):
        layer = meta_layer(n, k, bias)
        backend.prepare(layer)
        leading = [(1, TEXT_TOKENS), (1, 1), (3,)]  # cross-attention k/v, one token, 1-D batch
        for tokens in TOKENS[family]:
            leading += [(1, tokens), (2, tokens), (tokens,), (1, 1, 21, tokens // 21)]
        for lead, dtype in itertools.product(leading, (torch.bfloat16, torch.float16)):
            del real_npu.calls[:]
            x = torch.empty(*lead, k, dtype=dtype, device="meta")
            y = backend.linear(x, layer)
            assert (tuple(y.shape), y.dtype, y.device.type) == ((*lead, n), dtype, "meta")
            (quant, matmul) = real_npu.calls
            assert quant[0] == "npu_dynamic_mx_quant" and matmul[0] == "npu_quant_matmul"
            qx, sx = quant[3]
            rows = x.numel() // k
            assert (tuple(qx.shape), qx.dtype) == ((rows, k), torch.float8_e4m3fn)
            assert (tuple(sx.shape), sx.dtype) == ((rows, -(-k // 64), 2), torch.uint8)
            runs += 1
    assert runs == len(shapes) * 3 * 2 * (3 + 4 * len(TOKENS[family]))


@pytest.mark.parametrize("k", [32, 96, 160, 100, 64])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_k_not_a_multiple_of_64_and_every_input_dtype(k: int, dtype: torch.dtype, real_npu) -> None:
    backend = get_backend("npu")
    layer = meta_layer(48, k, torch.bfloat16)
    backend.prepare(layer)
    x = torch.empty(2, 7, k, dtype=dtype, device="meta")
    y = backend.linear(x, layer)
    assert (tuple(y.shape), y.dtype) == ((2, 7, 48), dtype)
    quant_input = real_npu.calls[0][1][0]
    assert quant_input.dtype == (torch.bfloat16 if dtype == torch.float32 else dtype)


def test_a_broken_backend_call_fails_on_the_real_meta(real_npu, monkeypatch) -> None:
    """Passing the weight scales in the checkpoint layout [N, K/32] instead of pairs is caught
    by the wheel's own meta check, not only by the double."""
    monkeypatch.setattr(npu_backend, "scale_to_pairs", lambda scale: scale)
    backend = get_backend("npu")
    layer = meta_layer(5120, 5120, torch.float32)
    backend.prepare(layer)
    with pytest.raises(RuntimeError, match="k dimension of scale and pertoken_scale must be equal"):
        backend.linear(torch.empty(1, 512, 5120, dtype=torch.bfloat16, device="meta"), layer)


# ---------------------------------------------------------------------------------------------
# The strict double against the real meta


def _meta(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device="meta")
    return value


def _replay(module: ModuleType, op: str, kwargs: dict[str, Any]) -> Any:
    """Call ``op`` of ``module`` with the double's recorded keyword form of a call."""
    kwargs = dict(kwargs)
    if op == "npu_dynamic_mx_quant":
        return module.npu_dynamic_mx_quant(kwargs.pop("input"), **kwargs)
    return module.npu_quant_matmul(
        kwargs.pop("x1"), kwargs.pop("x2"), kwargs.pop("scale"), **kwargs
    )


def _signature(out: Any) -> Any:
    if isinstance(out, tuple):
        return tuple(_signature(o) for o in out)
    return (tuple(out.shape), out.dtype)


def test_every_call_the_double_accepts_gets_the_same_answer_from_the_real_meta(real_npu) -> None:
    recorded: list[tuple[str, dict[str, Any]]] = []
    with double.installed():
        for rule, k, lead, dtype, bias in itertools.product(
            ("floor", "rceil"),
            (32, 64, 96, 100, 160),
            ((3,), (2, 5), (1, 2, 3)),
            (torch.bfloat16, torch.float16, torch.float32),
            (None, torch.float32, torch.bfloat16),
        ):
            backend = NpuBackend(rule)
            layer = make_layer(16, k, bias=bias)
            backend.prepare(layer)
            y = backend.linear(make_input((*lead, k), dtype), layer)
            assert tuple(y.shape) == (*lead, 16)
            recorded += [(op, dict(kwargs)) for op, kwargs in double.calls[-2:]]
        answers = [_signature(_replay(double, op, kwargs)) for op, kwargs in recorded]
    for (op, kwargs), expected in zip(recorded, answers, strict=True):
        meta_kwargs = {name: _meta(value) for name, value in kwargs.items()}
        assert _signature(_replay(real_npu, op, meta_kwargs)) == expected, (op, kwargs.keys())
    assert len(recorded) == 2 * 2 * 5 * 3 * 3 * 3


def _quant_call(**change: Any) -> tuple[str, dict[str, Any]]:
    kwargs = {"input": make_input((4, 96)), "dst_type": double.float8_e4m3fn}
    return "npu_dynamic_mx_quant", {**kwargs, **change}


def _matmul_call(**change: Any) -> tuple[str, dict[str, Any]]:
    x, layer = make_input((4, 96)), make_layer(8, 96)
    qx, sx = quantize_mx(x, "floor")
    kwargs = {
        "x1": qx,
        "x2": layer.weight.transpose(0, 1),
        "scale": scale_to_pairs(layer.weight_scale).transpose(0, 1),
        "pertoken_scale": scale_to_pairs(sx),
        "scale_dtype": double.float8_e8m0fnu,
        "pertoken_scale_dtype": double.float8_e8m0fnu,
        "bias": torch.zeros(8),
        "output_dtype": torch.bfloat16,
        "group_sizes": [1, 1, 32],
    }
    return "npu_quant_matmul", {**kwargs, **change}


def _outcome(module: ModuleType, op: str, kwargs: dict[str, Any], meta: bool) -> Any:
    try:
        out = _replay(module, op, {k: _meta(v) if meta else v for k, v in kwargs.items()})
    except (RuntimeError, NotImplementedError) as exc:
        return ("rejected", type(exc).__name__)
    return ("accepted", _signature(out))


# Calls both must reject: the real meta kernel's own checks.
BOTH_REJECT = {
    "quant axis out of range": _quant_call(axis=2),
    "quant block_size 48": _quant_call(block_size=48),
    "quant scale_alg 3": _quant_call(scale_alg=3),
    "weight scale in the checkpoint layout [K/32, N]": _matmul_call(
        scale=make_layer(8, 96).weight_scale.transpose(0, 1)
    ),
    "activation scale in the checkpoint layout [M, K/32]": _matmul_call(
        pertoken_scale=quantize_mx(make_input((4, 96)), "floor")[1]
    ),
    "K mismatch": _matmul_call(x2=make_layer(8, 64).weight.transpose(0, 1)),
    "group_sizes [1, 1, 64]": _matmul_call(group_sizes=[1, 1, 64]),
    "group_sizes missing": _matmul_call(group_sizes=None),
    "scale_dtype missing": _matmul_call(scale_dtype=None),
    "scale_dtype not e8m0": _matmul_call(scale_dtype=double.float8_e4m3fn),
    "pertoken_scale_dtype not e8m0": _matmul_call(pertoken_scale_dtype=double.hifloat8),
    "x1_dtype for a native float8 x1": _matmul_call(x1_dtype=double.float8_e4m3fn),
    "x2_dtype for a native float8 x2": _matmul_call(x2_dtype=double.float8_e4m3fn),
    "bias of the wrong length": _matmul_call(bias=torch.zeros(7)),
    "float16 bias with bfloat16 output": _matmul_call(bias=torch.zeros(8, dtype=torch.float16)),
    "x1 rank 1": _matmul_call(x1=quantize_mx(make_input((96,)), "floor")[0]),
}
# Calls the double rejects and the real meta answers with something the backend must not use.
META_ANSWERS_WRONGLY = {
    "quant with the FP4 default dst_type": (
        _quant_call(dst_type=296),
        (((4, 48), torch.uint8), ((4, 2, 2), torch.uint8)),  # packed FP4, not float8
    ),
    "matmul without output_dtype": (_matmul_call(output_dtype=None), ((4, 8), torch.int8)),
}
# Calls the double rejects on the kernels' documented rules (aclnnDynamicMxQuant and
# aclnnQuantMatmulV5, shared/reference/mxfp8.md section 7) that the meta kernels do not check.
KERNEL_RULES_BEYOND_META = {
    "quant round_mode 'floor' for FP8": _quant_call(round_mode="floor"),
    "quant scale_alg 2 for FP8 (FP4 only)": _quant_call(scale_alg=2),
    "quant of an int8 input": _quant_call(input=torch.zeros(4, 96, dtype=torch.int8)),
    "quant dst_type_max for FP8": _quant_call(dst_type_max=6.0),
    "matmul x1 not quantized (bf16)": _matmul_call(x1=make_input((4, 96))),
    "matmul group_sizes [1, 1, 128] (not MXFP8)": _matmul_call(group_sizes=[1, 1, 128]),
    "matmul offset in MX mode": _matmul_call(offset=torch.zeros(8)),
    "matmul bfloat16 bias (MX bias is float32)": _matmul_call(
        bias=torch.zeros(8, dtype=torch.bfloat16)
    ),
    "matmul x2 transposed but its scale not": _matmul_call(
        scale=scale_to_pairs(make_layer(8, 96).weight_scale).transpose(0, 1).contiguous()
    ),
}


@pytest.mark.parametrize("case", sorted(BOTH_REJECT))
def test_the_double_and_the_real_meta_reject_the_same_calls(case: str, real_npu) -> None:
    op, kwargs = BOTH_REJECT[case]
    with double.installed():
        assert _outcome(double, op, kwargs, meta=False)[0] == "rejected"
    assert _outcome(real_npu, op, kwargs, meta=True)[0] == "rejected"


@pytest.mark.parametrize("case", sorted(META_ANSWERS_WRONGLY))
def test_where_the_meta_answers_wrongly_the_double_rejects(case: str, real_npu) -> None:
    (op, kwargs), meta_answer = META_ANSWERS_WRONGLY[case]
    with double.installed():
        assert _outcome(double, op, kwargs, meta=False)[0] == "rejected"
    assert _outcome(real_npu, op, kwargs, meta=True) == ("accepted", meta_answer)


@pytest.mark.parametrize("case", sorted(KERNEL_RULES_BEYOND_META))
def test_the_documented_kernel_rules_beyond_the_meta_are_known(case: str, real_npu) -> None:
    """The only calls on which the double is stricter than the meta: listed, one by one."""
    op, kwargs = KERNEL_RULES_BEYOND_META[case]
    with double.installed():
        assert _outcome(double, op, kwargs, meta=False)[0] == "rejected"
    assert _outcome(real_npu, op, kwargs, meta=True)[0] == "accepted"


def test_scale_tensors_of_any_one_byte_dtype_and_scalartype_numbers_are_accepted_by_both(
    real_npu,
) -> None:
    """Where the double used to be stricter than the real meta (fixed in the double): a
    float8_e8m0fnu scale tensor (1 byte, reinterpreted by scale_dtype) and dtype arguments given
    as ScalarType numbers (the dispatcher turns a torch.dtype into one)."""
    op, kwargs = _matmul_call()
    e8m0 = {
        **kwargs,
        "scale": kwargs["scale"].view(torch.float8_e8m0fnu),
        "pertoken_scale": kwargs["pertoken_scale"].view(torch.float8_e8m0fnu),
    }
    numbers = {**kwargs, "output_dtype": 15}  # torch.bfloat16
    quant_op, quant_kwargs = _quant_call(dst_type=24)  # torch.float8_e4m3fn's ScalarType
    for op_, call in ((op, e8m0), (op, numbers), (quant_op, quant_kwargs)):
        with double.installed():
            want = _outcome(double, op_, call, meta=False)
        assert want[0] == "accepted", want
        assert _outcome(real_npu, op_, call, meta=True) == want
