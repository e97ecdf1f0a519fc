"""The interface every MXFP8 linear kernel implements, and the layer contract it relies on.

Lifecycle (vLLM/SGLang style): a quantized layer is built, its weights are loaded and moved to
their final device, then the layer calls ``backend.prepare(layer)`` once (the backend may
reshape or re-lay out what it needs into ``layer.backend_state``) and ``backend.linear(x,
layer)`` in every forward.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.mx.format import MxFormatError, ScaleRule, num_blocks, parse_rule

if TYPE_CHECKING:
    import torch


@runtime_checkable
class MxLinearLayer(Protocol):
    """What a backend needs from a quantized linear layer (core.quant.Mxfp8Linear provides it).

    ``weight`` float8_e4m3fn ``[N, K]``; ``weight_scale`` uint8 E8M0 bytes ``[N, ceil(K/32)]``
    (checkpoint layout); ``bias`` a float tensor ``[N]`` or None; ``backend_state`` is owned by
    the backend (set by ``prepare``).
    """

    weight: torch.Tensor
    weight_scale: torch.Tensor
    bias: torch.Tensor | None
    in_features: int
    out_features: int
    backend_state: Any


class BackendUnavailable(RuntimeError):
    """No backend can run here (or the requested one cannot); ``reasons`` says why, per backend."""

    def __init__(self, message: str, reasons: list[str]) -> None:
        super().__init__(message + "".join(f"\n  - {r}" for r in reasons))
        self.reasons = list(reasons)


class BackendError(RuntimeError):
    """A backend was used wrongly at run time (e.g. ``linear`` before ``prepare``)."""


class MxLinearBackend(ABC):
    """One way of computing ``y = x @ dequant(W).T + b`` for an MXFP8 layer."""

    name: str = ""

    def __init__(self, rule: ScaleRule | str = ScaleRule.FLOOR) -> None:
        self.rule = parse_rule(rule)

    @abstractmethod
    def available(self, device: torch.device | str | None = None) -> tuple[bool, str]:
        """Whether this backend can run on ``device`` (None: anywhere), and why (not)."""

    @abstractmethod
    def prepare(self, layer: MxLinearLayer) -> None:
        """Validate the loaded layer and store backend-specific data in ``layer.backend_state``."""

    @abstractmethod
    def linear(self, x: torch.Tensor, layer: MxLinearLayer) -> torch.Tensor:
        """``x [..., K]`` -> ``[..., N]`` in x's dtype."""

    @abstractmethod
    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This backend's activation quantizer, in the canonical layout (``quantize_mx``'s).

        Exposed so that ``wan-studio doctor`` can check it bit for bit against core.mx.
        """

    def describe(self) -> str:
        """One line for logs and the doctor: the backend and its options."""
        return f"{self.name} (rule {self.rule.value})"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def device_type(device: Any) -> str:
    """The type part of a device spec without asking torch (which rejects 'npu' unless torch_npu
    registered it), so availability checks never fail on the question itself."""
    if device is None:
        return ""
    text = device.type if hasattr(device, "type") else str(device)
    return text.split(":", 1)[0].strip().lower()


def check_layer(layer: Any) -> tuple[int, int]:
    """Validate a layer against the MxLinearLayer contract; returns ``(N, K)``."""
    import torch

    who = type(layer).__name__
    for attr in ("weight", "weight_scale", "bias", "in_features", "out_features"):
        if not hasattr(layer, attr):
            raise MxFormatError(f"{who} is not an MXFP8 layer: it has no attribute {attr!r}")
    weight, scale, bias = layer.weight, layer.weight_scale, layer.bias
    if not isinstance(weight, torch.Tensor) or weight.dtype != torch.float8_e4m3fn:
        got = getattr(weight, "dtype", type(weight).__name__)
        raise MxFormatError(f"{who}.weight must be a float8_e4m3fn tensor, got {got}")
    if weight.dim() != 2:
        raise MxFormatError(f"{who}.weight must be 2-D [N, K], got shape {list(weight.shape)}")
    n, k = weight.shape
    if (layer.out_features, layer.in_features) != (n, k):
        raise MxFormatError(
            f"{who} declares out_features={layer.out_features}, in_features={layer.in_features} "
            f"but its weight is [{n}, {k}]"
        )
    if not isinstance(scale, torch.Tensor) or scale.dtype not in (
        torch.uint8,
        torch.float8_e8m0fnu,
    ):
        got = getattr(scale, "dtype", type(scale).__name__)
        raise MxFormatError(f"{who}.weight_scale must hold uint8 E8M0 bytes, got {got}")
    want = [n, num_blocks(k)]
    if list(scale.shape) != want:
        raise MxFormatError(
            f"{who}.weight_scale must be {want} (checkpoint layout [N, ceil(K/32)]), "
            f"got {list(scale.shape)}"
        )
    if scale.device != weight.device:
        raise MxFormatError(
            f"{who}: weight is on {weight.device} but weight_scale on {scale.device}"
        )
    if bias is not None:
        if not isinstance(bias, torch.Tensor) or not bias.is_floating_point():
            raise MxFormatError(f"{who}.bias must be a float tensor or None")
        if list(bias.shape) != [n]:
            raise MxFormatError(f"{who}.bias must be [{n}], got {list(bias.shape)}")
        if bias.dtype in (torch.float8_e4m3fn, torch.float8_e5m2, torch.float8_e8m0fnu):
            raise MxFormatError(f"{who}.bias must be fp32/bf16/fp16, got {bias.dtype}")
    return n, k


def check_input(x: Any, k: int, layer: Any) -> None:
    import torch

    who = type(layer).__name__
    if not isinstance(x, torch.Tensor) or x.dtype not in (
        torch.bfloat16,
        torch.float16,
        torch.float32,
    ):
        got = getattr(x, "dtype", type(x).__name__)
        raise MxFormatError(f"{who} input must be a bf16/fp16/fp32 tensor, got {got}")
    if x.dim() < 1 or x.shape[-1] != k:
        raise MxFormatError(
            f"{who} expects inputs [..., {k}] (in_features={k}), got {list(x.shape)}"
        )
