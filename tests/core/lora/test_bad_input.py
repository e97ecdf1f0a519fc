"""Every bad LoRA input gives a clear error naming the file (and key), nothing is half-applied
and the model stays usable with what it had."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from core.lora.apply import LoraManager
from core.lora.choice import LoraChoice, parse_lora_spec
from core.lora.errors import LoraError
from core.lora.fixtures import lora_tensors, write_lora
from tests.core.lora.helpers import forward, load


@pytest.fixture(scope="module")
def shared_model(demo_models: dict[str, Path]):
    return load(demo_models["t2v-a14b"] / "transformer")


@pytest.fixture
def model(shared_model):
    """The module's model, with no LoRA branch left over from another test."""
    from core.lora.branch import detach_all

    detach_all(shared_model)
    yield shared_model
    detach_all(shared_model)


def _apply(model, *choices: LoraChoice, manager: LoraManager | None = None):
    return (manager or LoraManager()).apply({"transformer": model}, list(choices), torch.float32)


def test_lora_for_another_width_names_both_widths(model, tmp_path: Path) -> None:
    wide = write_lora(tmp_path / "wan14b_style.safetensors", "wan", dim=96, ffn_dim=192)
    with pytest.raises(LoraError) as err:
        _apply(model, LoraChoice(path=str(wide)))
    text = str(err.value)
    assert "wan14b_style.safetensors does not fit transformer" in text
    assert "model of width 96" in text and "this model has width 64, the demo model" in text


def test_rank_mismatch_between_a_and_b(model, tmp_path: Path) -> None:
    state = lora_tensors("diffusers", rank=4)
    key = "transformer.blocks.1.attn2.to_k.lora_B.weight"
    state[key] = torch.zeros(64, 3, dtype=torch.bfloat16)
    path = tmp_path / "rank.safetensors"
    save_file(state, str(path))
    with pytest.raises(
        LoraError,
        match=r"rank.safetensors: blocks\.1\.attn2\.to_k has rank 4 in "
        r"lora_A \[4, 64\] but 3 in lora_B \[64, 3\]",
    ):
        _apply(model, LoraChoice(path=str(path)))


def test_keys_matching_no_layer_are_counted(model, tmp_path: Path) -> None:
    deep = write_lora(tmp_path / "deep.safetensors", "wan", blocks=5)
    report = _apply(model, LoraChoice(path=str(deep)))
    assert report.applied[0].matched == 20 and report.applied[0].total == 50
    assert report.warnings == [
        "LoRA deep.safetensors on transformer: 20 of 50 layers matched; 30 match no layer of "
        "this model (e.g. blocks.2.attn1.to_q, blocks.2.attn1.to_k, blocks.2.attn1.to_v)"
    ]
    alien = {
        f"transformer.vace_blocks.{i}.proj.lora_A.weight": torch.zeros(4, 64) for i in range(3)
    }
    alien |= {
        f"transformer.vace_blocks.{i}.proj.lora_B.weight": torch.zeros(64, 4) for i in range(3)
    }
    path = tmp_path / "vace.safetensors"
    save_file(alien, str(path))
    with pytest.raises(
        LoraError,
        match=r"vace.safetensors matches none of the layers of "
        r"transformer: 0 of 3 LoRA layers",
    ):
        _apply(model, LoraChoice(path=str(path)))


