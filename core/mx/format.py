"""MXFP8 format constants, the scale-rule enum and input errors.

Kept apart from the kernels so that code which only needs the names (layer descriptions,
checkpoint readers) does not pull in torch.
"""

from __future__ import annotations

from enum import Enum

BLOCK_SIZE = 32
"""Elements per scale block along the reduction (last) dimension (OCP MX v1.0)."""

E4M3_MAX = 448.0
"""Largest finite float8_e4m3fn value (code 0x7E); finite overflow saturates to it."""

SCALE_NAN = 0xFF
"""E8M0 scale byte meaning NaN: every element of its block dequantizes to NaN."""

SCALE_BIAS = 127
"""E8M0 exponent bias: byte b means 2**(b - 127)."""

E4M3_NAN_CODE = 0x7F
"""The NaN code written for every element of a non-finite block."""


class MxFormatError(ValueError):
    """A tensor handed to core.mx has the wrong dtype, shape or content for MXFP8."""


class ScaleRule(str, Enum):
    """How the block scale is derived from the block's absolute maximum (mxfp8.md §2).

    FLOOR is the OCP rule and torch_npu's default (``scale_alg=0``); RCEIL rounds the scale
    up (NVIDIA, ``scale_alg=1``) and never saturates the block maximum.
    """

    FLOOR = "floor"
    RCEIL = "rceil"

    def __str__(self) -> str:
        return self.value


WEIGHT_RULES = ("floor", "rceil", "mse")
"""Scale rules for weights: the two dynamic rules and ``mse`` (per-block search, core.mx.search),
which only weights can afford (they are quantized once; activations on every call)."""

DEFAULT_WEIGHT_RULE = "mse"
"""The weight rule when none is chosen ("default"): bench/mx_quantize.py measured it lower in
error than FLOOR on Wan2.2 layer shapes and the demo weights, at about FLOOR's time."""


def parse_weight_rule(rule: ScaleRule | str | None) -> str:
    """``None`` or ``"default"`` -> DEFAULT_WEIGHT_RULE; otherwise one of WEIGHT_RULES."""
    if rule is None:
        return DEFAULT_WEIGHT_RULE
    value = str(rule.value if isinstance(rule, ScaleRule) else rule).strip().lower()
    if value == "default":
        return DEFAULT_WEIGHT_RULE
    if value not in WEIGHT_RULES:
        choices = ", ".join(repr(r) for r in ("default", *WEIGHT_RULES))
        raise MxFormatError(f"unknown MXFP8 weight scale rule {rule!r}; expected one of {choices}")
    return value


def parse_rule(rule: ScaleRule | str) -> ScaleRule:
    """Accept the enum or its name/value in any case; reject anything else clearly."""
    if isinstance(rule, ScaleRule):
        return rule
    if isinstance(rule, str):
        try:
            return ScaleRule(rule.strip().lower())
        except ValueError:
            pass
    choices = ", ".join(repr(r.value) for r in ScaleRule)
    raise MxFormatError(f"unknown MXFP8 scale rule {rule!r}; expected one of {choices}")


def num_blocks(k: int) -> int:
    """Number of 32-element scale blocks covering a reduction dimension of length ``k``."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise MxFormatError(f"reduction dimension must be a non-negative int, got {k!r}")
    return -(-k // BLOCK_SIZE)
