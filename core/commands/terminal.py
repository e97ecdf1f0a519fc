"""Progress of a run on a terminal: one updating line on a tty, plain lines otherwise.

Shared by `wan-studio generate` and `wan-studio queue run`.
"""

from __future__ import annotations

import shutil
import time
from typing import Any, TextIO


def summary(outcome: Any) -> dict[str, Any]:
    data = outcome.to_dict()
    data.pop("overall", None)
    return {"status": data.pop("kind"), **data}


_QUANT_NAMES = {
    "none": "no MXFP8",
    "mxfp8-online": "MXFP8 online",
    "mxfp8-offline": "MXFP8 offline",
    "mixed": "MXFP8 mixed",
}


def _quant_text(plan: Any) -> str:
    """'MXFP8 offline: 40 layers, reference backend' (or 'no MXFP8') for the plan line."""
    name = _QUANT_NAMES.get(plan.quant, plan.quant)
    if not plan.quantized_layers:
        return name
    return f"{name}: {plan.quantized_layers} layers, {plan.backend} backend"


def lora_lines(applied: list[dict[str, Any]]) -> list[str]:
    """One line per LoRA item of the plan: strength and matched layers per expert."""
    by_label: dict[str, list[str]] = {}
    for entry in applied:
        where = "" if entry["expert"] == "single" else f"{entry['expert']} "
        by_label.setdefault(entry["label"], []).append(
            f"{where}{entry['strength']:g} ({entry['matched']}/{entry['total']} layers)"
        )
    return [f"LoRA {label}: " + ", ".join(parts) for label, parts in by_label.items()]


STAGE_NAMES = {
    "load": "model loaded",
    "encode": "prompt encoded",
    "denoise_high": "high-noise expert",
    "denoise_low": "low-noise expert",
    "denoise": "denoising",
    "decode": "decoding",
    "write": "video written",
}


class TerminalProgress:
    """Event -> stderr: one updating line on a terminal, plain lines otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.width = shutil.get_terminal_size((100, 20)).columns
        self._line_open = False
        self._last_draw = 0.0

    def note(self, text: str) -> None:
        self._end_line()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        self._end_line()

    def on_event(self, event: Any) -> None:
        kind = event.kind
        pct = f"{event.overall * 100:3.0f}%"
        if kind == "started":
            demo = " (demo model: random weights)" if event.demo else ""
            self.note(f"seed {event.seed}, {event.family}{demo}")
        elif kind == "plan":
            switch = (
                f", high → low at step {event.switch_step}/{event.steps}"
                if event.switch_step is not None
                else ""
            )
            self.note(
                f"{event.width}x{event.height}, {event.frames} frames at {event.fps} fps "
                f"({event.frames / event.fps:.1f} s), {event.steps} steps{switch}; "
                f"{event.device} {event.dtype}, offload {event.offload}; {_quant_text(event)}"
            )
            for line in lora_lines(event.loras):
                self.note(line)
        elif kind == "stage_started":
            self._status(f"{pct} {event.label}...", force=True)
            if not self.tty:
                self.note(f"{pct} {event.label}")
        elif kind == "stage_skipped":
            if event.stage == "load":
                self.note(f"model already loaded ({event.reason})")
            else:
                self.note(f"{event.stage} skipped: {event.reason}")
        elif kind == "stage_progress":
            if self.tty:
                self._status(f"{pct} {event.stage}: {event.message} {event.fraction * 100:.0f}%")
        elif kind == "step":
            eta = _clock(event.eta_seconds) if event.eta_seconds is not None else "--:--"
            text = (
                f"{pct} step {event.overall_index}/{event.overall_total} "
                f"({event.expert} expert {event.index}/{event.total}) "
                f"{event.it_per_s:.2f} it/s, ETA {eta}"
            )
            if self.tty:
                self._status(text, force=event.index == event.total)
            else:
                self.note(text)
        elif kind == "expert_switch":
            self.note(f"switching experts: {event.label}")
        elif kind == "stage_finished":
            if not self.tty:
                label = STAGE_NAMES.get(event.stage, event.stage)
                self.note(f"{pct} {label}: {event.seconds:.2f} s")
        elif kind == "warning":
            self.note(f"warning: {event.message}")
        elif kind == "done":
            total = event.timings.get("total", 0.0)
            demo = " [demo model: random weights]" if event.demo else ""
            self.note(f"done in {total:.1f} s: {event.video}{demo}")

    def _status(self, text: str, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.perf_counter()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[K" + text[: self.width - 1])
        self.stream.flush()
        self._line_open = True

    def _end_line(self) -> None:
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._line_open = False


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
