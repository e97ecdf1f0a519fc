"""`wan-studio models`: the model library (list, add, remove, rename, info, demo)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from core.humanize import human_bytes

NAME = "models"
HELP = "list, add, remove and inspect the models in your library"
ORDER = 20


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (no box drawing: it must survive any terminal and pipes)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def silence_broken_pipe() -> int:
    """The reader of stdout went away (`| head`): stop quietly, as Unix tools do."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush cannot fail
    return 1


def _json_flag(parser: argparse.ArgumentParser, top: bool = False) -> None:
    # On the sub-subcommands SUPPRESS keeps `models --json list` working too.
    parser.add_argument(
        "--json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print machine-readable JSON instead of a table",
    )


def register(parser: argparse.ArgumentParser) -> None:
    _json_flag(parser, top=True)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    p = sub.add_parser("list", help="list the models in the library (default)")
    _json_flag(p)
    p = sub.add_parser("add", help="add a model folder (Diffusers or msmodelslim export)")
    p.add_argument("path", help="the model folder")
    p.add_argument("--name", help="display name (default: the folder name)")
    _json_flag(p)
    p = sub.add_parser("remove", help="remove a model from the library (its files stay)")
    p.add_argument("id", help="model id, folder path or unique id prefix")
    _json_flag(p)
    p = sub.add_parser("rename", help="change a model's display name")
    p.add_argument("id", help="model id, folder path or unique id prefix")
    p.add_argument("name", help="the new display name")
    _json_flag(p)
    p = sub.add_parser("info", help="show what is in a model folder")
    p.add_argument("id", help="model id, folder path or unique id prefix")
    _json_flag(p)
    p = sub.add_parser("demo", help="create the demo model if needed and add it to the library")
    p.add_argument("--family", default="t2v-a14b", help="model family (default t2v-a14b)")
    _json_flag(p)


def _error(message: str) -> None:
    print(f"wan-studio models: error: {message}", file=sys.stderr)


def _key_message(exc: KeyError) -> str:
    return str(exc.args[0]) if exc.args else str(exc)


def _entry_summary(library: Any, entry: Any) -> dict[str, Any]:
    data = entry.to_dict()
    data["status"] = library.status(entry.id)
    if data["status"] != "missing":
        info = library.inspect(entry.id)
        data["inspection"] = info.to_dict()
    return data


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_FAILED
    from core.models.library import Library, LibraryError, LibraryReadOnlyError

    library = Library()
    for warning in library.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    action = args.action or "list"
    try:
        if action == "list":
            return _list(library, args.json)
        if action == "info":
            return _info(library, library.resolve(args.id), args.json)
        if action == "add":
            entry = library.add(args.path, name=args.name)
            return _report(library, entry, "added", args.json)
        if action == "remove":
            entry = library.remove(library.resolve(args.id).id)
            if args.json:
                print(json.dumps(entry.to_dict(), indent=2, ensure_ascii=False))
            else:
                print(
                    f"removed {entry.id!r} ({entry.name}) from the library; files left in {entry.path}"
                )
            return 0
        if action == "rename":
            entry = library.rename(library.resolve(args.id).id, args.name)
            return _report(library, entry, "renamed", args.json)
        if action == "demo":
            from core.models.catalog import get_family

            try:
                get_family(args.family)
            except KeyError as exc:
                _error(_key_message(exc))
                return EXIT_BAD_INPUT
            entry = library.ensure_demo(args.family)
            return _report(library, entry, "demo model ready", args.json)
    except KeyError as exc:
        _error(_key_message(exc))
        return EXIT_BAD_INPUT
    except LibraryReadOnlyError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except LibraryError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return silence_broken_pipe()
    except OSError as exc:
        _error(f"could not save the library: {exc}")
        return EXIT_FAILED
    raise AssertionError(f"unhandled action {action}")  # pragma: no cover


def _report(library: Any, entry: Any, verb: str, as_json: bool) -> int:
    if as_json:
        print(json.dumps(_entry_summary(library, entry), indent=2, ensure_ascii=False))
        return 0
    info = library.inspect(entry.id)
    what = ", ".join(x for x in (info.family_name, info.layout, info.quantization) if x)
    print(f"{verb}: {entry.id}  {entry.name}  [{what}]")
    print(f"  folder: {entry.path}")
    for problem in info.problems:
        print(f"  problem: {problem}")
    for warning in info.warnings:
        print(f"  warning: {warning}")
    return 0


def _list(library: Any, as_json: bool) -> int:
    entries = library.list()
    if as_json:
        print(
            json.dumps([_entry_summary(library, e) for e in entries], indent=2, ensure_ascii=False)
        )
        return 0
    if not entries:
        print("the library is empty: add a folder with `wan-studio models add PATH`, or")
        print("create the demo model with `wan-studio models demo`")
        return 0
    rows = []
    for entry in entries:
        status = library.status(entry.id)
        if status == "missing":
            family, layout, quant, size = entry.family, entry.layout, "-", "-"
        else:
            info = library.inspect(entry.id)
            family, layout = info.family or "?", info.layout
            quant, size = info.quantization or "?", human_bytes(info.size_bytes)
        rows.append((entry.id, entry.name, family, layout, quant, size, status, entry.path))
    print(
        format_table(("ID", "NAME", "FAMILY", "LAYOUT", "QUANT", "SIZE", "STATUS", "FOLDER"), rows)
    )
    return 0


def _info(library: Any, entry: Any, as_json: bool) -> int:
    if as_json:
        print(json.dumps(_entry_summary(library, entry), indent=2, ensure_ascii=False))
        return 0
    status = library.status(entry.id)
    print(f"{entry.name}  ({entry.id})")
    print(f"  folder:     {entry.path}")
    print(f"  status:     {status}")
    print(f"  added:      {entry.added}")
    print(f"  last used:  {entry.last_used or 'never'}")
    if entry.notes:
        print(f"  notes:      {entry.notes}")
    if status == "missing":
        print("  the folder is missing (moved, deleted or on an unplugged drive)")
        return 0
    info = library.inspect(entry.id, refresh=True)
    print(f"  family:     {info.family_name or 'unknown'}")
    print(f"  layout:     {info.layout}")
    print(f"  quant:      {info.quantization or 'unknown'}")
    print(f"  experts:    {info.experts}")
    print(f"  size:       {human_bytes(info.size_bytes)}")
    present, absent = _components(info.components)
    if present:
        print(f"  components: {', '.join(present)}")
    if absent:
        print(f"  missing:    {', '.join(absent)}")
    if info.memory_estimate:
        dtype = getattr(info, "memory_dtype", None)
        print(f"  weight memory per quant mode{f' ({dtype} compute)' if dtype else ''}:")
        for mode, value in _memory_rows(info.memory_estimate):
            print(f"    {mode:<16} {value}")
    for problem in info.problems:
        print(f"  problem: {problem}")
    for warning in info.warnings:
        print(f"  warning: {warning}")
    return 0


def _components(components: Any) -> tuple[list[str], list[str]]:
    """(present, missing) component names; inspect reports a dict name -> present."""
    if isinstance(components, dict):
        return [str(k) for k, v in components.items() if v], [
            str(k) for k, v in components.items() if not v
        ]
    return [str(c) for c in components], []


def _memory_rows(estimate: Any) -> list[tuple[str, str]]:
    if not isinstance(estimate, dict):
        return [("estimate", str(estimate))]
    rows = []
    for mode, value in estimate.items():
        rows.append((str(mode), human_bytes(value) if isinstance(value, int) else str(value)))
    return rows
