"""Screenshots of the Models workspace, each repack wizard page and the Presets workspace.

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python scripts/screenshots_models.py

Works in a throw-away WAN_STUDIO_HOME: creates the T2V-A14B and TI2V-5B demo models, an
msmodelslim-style w8a8f8 export of the T2V one (core.repack.fixtures), registers them, then
drives the real widgets. The wizard's run is held half way (the copy waits on a gate) so the
run page shows a live progress bar; every other state is what a user sees. Writes
docs/screenshots/models-workspace.png, wizard-1-export.png ... wizard-6-done.png,
presets-workspace.png and models-loras.png (a LoRA folder with a lightx2v-style HIGH/LOW pair at
the real A14B width, LoRAs for TI2V-5B and the demo model, and a Wan2.1 one that fits nothing).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WINDOW = (1280, 800)
WIZARD_AT = (200, 60)
WIZARD_PAGES = ("export", "original", "output", "summary", "run", "done")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument(
        "--home",
        help="an empty folder to use as WAN_STUDIO_HOME (default: a temporary one, removed "
        "afterwards; never your real profile)",
    )
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        print("needs an X display: run under xvfb-run", file=sys.stderr)
        return 2
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="wan-studio-shots-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["WAN_STUDIO_HOME"] = str(home)
    try:
        return shoot_all(home, Path(args.out))
    finally:
        if not args.home:
            shutil.rmtree(home, ignore_errors=True)


def shoot_all(home: Path, out: Path) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    from gui.app import configure_application

    app = QApplication(sys.argv[:1])
    configure_application(app)
    export = prepare_models(home)

    from gui.main_window import MainWindow

    window = MainWindow()
    window.resize(*WINDOW)
    window.move(0, 0)
    window.show()
    shots = Shots(app, out)

    models = window.workspaces["Models"]
    window.show_workspace("Models")
    shots.wait(lambda: not models.busy and len(models.entry_ids()) == 3, "inspections")
    export_id = next(i for i in models.entry_ids() if models.status(i) == "repack")
    models.select(export_id)
    shots.screen("models-workspace.png", window)

    shoot_wizard(shots, models, export)

    presets = window.workspaces["Presets"]
    make_user_preset(presets)
    window.show_workspace("Presets")
    shots.screen("presets-workspace.png", window)

    shoot_loras(shots, window, models, home)

    window.close()
    app.processEvents()
    print(f"screenshots in {out}")
    return 0


class Shots:
    """Pump the event loop until a condition holds; grab the screen where a widget is."""

    def __init__(self, app, out: Path) -> None:
        self.app = app
        self.out = out

    def wait(self, condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.app.processEvents()
            if condition():
                self.settle()
                return
            time.sleep(0.02)
        raise SystemExit(f"timed out waiting for {what}")

    def settle(self, seconds: float = 0.3) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.02)

    def screen(self, name: str, widget) -> None:
        self.settle()
        geometry = widget.frameGeometry()
        image = self.app.primaryScreen().grabWindow(
            0, geometry.x(), geometry.y(), geometry.width(), geometry.height()
        )
        path = self.out / name
        image.save(str(path))
        print(f"saved {path}")


def prepare_models(home: Path) -> Path:
    """Demo models in the library, plus a w8a8f8 export of the T2V one (also registered)."""
    from core.models.library import Library
    from core.repack.fixtures import make_msmodelslim_export

    library = Library()
    t2v = library.ensure_demo("t2v-a14b")
    library.ensure_demo("ti2v-5b")
    exports = home / "exports"
    exports.mkdir()
    export = make_msmodelslim_export(
        t2v.path, exports / "Wan2.2-T2V-A14B-w8a8f8-msmodelslim", w8a8f8=True
    )
    library.add(export, name="Wan2.2-T2V-A14B w8a8f8 (msmodelslim)")
    return export


def shoot_wizard(shots: Shots, models, export: Path) -> None:
    from PySide6.QtWidgets import QWizard

    import core.repack.runner as runner

    gate, held = threading.Event(), threading.Event()
    real_copy = runner.copy_range
    calls = {"n": 0}

    def gated_copy(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:  # part way through: hold so the run page shows live progress
            held.set()
            gate.wait(30)
        return real_copy(*args, **kwargs)

    runner.copy_range = gated_copy
    try:
        wizard = models.open_wizard(export)
        wizard.move(*WIZARD_AT)
        next_button = wizard.button(QWizard.WizardButton.NextButton)
        for index, name in enumerate(WIZARD_PAGES[:4], start=1):
            shots.wait(next_button.isEnabled, f"wizard page {name}")
            shots.screen(f"wizard-{index}-{name}.png", wizard)
            next_button.click()
        shots.wait(held.is_set, "the run to start")
        shots.wait(lambda: wizard.run_page.bar.value() > 0, "progress")
        shots.screen("wizard-5-run.png", wizard)
        gate.set()
        shots.wait(lambda: wizard.currentId() == wizard.DONE, "the report")
        shots.screen("wizard-6-done.png", wizard)
        wizard.button(QWizard.WizardButton.FinishButton).click()
        shots.wait(lambda: len(models.entry_ids()) == 4 and not models.busy, "the new entry")
    finally:
        runner.copy_range = real_copy
        gate.set()


def write_loras(folder: Path) -> Path:
    """Real LoRA files (core.lora.fixtures, rank 4) at the widths of the real models, so the
    table shows what users' files show: 400/400 layers for an A14B pair, none for Wan2.1."""
    from core.lora.fixtures import write_lora

    a14b = {"dim": 5120, "ffn_dim": 13824, "blocks": 40}
    pair = "Wan2.2-T2V-A14B-4steps-lora-rank4_{}_lightx2v.safetensors"
    write_lora(folder / pair.format("HIGH"), "wan", seed=1, **a14b)
    write_lora(folder / pair.format("LOW"), "wan", seed=2, **a14b)
    write_lora(
        folder / "Wan2.2-I2V-A14B_orbit_motion_high_noise.safetensors", "diffusers", seed=4, **a14b
    )
    write_lora(
        folder / "ti2v5b_watercolor_style.safetensors",
        "musubi",
        rank=8,
        dim=3072,
        ffn_dim=14336,
        blocks=30,
    )
    write_lora(folder / "paper_cutout_style_demo.safetensors", "diffusers", seed=3)
    write_lora(
        folder / "wan21_1.3B_film_grain.safetensors", "wan", dim=1536, ffn_dim=8960, blocks=30
    )
    return folder


def shoot_loras(shots: Shots, window, models, home: Path) -> None:
    """The Models workspace's LoRA tab with one folder, the A14B pair selected."""
    from core.lora.library import add_folder

    folder = write_loras(home / "LoRAs")
    add_folder(folder)
    window.show_workspace("Models")
    library = models.loras
    models.sections.setCurrentWidget(library)
    library.reload()
    shots.wait(
        lambda: len(library.items) == 5 and len(library.infos) == 5, "the LoRA headers", 120.0
    )
    library.select(str(next(folder.glob("*_HIGH_*"))))
    shots.screen("models-loras.png", window)


def make_user_preset(presets) -> None:
    """A user preset next to the built-ins, so the screenshot shows both kinds."""
    from core.presets import Preset

    base = presets.store.find("t2v-a14b", "Fast preview")
    values = dict(base.values)
    values.update({"width": 832, "height": 480, "steps": 20, "seed": 42})
    presets.store.save(
        Preset("480p draft, seed 42", "t2v-a14b", values, description="My quick look")
    )
    presets.reload()
    presets.select("t2v-a14b", "480p draft, seed 42")


if __name__ == "__main__":
    sys.exit(main())
