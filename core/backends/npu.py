"""MXFP8 linear on Ascend 950 through torch_npu (shared/reference/mxfp8.md §7.3).

Per call: ``npu_dynamic_mx_quant`` quantizes the flattened activations (FLOOR = scale_alg 0, the
kernel default; RCEIL = scale_alg 1), then ``npu_quant_matmul`` multiplies them with the
checkpoint weight. The weight and its scale pairs are passed as ``transpose(0, 1)`` views of the
``[N, K]`` / ``[N, ceil(K/64), 2]`` storage: operand and scale in the same transpose state, as
aclnnQuantMatmulV5 requires. The checkpoint scale bytes are already E8M0 bit patterns and pass
through untouched.

torch_npu is imported lazily and only here: installed without CANN it breaks ``import torch``.
This module was written against the documented contract and tested on the CPU against a strict
test double (tests/doubles/torch_npu.py); it has not been run on Ascend hardware by us, which is
what ``wan-studio doctor`` on the device is for.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from core.backends.base import (
    BackendError,
    MxLinearBackend,
    MxLinearLayer,
    check_input,
    check_layer,
    device_type,
)
from core.mx import ScaleRule, pairs_to_scale, scale_to_pairs

if TYPE_CHECKING:
    import torch

INSTALL_HINT = "pip install 'wan-studio[npu]' on an Ascend 950 with CANN"
REQUIRED_OPS = ("npu_dynamic_mx_quant", "npu_quant_matmul")
REQUIRED_DTYPES = ("float8_e4m3fn", "float8_e8m0fnu")
ANY_SOC_ENV = "WAN_STUDIO_NPU_ANY_SOC"
GROUP_SIZES = [1, 1, 32]  # gM, gN, gK: per-token activations, per-channel weights, K blocks of 32


def import_torch_npu() -> tuple[ModuleType | None, str]:
    """``(module, "")`` or ``(None, why not)``; never raises."""
    import sys

    if "torch_npu" not in sys.modules:
        try:
            spec = importlib.util.find_spec("torch_npu")
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return None, f"torch_npu is not installed ({INSTALL_HINT})"
    try:
        module = importlib.import_module("torch_npu")
    except Exception as exc:  # a broken CANN setup raises all kinds of errors
        return None, f"torch_npu failed to import: {type(exc).__name__}: {exc}"
    missing = [n for n in REQUIRED_OPS + REQUIRED_DTYPES if not hasattr(module, n)]
    if missing:
        version = getattr(module, "__version__", "?")
        return None, (
            f"torch_npu {version} lacks {', '.join(missing)}: MXFP8 needs a torch_npu build "
            "for Ascend 950 (A5)"
        )
    return module, ""


def _is_test_double(module: ModuleType) -> bool:
    return bool(getattr(module, "IS_TEST_DOUBLE", False))


@dataclass
class NpuState:
    """Operands laid out for npu_quant_matmul, built once per layer by ``prepare``."""

    torch_npu: ModuleType
    out_features: int
    in_features: int
    weight_t: torch.Tensor  # [K, N] view of the [N, K] weight
    scale_t: torch.Tensor  # [ceil(K/64), N, 2] view of the [N, ceil(K/64), 2] pairs
    bias_fp32: torch.Tensor | None


class NpuBackend(MxLinearBackend):
    """torch_npu MXFP8 kernels (Ascend 950PR / 950DT only)."""

    name = "npu"

    def available(self, device: torch.device | str | None = None) -> tuple[bool, str]:
        module, why = import_torch_npu()
        if module is None:
            return False, why
        version = getattr(module, "__version__", "?")
        kind = device_type(device)
        double = _is_test_double(module)
        if double and kind == getattr(module, "TEST_DOUBLE_DEVICE", None):
            return True, f"torch_npu TEST DOUBLE {version} on {kind} tensors (not real hardware)"
        if kind not in ("", "npu"):
            return False, f"device {device} is not an NPU"
        try:
            if not module.npu.is_available() or module.npu.device_count() < 1:
                return False, f"torch_npu {version} is installed but sees no NPU"
            index = int(str(device).split(":", 1)[1]) if ":" in str(device) else 0
            if index >= module.npu.device_count():
                return False, f"no NPU {index}: {module.npu.device_count()} device(s) visible"
            soc = str(module.npu.get_device_name(index))
        except Exception as exc:
            return False, f"torch_npu could not query the NPU: {type(exc).__name__}: {exc}"
        if "950" not in soc and os.environ.get(ANY_SOC_ENV) != "1":
            # The SoC naming of A5 parts was not checked on hardware: leave a way out, and let
            # `wan-studio doctor` judge the numbers.
            return False, (
                f"{soc} is not an Ascend 950PR/950DT: the MXFP8 kernels "
                "(DynamicMxQuant, QuantMatmulV5 MX mode) exist only on A5 "
                f"(set {ANY_SOC_ENV}=1 to try anyway, then run `wan-studio doctor`)"
            )
        return True, f"torch_npu {version} on {soc}" + (" (test double)" if double else "")

    def _module(self) -> ModuleType:
        module, why = import_torch_npu()
        if module is None:
            raise BackendError(f"npu backend cannot run: {why}")
        return module

    def prepare(self, layer: MxLinearLayer) -> None:
        n, k = check_layer(layer)
        pairs = scale_to_pairs(layer.weight_scale)  # [N, ceil(K/64), 2], pad byte 0
        bias = layer.bias
        layer.backend_state = NpuState(
            torch_npu=self._module(),
            out_features=n,
            in_features=k,
            weight_t=layer.weight.transpose(0, 1),
            scale_t=pairs.transpose(0, 1),
            bias_fp32=None if bias is None else bias.float(),
        )

    def _quant_kwargs(self, torch_npu: ModuleType) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"dst_type": torch_npu.float8_e4m3fn}
        if self.rule is ScaleRule.RCEIL:
            kwargs["scale_alg"] = 1  # FLOOR is the kernel default (scale_alg=0)
        return kwargs

    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        torch_npu = self._module()
        data, scale = torch_npu.npu_dynamic_mx_quant(x, **self._quant_kwargs(torch_npu))
        return data, pairs_to_scale(_as_pairs(scale, x), x.shape[-1])

    def linear(self, x: torch.Tensor, layer: MxLinearLayer) -> torch.Tensor:
        import torch

        state = getattr(layer, "backend_state", None)
        if not isinstance(state, NpuState):
            raise BackendError(
                f"{type(layer).__name__} was not prepared for the npu backend: "
                "call backend.prepare(layer) after loading its weights onto the NPU"
            )
        k, n = state.in_features, state.out_features
        check_input(x, k, layer)
        out_dtype = x.dtype  # npu_quant_matmul writes fp16, bf16 or fp32 directly
        rows = x.reshape(-1, k)
        if rows.shape[0] == 0:
            return x.new_empty((*x.shape[:-1], n))
        if rows.dtype not in (torch.bfloat16, torch.float16):
            rows = rows.to(torch.bfloat16)  # the activation quantizer takes fp16/bf16 here
        torch_npu = state.torch_npu
        qx, sx = torch_npu.npu_dynamic_mx_quant(rows, **self._quant_kwargs(torch_npu))
        sx = _as_pairs(sx, rows)
        out = torch_npu.npu_quant_matmul(
            qx,
            state.weight_t,
            state.scale_t,
            scale_dtype=torch_npu.float8_e8m0fnu,
            pertoken_scale=sx,
            pertoken_scale_dtype=torch_npu.float8_e8m0fnu,
            bias=state.bias_fp32,
            output_dtype=out_dtype,
            group_sizes=list(GROUP_SIZES),
        )
        return out.reshape(*x.shape[:-1], n)


def _as_pairs(scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Older torch_npu builds return the activation scales in the canonical layout (rank of x)
    instead of pairs (rank + 1); npu_quant_matmul takes pairs (mxfp8.md §5)."""
    return scale_to_pairs(scale) if scale.dim() == x.dim() else scale
