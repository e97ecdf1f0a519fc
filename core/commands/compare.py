"""`wan-studio compare`: one request under several variants, measured against the first.

Takes every option of ``generate`` (model, prompt, size, steps, seed, LoRAs...) plus
``--variants``; writes one report folder (each MP4, grid.mp4, report.json, report.html).
Progress on stderr, the folder on stdout; Ctrl-C cancels (nothing is left behind, exit 130);
bad input exits 2 before anything loads.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

NAME = "compare"
HELP = "run one request under several variants (bf16, MXFP8 online/offline, scale rules) and report"
ORDER = 25


def register(parser: argparse.ArgumentParser) -> None:
    from core.commands.request_args import add_request_options

    add_request_options(parser)
    parser.add_argument("--json", action="store_true")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    for action in parser._actions:
        if action.dest == "out":
            action.help = (
                "the report folder to create (default: compare-<time> in the videos folder)"
            )
        if action.dest == "json":
            action.help = "print the report as JSON on stdout"
    parser.add_argument(
        "--variants",
        required=True,
        metavar="LIST",
        help="comma-separated, the first is the reference: bf16 | fp32 | mxfp8-online | "
        "mxfp8-offline=FOLDER | floor | rceil | mse, options after ':' (floor|rceil|mse, "
        "backend=reference|npu, lora|nolora)",
    )
    parser.epilog = (
        "examples:\n"
        '  wan-studio compare --model demo --prompt "a red fox" --variants bf16,floor,mse\n'
        "  wan-studio compare --model ~/models/Wan2.2-TI2V-5B-Diffusers --prompt P --seed 7 \\\n"
        "      --variants bf16,mxfp8-online,mxfp8-offline=~/models/ti2v-mxfp8 --out ~/ab\n\n"
        "Every variant runs the identical request and seed, one model resident at a time.\n"
        "report.html shows per-frame PSNR/SSIM, latent cosine and relative error per step,\n"
        "per-layer MXFP8 weight error, time and peak memory."
    )


class _Progress:
    """One line per variant stage; denoising steps as an updating line on a terminal."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, index: int, variant: Any, event: Any) -> None:
        from core.generate import events as ev

        prefix = f"[{index + 1}/{self.count} {variant.label}]"
        if isinstance(event, ev.StageStarted):
            self._line(f"{prefix} {event.label}")
        elif isinstance(event, ev.Step):
            now = time.monotonic()
            if self.tty and now - self.last >= 0.1:
                self.last = now
                text = f"{prefix} step {event.overall_index}/{event.overall_total}"
                sys.stderr.write("\r" + text.ljust(70)[:100])
                sys.stderr.flush()
        elif isinstance(event, ev.Done):
            self._line(f"{prefix} done in {event.timings.get('total', 0.0):.1f} s")

    def _line(self, text: str) -> None:
        sys.stderr.write(("\r" + " " * 100 + "\r" if self.tty else "") + text + "\n")
        sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    import importlib.util
    import json

    from core.cli import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
    from core.commands.request_args import build_request
    from core.compare.metrics import MISSING_SKIMAGE
    from core.compare.variants import VariantError, parse_variants

    if not all(importlib.util.find_spec(m) for m in ("skimage", "matplotlib")):
        print(f"wan-studio compare: error: {MISSING_SKIMAGE}", file=sys.stderr)
        return EXIT_FAILED
    try:
        variants = parse_variants(args.variants)
        request = build_request(args)
    except (VariantError, ValueError) as exc:
        print(f"wan-studio compare: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from pathlib import Path

    from core.paths import output_dir

    out = Path(args.out) if args.out else output_dir() / time.strftime("compare-%Y%m%d-%H%M%S")
    from core.compare.report import REPORT_HTML
    from core.compare.run import CompareError, check_output, run_compare
    from core.progress import Cancelled, CancelToken

    try:
        check_output(out.expanduser())
    except CompareError as exc:
        print(f"wan-studio compare: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    token = CancelToken()

    def on_sigint(_signum: int, _frame: Any) -> None:
        if token.cancelled:
            raise KeyboardInterrupt
        token.cancel("cancelled by Ctrl-C")
        print("\ncancelling... (Ctrl-C again to force)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        report = run_compare(
            request, variants, out, on_event=_Progress(len(variants)), cancel=token
        )
    except Cancelled:
        print("cancelled: no report was written", file=sys.stderr)
        return EXIT_CANCELLED
    except CompareError as exc:
        print(f"wan-studio compare: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT if exc.bad_input else EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        from core.compare.report import encode_json

        print(json.dumps(encode_json(report), indent=2, ensure_ascii=False))
        return EXIT_OK
    from core.compare.report import table_rows

    rows = table_rows(report)
    keep = (0, 3, 5, 7, 8, 9, 10, 11, 12)
    widths = [max(len(r[i]) for r in rows) for i in keep]
    for row in rows:
        print("  ".join(row[i].ljust(w) for i, w in zip(keep, widths, strict=True)).rstrip())
    print(f"report: {Path(report['folder']) / REPORT_HTML}")
    return EXIT_OK
