"""The repack wizard on exports written by the real msmodelslim 26.1.0 (tests/realtools): one
click through the prefilled pages; the result is byte-identical to what msmodelslim wrote and
generates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.models.inspect import inspect_folder
from tests.gui.test_wizard_support import (
    EXPORT,
    ORIGINAL,
    TIMEOUT,
    Button,
    click_next,
    leftovers,
    make_wizard,
    tree_hash,
    wait_next,
)
from tests.gui.test_wizard_support import wizards as wizards
from tests.realtools.exports import CASES, EXPERTS, compare_with_export, generate_two_steps


@pytest.mark.parametrize(("family", "variant"), CASES)
def test_the_wizard_repacks_a_real_export_byte_for_byte(
    qtbot, bus, wizards, real_exports, demo_models, tmp_path: Path, family: str, variant: str
) -> None:
    pair = tmp_path / "pair"
    original = shutil.copytree(demo_models[family], pair / ORIGINAL)
    export = shutil.copytree(real_exports(family, variant), pair / EXPORT)
    before = (tree_hash(export), tree_hash(original))
    wizard = make_wizard(bus, wizards, qtbot, export=export)

    wait_next(qtbot, wizard)
    assert wizard.findings is not None
    if family == "ti2v-5b":
        assert wizard.findings.family == family  # from the copied native config.json
    else:
        # msmodelslim copies the A14B checkpoint root's files (no config.json there) into each
        # expert folder: the export alone cannot tell T2V from I2V; the original does.
        assert wizard.findings.family is None
        assert any("cannot be told apart" in w for w in wizard.findings.warnings)
    facts = {k: label.text() for k, label in wizard.export_page.facts.items()}
    rotations = 2 if family == "t2v-a14b" else 4  # per expert: T2V's recipe skips block 0
    experts = len(EXPERTS[family])
    assert f"{rotations * experts} QuaRot rotation tensor(s)" in facts["attention"]
    assert "will be ignored" in facts["attention"]
    for _ in range(3):  # export -> original (found next to it) -> output -> summary
        click_next(qtbot, wizard)
    output = Path(wizard.output_page.field.path())
    assert wizard.planned is not None and wizard.planned.plan.family == family
    assert wizard.button(Button.NextButton).text() == "Repack"
    wizard.button(Button.NextButton).click()
    qtbot.waitUntil(lambda: wizard.currentId() == wizard.DONE, timeout=TIMEOUT)
    assert "Repacked and verified" in wizard.done_page.view.toPlainText()
    assert leftovers(output) == []

    results = compare_with_export(export, output, family)
    assert [r.compared for r in results] == [89] * experts  # 20 weights + 20 scales + 49 float
    info = inspect_folder(output)
    assert info.problems == [] and info.quantization == "mxfp8-offline"
    assert (tree_hash(export), tree_hash(original)) == before, "an input was modified"
    latents = generate_two_steps(output, family)
    assert latents.ndim == 5 and bool(latents.isfinite().all())
