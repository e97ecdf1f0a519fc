"""Quantization error on Gaussian data sits in the band documented in mxfp8.md §9.

Synthetic reference (M = N = 256, K = 5120, bf16 inputs, W ~ N(0, 0.02²)): qdq error about
2.9 % (FLOOR) / 2.7 % (RCEIL) per operand, GEMM relative Frobenius error 4.15 % / 3.77 %.
"""

from __future__ import annotations

import pytest
import torch

from core.mx import dequantize_mx, quantize_mx


def rel(err: torch.Tensor, ref: torch.Tensor) -> float:
    return (err.norm() / ref.norm()).item()


@pytest.fixture(scope="module")
def operands() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(2025)
    x = torch.randn(128, 5120, generator=gen).to(torch.bfloat16)
    w = (torch.randn(128, 5120, generator=gen) * 0.02).to(torch.bfloat16)
    return x, w


def qdq(t: torch.Tensor, rule: str) -> torch.Tensor:
    return dequantize_mx(*quantize_mx(t, rule), dtype=torch.float64)


@pytest.mark.parametrize(("rule", "band"), [("floor", (0.035, 0.05)), ("rceil", (0.03, 0.045))])
def test_gemm_error_in_documented_band(
    operands: tuple[torch.Tensor, torch.Tensor], rule: str, band: tuple[float, float]
) -> None:
    x, w = operands
    ref = x.double() @ w.double().T
    out = qdq(x, rule) @ qdq(w, rule).T
    err = rel(out - ref, ref)
    assert band[0] < err < band[1], f"{rule}: GEMM rel. Frobenius error {err:.4f}"
    # Rule of thumb from §9: GEMM error ≈ sqrt(e_x² + e_w²).
    e_x, e_w = (
        rel(qdq(x, rule) - x.double(), x.double()),
        rel(qdq(w, rule) - w.double(), w.double()),
    )
    assert 0.025 < e_x < 0.032 and 0.025 < e_w < 0.032
    assert err == pytest.approx((e_x**2 + e_w**2) ** 0.5, rel=0.1)


def test_rceil_is_more_accurate_than_floor(operands: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, _ = operands
    floor_err = rel(qdq(x, "floor") - x.double(), x.double())
    rceil_err = rel(qdq(x, "rceil") - x.double(), x.double())
    assert rceil_err < floor_err < 1.2 * rceil_err
