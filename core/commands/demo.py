"""`wan-studio demo`: write the built-in demo model (tiny, random weights) offline."""

from __future__ import annotations

import argparse
import sys
import time

from core.models.catalog import family_keys

NAME = "demo"
HELP = "create the built-in demo model (tiny Wan2.2-shaped model, random weights, offline)"
ORDER = 10


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--family",
        default="t2v-a14b",
        help=f"model family to imitate: {', '.join(family_keys())} (default t2v-a14b)",
    )
    parser.add_argument(
        "--out", default=None, help="folder to create (default: the app's data folder)"
    )
    parser.add_argument("--seed", type=int, default=0, help="weights seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT
    from core.models.demo import DemoModelError, create_demo_model

    started = time.perf_counter()
    try:
        path = create_demo_model(args.family, args.out, seed=args.seed)
    except DemoModelError as exc:
        print(f"wan-studio demo: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(
        f"demo model ({args.family}, random weights) written to {path} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0
