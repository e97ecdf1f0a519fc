"""Device memory in use and free during a run (wan22.md pain point 11: "will it fit?").

Polled once a second while a run is going, on the I/O pool (``run_io``), never on the GUI
thread: the reading is core.generate.memory.device_memory, which reads /proc for the CPU and
asks torch (already imported by the run) for an accelerator. A poll is skipped while the
previous one is still out, so a slow driver can never pile them up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from core.humanize import human_bytes
from gui.widgets.elided_label import ElidedLabel

POLL_MS = 1000


def memory_text(reading: Any) -> str:
    """ "Memory (cpu): 1.2 GB used by Wan Studio · 5.3 GB free" from a DeviceMemory."""
    if reading.used is None and reading.free is None:
        return f"Memory ({reading.device}): not reported by this device"
    whose = "used by Wan Studio" if reading.scope == "process" else "in use"
    total = f" of {human_bytes(reading.total)}" if reading.total else ""
    return (
        f"Memory ({reading.device}): {human_bytes(reading.used, '?')} {whose} · "
        f"{human_bytes(reading.free, '?')} free{total}"
    )


class MemoryMeter(ElidedLabel):
    """One line under the progress panel; empty until the first run's plan names its device."""

    def __init__(self, run_io: Callable[..., Any], parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.setObjectName("hint")
        self._run_io = run_io
        self.device: str | None = None
        self.readings: list[Any] = []  # this run's readings (tests and the tooltip use them)
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self.poll)

    @property
    def polling(self) -> bool:
        return self._timer.isActive()

    def start(self, device: str) -> None:
        """Start polling ``device`` (the plan event's device), with a first reading now."""
        self.device = device
        self.readings = []
        self._timer.start()
        self.poll()

    def stop(self) -> None:
        """Stop polling; the last reading stays shown."""
        self._timer.stop()

    def poll(self) -> None:
        if self._pending or self.device is None:
            return
        from core.generate.memory import device_memory

        device = self.device
        self._pending = True
        self._run_io(lambda: device_memory(device), on_done=self._show, on_error=self._failed)

    def _show(self, reading: Any) -> None:
        self._pending = False
        self.readings.append(reading)
        peak = max((r.used for r in self.readings if r.used is not None), default=None)
        tip = f"Highest this run: {human_bytes(peak)}" if peak is not None else ""
        self.set_full_text(memory_text(reading), tooltip=tip)

    def _failed(self, error: Any) -> None:
        self._pending = False
        self.set_full_text(f"Memory: could not be read ({error.message})")


__all__ = ["MemoryMeter", "memory_text"]
