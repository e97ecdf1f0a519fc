"""`wan-studio` headless commands.

Each subcommand lives in its own module under ``core/commands/`` and exposes ``NAME``,
``HELP``, ``ORDER`` (position in --help), ``register(parser)`` and ``run(args) -> int``.
They are discovered here so adding a command never touches this file. Command modules must
import torch lazily (inside ``run``) so ``--help`` stays instant.

Exit codes shared by all commands: 0 ok, 1 failure while working, 2 bad input (usage,
missing or invalid files), 130 cancelled by Ctrl-C.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

from core import __version__
from core.commands.quiet import quiet_libraries

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


def _command_modules() -> list[ModuleType]:
    import core.commands as pkg

    modules = []
    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"core.commands.{info.name}")
        if hasattr(module, "register") and hasattr(module, "run"):
            modules.append(module)
    modules.sort(key=lambda m: (getattr(m, "ORDER", 100), m.NAME))
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wan-studio",
        description=(
            "Wan Studio: generate videos locally with Wan2.2 models (MXFP8 on Ascend NPU, "
            "CUDA or CPU). Without a command, opens the desktop app."
        ),
    )
    parser.add_argument("--version", action="version", version=f"wan-studio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module in _command_modules():
        sp = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.register(sp)
        sp.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one headless command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    quiet_libraries()
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return EXIT_CANCELLED


if __name__ == "__main__":
    sys.exit(main())
