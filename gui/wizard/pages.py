"""The six pages of the repack wizard (gui/wizard/repack.py puts them together).

Every check runs off the GUI thread (``LatestCall``); while it runs, or when it found a
problem, the page is incomplete, so Next stays disabled and the notice under the field says
why. Pages read and write the answers on the wizard (``findings``, ``original_check``,
``planned``, ``outcome``), never each other's widgets.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QTextBrowser,
    QVBoxLayout,
    QWizard,
    QWizardPage,
)

from core.progress import Progress
from gui.engine import JobError
from gui.widgets.models_format import family_label, human_bytes, human_duration
from gui.wizard.background import LatestCall, TaskThread
from gui.wizard.findings import (
    ExportFindings,
    OriginalCheck,
    PlannedRepack,
    RepackOutcome,
    check_original,
    default_output,
    examine_export,
    plan_repack,
    run_repack,
    staging_leftovers,
)
from gui.wizard.report import report_html, summary_html
from gui.wizard.widgets import Notice, PathField, StageList

if TYPE_CHECKING:
    from gui.wizard.repack import RepackWizard

STAGE_LABELS = {
    "copy components": "Copying the other components",
    "verify": "Verifying the written files",
    "finalize": "Renaming the folder into place",
    "done": "Done",
}


def run_stages(plan: Any) -> list[tuple[str, str]]:
    """The stages core.repack.runner goes through for this plan, in order, with titles."""
    stages = [("copy components", f"Copy the other components ({len(plan.components)} files)")]
    stages += [
        (f"write {t.target}", f"Write {t.target}/ ({len(t.tensors)} tensors, renamed)")
        for t in plan.transformers
    ]
    stages += [
        ("verify", "Verify tensors, shapes and every MXFP8 scale"),
        ("finalize", f"Rename into {plan.output.name}"),
    ]
    return stages


def stage_label(stage: str) -> str:
    """core.repack.runner stage names in words ("write transformer_2" -> "Writing ...")."""
    if stage.startswith("write "):
        return f"Writing {stage[len('write ') :]}/"
    return STAGE_LABELS.get(stage, stage.capitalize())


def report_view() -> QTextBrowser:
    """A read-only rich-text view whose long paths wrap anywhere instead of scrolling."""
    view = QTextBrowser()
    view.setOpenLinks(False)
    view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    return view


class _CheckedPage(QWizardPage):
    """A page whose answer is checked in the background; complete only when it passed."""

    def __init__(self, wizard: RepackWizard, title: str, subtitle: str) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle(title)
        self.setSubTitle(subtitle)
        self.call = LatestCall(wizard.bus, self)
        self.notice = Notice()
        self._ready = False

    def isComplete(self) -> bool:
        return self._ready

    def set_ready(self, ready: bool) -> None:
        if ready != self._ready:
            self._ready = ready
            self.completeChanged.emit()

    @property
    def checking(self) -> bool:
        return self.call.busy

    def _failed(self, what: str, error: JobError) -> None:
        self.notice.show_messages([f"{what} failed: {error.message}"])
        self.set_ready(False)

    def close_checks(self) -> None:
        self.call.close()


# ---- 1: the export -------------------------------------------------------------------------


class ExportPage(_CheckedPage):
    def __init__(self, wizard: RepackWizard) -> None:
        super().__init__(
            wizard,
            "The msmodelslim export",
            "The folder msmodelslim quant wrote (its --save_path): quant_model_weight*.safetensors "
            "with quant_model_description*.json, in high_noise_model/ and low_noise_model/ for "
            "the A14B models, at the top level for TI2V-5B.",
        )
        self.field = PathField("/path/to/msmodelslim/output", "Choose the msmodelslim export")
        self.field.changed.connect(self.check)
        self.facts: dict[str, QLabel] = {}
        box = QGroupBox("What is in it")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for key, label in (
            ("family", "Model family"),
            ("experts", "Transformers"),
            ("files", "Weight files"),
            ("types", "Quant types"),
            ("attention", "Attention quantization"),
            ("size", "Size on disk"),
        ):
            value = QLabel("—")
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(label + ":", value)
            self.facts[key] = value
        self.box = box
        layout = QVBoxLayout(self)
        layout.addWidget(self.field)
        layout.addWidget(self.notice)
        layout.addWidget(box)
        layout.addStretch(1)
        self.notice.show_messages(warnings=["Choose the export folder."])

    def check(self, path: str) -> None:
        self.wiz.findings = None
        self.set_ready(False)
        self._show_facts(None)
        if not path:
            self.call.forget()
            self.notice.show_messages(warnings=["Choose the export folder."])
            return
        self.notice.show_busy(f"Reading {Path(path).name}…")
        self.call.call(
            lambda: examine_export(path),
            self._found,
            lambda error: self._failed("Reading the folder", error),
        )

    def _found(self, findings: ExportFindings) -> None:
        self.wiz.findings = findings if findings.ok else None
        self._show_facts(findings)
        good = []
        if findings.ok:
            good.append(f"An msmodelslim export of {_family_text(findings)}: it can be repacked.")
        self.notice.show_messages(findings.problems, findings.warnings, good)
        self.set_ready(findings.ok)
        if findings.ok:
            self.wiz.export_ready(findings)

    def _show_facts(self, findings: ExportFindings | None) -> None:
        if findings is None or findings.info.layout != "msmodelslim":
            for label in self.facts.values():
                label.setText("—")
            return
        experts = findings.experts
        self.facts["family"].setText(_family_text(findings))
        self.facts["experts"].setText(
            ", ".join(f"{e.name}/" if e.name != "weights" else "one (top level)" for e in experts)
        )
        files = []
        for e in experts:
            names = ", ".join(name for name, _ in e.weight_files) or "none"
            where = f"{e.name}/: " if e.name != "weights" else ""
            files.append(f"{where}{names} ({human_bytes(e.weight_bytes)})")
        self.facts["files"].setText("\n".join(files))
        types = []
        for e in experts:
            where = f"{e.name}: " if e.name != "weights" else ""
            types.append(
                f"{where}{e.quantized_layers} W8A8_MXFP8 layers, {e.float_tensors} FLOAT tensors"
                + (f" (model_quant_type {e.model_quant_type})" if e.model_quant_type else "")
            )
        self.facts["types"].setText("\n".join(types))
        rotations = sum(len(e.rotations) for e in experts)
        metadata = sum(len(e.attention_metadata) for e in experts)
        if rotations or metadata:
            entries = "entry" if metadata == 1 else "entries"
            self.facts["attention"].setText(
                f"w8a8f8 recipe: {rotations} QuaRot rotation tensor(s) and {metadata} FA3 "
                f"{entries} will be ignored — attention runs in BF16, which is exact"
            )
        else:
            self.facts["attention"].setText("none (linear-only MXFP8)")
        self.facts["size"].setText(human_bytes(findings.info.size_bytes))


def _family_text(findings: ExportFindings) -> str:
    if findings.family:
        return family_label(findings.family)
    return "Wan2.2 A14B (T2V or I2V: told by the original folder on the next page)"


# ---- 2: the original Diffusers folder ------------------------------------------------------


class OriginalPage(_CheckedPage):
    def __init__(self, wizard: RepackWizard) -> None:
        super().__init__(
            wizard,
            "The original Diffusers model",
            "The BF16 Diffusers folder of the model you quantized (e.g. "
            "Wan2.2-T2V-A14B-Diffusers). Its text encoder, VAE, tokenizer and scheduler are "
            "copied and its transformer configs kept; it is only read.",
        )
        self.field = PathField("/path/to/Wan2.2-…-Diffusers", "Choose the original model")
        self.field.changed.connect(self.check)
        self.field.edit.textEdited.connect(self._typed)
        self.field.picked.connect(self._typed)
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.source.setStyleSheet("color: #555")
        self.auto = True  # filled by the guess, not by the user
        self.uses = QLabel("—")
        self.uses.setWordWrap(True)
        self.uses.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        box = QGroupBox("What the repack takes from it")
        box_layout = QVBoxLayout(box)
        box_layout.addWidget(self.uses)
        layout = QVBoxLayout(self)
        layout.addWidget(self.field)
        layout.addWidget(self.source)
        layout.addWidget(self.notice)
        layout.addWidget(box)
        layout.addStretch(1)

    def _typed(self, _text: str) -> None:
        self.auto = False
        self.source.setText("")

    def initializePage(self) -> None:
        if self.wiz.guessing and not self.field.path():
            self.notice.show_busy(
                "Looking for the original model in your library and next to the export…"
            )
            return
        self.check(self.field.path())

    def fill_guess(self, path: str | None, where: str) -> None:
        """The wizard's guess arrived: use it unless the user typed their own."""
        if not self.auto and self.field.path():
            return
        if path is None:
            self.source.setText("")
            if not self.field.path():
                self.notice.show_messages(
                    warnings=[
                        "No matching original model was found in your library or next to the "
                        "export: choose the BF16 Diffusers folder of the model you quantized."
                    ]
                )
            return
        self.auto = True
        self.source.setText(f"Found {where}.")
        self.field.set_path(path)

    def check(self, path: str) -> None:
        self.wiz.original_check = None
        self.set_ready(False)
        self.uses.setText("—")
        findings = self.wiz.findings
        if findings is None:
            self.call.forget()
            return
        if not path:
            self.call.forget()
            if not self.wiz.guessing:
                self.notice.show_messages(warnings=["Choose the original model folder."])
            return
        cached = self.wiz.cached_original_check(path)
        if cached is not None:
            self._checked(cached)
            return
        self.notice.show_busy(f"Checking {Path(path).name} against the export…")
        export, family = str(findings.path), findings.family
        self.call.call(
            lambda: check_original(path, export, family),
            self._checked,
            lambda error: self._failed("Checking the folder", error),
        )

    def _checked(self, check: OriginalCheck) -> None:
        if Path(self.field.path()).expanduser().absolute() != check.original:
            return  # an answer for a path the field no longer shows
        self.wiz.remember_original_check(check)
        good = []
        if check.ok:
            experts = " and ".join(f"{t}/" for t in check.transformers)
            good.append(
                f"{check.family_name}: {experts} match the export's "
                f"{'experts' if len(check.transformers) > 1 else 'transformer'}."
            )
            if check.is_demo:
                good.append("This is a demo model (random weights): fine for trying the repack.")
        self.wiz.original_check = check if check.ok else None
        self.notice.show_messages(check.problems, [], good)
        if check.ok:
            folders = ", ".join(f"{c}/" for c in check.components) or "no other folders"
            configs = " and ".join(f"{t}/config.json" for t in check.transformers)
            self.uses.setText(
                f"Copied unchanged: {folders} — {check.component_files} file(s), "
                f"{human_bytes(check.component_bytes)}.\n"
                f"Kept, marked as MXFP8: {configs}.\n"
                "Its BF16 transformer weights are not used (the export replaces them), except "
                "for any tensor the export leaves out."
            )
        self.set_ready(check.ok)


