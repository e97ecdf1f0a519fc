"""Exports of the demo models (built once per session, read-only) and helpers for repack tests."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from core.repack.fixtures import make_msmodelslim_export

VARIANTS = ("single", "sharded", "w8a8f8")


@pytest.fixture(scope="session")
def exports(
    demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str, str], Path]:
    """exports(family, variant) -> a read-only msmodelslim-style export of that demo model."""
    root = tmp_path_factory.mktemp("exports")
    cache: dict[tuple[str, str], Path] = {}

    def get(family: str, variant: str = "single") -> Path:
        key = (family, variant)
        if key not in cache:
            cache[key] = make_msmodelslim_export(
                demo_models[family],
                root / f"{family}-{variant}",
                sharded=variant == "sharded",
                w8a8f8=variant == "w8a8f8",
            )
        return cache[key]

    return get


def tree_hash(folder: Path) -> str:
    """Content hash of a folder (relative paths, file bytes, symlink targets)."""
    digest = hashlib.sha256()
    if not folder.exists():
        return "absent"
    for path in sorted(folder.rglob("*")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        if path.is_symlink():
            digest.update(b"L" + os.readlink(path).encode())
        elif path.is_file():
            digest.update(b"F" + path.read_bytes())
        else:
            digest.update(b"D")
    return digest.hexdigest()


def staging_leftovers(output: Path) -> list[Path]:
    """Hidden temporary siblings a repack of ``output`` may have left."""
    return sorted(output.parent.glob(f".{output.name}.repack-*"))


def assert_no_output(output: Path) -> None:
    assert not output.exists(), f"{output} was created"
    assert staging_leftovers(output) == [], "a temporary folder was left behind"


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def weights_file(folder: Path) -> Path:
    (path,) = sorted(folder.glob("quant_model_weight*.safetensors"))
    return path


def description_file(folder: Path) -> Path:
    (path,) = sorted(folder.glob("quant_model_description*.json"))
    return path


def rewrite_export(
    folder: Path,
    tensors: Callable[[dict], dict] | None = None,
    description: Callable[[dict], dict] | None = None,
) -> None:
    """Edit a (tiny, single-file) export in place: tensors via load/save, description as JSON."""
    from safetensors.torch import load_file, save_file

    if tensors is not None:
        path = weights_file(folder)
        state = tensors(load_file(str(path)))
        path.unlink()
        save_file(state, str(path))
    if description is not None:
        path = description_file(folder)
        data = description(json.loads(path.read_text("utf-8")))
        path.write_text(json.dumps(data, indent=4), "utf-8")
