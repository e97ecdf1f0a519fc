"""The one-click repack wizard: msmodelslim export + original Diffusers model -> new folder.

    wizard = RepackWizard(bus, export="/data/wan-t2v-w8a8f8")
    wizard.open()

Pages: 1 the export (family, experts, files, quant types, w8a8f8 attention entries that will
be ignored), 2 the original Diffusers folder (checked against the export by the repack
planner itself), 3 the output folder (new, next to the export by default; free space checked
against the plan), 4 the summary (read / written / renamed, bytes), 5 the run (progress, ETA,
Cancel: nothing is left behind), 6 the verification report with "Add to the model library"
(checked) and "Open in Generate".

Given a detected export, every page is prefilled (the original is guessed from the library
and the folders next to the export, the output gets a free name next to the export), so
Next, Next, Next, Repack, Finish walks through. Checks run off the GUI thread, the repack on
its own thread (gui/wizard/background.py); Qt-free logic lives in gui/wizard/findings.py.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QWidget, QWizard

from gui.bus import AppBus
from gui.wizard.background import LatestCall
from gui.wizard.findings import (
    Candidate,
    ExportFindings,
    OriginalCheck,
    PlannedRepack,
    RepackOutcome,
    guess_original,
)
from gui.wizard.pages import (
    DonePage,
    ExportPage,
    OriginalPage,
    OutputPage,
    RunPage,
    SummaryPage,
)

Button = QWizard.WizardButton
DEFAULT_BUTTONS = [
    Button.Stretch,
    Button.BackButton,
    Button.NextButton,
    Button.CommitButton,
    Button.FinishButton,
    Button.CancelButton,
]


class RepackWizard(QWizard):
    """See the module docstring. ``library_file`` is for tests (default: the app's library)."""

    EXPORT, ORIGINAL, OUTPUT, SUMMARY, RUN, DONE = range(6)

    repacked = Signal(object)  # RepackOutcome, when the run succeeded
    added = Signal(str)  # the output folder, once it is in the library

    def __init__(
        self,
        bus: AppBus,
        export: str | os.PathLike[str] | None = None,
        original: str | os.PathLike[str] | None = None,
        output: str | os.PathLike[str] | None = None,
        library_file: str | os.PathLike[str] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.bus = bus
        self.library_file = Path(library_file) if library_file is not None else None
        self.findings: ExportFindings | None = None
        self.original_check: OriginalCheck | None = None
        self.planned: PlannedRepack | None = None
        self.outcome: RepackOutcome | None = None
        self.guessing = False
        self._original_checks: dict[tuple[str, str], OriginalCheck] = {}
        self._guess = LatestCall(bus, self)
        self._close_when_stopped = False
        self._finished_actions = False

        self.setWindowTitle("Repack an msmodelslim export")
        self.setWizardStyle(QWizard.WizardStyle.ModernStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnStartPage, True)
        self.setOption(QWizard.WizardOption.DisabledBackButtonOnLastPage, True)
        self.setOption(QWizard.WizardOption.NoCancelButtonOnLastPage, True)
        self.setMinimumSize(760, 560)
        self.resize(860, 600)

        self.export_page = ExportPage(self)
        self.original_page = OriginalPage(self)
        self.output_page = OutputPage(self)
        self.summary_page = SummaryPage(self)
        self.run_page = RunPage(self)
        self.done_page = DonePage(self)
        for page_id, page in enumerate(
            (
                self.export_page,
                self.original_page,
                self.output_page,
                self.summary_page,
                self.run_page,
                self.done_page,
            )
        ):
            self.setPage(page_id, page)
        self.setStartId(self.EXPORT)

        if original:
            self.original_page.auto = False
            self.original_page.field.edit.setText(str(original))
        if output:
            self.output_page.auto = False
            self.output_page.field.edit.setText(str(output))
        if export:
            self.export_page.field.set_path(str(export))

    # ---- answers shared by the pages -------------------------------------------------------
    def export_ready(self, findings: ExportFindings) -> None:
        """Page 1 accepted an export: guess its original in the background (unless given)."""
        page = self.original_page
        if page.field.path() and not page.auto:
            page.check(page.field.path())
            return
        self.guessing = True
        library = self._library_candidates()
        export, family = str(findings.path), findings.family

        def done(result: tuple[Candidate, OriginalCheck] | None) -> None:
            self.guessing = False
            if result is None:
                self.original_page.fill_guess(None, "")
                return
            candidate, check = result
            self.remember_original_check(check)
            where = "in your library" if candidate.source == "library" else candidate.source
            self.original_page.fill_guess(str(candidate.path), where)

        def failed(error: Any) -> None:
            self.guessing = False
            self.original_page.fill_guess(None, "")

        self._guess.call(lambda: guess_original(export, family, library), done, failed)

    def _library_candidates(self) -> list[Candidate]:
        from core.models.library import Library

        library = Library(self.library_file)
        return [
            Candidate(entry.path, entry.family, "library")
            for entry in library.list()
            if entry.layout == "diffusers"
        ]

    def cached_original_check(self, original: str) -> OriginalCheck | None:
        findings = self.findings
        if findings is None:
            return None
        key = (str(Path(original).expanduser().absolute()), str(findings.path))
        return self._original_checks.get(key)

    def remember_original_check(self, check: OriginalCheck) -> None:
        self._original_checks[(str(check.original), str(check.export))] = check

    # ---- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.run_page.running

    def run_state_changed(self, state: str) -> None:
        """The run page's buttons: only Cancel while it runs; Back and Close after a stop."""
        cancel = self.button(Button.CancelButton)
        if state in ("running", "cancelling"):
            self.setButtonLayout([Button.Stretch, Button.CancelButton])
            cancel.setText("Cancel")
            cancel.setEnabled(state == "running")
        elif state in ("failed", "cancelled"):
            self.setButtonLayout([Button.Stretch, Button.BackButton, Button.CancelButton])
            cancel.setText("Close")
            cancel.setEnabled(True)
        else:
            self.setButtonLayout(DEFAULT_BUTTONS)
            cancel.setText("Cancel")
            cancel.setEnabled(True)

    def task_finished(self) -> None:
        if self._close_when_stopped:
            self._close_when_stopped = False
            super().reject()

    def show_result(self) -> None:
        if self.currentId() == self.RUN and self.outcome is not None:
            self.setButtonLayout(DEFAULT_BUTTONS)
            self.next()
            self.repacked.emit(self.outcome)

    def reject(self) -> None:
        """Cancel (or Esc) during a run cancels the repack and keeps the wizard open to say how
        it ended; otherwise it closes the wizard."""
        if self.running:
            self.run_page.cancel()
            return
        super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            self._close_when_stopped = True
            self.run_page.cancel()
            event.ignore()
            return
        super().closeEvent(event)

    def accept(self) -> None:
        if self.currentId() == self.DONE and not self._finished_actions:
            self._finished_actions = True
            self._finish(self.done_page.choices())
        super().accept()

    def done(self, result: int) -> None:
        for page in (self.export_page, self.original_page, self.output_page, self.summary_page):
            page.close_checks()
        self._guess.close()
        super().done(result)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel a run and wait for its thread (closing the app, tests)."""
        task = self.run_page.task
        if task is None:
            return True
        task.cancel("the wizard is closing")
        return task.wait(timeout_ms)

    # ---- finishing -------------------------------------------------------------------------
    def _finish(self, choices: dict[str, Any]) -> None:
        """Add the output to the library (off the GUI thread: it inspects the folder) and open
        it in Generate. Results go through the bus: the wizard is closed by then."""
        outcome = self.outcome
        if outcome is None or not choices["add"]:
            return
        from core.models.library import Library

        bus, library_file = self.bus, self.library_file
        output = str(outcome.report.output)
        name = choices["name"] or None
        open_it = choices["open"]
        added = self.added

        def add() -> str:
            entry = Library(library_file).add(output, name=name)
            return entry.name

        def done(label: str) -> None:
            bus.library_changed.emit()
            bus.status.emit(f"Added {label} to the model library")
            _emit_if_alive(added, output)
            if open_it:
                bus.use_model.emit(output)
                bus.show_workspace.emit("Generate")

        def failed(error: Any) -> None:
            bus.status.emit(f"The repacked model was not added to the library: {error.message}")

        bus.engine.run_io(add, on_done=done, on_error=failed)


def _emit_if_alive(signal: Any, *args: Any) -> None:
    """Emit a signal of a wizard that may have been deleted since it closed."""
    with contextlib.suppress(RuntimeError):  # the C++ object is gone: nobody listens
        signal.emit(*args)