# ---- 3: the output folder ------------------------------------------------------------------


class OutputField(PathField):
    """Browse picks where the new folder goes: an empty folder (made in the dialog) is the
    output itself; in any other folder a new one is created under the current name."""

    def choose(self) -> str | None:
        current = Path(self.path()) if self.path() else None
        start = str(current.parent) if current else ""
        folder = QFileDialog.getExistingDirectory(self, self.browse_caption, start)
        if not folder:
            return None
        chosen = Path(folder)
        if chosen.is_dir() and not any(chosen.iterdir()):
            return str(chosen)
        return str(chosen / (current.name if current else "repacked-diffusers"))


class OutputPage(_CheckedPage):
    def __init__(self, wizard: RepackWizard) -> None:
        super().__init__(
            wizard,
            "The output folder",
            "A new folder for the repacked Diffusers model. It must not exist yet (or be empty); "
            "it is written under a hidden temporary name and renamed when complete.",
        )
        self.field = OutputField("/path/to/new/folder", "Choose where to create the output folder")
        self.field.picked.connect(self._typed)
        self.field.changed.connect(self.check)
        self.field.edit.textEdited.connect(self._typed)
        self.link = QCheckBox(
            "Hard-link the unchanged components instead of copying them (same disk only; "
            "saves their space)"
        )
        self.link.toggled.connect(lambda _on: self.check(self.field.path()))
        self.space = QLabel("")
        self.space.setWordWrap(True)
        self.auto = True
        layout = QVBoxLayout(self)
        layout.addWidget(self.field)
        layout.addWidget(self.link)
        layout.addWidget(self.space)
        layout.addWidget(self.notice)
        layout.addStretch(1)

    def _typed(self, _text: str) -> None:
        self.auto = False

    def initializePage(self) -> None:
        findings = self.wiz.findings
        if findings is not None and (self.auto or not self.field.path()):
            self.auto = True
            wanted = str(default_output(findings.path))
            if wanted != self.field.path():
                self.field.set_path(wanted)
                return
        self.check(self.field.path())

    def check(self, path: str) -> None:
        self.wiz.planned = None
        self.set_ready(False)
        self.space.setText("")
        findings, original = self.wiz.findings, self.wiz.original_check
        if findings is None or original is None:
            self.call.forget()
            return
        if not path:
            self.call.forget()
            self.notice.show_messages(warnings=["Choose the output folder."])
            return
        self.notice.show_busy("Planning the repack…")
        export, source, link = str(findings.path), str(original.original), self.link.isChecked()
        self.call.call(
            lambda: plan_repack(source, export, path, link),
            self._planned,
            lambda error: self._failed("Planning the repack", error),
        )

    def _planned(self, planned: PlannedRepack) -> None:
        plan = planned.plan
        self.link.setEnabled(plan.linkable or self.link.isChecked())
        needed = plan.bytes_to_write
        if planned.free_bytes is not None:
            colour = "#1e7b34" if planned.free_bytes > needed else "#b03a2e"
            self.space.setText(
                f"<span style='color:{colour}'>Needs {human_bytes(needed)}; "
                f"{human_bytes(planned.free_bytes)} free in {html.escape(str(plan.output.parent))}"
                "</span>"
            )
        good = [f"Ready to write {plan.output.name}."] if plan.ok else []
        self.wiz.planned = planned if plan.ok else None
        self.notice.show_messages(plan.problems, [], good)
        self.set_ready(plan.ok)


