"""App-wide signals between workspaces, owned by the main window (no global singleton).

Workspaces receive the bus in their constructor and talk through it, so none of them needs
to know another's widgets: e.g. Models emits ``use_model`` and Generate selects that model.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class AppBus(QObject):
    use_model = Signal(str)  # model folder path: select it in Generate and show Generate
    apply_settings = Signal(dict)  # request dict (from a preset, history or a dropped video)
    library_changed = Signal()  # the model library was edited
    presets_changed = Signal()  # a user preset was saved, renamed, deleted or imported
    history_changed = Signal()  # a new video was written
    status = Signal(str)  # one-line message for the status bar
    show_workspace = Signal(str)  # workspace title to bring to front
