"""Generate and the queue: the form adds jobs, the right-hand side follows the running job.

Kept out of gui/workspaces/generate.py so that file stays about the form. Every run goes
through the persistent queue (gui/queue_controller.py): "Generate" adds the form's job(s)
and the queue starts at once when idle, so a single run feels as before; while a job runs the
same button (and Ctrl+Enter) adds to the queue. Whichever queued job runs — one from the form,
a retried one, one added by `wan-studio queue add` — Generate's progress panel, live preview
and player follow it.

A failed job opens the error dialog only when nothing else is waiting to run; inside a batch
the failure is in the status bar and the Queue panel, so one bad job does not stop the night's
work behind a modal box.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from core.generate.request import errors
from core.models.catalog import get_family
from core.models.demo import DEMO_NOTE
from core.queue.kinds import COMPARE_JOB
from gui.queue_status import line_status

if TYPE_CHECKING:
    from core.queue.store import QueueJob
    from gui.engine import PreviewFrame
    from gui.workspaces.generate import GenerateWorkspace


class QueueRuns:
    """Generate's side of the queue (see the module docstring); ``ws.runs``."""

    def __init__(self, ws: GenerateWorkspace) -> None:
        self.ws = ws
        self.queue = ws.bus.queue
        self.last_add_seconds: float | None = None  # how long the last add took (the bench)
        self.following = True  # False while a comparison (not a generation) runs
        bar = ws.run_bar
        bar.generate_button.clicked.connect(self.add_from_form)
        bar.cancel_button.clicked.connect(self.cancel)
        bar.batch_changed.connect(self.update_buttons)
        bar.resume_button.clicked.connect(self.queue.resume_held)
        bar.show_queue.connect(lambda: ws.bus.show_workspace.emit("Queue"))
        self.queue.changed.connect(self.update_buttons)
        self.queue.job_started.connect(self.job_started)
        self.queue.job_event.connect(self.on_event)
        self.queue.job_preview.connect(self.on_preview)
        self.queue.job_finished.connect(self.job_finished)

    # ---- adding -------------------------------------------------------------------------------
    def add_from_form(self) -> list[int]:
        """Add the form's job(s) to the queue (a batch when the count or a prompt list says so)."""
        from core.queue.batch import BatchError, expand, to_dicts

        started = time.perf_counter()
        ws = self.ws
        issues = ws.validate_now()
        choice = ws.current_choice()
        if choice is None or choice.family is None or errors(issues):
            return []
        request = ws.build_request()
        bar = ws.run_bar
        try:
            requests = expand(request, bar.count.value(), bar.seed_mode_value(), bar.prompts)
        except BatchError as exc:
            ws.bus.status.emit(f"Can't add these jobs: {exc}")
            return []
        starts_now = self.queue.will_start_now()
        batch = f"batch-{time.strftime('%Y%m%d-%H%M%S')}" if len(requests) > 1 else None
        ids = self.queue.add(to_dicts(requests), batch=batch)
        ws.state.remember(choice.model, request.to_dict())
        n = len(ids)
        if starts_now:
            ws.bus.status.emit("Generating…" if n == 1 else f"Generating: {n} jobs queued")
        else:
            ws.bus.status.emit(f"Added {n} job{'s' if n != 1 else ''} to the queue")
        self.last_add_seconds = time.perf_counter() - started
        return ids

    def cancel(self) -> None:
        """Ask the running job to stop after its current step (the token reaches the worker)."""
        if self.queue.cancel_current():
            ws = self.ws
            ws.run_bar.cancel_button.setEnabled(False)
            ws.panel.status_label.setText("Cancelling after the current step…")
            ws.bus.status.emit("Cancelling…")

    def update_buttons(self) -> None:
        ws = self.ws
        bar = ws.run_bar
        queue = self.queue
        running = queue.running
        job = queue.engine_job
        bar.set_button(queue.will_start_now(), True, getattr(ws, "_blocked_reason", ""))
        bar.cancel_button.setEnabled(running and job is not None and not job.token.cancelled)
        summary = queue.summary()
        bar.set_queue_line(line_status(summary), summary["held"])

    # ---- following the running job ----------------------------------------------------------------
    def job_started(self, job: QueueJob) -> None:
        self.following = job.request.get("kind") != COMPARE_JOB  # the Compare view shows those
        if not self.following:
            self.update_buttons()
            return
        ws = self.ws
        family = ws.form.family.key
        ws.last_outcome = None
        ws.panel.start(get_family(family).experts if family else 2)
        ws.panel.status_label.setText(f"Job {job.id}: {job.label}")
        ws.preview.set_image(None)
        ws.preview.set_placeholder("Waiting for the first preview…")
        ws.player.stop()
        ws.viewer.setCurrentWidget(ws.preview)
        ws.viewer_title.setText("Live preview")
        ws.result_info.set_full_text(job.label, tooltip=str(job.request.get("prompt") or ""))
        ws.show_preview.setChecked(False)
        ws.show_preview.setEnabled(False)
        ws.open_folder.setEnabled(False)
        self.update_buttons()
        ws.run_started.emit(job)

    def on_event(self, _job_id: int, event: Any) -> None:
        if not self.following:
            return
        ws = self.ws
        kind = getattr(event, "kind", "")
        if kind == "started":
            family = getattr(event, "family", None)
            if family:  # the job's model decides the stages, not the form's
                ws.panel.start(get_family(family).experts)
            ws.form.show_last_seed(event.seed)
        ws.panel.handle_event(event)
        if kind == "plan":
            ws.memory.start(event.device)
        elif kind == "warning":
            ws.bus.status.emit(f"Warning: {event.message}")
        ws.event_received.emit(event)

    def on_preview(self, _job_id: int, frame: PreviewFrame) -> None:
        event = frame.event
        self.ws.preview.set_image(
            frame.image,
            f"Step {event.step}/{event.total} · latent preview (approximate colours)",
        )

    def job_finished(self, job: QueueJob, outcome: Any) -> None:
        """The job ended: result, error or cancel; the next queued job may start right after."""
        if job.request.get("kind") == COMPARE_JOB:
            self.following = True
            self.update_buttons()
            return
        ws = self.ws
        if outcome is not None and ws.panel.outcome is None and hasattr(outcome, "kind"):
            ws.panel.handle_event(outcome)  # the runner returns the outcome it also emitted
        ws.last_outcome = outcome
        kind = getattr(outcome, "kind", None)
        if kind == "done":
            self.show_result(outcome)
        elif kind == "cancelled" or outcome is None:
            if outcome is None:
                ws.panel.cancelled()
            self.show_cancelled()
        else:
            message = getattr(outcome, "message", "") or str(job.error or "failed")
            if kind is None:  # a JobError: the job raised
                ws.panel.fail(message)
            if self.queue.next_job() is None:
                ws.show_error(
                    "Generation failed",
                    message,
                    getattr(outcome, "hint", "") or "",
                    getattr(outcome, "details", "") or "",
                )
            ws.bus.status.emit(f"Job {job.id} failed: {message}")
        ws.memory.stop()
        ws.validate_now()
        self.update_buttons()
        ws.run_finished.emit(outcome)

    def show_cancelled(self) -> None:
        ws = self.ws
        ws.bus.status.emit("Cancelled: nothing was written")
        if ws.preview.image() is not None:
            ws.preview.set_image(ws.preview.image(), "Cancelled · last preview")
        else:
            ws.preview.set_placeholder("Cancelled before the first preview.")

    def show_result(self, done: Any) -> None:
        ws = self.ws
        caption = f"{DEMO_NOTE}: this video is noise" if done.demo else ""
        ws.player.load(done.video, caption)
        ws.viewer.setCurrentWidget(ws.player)
        ws.viewer_title.setText("Result")
        total = done.timings.get("total") if isinstance(done.timings, dict) else None
        took = f" · {total:.1f} s" if isinstance(total, (int, float)) else ""
        ws.result_info.set_full_text(
            f"{done.width}×{done.height} · {done.frames} frames ({done.duration_seconds:.2f} s)"
            f" · seed {done.seed}{took}",
            tooltip=done.video,
        )
        ws.form.show_last_seed(done.seed)
        ws.open_folder.setEnabled(True)
        ws.show_preview.setEnabled(ws.preview.image() is not None)
        ws.bus.history_changed.emit()
        ws.bus.status.emit(f"Saved {done.video}")

    # ---- the viewer's buttons -------------------------------------------------------------------
    def play(self, path: str) -> None:
        """bus.play_video: play a file (from History or the Queue) in Generate's player."""
        ws = self.ws
        ws.player.load(path)
        ws.viewer.setCurrentWidget(ws.player)
        ws.viewer_title.setText("Result")
        ws.result_info.set_full_text(Path(path).name, tooltip=path)
        ws.bus.show_workspace.emit(ws.TITLE)

    def toggle_last_preview(self, shown: bool) -> None:
        ws = self.ws
        ws.viewer.setCurrentWidget(ws.preview if shown else ws.player)

    def open_result_folder(self) -> None:
        ws = self.ws
        video = getattr(ws.last_outcome, "video", None) or ws.player.source()
        folder = Path(video).parent if video else ws.output_dir()
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))


def error_box(parent: Any, title: str, message: str, hint: str, details: str) -> QMessageBox:
    """A non-blocking error dialog: message, hint as informative text, traceback in details."""
    box = QMessageBox(
        QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, parent
    )
    if hint:
        box.setInformativeText(hint)
    if details:
        box.setDetailedText(details)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    return box


__all__ = ["QueueRuns", "error_box"]
