"""Memory estimates and the placement decision (swap experts, tile the VAE)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.generate.memory import (
    GIB,
    MemoryPlan,
    denoise_activation_bytes,
    estimate_weights,
    pipeline_weights,
    plan_memory,
)
from core.models.demo import build_demo_pipeline


@pytest.fixture(scope="module")
def pipe():
    return build_demo_pipeline("t2v-a14b")


def test_roomy_device_keeps_everything_resident(pipe) -> None:
    plan = plan_memory(pipe, "npu:0", 64, 64, 5, available=64 * GIB)
    assert (plan.offload, plan.tile_vae, plan.warnings) == ("none", False, [])
    assert plan.as_dict()["peak"] == sum(pipeline_weights(pipe).values()) + max(
        plan.activations, plan.vae_decode
    )


def test_tight_device_swaps_experts(pipe) -> None:
    activations = denoise_activation_bytes(pipe, 64, 64, 5, 2)
    # Activations do not fit beside both experts, but do once the idle expert and the text
    # encoder leave the device: swap, no warning.
    plan = plan_memory(pipe, "npu:0", 64, 64, 5, available=activations)
    assert plan.offload == "swap" and plan.warnings == []
    # Far too little even with one expert: still swap, and say it may not fit.
    hopeless = plan_memory(pipe, "npu:0", 1280, 720, 81, available=GIB // 10)
    assert hopeless.offload == "swap" and "may not fit" in hopeless.warnings[0]


def test_peak_with_swap_holds_one_model_at_a_time() -> None:
    weights = {
        "text_encoder": 11 * GIB,
        "transformer": 28 * GIB,
        "transformer_2": 28 * GIB,
        "vae": GIB // 2,
    }
    plan = MemoryPlan("npu:0", weights, activations=10 * GIB, vae_decode=5 * GIB, available=None)
    assert plan.peak == sum(weights.values()) + 10 * GIB
    plan.offload = "swap"
    assert plan.peak == 38 * GIB  # one expert + its activations


def test_decode_that_does_not_fit_is_tiled(pipe) -> None:
    untiled = plan_memory(pipe, "cpu", 1280, 720, 81, available=64 * GIB)
    tight = plan_memory(pipe, "cpu", 1280, 720, 81, available=untiled.vae_decode // 2)
    assert not untiled.tile_vae and tight.tile_vae
    assert tight.vae_decode < untiled.vae_decode
    assert tight.offload == "none"  # nothing to move on the CPU
    assert (
        any("may run out of memory" in w for w in tight.warnings)
        or tight.activations < untiled.vae_decode // 2
    )


def test_forced_modes_and_unknown_memory(pipe) -> None:
    assert plan_memory(pipe, "cuda", 64, 64, 5, offload="swap", available=None).offload == "swap"
    assert plan_memory(pipe, "cuda", 64, 64, 5, offload="none", available=1).offload == "none"
    unknown = plan_memory(pipe, "cuda", 64, 64, 5, available=None)
    assert unknown.offload == "none" and unknown.as_dict()["available"] is None


def test_activations_scale_with_tokens(pipe) -> None:
    small = denoise_activation_bytes(pipe, 64, 64, 5, 2)
    assert denoise_activation_bytes(pipe, 128, 64, 5, 2) == 2 * small
    assert denoise_activation_bytes(pipe, 64, 64, 9, 2) == 3 * small // 2  # 2 -> 3 latent frames


def test_weights_estimated_from_headers_match_the_loaded_model(demo_t2v: Path, pipe) -> None:
    estimate = estimate_weights(demo_t2v, accelerator=False, quant="none")
    for name in ("transformer", "transformer_2", "text_encoder"):
        # Parameters only: non-persistent buffers (rotary tables) are not in the files.
        loaded = sum(p.numel() * p.element_size() for p in getattr(pipe, name).parameters())
        assert estimate[name] == pytest.approx(loaded, rel=0.05), name
    bf16 = estimate_weights(demo_t2v, accelerator=True, quant="none")
    assert bf16["transformer"] == estimate["transformer"] // 2
    online = estimate_weights(demo_t2v, accelerator=True, quant="mxfp8-online")
    assert online["transformer"] < bf16["transformer"]
    assert online["vae"] == bf16["vae"]


def test_device_memory_on_the_cpu_is_this_process_and_host_free_memory() -> None:
    from core.generate.memory import device_memory, process_resident_bytes

    reading = device_memory("cpu")
    assert reading.scope == "process" and reading.device == "cpu"
    assert reading.used is not None and reading.used > 10 * 2**20  # an interpreter and torch
    assert abs(reading.used - process_resident_bytes()) < 256 * 2**20
    assert reading.free is not None and reading.free > 0


def test_device_memory_never_imports_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from core.generate.memory import device_memory; "
        "cpu = device_memory('cpu'); gpu = device_memory('cuda:0'); "
        "print(cpu.used > 0, gpu.used, gpu.free, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["True", "None", "None", "False"]
