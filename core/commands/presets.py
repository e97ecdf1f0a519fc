"""`wan-studio presets`: built-in and saved generation presets (list, show, export, import, delete)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.commands.models import _json_flag, format_table, silence_broken_pipe

NAME = "presets"
HELP = "list, show, import, export and delete generation presets"
ORDER = 30

# Columns shown by `presets show`, in the order of the Generate form.
_VALUE_ORDER = (
    "width",
    "height",
    "frames",
    "fps",
    "steps",
    "guidance_high",
    "guidance_low",
    "boundary",
    "shift",
    "seed",
    "quant",
    "device",
    "prompt",
    "negative_prompt",
)


def register(parser: argparse.ArgumentParser) -> None:
    from core.models.catalog import family_keys

    families = ", ".join(family_keys())
    _json_flag(parser, top=True)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    p = sub.add_parser("list", help="list presets (default)")
    p.add_argument("--family", help=f"only this family: {families}")
    _json_flag(p)
    p = sub.add_parser("show", help="show one preset's values")
    p.add_argument("name", help="preset name (case-insensitive)")
    p.add_argument("--family", required=True, help=f"model family: {families}")
    _json_flag(p)
    p = sub.add_parser("export", help="write a preset to a JSON file")
    p.add_argument("name", help="preset name (case-insensitive)")
    p.add_argument("path", help="file to write (or a folder to write it into)")
    p.add_argument("--family", required=True, help=f"model family: {families}")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    _json_flag(p)
    p = sub.add_parser("import", help="add a preset from a JSON file")
    p.add_argument("path", help="preset JSON file")
    p.add_argument("--name", help="save it under this name instead of the one in the file")
    p.add_argument("--force", action="store_true", help="replace a saved preset of that name")
    _json_flag(p)
    p = sub.add_parser("delete", help="delete a saved preset (built-ins are read-only)")
    p.add_argument("name", help="preset name (case-insensitive)")
    p.add_argument("--family", required=True, help=f"model family: {families}")
    _json_flag(p)


def _error(message: str) -> None:
    print(f"wan-studio presets: error: {message}", file=sys.stderr)


def _as_dict(preset: Any) -> dict[str, Any]:
    data = preset.to_document()
    data["builtin"] = preset.builtin
    data["file"] = str(preset.path) if preset.path else None
    return data


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_FAILED
    from core.models.catalog import get_family
    from core.presets import PresetError, PresetStore

    family = getattr(args, "family", None)
    if family is not None:
        try:
            family = get_family(family).key
        except KeyError as exc:
            _error(str(exc.args[0]))
            return EXIT_BAD_INPUT
    store = PresetStore()
    for warning in store.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    action = args.action or "list"
    try:
        if action == "list":
            return _list(store, family, args.json)
        if action == "show":
            return _show(store.find(family, args.name), args.json)
        if action == "export":
            path = store.export(family, args.name, args.path, overwrite=args.force)
            _done(args.json, {"exported": str(path)}, f"exported to {path}")
            return 0
        if action == "import":
            preset = store.import_file(args.path, name=args.name, overwrite=args.force, strict=True)
            _done(
                args.json,
                _as_dict(preset),
                f"imported {preset.family} preset {preset.name!r} (saved as {preset.path})",
            )
            return 0
        if action == "delete":
            store.delete(family, args.name)
            _done(
                args.json,
                {"deleted": args.name, "family": family},
                f"deleted {family} preset {args.name!r}",
            )
            return 0
    except KeyError as exc:
        _error(str(exc.args[0]) if exc.args else str(exc))
        return EXIT_BAD_INPUT
    except PresetError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return silence_broken_pipe()
    except OSError as exc:
        _error(f"could not write the file: {exc}")
        return EXIT_FAILED
    raise AssertionError(f"unhandled action {action}")  # pragma: no cover


def _done(as_json: bool, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False) if as_json else text)


def _list(store: Any, family: str | None, as_json: bool) -> int:
    presets = store.list(family)
    if as_json:
        print(json.dumps([_as_dict(p) for p in presets], indent=2, ensure_ascii=False))
        return 0
    rows = []
    for p in presets:
        v = p.values
        size = f"{v['width']}x{v['height']}" if "width" in v and "height" in v else "-"
        guidance = _guidance(v)
        rows.append(
            (
                p.family,
                p.name,
                "built-in" if p.builtin else "saved",
                size,
                v.get("frames", "-"),
                v.get("fps", "-"),
                v.get("steps", "-"),
                guidance,
                _value_text(v.get("shift", "-")),
            )
        )
    headers = ("FAMILY", "NAME", "KIND", "SIZE", "FRAMES", "FPS", "STEPS", "CFG HIGH/LOW", "SHIFT")
    print(format_table(headers, rows))
    return 0


def _guidance(values: dict[str, Any]) -> str:
    high, low = values.get("guidance_high"), values.get("guidance_low")
    if high is None:
        return "-"
    return f"{high:g} / {low:g}" if low is not None else f"{high:g}"


def _show(preset: Any, as_json: bool) -> int:
    from core.models.catalog import get_family

    if as_json:
        print(json.dumps(_as_dict(preset), indent=2, ensure_ascii=False))
        return 0
    kind = "built-in, read-only" if preset.builtin else f"saved in {preset.path}"
    print(f"{preset.name}  ({preset.family}, {kind})")
    if preset.description:
        print(f"  {preset.description}")
    keys = [k for k in _VALUE_ORDER if k in preset.values]
    keys += sorted(k for k in preset.values if k not in _VALUE_ORDER)
    width = max((len(k) for k in keys), default=0)
    single_expert = get_family(preset.family).experts == 1
    for key in keys:
        value = preset.values[key]
        text = _value_text(value)
        if value is None and single_expert and key in ("guidance_low", "boundary"):
            text = "(not used: one expert)"
        print(f"  {key.ljust(width)}  {text}")
    return 0


def _value_text(value: Any) -> str:
    if value is None:
        return "(not set)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
