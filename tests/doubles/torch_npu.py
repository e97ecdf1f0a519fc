"""A STRICT test double of the two torch_npu ops the npu backend uses, on CPU tensors.

``npu_dynamic_mx_quant`` and ``npu_quant_matmul`` (MX mode) follow their documented contract
(shared/reference/mxfp8.md §7.1-§7.2, aclnnDynamicMxQuant / aclnnQuantMatmulV5, op-plugin) and
compute with the reference numerics (core.mx.quantize_mx, core.backends.reference.mx_matmul),
so results can be compared bit for bit with the reference backend. Every contract violation the
documents name raises ``ContractViolation`` (a RuntimeError, as torch_npu raises) — including
calls the real op would accept but answer wrongly (the FP4 default ``dst_type``, a missing
``output_dtype`` that yields int8). Documented features the backend never uses (axis != -1,
E5M2, 3-D operands, block sizes other than 32, max_low_bound) raise ``NotImplementedError``
rather than being faked.

Held against the REAL torch_npu 2.14.0 contract (the wheel's schemas and meta kernels) by
tests/realtools/test_real_torch_npu.py: same answer on every call it accepts, and it rejects
what the real meta rejects. Where they disagreed the real one won and this double was fixed:
``x1_dtype``/``x2_dtype`` given for float8_e4m3fn operands are rejected (the meta accepts them
only for FP4/HiFloat8), scale tensors of any 1-byte dtype are reinterpreted (uint8 only
before), and dtype arguments may be ScalarType numbers (the dispatcher passes those). The
documented kernel rules it checks beyond the meta are listed there, one by one.

Module attributes mirror torch_npu's: ``float8_e4m3fn`` / ``float8_e8m0fnu`` /
``float4_e2m1fn_x2`` are the integer dtype IDs (291-297) torch_npu uses for its own dtypes (not
torch.dtype objects, so code that misuses them as torch dtypes fails here as it would there),
and ``npu`` is a device shim reporting one "Ascend950PR (test double)". ``TEST_DOUBLE_DEVICE =
"cpu"`` lets the npu backend's ``available("cpu")`` say yes while the double is installed
(it says "TEST DOUBLE" in its reason). ``calls`` records every op call (name, kwargs).

How to use it (other test packages too):

    # in a test module or a conftest.py
    from tests.doubles.fixtures import fake_torch_npu  # noqa: F401  (pytest fixture)

    def test_something(fake_torch_npu):
        backend = get_backend("npu")  # imports "torch_npu": gets this double
        ...
        assert fake_torch_npu.calls[-1][0] == "npu_quant_matmul"

or, without pytest: ``with tests.doubles.torch_npu.installed() as torch_npu: ...``. Both put this
module into ``sys.modules["torch_npu"]`` and restore the previous entry afterwards.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import torch

from core.backends.reference import mx_matmul
from core.mx import MxFormatError, num_blocks, pairs_to_scale, quantize_mx

__version__ = "2.7.1+test-double"
IS_TEST_DOUBLE = True
TEST_DOUBLE_DEVICE = "cpu"

# torch_npu's own dtype IDs (mxfp8.md §7.2): torch_npu passes these ints, not torch.dtypes.
hifloat8 = 290
float8_e5m2 = 291
float8_e4m3fn = 292
float8_e8m0fnu = 293
float4_e2m1fn_x2 = 296
float4_e1m2fn_x2 = 297

MX_GROUP_SIZES = [1, 1, 32]


class ContractViolation(RuntimeError):
    """The call breaks the documented torch_npu contract."""


calls: list[tuple[str, dict[str, Any]]] = []


def _device_shim() -> SimpleNamespace:
    return SimpleNamespace(
        is_available=lambda: True,
        device_count=lambda: 1,
        current_device=lambda: 0,
        get_device_name=lambda index=0: "Ascend950PR (test double)",
    )


npu = _device_shim()


def reset() -> None:
    """Forget recorded calls and restore the device shim (the fixture does this)."""
    calls.clear()
    globals()["npu"] = _device_shim()


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


# torch's ScalarType numbers: the dispatcher passes a torch.dtype given for an ``int`` schema
# argument (dst_type, output_dtype) as its number, so the real ops accept either spelling.
_SCALAR_TYPES = {
    5: torch.float16,
    6: torch.float32,
    15: torch.bfloat16,
    23: torch.float8_e5m2,
    24: torch.float8_e4m3fn,
}


def _as_dtype(value: Any) -> Any:
    """A ScalarType number as its torch.dtype (as the real op sees it); anything else as is."""
    return _SCALAR_TYPES.get(value, value) if isinstance(value, int) else value


def _is_fp8_e4m3(dtype: Any) -> bool:
    return dtype == float8_e4m3fn or _as_dtype(dtype) is torch.float8_e4m3fn


# ---------------------------------------------------------------------------------------------
# npu_dynamic_mx_quant


def npu_dynamic_mx_quant(
    input: torch.Tensor,
    *,
    axis: int = -1,
    round_mode: str = "rint",
    dst_type: Any = float4_e2m1fn_x2,
    block_size: int = 32,
    scale_alg: int = 0,
    dst_type_max: float = 0.0,
    max_low_bound: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (y float8_e4m3fn like input, mxscale uint8 [..., ceil(K/64), 2])."""
    calls.append(
        (
            "npu_dynamic_mx_quant",
            dict(
                input=input,
                axis=axis,
                round_mode=round_mode,
                dst_type=dst_type,
                block_size=block_size,
                scale_alg=scale_alg,
                dst_type_max=dst_type_max,
                max_low_bound=max_low_bound,
            ),
        )
    )
    _require(isinstance(input, torch.Tensor), "input must be a Tensor")
    _require(
        input.dtype in (torch.float16, torch.bfloat16, torch.float32),
        f"input dtype must be float16, bfloat16 or float32, got {input.dtype}",
    )
    _require(1 <= input.dim() <= 7, f"input rank must be 1..7, got {input.dim()}")
    _require(-input.dim() <= axis < input.dim(), f"axis {axis} out of range for rank {input.dim()}")
    if dst_type == float4_e2m1fn_x2:
        raise ContractViolation(
            "dst_type is the FP4 default (float4_e2m1fn_x2): pass "
            "dst_type=torch_npu.float8_e4m3fn for MXFP8"
        )
    _require(
        dst_type in (float8_e4m3fn, float8_e5m2, float4_e1m2fn_x2)
        or _as_dtype(dst_type) in (torch.float8_e4m3fn, torch.float8_e5m2),
        f"unsupported dst_type {dst_type!r}",
    )
    fp8 = dst_type != float4_e1m2fn_x2
    _require(
        isinstance(block_size, int) and 0 < block_size <= 1024 and block_size % 32 == 0,
        f"block_size must be a multiple of 32 in (0, 1024], got {block_size!r}",
    )
    if fp8:
        _require(
            round_mode == "rint", f"FP8 dst_type only accepts round_mode='rint', got {round_mode!r}"
        )
        _require(
            scale_alg in (0, 1), f"FP8 scale_alg must be 0 (OCP) or 1 (cuBLAS), got {scale_alg!r}"
        )
        _require(dst_type_max == 0.0, "dst_type_max applies to FP4 destinations only")
    _require(max_low_bound == 0.0 or scale_alg == 1, "max_low_bound is only valid with scale_alg=1")
    if input.dtype == torch.float32:
        _require(block_size == 32, "float32 input needs block_size 32")
        _require(input.shape[axis] >= 32, "float32 input needs an axis length of at least 32")
    # Documented, but not used by the npu backend and therefore not emulated:
    if axis not in (-1, input.dim() - 1):
        raise NotImplementedError("the test double implements axis=-1 only")
    if not _is_fp8_e4m3(dst_type):
        raise NotImplementedError("the test double implements dst_type float8_e4m3fn only")
    if block_size != 32 or max_low_bound != 0.0:
        raise NotImplementedError("the test double implements block_size=32, max_low_bound=0")
    y, scale = quantize_mx(input, "rceil" if scale_alg == 1 else "floor")
    pairs = scale_to_pairs_npu(scale)
    return y, pairs


