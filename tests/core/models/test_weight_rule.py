"""The online weight scale rule: loader option, request field (backward compatible), CLI."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.generate.request import WEIGHT_RULES, GenerationRequest
from core.models.loader import WEIGHT_RULE_CHOICES, LoadError, LoadOptions, load_pipeline
from core.mx.format import DEFAULT_WEIGHT_RULE
from core.mx.format import WEIGHT_RULES as MX_WEIGHT_RULES
from core.mx.search import quantize_weight
from core.quant.layer import Mxfp8Linear

LAYER = "blocks.0.ffn.net.2"


def test_rule_lists_agree() -> None:
    assert WEIGHT_RULE_CHOICES == WEIGHT_RULES == ("default", *MX_WEIGHT_RULES)
    assert DEFAULT_WEIGHT_RULE == "mse"


@pytest.mark.parametrize("rule", ["floor", "default"])
def test_loader_quantizes_weights_with_the_weight_rule(demo_ti2v: Path, rule: str) -> None:
    options = LoadOptions(quant="mxfp8-online", device="cpu", backend="reference", weight_rule=rule)
    layer = load_pipeline(demo_ti2v, options).pipe.transformer.get_submodule(LAYER)
    assert isinstance(layer, Mxfp8Linear)
    source = load_file(next((demo_ti2v / "transformer").glob("*.safetensors")))[f"{LAYER}.weight"]
    codes, scale = quantize_weight(source, rule)
    assert torch.equal(layer.weight_scale, scale)
    assert torch.equal(layer.weight.view(torch.uint8), codes.view(torch.uint8))
    assert layer.rule == ("mse" if rule == "default" else rule)
    if rule == "floor":  # activations keep the backend's dynamic rule either way
        assert layer.backend.rule.value == "floor"


def test_loader_rejects_an_unknown_weight_rule(demo_ti2v: Path) -> None:
    with pytest.raises(LoadError, match=r"unknown MXFP8 weight scale rule 'best'.*mse"):
        load_pipeline(demo_ti2v, LoadOptions(quant="mxfp8-online", weight_rule="best"))


def test_request_field_is_backward_compatible() -> None:
    old = GenerationRequest(prompt="a fox").to_dict()
    del old["weight_rule"]  # a record or preset written before the field existed
    notes: list[str] = []
    assert GenerationRequest.from_dict(old, notes).weight_rule == "default" and not notes
    req = GenerationRequest(prompt="a fox", weight_rule="mse")
    assert GenerationRequest.from_dict(req.to_dict()) == req
    issues = [i for i in req.replace(weight_rule="best").validate() if i.field == "weight_rule"]
    assert len(issues) == 1 and "use one of default, floor, rceil, mse" in issues[0].message


def test_generate_option_sets_the_request_field() -> None:
    from core.commands import generate, request_args

    parser = argparse.ArgumentParser()
    generate.register(parser)
    args = parser.parse_args(["--model", "demo", "--prompt", "p", "--weight-rule", "floor"])
    assert request_args.build_request(args).weight_rule == "floor"
    args = parser.parse_args(["--model", "demo", "--prompt", "p"])
    assert request_args.build_request(args).weight_rule == "default"
    with pytest.raises(SystemExit):
        parser.parse_args(["--model", "demo", "--prompt", "p", "--weight-rule", "best"])
