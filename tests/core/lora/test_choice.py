"""Choosing LoRAs: expert words in file names, pairs, the CLI's FILE[:HIGH[,LOW]], JSON."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.lora.choice import LoraChoice, choice_for_file, parse_lora_spec
from core.lora.fixtures import write_lora
from core.lora.naming import display_name, distill_steps, expert_of, is_step_distill, partner_name

LIGHTX2V = "Wan_2_2_I2V_A14B_HIGH_lightx2v_4step_lora_260412_rank_64_fp16.safetensors"


@pytest.mark.parametrize(
    ("name", "expert", "partner"),
    [
        (LIGHTX2V, "high", LIGHTX2V.replace("HIGH", "LOW")),
        (
            "Wan2.2-Lightning_T2V-A14B-4steps-lora_LOW_fp16.safetensors",
            "low",
            "Wan2.2-Lightning_T2V-A14B-4steps-lora_HIGH_fp16.safetensors",
        ),
        ("my_style_high_noise.safetensors", "high", "my_style_low_noise.safetensors"),
        ("My-Style-Low-Noise.safetensors", "low", "My-Style-High-Noise.safetensors"),
        ("slow_highlight.safetensors", None, None),  # "slow" / "highlight" are not experts
        ("high_and_low.safetensors", None, None),  # both words: ambiguous
        ("anime_style_v2.safetensors", None, None),
    ],
)
def test_expert_and_partner_from_the_name(name: str, expert, partner) -> None:
    assert expert_of(name) == expert
    assert partner_name(name) == partner


def test_step_distill_names() -> None:
    assert is_step_distill(LIGHTX2V) and distill_steps(LIGHTX2V) == 4
    assert is_step_distill("wan22_causvid_14b.safetensors")
    assert (
        is_step_distill("x_8steps_lora.safetensors")
        and distill_steps("x_8steps_lora.safetensors") == 8
    )
    assert not is_step_distill("anime_style_v2.safetensors")


def test_a_high_file_with_its_low_partner_is_one_item(tmp_path: Path) -> None:
    high = write_lora(tmp_path / LIGHTX2V, "wan")
    low = write_lora(tmp_path / LIGHTX2V.replace("HIGH", "LOW"), "wan", seed=1)
    for picked in (high, low):
        choice = choice_for_file(picked)
        assert (choice.path, choice.path_low) == (str(high), str(low))
        assert (choice.strength_high, choice.strength_low) == (1.0, 1.0)
    assert display_name(high, low) == LIGHTX2V.replace("HIGH", "HIGH+LOW").removesuffix(
        ".safetensors"
    )
    # a one-expert model takes the picked file itself
    single = choice_for_file(low, experts=1)
    assert (single.path, single.path_low, single.strength_high) == (str(low), None, 1.0)


def test_lone_expert_files_go_to_their_expert_only(tmp_path: Path) -> None:
    high = write_lora(tmp_path / "style_HIGH.safetensors", "wan")
    low = write_lora(tmp_path / "other_LOW.safetensors", "wan")
    plain = write_lora(tmp_path / "plain.safetensors", "wan")
    assert (choice_for_file(high).strength_high, choice_for_file(high).strength_low) == (1.0, 0.0)
    assert (choice_for_file(low).strength_high, choice_for_file(low).strength_low) == (0.0, 1.0)
    assert (choice_for_file(plain).strength_high, choice_for_file(plain).strength_low) == (1.0, 1.0)


def test_cli_spec(tmp_path: Path) -> None:
    plain = write_lora(tmp_path / "plain.safetensors", "wan")
    high = write_lora(tmp_path / "s_HIGH.safetensors", "wan")
    c = parse_lora_spec(str(plain))
    assert (c.strength_high, c.strength_low) == (1.0, 1.0)
    c = parse_lora_spec(f"{plain}:0.6")
    assert (c.strength_high, c.strength_low) == (0.6, 0.6)
    c = parse_lora_spec(f"{plain}:0.8,-0.25")
    assert (c.strength_high, c.strength_low) == (0.8, -0.25)
    c = parse_lora_spec(f"{high}:0.5")  # a lone HIGH file keeps the low expert at 0
    assert (c.strength_high, c.strength_low) == (0.5, 0.0)
    colon = write_lora(tmp_path / "v1:final.safetensors", "wan")
    assert parse_lora_spec(str(colon)).path == str(colon)


def test_json_round_trip_keeps_unknown_keys() -> None:
    c = LoraChoice(
        path="/x/a.safetensors",
        strength_high=0.5,
        strength_low=0.25,
        path_low="/x/b.safetensors",
        enabled=False,
        sha256="ab",
    )
    data = c.to_dict() | {"from_the_future": 1}
    back = LoraChoice.from_dict(data)
    assert back.to_dict() == data
    assert LoraChoice.from_dict("/x/plain.safetensors").path == "/x/plain.safetensors"
