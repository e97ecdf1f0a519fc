"""`wan-studio doctor`: environment, devices, MXFP8 backends and their numerical self-test."""

from __future__ import annotations

import argparse
import json
import os
import sys

NAME = "doctor"
HELP = "check the installation: versions, devices, MXFP8 backends and their numerics"
ORDER = 90


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--device",
        default=None,
        help="device to self-test the backends on: cpu, cuda[:i] or npu[:i] "
        "(default: npu if present, else cuda, else cpu)",
    )


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_FAILED

    # A torch_npu wheel without CANN breaks `import torch` through torch's backend autoload;
    # loading it explicitly later lets the doctor report the real error instead of crashing.
    os.environ.setdefault("TORCH_DEVICE_BACKEND_AUTOLOAD", "0")
    try:
        import torch  # noqa: F401
    except Exception as exc:
        print(f"wan-studio doctor: error: torch cannot be imported: {exc}", file=sys.stderr)
        return EXIT_FAILED

    from core.doctor import format_report, run_doctor

    device = args.device
    if device is not None:
        kind = device.split(":", 1)[0].strip().lower()
        index = device.split(":", 1)[1] if ":" in device else "0"
        if kind not in ("cpu", "cuda", "npu") or not index.isdigit():
            print(
                f"wan-studio doctor: error: unknown device {device!r}; "
                "use cpu, cuda, cuda:N, npu or npu:N",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
    report = run_doctor(device)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report))
    return 0 if report.ok else EXIT_FAILED
