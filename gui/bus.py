"""App-wide signals between workspaces, owned by the main window (no global singleton).

Workspaces receive the bus in their constructor and talk through it, so none of them needs
to know another's widgets: e.g. Models emits ``use_model`` and Generate selects that model.

The bus also hands out the app's one engine thread (``bus.engine``, gui/engine.py) so any
workspace can run torch work off the GUI thread: ``bus.engine.submit(fn, on_done=...)`` for
work that needs the warm runner or must not overlap a generation (create a demo model),
``bus.engine.run_io(fn, on_done=...)`` for short reads. The engine (and its thread) is created
on first use; whoever creates a bus calls ``bus.shutdown()`` when done (the main window does it
when it closes; tests do it in a fixture). ``bus.queue`` is the persistent job queue's
controller (gui/queue_controller.py), also made on first use: Generate adds to it, the Queue
workspace edits it, the window title reports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

if TYPE_CHECKING:
    from gui.engine import Engine
    from gui.queue_controller import QueueController


class AppBus(QObject):
    use_model = Signal(str)  # model folder path: select it in Generate and show Generate
    apply_settings = Signal(dict)  # request dict (from a preset, history or a dropped video)
    library_changed = Signal()  # the model library was edited
    presets_changed = Signal()  # a user preset was saved, renamed, deleted or imported
    preset_saved = Signal(str, str)  # family, name: Generate saved its form as this preset
    history_changed = Signal()  # a new video was written
    status = Signal(str)  # one-line message for the status bar
    show_workspace = Signal(str)  # workspace title to bring to front
    output_dir_changed = Signal(str)  # the folder new videos go to (History lists it)
    play_video = Signal(str)  # video path: play it in Generate's player and show Generate
    open_report = Signal(str)  # a compare report folder to show in the Compare view
    use_lora = Signal(dict)  # {"path", "path_low"}: add the LoRA to Generate's form and show it
    lora_folders_changed = Signal()  # a LoRA folder was added or removed (Models)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._engine: Engine | None = None
        self._queue: QueueController | None = None
        self._closed = False

    @property
    def engine(self) -> Engine:
        """The app's engine (its thread starts with the first job). After ``shutdown`` it is a
        stopped engine that drops new jobs (e.g. from a timer firing while the window closes)."""
        if self._engine is None:
            from gui.engine import Engine

            self._engine = Engine(self)
            if self._closed:
                self._engine.shutdown()
        return self._engine

    @property
    def queue(self) -> QueueController:
        """The job queue (opens the queue database on first use; see gui/queue_controller.py)."""
        if self._queue is None:
            from gui.queue_controller import QueueController

            self._queue = QueueController(self, parent=self)
            if self._closed:
                self._queue.close()
        return self._queue

    @property
    def has_queue(self) -> bool:
        return self._queue is not None

    @property
    def has_engine(self) -> bool:
        return self._engine is not None

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        """Cancel running jobs and stop the engine thread (no-op when it never started)."""
        self._closed = True
        if self._queue is not None:
            self._queue.close()
        if self._engine is None:
            return True
        return self._engine.shutdown(timeout_ms)
