"""`wan-studio inspect FOLDER|LORA`: what a model folder holds and whether it will load, or what
a LoRA file is and which models it fits."""

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
    parser.add_argument(
        "folder",
        help="the model folder (Diffusers layout or msmodelslim export), or a LoRA file",
    )
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
    rules = [f"{n}: {r}" for n, r in (info.get("weight_rules") or {}).items()]
    if rules:
        row("weight rule", rules[0], rules[1:])
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


def format_lora(info: Any) -> str:
    """The readable report of a LoRA file."""
    from core.lora.info import describe_fit
    from core.models.catalog import FAMILIES

    expert = {"high": "high-noise expert (HIGH)", "low": "low-noise expert (LOW)"}
    lines = [info.path]

    def row(label: str, value: str) -> None:
        lines.append(f"  {label:<15}{value}")

    row(
        "kind",
        "LoRA" + (f" (step distill, {info.distill_steps or '?'} steps)" if info.distill else ""),
    )
    row("format", f"{info.format_label}, {info.tensors} tensors, {info.dtype}")
    row("size on disk", human_bytes(info.size))
    ranks = ", ".join(str(r) for r in info.ranks) or "none (full deltas only)"
    row("rank", ranks)
    row(
        "layers",
        f"{info.layers} linears in {info.blocks} blocks"
        + ("; with bias deltas" if info.has_bias else "")
        + ("; with full weight deltas" if info.has_diff else ""),
    )
    row("width", f"{info.dim} (ffn {info.ffn_dim})" if info.dim else "unknown")
    row("expert", expert.get(info.expert or "", "both (the name names no expert)"))
    if info.partner:
        row("partner", info.partner)
    row("fits", describe_fit(info))
    for fit in info.fits:
        name = FAMILIES[fit.family].name if fit.family in FAMILIES else "demo models"
        lines.append(f"  {'':<15}{name:<17}{fit.matched}/{fit.total} layers")
    return "\n".join(lines)


def _run_lora(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_OK
    from core.lora.errors import LoraError
    from core.lora.info import inspect_lora

    try:
        info = inspect_lora(args.folder)
    except (LoraError, OSError) as exc:
        print(f"wan-studio inspect: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        print(json.dumps(info.to_dict(), indent=2) if args.json else format_lora(info))
    except BrokenPipeError:
        return EXIT_OK
    return EXIT_OK if info.fitting_families else EXIT_BAD_INPUT


def _is_lora_path(text: str) -> bool:
    from pathlib import Path

    path = Path(text).expanduser()
    return not path.is_dir() and path.suffix.lower() in (
        ".safetensors",
        ".pt",
        ".pth",
        ".ckpt",
        ".bin",
    )


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_OK
    from core.models.inspect import inspect_folder

    if _is_lora_path(args.folder):
        return _run_lora(args)

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
