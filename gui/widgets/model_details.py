"""The Models workspace's details pane: everything ``inspect_folder`` found, in plain words.

``details_html`` is a pure function (testable without a window); ``ModelDetails`` shows it in
a read-only browser whose long paths wrap.
"""

from __future__ import annotations

import html
from datetime import datetime
from typing import Any

from PySide6.QtGui import QTextOption
from PySide6.QtWidgets import QTextBrowser, QWidget

from core.models.catalog import FAMILIES
from gui.widgets.models_format import (
    MEMORY_MODE_LABELS,
    STATUS_COLOURS,
    STATUS_LABELS,
    component_label,
    family_label,
    gui_wording,
    human_bytes,
    layout_label,
    quantization_label,
    status_reason,
)

PROBLEM = "#b03a2e"
WARNING = "#8a5a00"

_STYLE = (
    "<style>"
    "h2 { margin: 0 0 2px 0; font-size: 13pt; }"
    "h3 { margin: 12px 0 4px 0; font-size: 10.5pt; }"
    "table { border-collapse: collapse; }"
    "th { text-align: left; padding: 1px 12px 1px 0; color: #555; font-weight: 600; }"
    "td { padding: 1px 12px 1px 0; }"
    "</style>"
)


def _when(stamp: str | None) -> str:
    if not stamp:
        return "never"
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _rows(pairs: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in pairs) + "</table>"


def _list(items: list[str], colour: str | None = None) -> str:
    style = f" style='color:{colour}'" if colour else ""
    return (
        "<ul style='margin-top:0'>"
        + "".join(f"<li{style}>{html.escape(i)}</li>" for i in items)
        + "</ul>"
    )


def details_html(entry: Any, info: Any | None, status: str) -> str:
    """A LibraryEntry, its FolderInfo (None while being read) and its status word, as HTML."""
    colour, _ = STATUS_COLOURS.get(status, ("#333", "#fff"))
    parts = [
        _STYLE,
        f"<h2>{html.escape(entry.name)}</h2>",
        f"<p style='margin-top:0'><code>{html.escape(str(entry.path))}</code></p>",
        f"<p><b style='color:{colour}'>{STATUS_LABELS.get(status, status)}</b> — "
        f"{html.escape(status_reason(status, info))}</p>",
    ]
    family = info.family if info is not None and info.family else entry.family
    layout = info.layout if info is not None and info.layout != "unknown" else entry.layout
    facts = [
        ("Family", html.escape(family_label(family))),
        ("Layout", html.escape(layout_label(layout))),
    ]
    if info is not None and info.layout != "unknown":
        facts += [
            ("Quantization", html.escape(quantization_label(info.quantization, info.is_demo))),
            ("Transformers", str(info.experts)),
            ("Size on disk", human_bytes(info.size_bytes)),
        ]
    facts += [("Added", _when(entry.added)), ("Last used", _when(entry.last_used))]
    if entry.notes:
        facts.append(("Notes", html.escape(entry.notes)))
    parts.append(_rows(facts))
    if info is None:
        parts.append("<p style='color:#666'>Reading the folder…</p>")
        return "".join(parts)

    if info.problems:
        parts.append("<h3>Problems</h3>")
        parts.append(_list([gui_wording(p) for p in info.problems], PROBLEM))
    if info.warnings:
        parts.append("<h3>Warnings</h3>")
        parts.append(_list([gui_wording(w) for w in info.warnings], WARNING))

    if info.components:
        parts.append("<h3>Components</h3>")
        marks = []
        experts = FAMILIES[info.family].experts if info.family in FAMILIES else None
        for name, present in info.components.items():
            if name == "transformer_2" and not present and experts == 1:
                continue  # a one-transformer family: nothing is missing
            label = html.escape(component_label(name, info.family))
            marks.append(
                f"<span style='color:#1e7b34'>✔ {label}</span>"
                if present
                else f"<span style='color:{PROBLEM}'>✖ {label} (missing)</span>"
            )
        parts.append("<p>" + "<br>".join(marks) + "</p>")

    if info.layer_counts:
        parts.append("<h3>Linear layers</h3>")
        rows = "".join(
            f"<tr><td><code>{html.escape(name)}</code></td><td>{c.get('quantized', 0)}</td>"
            f"<td>{c.get('float', 0)}</td><td>{c.get('block_linears', 0)}</td></tr>"
            for name, c in info.layer_counts.items()
        )
        parts.append(
            "<table><tr><th>Transformer</th><th>MXFP8</th><th>High precision</th>"
            f"<th>In blocks</th></tr>{rows}</table>"
        )

    if info.memory_estimate:
        parts.append("<h3>Weight memory by quantization mode</h3>")
        rows = "".join(
            f"<tr><td>{html.escape(MEMORY_MODE_LABELS.get(mode, mode))}</td>"
            f"<td>{human_bytes(size)}</td></tr>"
            for mode, size in info.memory_estimate.items()
        )
        parts.append(f"<table>{rows}</table>")
        parts.append(
            "<p style='color:#666'>Weights only, computing in "
            f"{html.escape(info.memory_dtype)}; activations and the VAE decode come on top.</p>"
        )

    if info.description_files:
        parts.append("<h3>Quantization descriptions</h3>")
        parts.append(
            "<p>"
            + "<br>".join(
                f"<code>{html.escape(k)}</code>: <code>{html.escape(v)}</code>"
                for k, v in info.description_files.items()
            )
            + "</p>"
        )
    return "".join(parts)


class ModelDetails(QTextBrowser):
    """Read-only details of the selected model (or a hint when none is selected)."""

    EMPTY = (
        "<p style='color:#666'>Select a model to see what is in its folder: family, layout, "
        "quantization, components, layers, memory needed and any problems.</p>"
    )

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setHtml(self.EMPTY)

    def show_model(self, entry: Any, info: Any | None, status: str) -> None:
        self.setHtml(details_html(entry, info, status))

    def clear_model(self) -> None:
        self.setHtml(self.EMPTY)