def test_not_a_lora_at_all(model, tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file({"blocks.0.attn1.to_q.weight": torch.zeros(64, 64)}, str(path))
    with pytest.raises(
        LoraError, match=re.escape("model.safetensors is not a Wan LoRA: none of its 1 keys")
    ):
        _apply(model, LoraChoice(path=str(path)))


@pytest.mark.parametrize("cut", [4, 100, -10])
def test_truncated_or_corrupt_file(model, tmp_path: Path, cut: int) -> None:
    good = write_lora(tmp_path / "good.safetensors", "wan").read_bytes()
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(good[:cut])
    with pytest.raises(LoraError, match=r"broken\.safetensors.*(truncated|corrupt)"):
        _apply(model, LoraChoice(path=str(bad)))


def test_garbage_header(model, tmp_path: Path) -> None:
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes((20).to_bytes(8, "little") + b"{not json at all!!!}")
    with pytest.raises(LoraError, match=r"garbage\.safetensors.*corrupt safetensors header"):
        _apply(model, LoraChoice(path=str(bad)))


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_nan_or_inf_in_the_weights_names_the_key(model, tmp_path: Path, value: float) -> None:
    state = lora_tensors("wan")
    state["diffusion_model.blocks.0.ffn.2.lora_up.weight"][3, 1] = value
    path = tmp_path / "nan.safetensors"
    save_file(state, str(path))
    with pytest.raises(
        LoraError,
        match=r"nan.safetensors: tensor diffusion_model\.blocks\.0\."
        r"ffn\.2\.lora_up\.weight holds 1 NaN/Inf values",
    ):
        _apply(model, LoraChoice(path=str(path)))


@pytest.mark.parametrize("strength", [float("nan"), float("inf"), "strong", None, True, 1e6])
def test_strength_that_is_not_a_finite_number(model, tmp_path: Path, strength) -> None:
    path = write_lora(tmp_path / "ok.safetensors", "wan")
    with pytest.raises(LoraError, match="strength"):
        _apply(model, LoraChoice(path=str(path), strength_high=strength))
    with pytest.raises(LoraError, match="strength"):
        LoraChoice.from_dict({"path": str(path), "strength_low": strength})


@pytest.mark.parametrize("spec", ["x.safetensors:nan", "x.safetensors:1,2,3", "x.safetensors:inf"])
def test_cli_spec_with_bad_strengths(tmp_path: Path, spec: str) -> None:
    write_lora(tmp_path / "x.safetensors", "wan")
    with pytest.raises(LoraError, match="strength"):
        parse_lora_spec(str(tmp_path / spec))


def test_the_same_lora_twice(model, tmp_path: Path) -> None:
    path = write_lora(tmp_path / "twice.safetensors", "wan")
    with pytest.raises(LoraError, match=re.escape("twice.safetensors is chosen twice")):
        _apply(model, LoraChoice(path=str(path)), LoraChoice(path=str(path), strength_high=0.3))
    copy = tmp_path / "copy_of_twice.safetensors"
    copy.write_bytes(path.read_bytes())
    with pytest.raises(
        LoraError,
        match=re.escape(
            "copy_of_twice.safetensors is the same file as twice.safetensors (identical contents)"
        ),
    ):
        _apply(model, LoraChoice(path=str(path)), LoraChoice(path=str(copy)))


@pytest.mark.parametrize("suffix", [".pt", ".ckpt", ".pth", ".bin"])
def test_pickle_lora_is_refused_without_being_opened(model, tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"evil{suffix}"
    path.write_bytes(b"\x80\x04 would run code if unpickled")
    with pytest.raises(LoraError, match=f"evil\\{suffix} is a pickle file.*never unpickles"):
        _apply(model, LoraChoice(path=str(path)))
    with pytest.raises(LoraError, match="pickle"):
        parse_lora_spec(str(path))


def test_fifo_or_folder_is_not_read(model, tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(LoraError, match=re.escape("pipe.safetensors is not a regular file")):
        _apply(model, LoraChoice(path=str(fifo)))
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    with pytest.raises(LoraError, match=re.escape("dir.safetensors is a folder: choose a file")):
        _apply(model, LoraChoice(path=str(folder)))


def test_dora_is_refused(model, tmp_path: Path) -> None:
    state = lora_tensors("diffusers")
    state["transformer.blocks.0.attn1.to_q.lora_magnitude_vector"] = torch.ones(64)
    path = tmp_path / "dora.safetensors"
    save_file(state, str(path))
    with pytest.raises(LoraError, match=re.escape("dora.safetensors is a DoRA")):
        _apply(model, LoraChoice(path=str(path)))


def test_nothing_is_half_applied_and_the_model_stays_usable(model, tmp_path: Path) -> None:
    good = write_lora(tmp_path / "good.safetensors", "wan", seed=4)
    bad = write_lora(tmp_path / "bad.safetensors", "wan", dim=96, ffn_dim=192)
    manager = LoraManager()
    base = forward(model)
    _apply(model, LoraChoice(path=str(good)), manager=manager)
    with_good = forward(model)
    with pytest.raises(LoraError):
        _apply(model, LoraChoice(path=str(good)), LoraChoice(path=str(bad)), manager=manager)
    assert torch.equal(forward(model), with_good)  # still exactly the previous set
    _apply(model, manager=manager)
    assert torch.equal(forward(model), base)


def test_pair_on_a_one_expert_model(demo_models: dict[str, Path], tmp_path: Path) -> None:
    high = write_lora(tmp_path / "s_HIGH.safetensors", "wan", seed=1)
    low = write_lora(tmp_path / "s_LOW.safetensors", "wan", seed=2)
    ti2v = load(demo_models["ti2v-5b"] / "transformer")
    with pytest.raises(LoraError, match="this model has one expert"):
        _apply(ti2v, LoraChoice(path=str(high), path_low=str(low)))
