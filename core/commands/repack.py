"""`wan-studio repack`: msmodelslim MXFP8 export + original Diffusers folder -> loadable folder."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any, TextIO

NAME = "repack"
HELP = (
    "turn an msmodelslim MXFP8 export (plus the original BF16 Diffusers folder) into a "
    "Diffusers folder that Wan Studio, SGLang and vllm-omni load"
)
ORDER = 45


def register(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "The inputs are never modified. The output is written into a hidden temporary folder "
        "next to it and appears only when complete and verified. Exit codes: 0 ok, 1 failed "
        "while working, 2 bad input, 130 cancelled (Ctrl-C)."
    )
    parser.add_argument(
        "--original",
        required=True,
        metavar="DIR",
        help="the original BF16 Diffusers folder (e.g. Wan2.2-TI2V-5B-Diffusers)",
    )
    parser.add_argument(
        "--quant",
        required=True,
        metavar="DIR",
        help="msmodelslim's output folder (--save_path of `msmodelslim quant`)",
    )
    parser.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="the folder to create (must not exist, or be empty)",
    )
    parser.add_argument(
        "--model-type",
        metavar="T",
        default=None,
        help="Wan2.2-T2V-A14B, Wan2.2-I2V-A14B or Wan2.2-TI2V-5B (default: detected; a given "
        "type is checked against the folders)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be done; write nothing"
    )
    parser.add_argument(
        "--link",
        action="store_true",
        help="hard-link the unchanged components (VAE, text encoder, ...) instead of copying "
        "them when on the same filesystem (saves space; the files are then shared)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the plan or report as JSON on stdout"
    )


def _size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(nbytes) < 1024 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} TB"  # pragma: no cover


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class TerminalProgress:
    """A one-line progress bar on a terminal (stage, bar, percent, bytes, rate, ETA); plain
    lines at stage changes and every 10 % when the stream is not a terminal (logs, CI)."""

    def __init__(self, stream: TextIO = sys.stderr, width: int = 24) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.width = width
        self.started = time.monotonic()
        self._stage = ""
        self._decile = -1
        self._drawn = False

    def __call__(self, p: Any) -> None:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = p.done / elapsed
        line = (
            f"{p.stage:<19} {self._bar(p.fraction)} {p.fraction * 100:5.1f}%  "
            f"{_size(p.done)} / {_size(p.total)}  {_size(rate)}/s  ETA {_duration(p.eta_seconds)}"
        )
        if self.tty:
            self.stream.write("\r" + line + "\x1b[K")
            self._drawn = True
        else:
            decile = int(p.fraction * 10)
            if p.stage != self._stage or decile > self._decile:
                self.stream.write(line + "\n")
                self._decile = decile
        self._stage = p.stage
        self.stream.flush()

    def _bar(self, fraction: float) -> str:
        full = round(fraction * self.width)
        return "[" + "#" * full + "." * (self.width - full) + "]"

    def close(self) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def _print_plan(plan: Any, out: TextIO) -> None:
    print(f"repack plan: {plan.family_name or 'unknown model type'}", file=out)
    print(f"  original  {plan.original}", file=out)
    print(f"  export    {plan.quant}", file=out)
    print(f"  output    {plan.output}", file=out)
    for t in plan.transformers:
        files = ", ".join(p.name for p in t.weight_files)
        print(
            f"  {t.target:<13} <- {t.export_dir.name}/{files} + {t.description_file.name}",
            file=out,
        )
        extra = f", {len(t.filled)} from the original" if t.filled else ""
        skipped = (
            f", {len(t.skipped_attention)} attention-quant entries skipped"
            if t.skipped_attention
            else ""
        )
        print(
            f"  {'':<13}    {len(t.tensors)} tensors ({t.renamed} renamed), "
            f"{len(t.quantized_layers)} MXFP8 layers, {t.float_tensors} float{extra}{skipped}; "
            f"{_size(t.file_bytes)}",
            file=out,
        )
    if plan.components:
        how = "hard-linked" if plan.link and plan.linkable else "copied"
        print(
            f"  components    {len(plan.components)} files, {_size(plan.component_bytes)} ({how})",
            file=out,
        )
    if plan.ok:
        print(f"  writes {_size(plan.bytes_to_write)}", file=out)
    for warning in plan.warnings:
        print(f"note: {warning}", file=out)


def _print_report(report: Any, out: TextIO) -> None:
    print(
        f"repacked {report.model_type} into {report.output} in {report.seconds:.2g} s",
        file=out,
    )
    for t in report.transformers:
        print(
            f"  {t.target:<13} {t.quantized_layers} MXFP8 layers, {t.float_tensors} float "
            f"tensors, {t.renamed} renamed, {_size(t.bytes)}",
            file=out,
        )
    parts = []
    if report.components_copied:
        parts.append(f"{report.components_copied} copied")
    if report.components_linked:
        parts.append(f"{report.components_linked} hard-linked")
    if parts:
        print(f"  components    {', '.join(parts)} ({_size(report.component_bytes)})", file=out)
    print("  verified: every model tensor present, MXFP8 scales sound", file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)


def _error(message: str, args: argparse.Namespace, kind: str) -> None:
    print(f"wan-studio repack: error: {message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": False, "kind": kind, "error": message}, indent=2))


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
    from core.progress import Cancelled, CancelToken
    from core.repack import RepackFailed, RepackInputError, plan
    from core.repack import run as run_plan

    the_plan = plan(args.original, args.quant, args.output, args.model_type, args.link)
    human = sys.stderr if args.json else sys.stdout
    if args.dry_run:
        if args.json:
            print(json.dumps({"ok": the_plan.ok, "plan": the_plan.to_dict()}, indent=2))
        else:
            _print_plan(the_plan, human)
        if not the_plan.ok:
            for problem in the_plan.problems:
                print(f"wan-studio repack: error: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print("dry run: nothing was written", file=human)
        return EXIT_OK
    if not the_plan.ok:
        message = (
            the_plan.problems[0]
            if len(the_plan.problems) == 1
            else "\n".join(["cannot repack:", *(f"  - {p}" for p in the_plan.problems)])
        )
        _error(message, args, "bad_input")
        return EXIT_BAD_INPUT
    if not args.json:
        _print_plan(the_plan, human)

    token = CancelToken()
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum: int, frame: Any) -> None:
        # First Ctrl-C: stop cleanly at the next chunk. A second one interrupts at once.
        token.cancel("cancelled with Ctrl-C")
        signal.signal(signal.SIGINT, previous)

    bar = TerminalProgress(sys.stderr)
    signal.signal(signal.SIGINT, on_sigint)
    try:
        report = run_plan(the_plan, progress=bar, cancel=token)
    except (Cancelled, KeyboardInterrupt):
        bar.close()
        _error("cancelled: nothing was written and no temporary files are left", args, "cancelled")
        return EXIT_CANCELLED
    except RepackInputError as exc:
        bar.close()
        _error(str(exc), args, "bad_input")
        return EXIT_BAD_INPUT
    except RepackFailed as exc:
        bar.close()
        _error(str(exc), args, "failed")
        return EXIT_FAILED
    finally:
        signal.signal(signal.SIGINT, previous)
    bar.close()
    if args.json:
        print(json.dumps({"ok": True, "report": report.to_dict()}, indent=2))
    else:
        _print_report(report, human)
    return EXIT_OK
