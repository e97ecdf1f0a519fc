"""Where ``make test`` puts the real tools, and the one way tests reach them.

scripts/real_tools.sh (run by ``make test``) installs msmodelslim and its light imports into
``<venv>/real-tools/site`` and extracts torch_npu's op schemas and meta functions into
``<venv>/real-tools/torch_npu/``, pinned by constraints/real-tools.txt. The app's package never
imports from there: only these helpers add it to ``sys.path`` (at the end, so the app's own
pinned packages always win). When something is missing the test FAILS with what to fetch; it
is never skipped.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT_ENV = "WAN_STUDIO_REAL_TOOLS"
REPO = Path(__file__).resolve().parents[2]
PINS = REPO / "constraints" / "real-tools.txt"
META_FILE = "torch_npu/op_plugin/meta/_meta_registrations.py"
SCHEMA_FILE = "torch_npu/csrc/aten/npu_native_functions_by_codegen.yaml"


def root() -> Path:
    """``$WAN_STUDIO_REAL_TOOLS`` or ``<venv>/real-tools`` (the venv running the tests)."""
    return Path(os.environ.get(ROOT_ENV) or Path(sys.prefix) / "real-tools")


def _missing(what: str, detail: str) -> None:
    pytest.fail(
        f"the real {what} is not installed ({detail}). `make test` fetches it from PyPI into "
        f"{root()} (pins and sha256 in {PINS.relative_to(REPO)}: msmodelslim==26.1.0 and its "
        "light imports, the torch-npu==2.14.0 wheel for two text files); run `make test` with "
        "PyPI reachable, or `scripts/real_tools.sh <venv>` after fetching those files.",
        pytrace=False,
    )


def require_msmodelslim() -> ModuleType:
    """Import msmodelslim from the side location (fails the test when it is not there)."""
    if "msmodelslim" not in sys.modules:
        site = root() / "site"
        if not (site / "msmodelslim" / "__init__.py").is_file():
            _missing("msmodelslim 26.1.0", f"no {site / 'msmodelslim'}")
        if str(site) not in sys.path:
            sys.path.append(str(site))
    try:
        import msmodelslim
    except ImportError as exc:
        _missing("msmodelslim 26.1.0", f"import failed: {exc}")
    return msmodelslim


def torch_npu_files() -> tuple[Path, Path]:
    """(op schema YAML, meta registrations .py) taken from the torch_npu 2.14.0 wheel."""
    base = root() / "torch_npu"
    schema, meta = base / SCHEMA_FILE, base / META_FILE
    for path in (schema, meta):
        if not path.is_file():
            _missing("torch_npu 2.14.0 contract", f"no {path}")
    return schema, meta
