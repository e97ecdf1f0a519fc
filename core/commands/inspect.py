"""`wan-studio inspect FOLDER`: what a model folder holds and whether it will load."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.humanize import human_bytes

NAME = "inspect"
HELP = (
    "show what a model folder holds: family, experts, quantization, layers, size, memory, problems"
)
ORDER = 40

_LAYOUTS = {
    "diffusers": "Diffusers",
    "msmodelslim": "msmodelslim export (convert with `wan-studio repack`)",
    "unknown": "not recognised",
}
_QUANT = {
    "bf16": "none (BF16 weights)",
    "fp16": "none (FP16 weights)",
    "fp32": "none (FP32 weights)",
    "mxfp8-offline": "MXFP8 (offline, W8A8_MXFP8)",
    "mixed": "mixed (the transformers differ)",
    "unknown": "unknown",
}


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", help="the model folder (Diffusers layout or msmodelslim export)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.epilog = "Exit status: 0 when the folder looks loadable, 2 when problems were found."


def format_info(info: dict[str, Any]) -> str:
    """The readable report printed by ``inspect``."""
    lines = [info["path"]]

    def row(label: str, value: str, more: list[str] | None = None) -> None:
        lines.append(f"  {label:<15}{value}")
        for extra in more or []:
            lines.append(f"  {'':<15}{extra}")

    row("layout", _LAYOUTS.get(info["layout"], info["layout"]))
    family = f"{info['family_name']} ({info['family']})" if info.get("family") else "unknown"
    if info.get("is_demo"):
        family += ", demo model (random weights)"
    row("family", family)
    row("experts", str(info.get("experts", 0)))
    row("quantization", _QUANT.get(info["quantization"], info["quantization"]))
    comps = info.get("components") or {}
    if comps:
        row("components", ", ".join(f"{n} {'ok' if ok else 'MISSING'}" for n, ok in comps.items()))
    row("size on disk", human_bytes(info.get("size_bytes")))
    counts = [
        f"{name}: {c['quantized']} MXFP8, {c['float']} high precision "
        f"({c['block_linears']} block linears)"
        for name, c in (info.get("layer_counts") or {}).items()
    ]
    if counts:
        row("linear layers", counts[0], counts[1:])
    memory = [
        f"{mode:<14}{human_bytes(size)}"
        for mode, size in (info.get("memory_estimate") or {}).items()
    ]
    if memory:
        row(
            "weight memory",
            memory[0],
            [*memory[1:], f"(per quant mode; {info.get('memory_dtype')} compute)"],
        )
    for label, key in (("descriptions", "description_files"),):
        files = [f"{n}: {p}" for n, p in (info.get(key) or {}).items()]
        if files:
            row(label, files[0], files[1:])
    problems = info.get("problems") or []
    row(
        "problems", "none" if not problems else f"- {problems[0]}", [f"- {p}" for p in problems[1:]]
    )
    warnings = info.get("warnings") or []
    if warnings:
        row("warnings", f"- {warnings[0]}", [f"- {w}" for w in warnings[1:]])
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_OK
    from core.models.inspect import inspect_folder

    info = inspect_folder(args.folder).to_dict()
    try:
        if args.json:
            print(json.dumps(info, indent=2))
        else:
            print(format_info(info))
    except BrokenPipeError:  # `| head`: stop quietly
        return EXIT_OK
    ok = not info["problems"] and info["layout"] != "unknown"
    if not ok and not args.json:
        print(
            f"wan-studio inspect: {len(info['problems'])} problem(s) found in {args.folder}",
            file=sys.stderr,
        )
    return EXIT_OK if ok else EXIT_BAD_INPUT
