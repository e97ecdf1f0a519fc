"""The real torch_npu 2.14.0 contract of the two MXFP8 ops, on the meta device, without its C code.

From the torch_npu 2.14.0 wheel (scripts/real_tools.sh extracts them; nothing of the wheel is
imported or installed) this takes:

- ``npu_native_functions_by_codegen.yaml``: the op schemas. ``npu_dynamic_mx_quant`` and
  ``npu_quant_matmul`` are defined from them, verbatim, with ``torch.library`` in the ``npu``
  namespace, so argument parsing is torch's (keyword-only arguments, ``int?`` dtype arguments:
  a ``torch.dtype`` arrives as its ScalarType number, as on the device);
- ``op_plugin/meta/_meta_registrations.py``: torch_npu's own Meta kernels for both ops with all
  their checks. The file registers ~250 ops and imports torch_npu internals, so it is not run
  as a whole: its module-level constants and undecorated helpers plus the two
  ``@impl(m, "<op>")`` functions are compiled from the file's own source (``ast``, unchanged
  bodies) into a namespace that provides the few torch_npu names they use
  (``torch_npu.<dtype>`` IDs taken from the file's own tables, ``ErrCode``, ``ops_error``).

``installed()`` puts a ``torch_npu`` stand-in whose two ops ARE these registered ops into
``sys.modules`` (like tests/doubles/torch_npu.installed()), so the npu backend runs unchanged on
meta tensors and every call it makes goes through the real schema and the real meta checks.
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import torch

from tests.realtools.paths import torch_npu_files

OPS = ("npu_dynamic_mx_quant", "npu_quant_matmul")
VERSION = "2.14.0"
# torch_npu's own dtype names (the meta file uses these as torch_npu.<name>)
NPU_DTYPES = (
    "int4",
    "hifloat8",
    "float8_e5m2",
    "float8_e4m3fn",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "float4_e1m2fn_x2",
)


def read_schemas(yaml_path: Path) -> dict[str, str]:
    """``{op: schema}`` for OPS, exactly as written in the wheel's codegen YAML."""
    import yaml

    data = yaml.safe_load(yaml_path.read_text("utf-8"))
    found: dict[str, str] = {}

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            func = node.get("func")
            if isinstance(func, str) and func.split("(", 1)[0].strip() in OPS:
                found.setdefault(func.split("(", 1)[0].strip(), func.strip())
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(data)
    missing = [op for op in OPS if op not in found]
    if missing:
        raise RuntimeError(f"{yaml_path} has no schema for {missing}")
    return found


def _impl_target(node: ast.FunctionDef) -> str | None:
    """The op name of ``@impl(m, "<op>")`` (the npu Meta library), else None."""
    for deco in node.decorator_list:
        if (
            isinstance(deco, ast.Call)
            and getattr(deco.func, "id", None) == "impl"
            and len(deco.args) == 2
            and getattr(deco.args[0], "id", None) == "m"
            and isinstance(deco.args[1], ast.Constant)
        ):
            return deco.args[1].value
    return None


def _calls(node: ast.AST, name: str) -> bool:
    return any(
        isinstance(n, ast.Call) and getattr(n.func, "id", None) == name for n in ast.walk(node)
    )


class _ErrCode:
    """torch_npu.utils._error_code.ErrCode stand-in: any member, named."""

    def __getattr__(self, name: str) -> str:
        return name


def _ops_error(code: str) -> str:
    return f" [torch_npu meta check, ErrCode.{code}]"


def load_meta_functions(meta_path: Path) -> tuple[dict[str, Callable[..., Any]], SimpleNamespace]:
    """``({op: meta function}, torch_npu names)`` compiled from the wheel's meta file."""
    tree = ast.parse(meta_path.read_text("utf-8"), filename=str(meta_path))
    body: list[ast.stmt] = []
    wanted: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            target = _impl_target(node)
            if not node.decorator_list:
                body.append(node)  # a helper (later definitions win, as in the file)
            elif target in OPS:
                node.decorator_list = []
                wanted[target] = node.name
                body.append(node)
        elif isinstance(node, ast.Assign) and not _calls(node, "Library"):
            body.append(node)  # constants and dtype tables
    missing = [op for op in OPS if op not in wanted]
    if missing:
        raise RuntimeError(f"{meta_path} registers no meta function for {missing}")
    npu = SimpleNamespace()
    namespace: dict[str, Any] = {
        "__name__": "torch_npu_2_14_meta_registrations",
        "math": math,
        "os": os,
        "warnings": warnings,
        "torch": torch,
        "torch_npu": npu,
        "ErrCode": _ErrCode(),
        "ops_error": _ops_error,
    }
    module = ast.Module(body=body, type_ignores=[])
    exec(compile(module, str(meta_path), "exec"), namespace)
    # torch_npu's dtype IDs, from the file's own tables (names map, and the ScalarType map for
    # the two native float8 types it also numbers itself).
    ids: dict[str, int] = {}
    for number, text in namespace["TORCH_NPU_DTYPE_TO_STRING_MAP"].items():
        ids[text.removeprefix("torch_npu.")] = number
    for number, dtype in namespace["TORCH_DTYPE_ENUM_VALUE_TO_SCALAR_TYPE_MAP"].items():
        if number >= 285 and dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
            ids[str(dtype).removeprefix("torch.")] = number
    lacking = [n for n in NPU_DTYPES if n not in ids]
    if lacking:
        raise RuntimeError(f"{meta_path}: no torch_npu dtype IDs for {lacking}")
    for name in NPU_DTYPES:
        setattr(npu, name, ids[name])
    return {op: namespace[name] for op, name in wanted.items()}, npu


_registered: tuple[Any, SimpleNamespace] | None = None


def register() -> SimpleNamespace:
    """Define both ops from the real schemas with their real meta kernels (once per process);
    returns torch_npu's dtype IDs."""
    global _registered
    if _registered is None:
        schema_path, meta_path = torch_npu_files()
        schemas = read_schemas(schema_path)
        metas, ids = load_meta_functions(meta_path)
        lib = torch.library.Library("npu", "FRAGMENT")
        for op in OPS:
            lib.define(schemas[op])
            lib.impl(op, metas[op], "Meta")
        _registered = (lib, ids)
    return _registered[1]


def stand_in() -> ModuleType:
    """A ``torch_npu`` module whose two ops are the registered real-schema/real-meta ops."""
    ids = register()
    module = ModuleType("torch_npu")
    module.__version__ = f"{VERSION} (schemas + meta kernels from the wheel)"
    module.IS_TEST_DOUBLE = True  # the npu backend's availability gate: not real hardware
    module.TEST_DOUBLE_DEVICE = "meta"
    for name in NPU_DTYPES:
        setattr(module, name, getattr(ids, name))
    for op in OPS:
        setattr(module, op, getattr(torch.ops.npu, op))
    return module


@contextlib.contextmanager
def installed() -> Iterator[ModuleType]:
    """Make ``import torch_npu`` return the real-contract stand-in inside the block."""
    module = stand_in()
    previous = sys.modules.get("torch_npu")
    sys.modules["torch_npu"] = module
    try:
        yield module
    finally:
        if previous is None:
            sys.modules.pop("torch_npu", None)
        else:
            sys.modules["torch_npu"] = previous
