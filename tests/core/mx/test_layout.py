"""Canonical <-> NPU pair scale layouts (mxfp8.md §5): exact both ways, bad input rejected."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mx import MxFormatError, num_blocks, pairs_to_scale, scale_to_pairs


@settings(max_examples=60, deadline=None)
@given(
    lead=st.sampled_from([(), (1,), (3,), (2, 5)]),
    k=st.integers(1, 300),
    seed=st.integers(0, 2**31 - 1),
)
def test_round_trip_and_positions(lead: tuple[int, ...], k: int, seed: int) -> None:
    blocks = num_blocks(k)
    gen = torch.Generator().manual_seed(seed)
    scale = torch.randint(0, 256, (*lead, blocks), generator=gen, dtype=torch.uint8)
    pairs = scale_to_pairs(scale)
    assert pairs.dtype == torch.uint8 and pairs.is_contiguous()
    assert pairs.shape == (*lead, -(-k // 64), 2)
    flat_scale = scale.reshape(-1, blocks)
    flat_pairs = pairs.reshape(-1, pairs.shape[-2], 2)
    for j in range(blocks):  # block j of row r sits at [r, j // 2, j % 2]
        assert torch.equal(flat_pairs[:, j // 2, j % 2], flat_scale[:, j])
    if blocks % 2:
        assert (flat_pairs[:, -1, 1] == 0).all()
    assert torch.equal(pairs_to_scale(pairs, k), scale)


def test_e8m0_dtype_is_accepted_as_bytes() -> None:
    scale = torch.tensor([[127, 3, 255]], dtype=torch.uint8)
    pairs = scale_to_pairs(scale.view(torch.float8_e8m0fnu))
    assert pairs.tolist() == [[[127, 3], [255, 0]]]
    assert pairs_to_scale(pairs.view(torch.float8_e8m0fnu), 96).tolist() == [[127, 3, 255]]


def test_non_zero_pad_byte_is_an_error() -> None:
    pairs = torch.tensor([[[119, 120], [121, 7]]], dtype=torch.uint8)
    assert pairs_to_scale(pairs, 128).tolist() == [[119, 120, 121, 7]]
    with pytest.raises(MxFormatError, match="non-zero pad byte"):
        pairs_to_scale(pairs, 96)


@pytest.mark.parametrize(
    ("shape", "k"), [((2, 3), 96), ((2, 2, 3), 96), ((2, 1, 2), 96), ((2,), 32)]
)
def test_wrong_pair_shapes_are_rejected(shape: tuple[int, ...], k: int) -> None:
    with pytest.raises(MxFormatError, match=r"must have shape \[\.\.\., 2, 2\]|shape"):
        pairs_to_scale(torch.zeros(shape, dtype=torch.uint8), k)


def test_wrong_dtypes_are_rejected() -> None:
    with pytest.raises(MxFormatError, match="uint8"):
        scale_to_pairs(torch.zeros(2, 3, dtype=torch.int32))
    with pytest.raises(MxFormatError, match="uint8"):
        pairs_to_scale(torch.zeros(2, 2, 2, dtype=torch.float32), 128)
    with pytest.raises(MxFormatError, match="at least one dimension"):
        scale_to_pairs(torch.tensor(5, dtype=torch.uint8))


def test_num_blocks() -> None:
    assert [num_blocks(k) for k in (0, 1, 31, 32, 33, 64, 5120, 13824)] == [
        0, 1, 1, 1, 2, 2, 160, 432,
    ]  # fmt: skip
    for bad in (-1, 3.0, True, "32"):
        with pytest.raises(MxFormatError):
            num_blocks(bad)  # type: ignore[arg-type]
