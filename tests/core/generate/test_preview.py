"""latent2rgb preview: the ComfyUI factor tables, the projection, frame choice, throttling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core.generate.preview import (
    WAN21_RGB_BIAS,
    WAN21_RGB_FACTORS,
    WAN22_RGB_BIAS,
    WAN22_RGB_FACTORS,
    LatentPreviewer,
    pick_frames,
    rgb_factors,
    x0_estimate,
)


def test_tables_have_the_documented_shapes_and_values() -> None:
    assert len(WAN21_RGB_FACTORS) == 16 and all(len(r) == 3 for r in WAN21_RGB_FACTORS)
    assert len(WAN22_RGB_FACTORS) == 48 and all(len(r) == 3 for r in WAN22_RGB_FACTORS)
    # Spot checks against comfy/latent_formats.py (first/last rows and the biases).
    assert WAN21_RGB_FACTORS[0] == (-0.1299, -0.1692, 0.2932)
    assert WAN21_RGB_FACTORS[15] == (0.1984, 0.0913, 0.1861)
    assert WAN22_RGB_FACTORS[0] == (0.0119, 0.0103, 0.0046)
    assert WAN22_RGB_FACTORS[47] == (-0.0837, 0.0168, 0.0055)
    assert WAN21_RGB_BIAS == (-0.1835, -0.0868, -0.3360)
    assert WAN22_RGB_BIAS == (0.0317, -0.0878, -0.1388)


@pytest.mark.parametrize(
    ("channels", "wan22", "rows", "bias"),
    [
        (16, False, WAN21_RGB_FACTORS, WAN21_RGB_BIAS),
        (48, True, WAN22_RGB_FACTORS, WAN22_RGB_BIAS),
        (4, False, WAN21_RGB_FACTORS[:4], WAN21_RGB_BIAS),  # demo A14B VAE
        (8, True, WAN22_RGB_FACTORS[:8], WAN22_RGB_BIAS),  # demo TI2V VAE
    ],
)
def test_factor_choice_per_vae(channels, wan22, rows, bias) -> None:
    factors, got_bias, _ = rgb_factors(channels, wan22)
    assert [tuple(r) for r in factors] == list(rows)
    assert tuple(got_bias) == bias


def test_unknown_channel_counts_cycle_the_wan21_rows() -> None:
    factors, bias, description = rgb_factors(20, False)
    assert len(factors) == 20 and tuple(factors[16]) == WAN21_RGB_FACTORS[0]
    assert "cycled" in description and tuple(bias) == WAN21_RGB_BIAS


def test_projection_matches_an_independent_numpy_computation() -> None:
    torch.manual_seed(0)
    latents = torch.randn(1, 16, 5, 6, 7)
    previewer = LatentPreviewer(16, wan22_vae=False, spatial_scale=1, frames=3, min_height=1)
    image, shown = previewer.render(latents)
    assert shown == [0, 2, 4]
    x = latents[0].numpy().astype(np.float64)
    factors = np.array(WAN21_RGB_FACTORS)
    expected = []
    for f in shown:
        rgb = np.einsum("chw,cr->hwr", x[:, f], factors) + np.array(WAN21_RGB_BIAS)
        expected.append(np.clip((rgb + 1.0) * 127.5, 0, 255))
    strip = np.concatenate(expected, axis=1)
    assert image.dtype == np.uint8 and image.shape == (6, 21, 3)
    # float32 vs float64 accumulation can move a value across an integer boundary: <= 1 level.
    assert np.abs(image.astype(int) - strip.astype(np.uint8).astype(int)).max() <= 1


def test_preview_is_upscaled_but_never_beyond_the_video_size() -> None:
    previewer = LatentPreviewer(4, wan22_vae=False, spatial_scale=8, frames=4, min_height=128)
    image, shown = previewer.render(torch.zeros(1, 4, 3, 8, 8))
    assert shown == [0, 1, 2]
    assert image.shape == (64, 192, 3)  # 8 px latents x 8 (the VAE scale), not 16x
    tall = LatentPreviewer(4, wan22_vae=False, spatial_scale=8, min_height=32)
    assert tall.render(torch.zeros(1, 4, 1, 16, 16))[0].shape == (32, 32, 3)


def test_pick_frames_spreads_evenly() -> None:
    assert pick_frames(21, 4) == [0, 7, 13, 20]
    assert pick_frames(3, 4) == [0, 1, 2]
    assert pick_frames(9, 1) == [4]


def test_throttle_allows_at_most_n_per_second() -> None:
    previewer = LatentPreviewer(4, wan22_vae=False, spatial_scale=8, max_per_second=4.0)
    assert previewer.due(100.0)
    previewer._last = 100.0
    assert not previewer.due(100.2)
    assert previewer.due(100.25)
    unthrottled = LatentPreviewer(4, wan22_vae=False, spatial_scale=8, max_per_second=0)
    unthrottled._last = 100.0
    assert unthrottled.due(100.0)


def test_x0_estimate_uses_unipc_model_outputs() -> None:
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    latents = torch.zeros(1, 4, 2, 2, 2)
    unipc = UniPCMultistepScheduler(
        prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0
    )
    unipc.set_timesteps(4)
    assert x0_estimate(unipc, latents) is latents  # nothing predicted yet
    x0 = torch.ones_like(latents)
    unipc.model_outputs[-1] = x0
    assert x0_estimate(unipc, latents) is x0
    euler = FlowMatchEulerDiscreteScheduler(shift=5.0)
    assert x0_estimate(euler, latents) is latents


def test_device_path_matches_the_host_path() -> None:
    # The accelerator path (torch ops on the latents' device) runs here on CPU tensors.
    torch.manual_seed(1)
    latents = torch.randn(1, 48, 6, 5, 7)
    previewer = LatentPreviewer(48, wan22_vae=True, spatial_scale=16, frames=4)
    idx = pick_frames(6, 4)
    host = previewer.project_host(latents[0], idx)
    device = previewer.project_device(latents[0], idx)
    assert host.dtype == device.dtype == np.uint8 and host.shape == device.shape == (4, 5, 7, 3)
    assert np.abs(host.astype(int) - device.astype(int)).max() <= 1
    bf16 = previewer.project_host(latents[0].to(torch.bfloat16), idx)
    assert np.abs(bf16.astype(int) - host.astype(int)).max() <= 3
