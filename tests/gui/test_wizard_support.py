"""Fixtures and helpers for the repack wizard and Models tests (no tests here).

``repack_pair(family)`` gives a fresh, writable copy of a demo model (the original) with an
msmodelslim-style export of it next to it, both in the test's own folder: the wizard finds
the original next to the export, as it would for a user who keeps them side by side.
The exports are made once per session (core.repack.fixtures) from copies of the session's
demo models; tests only ever touch their own copies.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWizard

ORIGINAL = "Wan2.2-demo-Diffusers"
EXPORT = "msmodelslim-w8a8-mxfp8"
Button = QWizard.WizardButton
TIMEOUT = 20000


@pytest.fixture(scope="session")
def pristine_pairs(
    demo_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """family -> folder holding ORIGINAL/ (copy of the demo model) and EXPORT/ (read-only)."""
    from core.repack.fixtures import make_msmodelslim_export

    root = tmp_path_factory.mktemp("repack-pairs")
    pairs = {}
    for family, demo in demo_models.items():
        folder = root / family
        original = shutil.copytree(demo, folder / ORIGINAL)
        # T2V gets the w8a8f8 variant (QuaRot rotations + FA3 entries the wizard must list).
        make_msmodelslim_export(original, folder / EXPORT, w8a8f8=family == "t2v-a14b")
        pairs[family] = folder
    return pairs


@pytest.fixture
def repack_pair(pristine_pairs: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """repack_pair(family) -> a writable copy of the pair; ORIGINAL/ and EXPORT/ inside."""

    def make(family: str) -> Path:
        target = tmp_path / "pairs" / family
        if not target.exists():
            shutil.copytree(pristine_pairs[family], target, symlinks=True)
        return target

    return make


@pytest.fixture
def wizards(bus) -> Iterator[list]:
    """Wizards made by a test; each is closed and its run thread stopped afterwards."""
    made: list = []
    yield made
    for wizard in made:
        assert wizard.shutdown(20000), "the repack thread did not stop"
        wizard.done(0)


def make_wizard(bus, wizards: list, qtbot, **kwargs):
    from gui.wizard import RepackWizard

    wizard = RepackWizard(bus, **kwargs)
    qtbot.addWidget(wizard)
    wizards.append(wizard)
    wizard.show()
    return wizard


def wait_next(qtbot, wizard, timeout: int = TIMEOUT) -> None:
    """Wait until the current page's checks pass (Next enabled)."""
    button = wizard.button(Button.NextButton)
    qtbot.waitUntil(lambda: button.isEnabled() and button.isVisible(), timeout=timeout)


def click_next(qtbot, wizard) -> None:
    wait_next(qtbot, wizard)
    page = wizard.currentId()
    wizard.button(Button.NextButton).click()
    assert wizard.currentId() == page + 1


def tree_hash(folder: Path) -> str:
    """Content hash of a folder (names and bytes) to prove inputs are never modified."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"D")
    return digest.hexdigest()


def leftovers(output: Path) -> list[Path]:
    return sorted(output.parent.glob(f".{output.name}.repack-*"))