def scale_to_pairs_npu(scale: torch.Tensor) -> torch.Tensor:
    """The kernel's own pair layout, written out independently of core.mx.scale_to_pairs."""
    blocks = scale.shape[-1]
    pairs = torch.zeros(
        (*scale.shape[:-1], -(-blocks // 2), 2), dtype=torch.uint8, device=scale.device
    )
    pairs.view(*scale.shape[:-1], -1)[..., :blocks] = scale
    return pairs


# ---------------------------------------------------------------------------------------------
# npu_quant_matmul (MX mode: group_sizes [1, 1, 32])


def _transposed(t: torch.Tensor) -> bool:
    """op-plugin's notion: the last two dims are swapped in memory (a transpose view)."""
    if t.dim() < 2:
        return False
    rows, cols = t.shape[-2], t.shape[-1]
    if rows == 1 or cols == 1:
        return False
    return t.stride(-2) == 1 and t.stride(-1) == rows


def _scale_transposed(s: torch.Tensor) -> bool | None:
    """Transpose state of a [B2, N, 2] scale: None when the layout is ambiguous (a dim of 1)."""
    d0, d1, _ = s.shape
    if d0 == 1 or d1 == 1:
        return None
    if s.stride() == (2 * d1, 2, 1):
        return False
    if s.stride() == (2, 2 * d0, 1):
        return True
    raise ContractViolation(f"scale has an unsupported memory layout (strides {s.stride()})")


def _check_pairs_bytes(name: str, t: Any) -> torch.Tensor:
    """E8M0 bytes in a 1-byte tensor (uint8 as npu_dynamic_mx_quant returns them, or
    float8_e8m0fnu): the ``*_dtype`` argument reinterprets them (real meta: element_size 1)."""
    _require(isinstance(t, torch.Tensor), f"{name} must be a Tensor")
    _require(
        t.element_size() == 1,
        f"{name} must be a 1-byte tensor of E8M0 bytes (reinterpreted via the *_dtype argument), got {t.dtype}",
    )
    return t if t.dtype == torch.uint8 else t.view(torch.uint8)


def npu_quant_matmul(
    x1: torch.Tensor,
    x2: torch.Tensor,
    scale: torch.Tensor,
    *,
    offset: torch.Tensor | None = None,
    pertoken_scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    output_dtype: torch.dtype | None = None,
    x1_dtype: Any = None,
    x2_dtype: Any = None,
    pertoken_scale_dtype: Any = None,
    scale_dtype: Any = None,
    group_sizes: list[int] | None = None,
    y_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """MX-mode quantized matmul: ``Σ_j (Σ_k x1·x2) · x1Scale[m, j] · x2Scale[j, n] + bias``."""
    calls.append(
        (
            "npu_quant_matmul",
            dict(
                x1=x1,
                x2=x2,
                scale=scale,
                offset=offset,
                pertoken_scale=pertoken_scale,
                bias=bias,
                output_dtype=output_dtype,
                x1_dtype=x1_dtype,
                x2_dtype=x2_dtype,
                pertoken_scale_dtype=pertoken_scale_dtype,
                scale_dtype=scale_dtype,
                group_sizes=group_sizes,
                y_scale=y_scale,
            ),
        )
    )
    for name, t in (("x1", x1), ("x2", x2)):
        _require(isinstance(t, torch.Tensor), f"{name} must be a Tensor")
        _require(2 <= t.dim() <= 6, f"{name} must have 2 to 6 dims, got {t.dim()}")
        if t.dtype == torch.float8_e5m2:
            raise NotImplementedError("the test double implements float8_e4m3fn operands only")
        _require(
            t.dtype == torch.float8_e4m3fn,
            f"{name} must be float8_e4m3fn in MX mode, got {t.dtype}",
        )
    if x1.dim() != 2 or x2.dim() != 2:
        raise NotImplementedError("the test double implements 2-D x1 and x2 only")
    _require(
        group_sizes is not None and list(group_sizes) == MX_GROUP_SIZES,
        f"MXFP8 needs group_sizes=[1, 1, 32], got {group_sizes!r}",
    )
    _require(
        output_dtype is not None,
        "output_dtype must be given (None yields int8 output)",
    )
    output_dtype = _as_dtype(output_dtype)
    _require(
        output_dtype in (torch.float16, torch.bfloat16, torch.float32),
        f"output_dtype must be float16, bfloat16 or float32, got {output_dtype!r}",
    )
    _require(
        scale_dtype == float8_e8m0fnu,
        f"scale_dtype must be torch_npu.float8_e8m0fnu, got {scale_dtype!r}",
    )
    _require(pertoken_scale is not None, "MX mode needs pertoken_scale (the x1 block scales)")
    _require(
        pertoken_scale_dtype == float8_e8m0fnu,
        f"pertoken_scale_dtype must be torch_npu.float8_e8m0fnu, got {pertoken_scale_dtype!r}",
    )
    _require(offset is None and y_scale is None, "offset and y_scale must be None in MX mode")
    for name, value in (("x1_dtype", x1_dtype), ("x2_dtype", x2_dtype)):
        # The real meta (quant_matmul_extra_dtype_check): pass x1_dtype / x2_dtype only for
        # dtypes torch lacks (FP4, HiFloat8); float8_e4m3fn operands (checked above) omit them.
        _require(
            value is None,
            f"{name}={value!r}: pass {name} only for torch_npu.float4_e2m1fn_x2 or "
            "torch_npu.hifloat8 operands; omit it for float8_e4m3fn",
        )
    scale = _check_pairs_bytes("scale", scale)
    pertoken_scale = _check_pairs_bytes("pertoken_scale", pertoken_scale)

    m, k = x1.shape
    x2_t = _transposed(x2)
    k2, n = x2.shape
    _require(k == k2, f"x1 is [{m}, {k}] but x2 is [{k2}, {n}]: K must match")
    b2 = -(-num_blocks(k) // 2)
    # x1 and its scale: the backend never transposes x1, so only that state is emulated.
    _require(not _transposed(x1), "the test double expects a non-transposed x1")
    _require(
        tuple(pertoken_scale.shape) == (m, b2, 2),
        f"pertoken_scale must be [M, ceil(K/64), 2] = [{m}, {b2}, 2], got {list(pertoken_scale.shape)}",
    )
    _require(pertoken_scale.is_contiguous(), "pertoken_scale must not be transposed when x1 is not")
    # x2 and its scale must share the transpose state (aclnnQuantMatmulV5, is_x_scale_same_transpose).
    _require(scale.dim() == 3, f"scale must be 3-D [ceil(K/64), N, 2], got {list(scale.shape)}")
    _require(
        tuple(scale.shape) == (b2, n, 2),
        f"scale must be [ceil(K/64), N, 2] = [{b2}, {n}, 2], got {list(scale.shape)}",
    )
    scale_t = _scale_transposed(scale)
    if scale_t is not None and x2.shape[0] > 1 and x2.shape[1] > 1:
        _require(
            scale_t == x2_t,
            "x2 and scale must have the same transpose state "
            f"(x2 {'transposed' if x2_t else 'not transposed'}, "
            f"scale {'transposed' if scale_t else 'not transposed'})",
        )
    if not x2_t and x2.shape[0] > 1 and x2.shape[1] > 1:
        _require(x2.is_contiguous(), "x2 must be contiguous [K, N] or a transposed [N, K] view")
    if bias is not None:
        _require(isinstance(bias, torch.Tensor), "bias must be a Tensor")
        _require(bias.dtype == torch.float32, f"bias must be float32 in MX mode, got {bias.dtype}")
        _require(tuple(bias.shape) == (n,), f"bias must be (N,) = ({n},), got {list(bias.shape)}")
    devices = {t.device for t in (x1, x2, scale, pertoken_scale) if t is not None}
    if bias is not None:
        devices.add(bias.device)
    _require(
        len(devices) == 1, f"all operands must be on one device, got {sorted(map(str, devices))}"
    )

    try:
        x_scale = pairs_to_scale(pertoken_scale, k)
        w_scale = pairs_to_scale(scale.transpose(0, 1), k)
    except MxFormatError as exc:
        raise ContractViolation(str(exc)) from exc
    w_data = x2.transpose(0, 1)  # [N, K] whatever the storage
    return mx_matmul(x1, x_scale, w_data, w_scale, bias, output_dtype)


# ---------------------------------------------------------------------------------------------
# installation


@contextlib.contextmanager
def installed() -> Iterator[ModuleType]:
    """Make ``import torch_npu`` return this double inside the block."""
    module = sys.modules[__name__]
    previous = sys.modules.get("torch_npu")
    reset()
    sys.modules["torch_npu"] = module
    try:
        yield module
    finally:
        if previous is None:
            sys.modules.pop("torch_npu", None)
        else:
            sys.modules["torch_npu"] = previous
