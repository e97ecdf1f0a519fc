"""`wan-studio quantize SRC OUT`: write an offline MXFP8 copy of a BF16 Wan2.2 Diffusers folder."""

from __future__ import annotations

import argparse
import json
import sys
import time

from core.humanize import human_bytes

NAME = "quantize"
HELP = "write an offline MXFP8 copy of a BF16 Wan2.2 Diffusers model folder (SRC is not modified)"
ORDER = 45


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC", help="the BF16 (or FP32) Diffusers model folder")
    parser.add_argument(
        "out", metavar="OUT", help="the new folder to create (must not exist or be empty)"
    )
    parser.add_argument(
        "--rule",
        "--weight-rule",
        dest="rule",
        choices=("default", "floor", "rceil", "mse"),
        default="default",
        help="weight scale rule: mse (per block of 32, FLOOR or FLOOR+1, whichever has the "
        "smaller error; the default), floor (OCP, the NPU's dynamic rule) or rceil",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.epilog = (
        "The ten linears of every transformer block (both experts of A14B models) become "
        "W8A8_MXFP8; everything else is kept as is. The result loads with quantization 'auto'."
    )


class _Printer:
    """Progress on stderr: one rewritten line on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.last = 0.0
        self.stage = ""

    def __call__(self, p) -> None:
        now = time.monotonic()
        if not self.tty and p.stage == self.stage and now - self.last < 5.0:
            return
        if self.tty and now - self.last < 0.1 and p.stage == self.stage:
            return
        self.last, self.stage = now, p.stage
        eta = f", {p.eta_seconds:.0f} s left" if p.eta_seconds is not None and p.done else ""
        text = f"{p.fraction * 100:5.1f}%  {p.stage}{eta}"
        if self.tty:
            sys.stderr.write("\r" + text.ljust(60)[:100])
        else:
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
    from core.mx import MxFormatError
    from core.progress import Cancelled
    from core.quant.checkpoint import CheckpointError
    from core.quant.description import DescriptionError
    from core.quant.export import ExportError, quantize_folder

    printer = _Printer()
    try:
        report = quantize_folder(args.src, args.out, rule=args.rule, progress=printer)
    except (ExportError, CheckpointError, DescriptionError, MxFormatError) as exc:
        printer.done()
        print(f"wan-studio quantize: error: {exc}", file=sys.stderr)
        if "nothing was written" not in str(exc):
            print("nothing was written", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled:
        printer.done()
        print("cancelled; nothing was written", file=sys.stderr)
        return EXIT_CANCELLED
    except OSError as exc:
        printer.done()
        print(f"wan-studio quantize: failed while writing: {exc}", file=sys.stderr)
        print("the partial output was removed; the source is unchanged", file=sys.stderr)
        return EXIT_FAILED
    printer.done()
    for stale in report.removed_stale:
        print(f"removed {stale}, the temporary folder of an interrupted quantize", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return EXIT_OK
    print(f"wrote {report.output} (MXFP8, rule {report.rule}) in {report.seconds:.1f} s")
    for name, comp in report.components.items():
        print(
            f"  {name}: {comp.layers_quantized} linears -> W8A8_MXFP8, {len(comp.kept)} kept in "
            f"high precision; weights {human_bytes(comp.bytes_in)} -> {human_bytes(comp.bytes_out)} "
            f"({comp.bytes_out / max(comp.bytes_in, 1):.2f}x)"
        )
    print(f"  copied: {', '.join(report.copied)} ({human_bytes(report.copied_bytes)})")
    print(f"load it with quantization 'auto'; check it with: wan-studio inspect {report.output}")
    return EXIT_OK
