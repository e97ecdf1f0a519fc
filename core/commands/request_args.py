"""The options that describe a request, and turning them into a checked GenerationRequest.

Shared by `wan-studio generate` and `wan-studio queue add`, so both accept the same options and
report bad values the same way (one line per problem, pointing at the option the user typed).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


class BadInput(ValueError):
    """Bad options: ``lines`` are printed one per line, and the command exits 2."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


# CLI option -> request field, for pointing validation messages at what the user typed.
_OPTION_OF = {
    "width": "--size",
    "height": "--size",
    "frames": "--frames",
    "fps": "--fps",
    "steps": "--steps",
    "guidance_high": "--guidance",
    "guidance_low": "--guidance",
    "boundary": "--boundary",
    "shift": "--shift",
    "solver": "--solver",
    "seed": "--seed",
    "image": "--image",
    "image_fit": "--image-fit",
    "quant": "--quant",
    "weight_rule": "--weight-rule",
    "device": "--device",
    "output": "--out",
    "model": "--model",
    "prompt": "--prompt",
    "negative_prompt": "--negative-prompt",
    "loras": "--lora",
}


def add_request_options(parser: argparse.ArgumentParser, prompt_required: bool = True) -> None:
    """The options that describe one request (shared by `generate` and `queue add`)."""
    parser.add_argument("--model", required=True, help="Diffusers model folder, or 'demo'")
    parser.add_argument(
        "--prompt",
        required=prompt_required,
        default=None,
        help="what the video shows" + ("" if prompt_required else " (or --prompts FILE)"),
    )
    parser.add_argument(
        "--negative-prompt", default=None, help="what to avoid (default: the official one)"
    )
    parser.add_argument("--preset", default=None, help="start from a saved preset (by name)")
    parser.add_argument("--size", default=None, metavar="WxH", help="e.g. 1280x720")
    parser.add_argument("--frames", type=int, default=None, help="frame count, 4n+1 (81, 121)")
    parser.add_argument("--fps", type=int, default=None, help="frames per second of the file")
    parser.add_argument("--steps", type=int, default=None, help="denoising steps")
    parser.add_argument(
        "--guidance",
        default=None,
        metavar="H[,L]",
        help="guidance scale; two-expert models take high-noise,low-noise (e.g. 4,3)",
    )
    parser.add_argument("--boundary", type=float, default=None, help="expert switch (0..1)")
    parser.add_argument("--shift", type=float, default=None, help="flow shift of the scheduler")
    parser.add_argument(
        "--solver",
        choices=("default", "unipc", "euler"),
        default=None,
        help="sampler: the model folder's (default), unipc (official) or euler (Lightning)",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed (-1 or unset: random)")
    parser.add_argument("--image", default=None, help="start image (I2V; optional for TI2V)")
    parser.add_argument(
        "--image-fit",
        choices=("area", "crop"),
        default=None,
        help="area: keep the image's aspect within the size's area (official); crop: exact size",
    )
    parser.add_argument(
        "--quant",
        default=None,
        help="auto | none | mxfp8-online | mxfp8-offline (default auto)",
    )
    parser.add_argument(
        "--weight-rule",
        choices=("default", "floor", "rceil", "mse"),
        default=None,
        help="MXFP8 weight scale rule of --quant mxfp8-online (default: mse, the per-block "
        "search; activations keep the backend's dynamic rule)",
    )
    parser.add_argument("--device", default=None, help="auto | cpu | cuda[:N] | npu[:N]")
    parser.add_argument(
        "--lora",
        action="append",
        default=[],
        metavar="FILE[:HIGH[,LOW]]",
        help="apply a LoRA (.safetensors), strength per expert (default 1); repeatable",
    )
    parser.add_argument(
        "--lora-merge",
        action="store_true",
        help="merge the LoRAs into the weights at load (no run-time cost) instead of a side branch",
    )
    parser.add_argument("--out", default=None, help="output .mp4 file or folder")


def add_batch_options(parser: argparse.ArgumentParser) -> None:
    """--count / --seed-mode / --prompts: one request made into several jobs (core.queue.batch)."""
    parser.add_argument(
        "--count", type=int, default=1, metavar="N", help="make N videos (default 1)"
    )
    parser.add_argument(
        "--seed-mode",
        choices=("increment", "random"),
        default="increment",
        help="seeds of a batch: seed, seed+1, ... (default) or a random seed per video",
    )
    parser.add_argument(
        "--prompts",
        default=None,
        metavar="FILE",
        help="a text file with one prompt per line: one video each (times --count)",
    )


def build_request(args: argparse.Namespace) -> Any:
    """The request: family defaults, then the preset, then the options given."""
    from core.generate.request import ModelError, defaults_for, demo_family, model_family
    from core.models.demo import is_demo_model

    try:
        family = model_family(args.model)
    except ModelError as exc:
        raise ValueError(f"--model: {exc}") from None
    folder_is_demo = demo_family(args.model) is None and is_demo_model(args.model)
    demo = demo_family(args.model) is not None or folder_is_demo
    request = defaults_for(family, demo=demo, model=args.model)
    request.loras = parse_loras(args.lora, family.experts)
    request.lora_merge = bool(getattr(args, "lora_merge", False))
    if args.preset:
        apply_preset(request, family.key, args.preset)
    else:
        distill = distill_lora(request.loras)
        if distill is not None:
            from core.presets import DISTILL_PRESET

            apply_preset(request, family.key, DISTILL_PRESET)
            print(
                f"LoRA {distill} is a step-distillation LoRA: using the '{DISTILL_PRESET}' "
                f"preset ({request.steps} {request.solver} steps, guidance "
                f"{request.guidance_high:g}, shift {request.shift:g}); --preset or "
                "--steps/--guidance/--shift/--solver change it",
                file=sys.stderr,
            )
    request.prompt = args.prompt
    if args.negative_prompt is not None:
        request.negative_prompt = args.negative_prompt
    if args.size:
        request.width, request.height = parse_size(args.size)
    for name in (
        "frames",
        "fps",
        "steps",
        "boundary",
        "shift",
        "seed",
        "image",
        "quant",
        "weight_rule",
        "device",
        "solver",
    ):
        value = getattr(args, name)
        if value is not None:
            setattr(request, name, value)
    if args.image_fit:
        request.image_fit = args.image_fit
    if args.out:
        request.output = args.out
    if args.guidance:
        high, low = parse_guidance(args.guidance, family.experts)
        request.guidance_high = high
        if low is not None:
            request.guidance_low = low
    return request


def parse_loras(specs: list[str], experts: int = 2) -> list[Any]:
    """``--lora`` values -> LoRA choices (pairs found by name); ValueError names the bad one."""
    from core.lora import LoraError, parse_lora_spec

    choices = []
    for spec in specs:
        try:
            choices.append(parse_lora_spec(spec, experts))
        except LoraError as exc:
            raise ValueError(f"--lora {spec}: {exc}") from None
    return choices


def distill_lora(choices: list[Any]) -> str | None:
    """The label of the first step-distillation LoRA among ``choices``, or None."""
    from core.lora.naming import is_step_distill

    for choice in choices:
        if choice.enabled and any(is_step_distill(f) for f in choice.files()):
            return choice.label
    return None


def apply_preset(request: Any, family_key: str, name: str) -> None:
    """Copy a preset's values (GenerationRequest field names) onto ``request``."""
    try:
        from core.presets import PresetError, PresetStore
    except ImportError:
        raise ValueError("--preset: presets are not available in this build") from None
    try:
        preset = PresetStore().find(family_key, name)
    except KeyError as exc:
        raise ValueError(f"--preset: {exc.args[0]}") from None
    except PresetError as exc:
        raise ValueError(f"--preset: {exc}") from None
    for key, value in preset.request_values().items():
        if key not in ("model", "prompt", "image", "output", "preset"):
            setattr(request, key, value)
    request.preset = preset.name


def parse_size(text: str) -> tuple[int, int]:
    parts = text.lower().replace("*", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"--size: {text!r} is not WIDTHxHEIGHT (e.g. 1280x720)")
    return int(parts[0]), int(parts[1])


def parse_guidance(text: str, experts: int) -> tuple[float, float | None]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ValueError(f"--guidance: {text!r} is not a number or a pair like 4,3") from None
    if len(values) == 1:
        return values[0], (values[0] if experts == 2 else None)
    if len(values) == 2:
        if experts == 1:
            raise ValueError("--guidance: this model has one expert: give one value, e.g. 5")
        return values[0], values[1]
    raise ValueError(f"--guidance: {text!r}: give one value or two (high-noise,low-noise)")


def checked_requests(args: argparse.Namespace, command: str) -> list[Any]:
    """The validated request(s) of ``args``: one, or a batch (--count, --prompts). A LoRA that
    does not fit the model is bad input, found from its header before anything loads."""
    from core.generate.request import errors
    from core.queue.batch import BatchError, expand, read_prompt_file

    prompts = None
    try:
        if getattr(args, "prompts", None):
            prompts = read_prompt_file(args.prompts)
            if args.prompt is None:
                args.prompt = prompts[0]
        elif args.prompt is None:
            raise ValueError("give --prompt TEXT or --prompts FILE")
        request = build_request(args)
    except BatchError as exc:
        raise BadInput([f"wan-studio {command}: error: --prompts: {exc}"]) from None
    except ValueError as exc:
        raise BadInput([f"wan-studio {command}: error: {exc}"]) from None
    blocking = errors(request.validate())  # warnings come back as Warning events from the run
    if blocking:
        raise BadInput(
            [f"wan-studio {command}: the request is not valid:"]
            + [f"  {_OPTION_OF.get(i.field, i.field)}: {i.message}" for i in blocking]
        )
    if request.loras:
        from core.generate.loras import preflight
        from core.generate.request import model_family, resolve_model_path
        from core.lora import LoraError

        try:
            preflight(
                resolve_model_path(request.model),
                request.loras,
                model_family(request.model).experts,
            )
        except LoraError as exc:
            raise BadInput([f"wan-studio {command}: error: --lora: {exc}"]) from None
    try:
        return expand(
            request,
            count=getattr(args, "count", 1),
            seed_mode=getattr(args, "seed_mode", "increment"),
            prompts=prompts,
        )
    except BatchError as exc:
        raise BadInput([f"wan-studio {command}: error: --count: {exc}"]) from None