# ---- 4: summary ----------------------------------------------------------------------------


class SummaryPage(_CheckedPage):
    def __init__(self, wizard: RepackWizard) -> None:
        super().__init__(
            wizard,
            "Summary",
            "What the repack will read, write and rename. Nothing has been written yet.",
        )
        self.setButtonText(QWizard.WizardButton.NextButton, "Repack")
        self.view = report_view()
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.notice)

    def initializePage(self) -> None:
        self.show_plan()

    def show_plan(self) -> None:
        planned = self.wiz.planned
        if planned is None:
            self.view.clear()
            self.set_ready(False)
            return
        self.view.setHtml(summary_html(planned))
        self.notice.clear_messages()
        self.set_ready(planned.ok)

    def replan(self) -> None:
        """Plan again (after a failed or cancelled run: the inputs may have changed)."""
        findings, original, old = self.wiz.findings, self.wiz.original_check, self.wiz.planned
        if findings is None or original is None or old is None:
            return
        plan = old.plan
        self.wiz.planned = None
        self.set_ready(False)
        self.notice.show_busy("Checking the folders again…")
        self.call.call(
            lambda: plan_repack(plan.original, plan.quant, plan.output, plan.link),
            self._replanned,
            lambda error: self._failed("Planning the repack", error),
        )

    def _replanned(self, planned: PlannedRepack) -> None:
        self.wiz.planned = planned if planned.ok else None
        if planned.ok:
            self.show_plan()
        else:
            self.view.setHtml("")
            self.notice.show_messages([*planned.plan.problems, "Go Back to change the folders."])
            self.set_ready(False)


