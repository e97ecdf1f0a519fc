"""`wan-studio generate`: make videos from the command line with the same engine as the app.

The model family's official defaults (or the demo model's small ones) fill every option not
given; a preset (core.presets) can supply values first. Bad values exit 2 with one line per
problem and the nearest valid value. Progress goes to stderr (one updating line on a terminal,
plain lines otherwise); the result goes to stdout (``--json`` for a machine-readable summary).
``--count N`` and ``--prompts FILE`` make a batch, run one after the other with the model kept
loaded (each video's seed is fixed before the first starts). Ctrl-C cancels cleanly: no decode,
no file, exit 130; the videos already made stay.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from typing import Any

from core.commands.request_args import (
    BadInput,
    add_batch_options,
    add_request_options,
    checked_requests,
)
from core.commands.terminal import TerminalProgress, summary

NAME = "generate"
HELP = "generate a video from a prompt (and an image for I2V/TI2V models)"
ORDER = 20


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
    add_request_options(parser, prompt_required=False)
    add_batch_options(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK

    try:
        requests = checked_requests(args, NAME)
    except BadInput as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    problems = {preflight_problem(r) for r in requests} - {None}  # before any loading
    if problems:
        for problem in sorted(str(p) for p in problems):
            print(f"wan-studio generate: error: {problem}", file=sys.stderr)
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

    outcomes: list[Any] = []
    runner = Runner(preview_fps=0)  # one runner: the model stays loaded across a batch
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        for n, request in enumerate(requests, 1):
            if len(requests) > 1:
                display.note(f"video {n}/{len(requests)}: seed {request.seed}, {request.prompt!r}")
            outcomes.append(runner.run(request, display.on_event, token))
            if token.cancelled:
                break
    finally:
        signal.signal(signal.SIGINT, previous)
        display.close()

    if args.json:
        data: Any = [summary(o) for o in outcomes] if len(requests) > 1 else summary(outcomes[0])
        print(json.dumps(data, indent=2, ensure_ascii=False))
    for outcome in outcomes:
        if isinstance(outcome, Done) and not args.json:
            print(outcome.video)
        elif isinstance(outcome, Failed):
            print(f"wan-studio generate: error: {outcome.message}", file=sys.stderr)
            if outcome.hint:
                print(f"hint: {outcome.hint}", file=sys.stderr)
    if any(isinstance(o, Cancelled) for o in outcomes):
        print(
            "cancelled: no video was written"
            + (" for the run in progress" if len(outcomes) > 1 else ""),
            file=sys.stderr,
        )
        return EXIT_CANCELLED
    if any(isinstance(o, Failed) for o in outcomes):
        return EXIT_FAILED
    return EXIT_OK


def preflight_problem(request: Any) -> str | None:
    """Why the job cannot run on this model and machine (core.generate.preflight), or None."""
    from core.generate.preflight import PreflightError, preflight
    from core.generate.request import demo_family, resolve_model_path
    from core.models.loader import LoadError, resolve_device

    folder = resolve_model_path(request.model)
    if demo_family(request.model) is not None and not (folder / "model_index.json").is_file():
        return None  # the runner creates the missing demo model first
    try:
        preflight(folder, request, resolve_device(request.device))
    except (PreflightError, LoadError) as exc:
        return str(exc)
    return None
