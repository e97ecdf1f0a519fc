"""Catalog rules the engine relies on: official defaults per family and the helpers."""

from __future__ import annotations

import pytest

from core.models.catalog import (
    FAMILIES,
    NUM_TRAIN_TIMESTEPS,
    get_family,
    nearest_valid_frames,
    snap_size,
)


@pytest.mark.parametrize(
    ("key", "multiple", "frames", "fps", "steps", "shift", "high", "low", "boundary", "image"),
    [
        ("t2v-a14b", 16, 81, 16, 40, 12.0, 4.0, 3.0, 0.875, "none"),
        ("i2v-a14b", 16, 81, 16, 40, 5.0, 3.5, 3.5, 0.9, "required"),
        ("ti2v-5b", 32, 121, 24, 50, 5.0, 5.0, None, None, "optional"),
    ],
)
def test_official_defaults(
    key, multiple, frames, fps, steps, shift, high, low, boundary, image
) -> None:
    fam = get_family(key)
    assert (fam.pixel_multiple, fam.frames, fam.fps, fam.steps, fam.shift) == (
        multiple,
        frames,
        fps,
        steps,
        shift,
    )
    assert (fam.guidance_high, fam.guidance_low, fam.boundary, fam.image) == (
        high,
        low,
        boundary,
        image,
    )
    assert fam.solver == "unipc" and fam.negative_prompt.startswith("色调艳丽，过曝，静态")
    assert all(w % multiple == 0 and h % multiple == 0 for w, h in fam.sizes)
    assert (fam.frames - 1) % 4 == 0


def test_boundary_timesteps_and_image_rules() -> None:
    assert NUM_TRAIN_TIMESTEPS == 1000
    assert get_family("t2v-a14b").boundary_timestep == 875.0
    assert get_family("i2v-a14b").boundary_timestep == 900.0
    assert get_family("ti2v-5b").boundary_timestep is None
    assert [f.takes_image for f in FAMILIES.values()] == [False, True, True]
    assert get_family("i2v-a14b").size_is_area and not get_family("t2v-a14b").size_is_area


def test_snapping_helpers() -> None:
    assert snap_size(1000, 700, 32) == (992, 704)
    assert snap_size(5, 5, 16) == (16, 16)
    assert nearest_valid_frames(80) == 81 and nearest_valid_frames(0) == 1