# ---- 5: run --------------------------------------------------------------------------------


class RunPage(QWizardPage):
    def __init__(self, wizard: RepackWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Repacking")
        self.setSubTitle(
            "Streaming the tensors into the new folder, then verifying it. Cancel at any time: "
            "nothing is left behind."
        )
        self.stage = QLabel("Starting…")
        self.stage.setStyleSheet("font-weight: 600")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.bar.setFormat("%p%")
        self.amount = QLabel("")
        self.eta = QLabel("")
        self.eta.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.notice = Notice()
        self.stages = StageList()
        row = QHBoxLayout()
        row.addWidget(self.amount, 1)
        row.addWidget(self.eta)
        steps = QGroupBox("Steps")
        steps_layout = QVBoxLayout(steps)
        steps_layout.addWidget(self.stages)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stage)
        layout.addWidget(self.bar)
        layout.addLayout(row)
        layout.addSpacing(8)
        layout.addWidget(steps)
        layout.addWidget(self.notice)
        layout.addStretch(1)
        self.task: TaskThread | None = None
        self.state = "idle"  # idle | running | cancelling | done | failed | cancelled
        self._started_at = 0.0
        self._output: Path | None = None

    def isComplete(self) -> bool:
        return self.state == "done"

    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def initializePage(self) -> None:
        planned = self.wiz.planned
        assert planned is not None, "the summary page is complete only with a plan"
        plan = planned.plan
        self._output = plan.output
        self.wiz.outcome = None
        self.bar.setValue(0)
        self.stage.setText("Starting…")
        self.amount.setText("")
        self.eta.setText("")
        self.notice.clear_messages()
        self.stages.set_stages(run_stages(plan))
        self._set_state("running")
        self._started_at = time.monotonic()
        self.task = TaskThread(
            lambda progress, cancel: run_repack(plan, progress, cancel), "repack", self
        )
        self.task.progress.connect(self._progress)
        self.task.succeeded.connect(self._succeeded)
        self.task.failed.connect(self._failed)
        self.task.cancelled.connect(self._cancelled)
        self.task.finished.connect(self.wiz.task_finished)
        self.task.start()

    def cleanupPage(self) -> None:
        """Back after a failed or cancelled run: check the folders again before a new try."""
        self._set_state("idle")
        self.wiz.summary_page.replan()

    def cancel(self) -> None:
        if self.task is not None and self.running and self.state == "running":
            self.task.cancel()
            self._set_state("cancelling")
            self.stage.setText("Cancelling…")

    def _set_state(self, state: str) -> None:
        self.state = state
        self.wiz.run_state_changed(state)
        self.completeChanged.emit()

    def _progress(self, progress: Progress) -> None:
        if self.state != "running":
            return
        self.stage.setText(stage_label(progress.stage))
        self.stages.reach(progress.stage)
        self.bar.setValue(round(progress.fraction * 1000))
        elapsed = max(1e-6, time.monotonic() - self._started_at)
        rate = progress.done / elapsed
        self.amount.setText(
            f"{human_bytes(progress.done)} of {human_bytes(progress.total)} · {human_bytes(rate)}/s"
        )
        if progress.eta_seconds is not None and progress.stage != "done":
            eta = progress.eta_seconds
            self.eta.setText("almost done" if eta < 1 else f"about {human_duration(eta)} left")

    def _succeeded(self, outcome: RepackOutcome) -> None:
        self.wiz.outcome = outcome
        self.stages.finish()
        self.bar.setValue(1000)
        self.stage.setText("Done")
        self.eta.setText("")
        self._set_state("done")
        QTimer.singleShot(0, self.wiz.show_result)

    def _failed(self, error: JobError) -> None:
        left = staging_leftovers(self._output) if self._output else []
        cleanup = (
            "No temporary folder was left behind."
            if not left
            else f"A temporary folder remains: {left[0]} (remove it)."
        )
        self.stages.stop()
        self.stage.setText("The repack failed")
        self.eta.setText("")
        self.notice.show_messages(
            [error.message], [], [cleanup, "Go Back to check the folders and try again."]
        )
        self._set_state("failed")

    def _cancelled(self, _reason: str) -> None:
        output = self._output
        left = staging_leftovers(output) if output else []
        self.stages.stop()
        self.stage.setText("Cancelled")
        self.eta.setText("")
        if output is not None and not output.exists() and not left:
            self.notice.show_messages(
                good=[
                    "Cancelled: nothing was written and no temporary folder was left behind. "
                    "The inputs are unchanged."
                ]
            )
        else:
            remains = [str(p) for p in left] + ([str(output)] if output and output.exists() else [])
            self.notice.show_messages(
                warnings=[f"Cancelled, but these remain: {', '.join(remains)}"]
            )
        self._set_state("cancelled")


