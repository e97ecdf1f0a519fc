"""``Mxfp8Linear``: a linear layer whose weight is stored as MXFP8 (E4M3 codes + E8M0 scales).

Lifecycle (vLLM/SGLang's, small): create it (``from_linear`` quantizes a loaded nn.Linear online;
the constructor on the meta device makes an empty offline layer), load its tensors (assignment or
``load_state_dict``), call ``process_weights_after_loading(backend)`` once, then ``forward`` runs
``backend.linear(x, self)``. Parameters carry checkpoint names: ``weight`` float8_e4m3fn [N, K],
``weight_scale`` uint8 [N, ceil(K/32)], ``bias``.

The quantized tensors are protected from dtype casts: ``model.to(torch.bfloat16)`` (which treats
float8 as floating point, environment.md) moves them between devices but never converts them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.mx import SCALE_NAN, MxFormatError, ScaleRule, num_blocks
from core.mx.format import parse_weight_rule

_PROTECTED = (torch.float8_e4m3fn, torch.uint8)


class Mxfp8Linear(nn.Module):
    """Linear layer with MXFP8 weights, computed by an MXFP8 backend (core.backends)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        device: torch.device | str | None = None,
        bias_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if in_features <= 0 or out_features <= 0:
            raise MxFormatError(
                f"Mxfp8Linear needs positive sizes, got in={in_features} out={out_features}"
            )
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(
            torch.empty((out_features, in_features), dtype=torch.float8_e4m3fn, device=device),
            requires_grad=False,
        )
        self.weight_scale = nn.Parameter(
            torch.empty((out_features, num_blocks(in_features)), dtype=torch.uint8, device=device),
            requires_grad=False,
        )
        if bias:
            self.bias = nn.Parameter(
                torch.empty(out_features, dtype=bias_dtype, device=device), requires_grad=False
            )
        else:
            self.register_parameter("bias", None)
        self.backend: Any = None
        self.backend_state: Any = None  # whatever the backend keeps after prepare()
        self.rule: str | None = None  # online: the weight scale rule used; offline: None

    @classmethod
    def from_linear(
        cls,
        linear: nn.Linear,
        rule: ScaleRule | str | None = None,
        bias_dtype: torch.dtype | None = None,
    ) -> Mxfp8Linear:
        """Online quantization of a loaded nn.Linear (its weight in its stored dtype) with a
        weight scale rule (core.mx.format.WEIGHT_RULES)."""
        from core.mx.search import quantize_weight

        weight = linear.weight.detach()
        layer = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            device="meta",
            bias_dtype=bias_dtype
            or (linear.bias.dtype if linear.bias is not None else torch.float32),
        )
        rule = parse_weight_rule(rule)
        layer.set_quantized(*quantize_weight(weight, rule), bias=linear.bias)
        layer.rule = rule
        return layer

    def set_quantized(
        self, weight: torch.Tensor, weight_scale: torch.Tensor, bias: torch.Tensor | None = None
    ) -> None:
        """Assign loaded tensors (no copy); shapes and dtypes must match exactly."""
        expect = {
            "weight": (torch.float8_e4m3fn, (self.out_features, self.in_features)),
            "weight_scale": (torch.uint8, (self.out_features, num_blocks(self.in_features))),
        }
        for name, tensor in (("weight", weight), ("weight_scale", weight_scale)):
            dtype, shape = expect[name]
            if tensor.dtype != dtype or tuple(tensor.shape) != shape:
                raise MxFormatError(
                    f"{name} is {tensor.dtype} {list(tensor.shape)}, expected {dtype} {list(shape)}"
                )
        self.weight = nn.Parameter(weight.detach(), requires_grad=False)
        self.weight_scale = nn.Parameter(weight_scale.detach(), requires_grad=False)
        if self.bias is not None:
            if bias is None:
                raise MxFormatError("this layer has a bias but none was given")
            self.bias = nn.Parameter(bias.detach().to(self.bias.dtype), requires_grad=False)

    @property
    def prepared(self) -> bool:
        return self.backend is not None

    def process_weights_after_loading(self, backend: Any) -> None:
        """Check the loaded tensors and hand them to ``backend`` (``backend.prepare(self)``)."""
        for name, tensor in self.named_parameters(recurse=False):
            if tensor.is_meta:
                raise MxFormatError(f"{name} was never loaded (still on the meta device)")
        scale = self.weight_scale
        if scale.numel() and int(scale.max()) == SCALE_NAN:  # 0xFF is the largest byte
            raise MxFormatError(
                "weight_scale holds byte 0xFF (a NaN scale, from Inf/NaN in the weights): "
                "the layer would output NaN"
            )
        self.backend = backend
        self.backend_state = None
        backend.prepare(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.backend is None:
            raise RuntimeError(
                "Mxfp8Linear.forward before process_weights_after_loading(backend): "
                "the layer has no MXFP8 backend yet"
            )
        return self.backend.linear(x, self)

    def _apply(self, fn, recurse: bool = True):  # type: ignore[override]
        """Device moves apply to every tensor; dtype casts never touch fp8 codes or scale bytes."""

        def guarded(tensor: torch.Tensor) -> torch.Tensor:
            out = fn(tensor)
            if tensor.dtype in _PROTECTED and out.dtype != tensor.dtype:
                out = tensor.to(device=out.device)
            return out

        device_before = self.weight.device
        result = super()._apply(guarded, recurse)
        moved = self.weight.device != device_before
        if moved and self.backend is not None and not self.weight.is_meta:
            self.backend_state = None
            self.backend.prepare(self)  # the backend's layout follows the tensors' device
        return result

    def extra_repr(self) -> str:
        backend = getattr(self.backend, "name", None) or (
            type(self.backend).__name__ if self.backend is not None else "none"
        )
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, format=MXFP8 (E4M3, block 32), backend={backend}"
        )
