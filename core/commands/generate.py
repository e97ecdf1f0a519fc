"""`wan-studio generate`: make one video from the command line with the same engine as the app.

The model family's official defaults (or the demo model's small ones) fill every option not
given; a preset (core.presets) can supply values first. Bad values exit 2 with one line per
problem and the nearest valid value. Progress goes to stderr (one updating line on a terminal,
plain lines otherwise); the result goes to stdout (``--json`` for a machine-readable summary).
Ctrl-C cancels cleanly: no decode, no file, exit 130.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from typing import Any, TextIO

NAME = "generate"
HELP = "generate a video from a prompt (and an image for I2V/TI2V models)"
ORDER = 20

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


def register(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        '  wan-studio generate --model demo --prompt "a red fox"\n'
        '  wan-studio generate --model ~/models/Wan2.2-TI2V-5B-Diffusers --prompt "a cat" '
        "--image cat.png --steps 30\n"
        '  wan-studio generate --model ~/models/Wan2.2-I2V-A14B-Diffusers --prompt "a cat" '
        "--image cat.png --lora ~/loras/Wan_2_2_I2V_A14B_HIGH_lightx2v_4step_lora.safetensors\n\n"
        "--lora FILE[:S | :HIGH,LOW] adds a LoRA (repeatable) with a strength per expert; a\n"
        "HIGH/LOW pair is found from the file name, and a 4-step distill LoRA (Lightning)\n"
        "selects the 'Lightning 4-step' preset unless --preset is given.\n"
        "--model demo uses the built-in demo model (random weights, its video is noise);\n"
        "demo:i2v-a14b and demo:ti2v-5b pick the other families' demo models.\n"
        "Unset options take the model's official defaults (see `wan-studio generate --model M "
        "--prompt P --json`)."
    )
    parser.add_argument("--model", required=True, help="Diffusers model folder, or 'demo'")
    parser.add_argument("--prompt", required=True, help="what the video shows")
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
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK

    try:
        request = build_request(args)
    except ValueError as exc:
        print(f"wan-studio generate: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from core.generate.request import errors

    blocking = errors(request.validate())  # warnings come back as Warning events from the run
    if blocking:
        print("wan-studio generate: the request is not valid:", file=sys.stderr)
        for issue in blocking:
            print(f"  {_OPTION_OF.get(issue.field, issue.field)}: {issue.message}", file=sys.stderr)
        return EXIT_BAD_INPUT

    if request.loras:  # header-only fit check: a misfit LoRA is bad input, found before loading
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
            print(f"wan-studio generate: error: --lora: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    from core.generate.events import Cancelled, Done, Failed
    from core.generate.runner import Runner
    from core.progress import CancelToken

    token = CancelToken()
    display = TerminalProgress(sys.stderr)

    def on_sigint(_signum: int, _frame: Any) -> None:
        if token.cancelled:  # second Ctrl-C: stop now
            raise KeyboardInterrupt
        token.cancel("cancelled by Ctrl-C")
        display.note("cancelling... (Ctrl-C again to force)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        outcome = Runner(preview_fps=0).run(request, display.on_event, token)
    finally:
        signal.signal(signal.SIGINT, previous)
        display.close()

    if args.json:
        print(json.dumps(summary(outcome), indent=2, ensure_ascii=False))
    if isinstance(outcome, Done):
        if not args.json:
            print(outcome.video)
        return EXIT_OK
    if isinstance(outcome, Cancelled):
        print("cancelled: no video was written", file=sys.stderr)
        return EXIT_CANCELLED
    assert isinstance(outcome, Failed)
    print(f"wan-studio generate: error: {outcome.message}", file=sys.stderr)
    if outcome.hint:
        print(f"hint: {outcome.hint}", file=sys.stderr)
    return EXIT_FAILED


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


def summary(outcome: Any) -> dict[str, Any]:
    data = outcome.to_dict()
    data.pop("overall", None)
    return {"status": data.pop("kind"), **data}


_QUANT_NAMES = {
    "none": "no MXFP8",
    "mxfp8-online": "MXFP8 online",
    "mxfp8-offline": "MXFP8 offline",
    "mixed": "MXFP8 mixed",
}


def _quant_text(plan: Any) -> str:
    """'MXFP8 offline: 40 layers, reference backend' (or 'no MXFP8') for the plan line."""
    name = _QUANT_NAMES.get(plan.quant, plan.quant)
    if not plan.quantized_layers:
        return name
    return f"{name}: {plan.quantized_layers} layers, {plan.backend} backend"


def lora_lines(applied: list[dict[str, Any]]) -> list[str]:
    """One line per LoRA item of the plan: strength and matched layers per expert."""
    by_label: dict[str, list[str]] = {}
    for entry in applied:
        where = "" if entry["expert"] == "single" else f"{entry['expert']} "
        by_label.setdefault(entry["label"], []).append(
            f"{where}{entry['strength']:g} ({entry['matched']}/{entry['total']} layers)"
        )
    return [f"LoRA {label}: " + ", ".join(parts) for label, parts in by_label.items()]


STAGE_NAMES = {
    "load": "model loaded",
    "encode": "prompt encoded",
    "denoise_high": "high-noise expert",
    "denoise_low": "low-noise expert",
    "denoise": "denoising",
    "decode": "decoding",
    "write": "video written",
}


class TerminalProgress:
    """Event -> stderr: one updating line on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.width = shutil.get_terminal_size((100, 20)).columns
        self._line_open = False
        self._last_draw = 0.0

    def note(self, text: str) -> None:
        self._end_line()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._end_line()

    def on_event(self, event: Any) -> None:
        kind = event.kind
        pct = f"{event.overall * 100:3.0f}%"
        if kind == "started":
            demo = " (demo model: random weights)" if event.demo else ""
            self.note(f"seed {event.seed}, {event.family}{demo}")
        elif kind == "plan":
            switch = (
                f", high → low at step {event.switch_step}/{event.steps}"
                if event.switch_step is not None
                else ""
            )
            self.note(
                f"{event.width}x{event.height}, {event.frames} frames at {event.fps} fps "
                f"({event.frames / event.fps:.1f} s), {event.steps} steps{switch}; "
                f"{event.device} {event.dtype}, offload {event.offload}; {_quant_text(event)}"
            )
            for line in lora_lines(event.loras):
                self.note(line)
        elif kind == "stage_started":
            self._status(f"{pct} {event.label}...", force=True)
            if not self.tty:
                self.note(f"{pct} {event.label}")
        elif kind == "stage_skipped":
            if event.stage == "load":
                self.note(f"model already loaded ({event.reason})")
            else:
                self.note(f"{event.stage} skipped: {event.reason}")
        elif kind == "stage_progress":
            if self.tty:
                self._status(f"{pct} {event.stage}: {event.message} {event.fraction * 100:.0f}%")
        elif kind == "step":
            eta = _clock(event.eta_seconds) if event.eta_seconds is not None else "--:--"
            text = (
                f"{pct} step {event.overall_index}/{event.overall_total} "
                f"({event.expert} expert {event.index}/{event.total}) "
                f"{event.it_per_s:.2f} it/s, ETA {eta}"
            )
            if self.tty:
                self._status(text, force=event.index == event.total)
            else:
                self.note(text)
        elif kind == "expert_switch":
            self.note(f"switching experts: {event.label}")
        elif kind == "stage_finished":
            if not self.tty:
                label = STAGE_NAMES.get(event.stage, event.stage)
                self.note(f"{pct} {label}: {event.seconds:.2f} s")
        elif kind == "warning":
            self.note(f"warning: {event.message}")
        elif kind == "done":
            total = event.timings.get("total", 0.0)
            demo = " [demo model: random weights]" if event.demo else ""
            self.note(f"done in {total:.1f} s: {event.video}{demo}")

    def _status(self, text: str, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[K" + text[: self.width - 1])
        self.stream.flush()
        self._line_open = True

    def _end_line(self) -> None:
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line_open = False


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