# ---- 6: done -------------------------------------------------------------------------------


class DonePage(QWizardPage):
    def __init__(self, wizard: RepackWizard) -> None:
        super().__init__()
        self.wiz = wizard
        self.setTitle("Repacked")
        self.setSubTitle(
            "The verification report. The new folder loads as an MXFP8 (offline) Diffusers model."
        )
        self.view = report_view()
        self.add = QCheckBox("Add to the model library as")
        self.add.setChecked(True)
        self.name = QLineEdit()
        self.open = QCheckBox("Open in Generate")
        self.add.toggled.connect(self._add_toggled)
        row = QHBoxLayout()
        row.addWidget(self.add)
        row.addWidget(self.name, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        layout.addLayout(row)
        layout.addWidget(self.open)
        self.setFinalPage(True)

    def _add_toggled(self, on: bool) -> None:
        self.name.setEnabled(on)
        self.open.setEnabled(on)  # Generate picks models from the library
        if not on:
            self.open.setChecked(False)

    def initializePage(self) -> None:
        outcome = self.wiz.outcome
        if outcome is None:
            return
        self.view.setHtml(report_html(outcome))
        output = Path(outcome.report.output)
        self.name.setText(output.name)
        if outcome.info.problems:
            self.add.setChecked(False)

    def choices(self) -> dict[str, Any]:
        return {
            "add": self.add.isChecked(),
            "name": self.name.text().strip(),
            "open": self.open.isChecked() and self.add.isChecked(),
        }
