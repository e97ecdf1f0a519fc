"""Pure-torch MXFP8 linear: the oracle every other backend is checked against, and what CPU and
CUDA users run.

Numerics (W8A8, the default): activations are quantized per token (per row, blocks of 32 along
K) with the same rule as the weights, both operands are dequantized exactly, multiplied with
fp32 accumulation, the bias added, and the result returned in the input dtype. Dequantized
MXFP8 values are exact in bf16 (e4m3 · 2^k down to about 2^-133), so a bf16 GEMM with fp32
accumulation multiplies exactly the quantized operands; bf16 output takes one rounding at the
end (F.linear). fp16/fp32 outputs use an fp32 GEMM (fp16 is never used as a compute dtype:
its range cannot hold MXFP8 values). Like the NPU path, activations other than bf16/fp16 are
rounded to bf16 before they are quantized.

``activations="unquantized"`` is the weight-only variant: x is used as is (a speed option and
an upper bound on accuracy, not what the NPU computes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from core.backends.base import (
    BackendError,
    MxLinearBackend,
    MxLinearLayer,
    check_input,
    check_layer,
    device_type,
)
from core.mx import MxFormatError, ScaleRule, dequantize_mx, quantize_mx

if TYPE_CHECKING:
    import torch

W8A8 = "mxfp8"
WEIGHT_ONLY = "unquantized"
_ACTIVATION_ALIASES = {
    "mxfp8": W8A8,
    "w8a8": W8A8,
    "unquantized": WEIGHT_ONLY,
    "weight-only": WEIGHT_ONLY,
    "bf16": WEIGHT_ONLY,
}


def compute_dtype(out_dtype: torch.dtype) -> torch.dtype:
    """GEMM input dtype for a given output dtype: bf16 for bf16 output, fp32 otherwise."""
    import torch

    return torch.bfloat16 if out_dtype == torch.bfloat16 else torch.float32


def mx_matmul(
    x_data: torch.Tensor,
    x_scale: torch.Tensor,
    w_data: torch.Tensor,
    w_scale: torch.Tensor,
    bias: torch.Tensor | None,
    out_dtype: torch.dtype,
    w_dequantized: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reference MXFP8 GEMM on canonical layouts: ``x [M, K]`` codes, ``w [N, K]`` codes.

    ``out[m, n] = Σ_k x̂[m, k] ŵ[n, k] + bias[n]`` with fp32 accumulation, in ``out_dtype``.
    The torch_npu test double computes ``npu_quant_matmul`` with this very function, so the
    npu backend can be required to match the reference bit for bit in tests.
    """
    import torch.nn.functional as F

    compute = compute_dtype(out_dtype)
    x_hat = dequantize_mx(x_data, x_scale, compute)
    w_hat = w_dequantized if w_dequantized is not None else dequantize_mx(w_data, w_scale, compute)
    b = bias.to(compute) if bias is not None else None
    return F.linear(x_hat, w_hat, b).to(out_dtype)


@dataclass
class ReferenceState:
    """Per-layer data kept by the reference backend."""

    out_features: int
    in_features: int
    dequantized: dict[Any, torch.Tensor] = field(default_factory=dict)  # only with cache_weight


class ReferenceBackend(MxLinearBackend):
    """Pure torch on any device torch knows.

    Options: ``rule`` (activation scale rule, default floor), ``activations`` ("mxfp8": W8A8
    emulation, default; "unquantized": weight-only), ``cache_weight`` (keep a dequantized copy
    of each weight per compute dtype: faster, but costs 2-4x the MXFP8 weight memory, which is
    why it is off by default).
    """

    name = "reference"

    def __init__(
        self,
        rule: ScaleRule | str = ScaleRule.FLOOR,
        activations: str = W8A8,
        cache_weight: bool = False,
    ) -> None:
        super().__init__(rule)
        mode = _ACTIVATION_ALIASES.get(str(activations).strip().lower())
        if mode is None:
            raise ValueError(
                f"reference backend: unknown activations mode {activations!r}; "
                f"use {W8A8!r} (W8A8 emulation) or {WEIGHT_ONLY!r} (weight-only)"
            )
        self.activations = mode
        self.cache_weight = bool(cache_weight)

    def describe(self) -> str:
        mode = "W8A8" if self.activations == W8A8 else "weight-only"
        cache = ", cached weights" if self.cache_weight else ""
        return f"reference ({mode}, rule {self.rule.value}{cache})"

    def available(self, device: torch.device | str | None = None) -> tuple[bool, str]:
        import torch

        kind = device_type(device)
        if kind in ("", "cpu"):
            return True, f"pure torch {torch.__version__} on the CPU"
        if kind == "cuda":
            if not torch.cuda.is_available():
                return False, "CUDA is not available in this torch build or machine"
            index = torch.device(str(device)).index or 0
            if index >= torch.cuda.device_count():
                return False, f"no CUDA device {index}: {torch.cuda.device_count()} visible"
            return True, f"pure torch on {torch.cuda.get_device_name(index)}"
        if kind == "meta":
            return False, "the meta device holds no data"
        try:
            torch.device(str(device))
        except (RuntimeError, ValueError):
            hint = " (torch_npu registers it when it loads)" if kind == "npu" else ""
            return False, f"torch does not know the device {str(device)!r}{hint}"
        return True, f"pure torch on {kind} (not validated here: run `wan-studio doctor`)"

    def prepare(self, layer: MxLinearLayer) -> None:
        n, k = check_layer(layer)
        layer.backend_state = ReferenceState(out_features=n, in_features=k)

    def _state(self, layer: MxLinearLayer) -> ReferenceState:
        state = getattr(layer, "backend_state", None)
        if not isinstance(state, ReferenceState):
            raise BackendError(
                f"{type(layer).__name__} was not prepared for the reference backend: "
                "call backend.prepare(layer) after loading its weights"
            )
        return state

    def _weight(self, layer: MxLinearLayer, state: ReferenceState, dtype: torch.dtype):
        if not self.cache_weight:
            return None
        cached = state.dequantized.get(dtype)
        if cached is None:
            cached = dequantize_mx(layer.weight, layer.weight_scale, dtype)
            state.dequantized[dtype] = cached
        return cached

    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return quantize_mx(x, self.rule)

    def linear(self, x: torch.Tensor, layer: MxLinearLayer) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        state = self._state(layer)
        k, n = state.in_features, state.out_features
        check_input(x, k, layer)
        if x.device != layer.weight.device:
            raise MxFormatError(
                f"{type(layer).__name__}: input is on {x.device} but the weight on "
                f"{layer.weight.device}"
            )
        out_dtype = x.dtype
        compute = compute_dtype(out_dtype)
        rows = x.reshape(-1, k)
        if self.activations == W8A8:
            if rows.dtype not in (torch.bfloat16, torch.float16):
                rows = rows.to(torch.bfloat16)  # as the NPU path does
            x_data, x_scale = quantize_mx(rows, self.rule)
            out = mx_matmul(
                x_data,
                x_scale,
                layer.weight,
                layer.weight_scale,
                layer.bias,
                out_dtype,
                w_dequantized=self._weight(layer, state, compute),
            )
        else:
            w_hat = self._weight(layer, state, compute)
            if w_hat is None:
                w_hat = dequantize_mx(layer.weight, layer.weight_scale, compute)
            bias = layer.bias.to(compute) if layer.bias is not None else None
            out = F.linear(rows.to(compute), w_hat, bias).to(out_dtype)
        return out.reshape(*x.shape[:-1], n)
