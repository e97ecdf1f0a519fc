"""The repack wizard's summary (before) and verification report (after), as rich text.

Pure string builders over core.repack's plan and report, so what the user reads can be tested
without a window and stays in one place.
"""

from __future__ import annotations

import html
from typing import Any

from core.repack.rename import to_diffusers
from gui.widgets.models_format import (
    MEMORY_MODE_LABELS,
    family_label,
    human_bytes,
    human_duration,
    quantization_label,
)
from gui.wizard.widgets import GOOD_COLOUR, PROBLEM_COLOUR, WARNING_COLOUR

RENAME_EXAMPLES = (
    "blocks.0.self_attn.q.weight",
    "blocks.0.norm3.weight",
    "blocks.0.ffn.0.weight",
    "head.head.weight",
)
EXPERT_SOURCES = {"transformer": "high_noise_model", "transformer_2": "low_noise_model"}

_STYLE = (
    "<style>"
    "h3 { margin: 10px 0 4px 0; font-size: 11pt; }"
    "table { border-collapse: collapse; margin: 2px 0 6px 0; }"
    "th { text-align: left; padding: 2px 10px 2px 0; color: #555; font-weight: 600; }"
    "td { padding: 2px 10px 2px 0; }"
    "code { font-family: monospace; }"
    "</style>"
)


def _path(path: Any) -> str:
    return f"<code>{html.escape(str(path))}</code>"


def _items(items: list[str]) -> str:
    return "<ul style='margin-top:0'>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _coloured(colour: str, text: str) -> str:
    return f"<span style='color:{colour}'>{html.escape(text)}</span>"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def summary_html(planned: Any) -> str:
    """What a repack will read, write and rename (``planned``: findings.PlannedRepack)."""
    plan = planned.plan
    export_files = sorted({p for t in plan.transformers for p in t.weight_files})
    export_bytes = sum(p.stat().st_size for p in export_files if p.exists())
    linked = plan.link and plan.linkable
    parts = [_STYLE, f"<p><b>{html.escape(family_label(plan.family))}</b></p>"]

    parts.append("<h3>Read</h3>")
    parts.append(
        _items(
            [
                f"msmodelslim export {_path(plan.quant)}: {len(export_files)} weight file(s), "
                f"{human_bytes(export_bytes)}",
                f"original model {_path(plan.original)}: {len(plan.components)} file(s) of "
                f"{html.escape(', '.join(_component_names(plan))) or 'no other components'} "
                f"({human_bytes(plan.component_bytes)}) and the transformer config(s)",
            ]
        )
    )

    parts.append("<h3>Write</h3>")
    rows = []
    for t in plan.transformers:
        rows.append(
            [
                f"<code>{t.target}/</code>",
                f"<code>{html.escape(_source_name(plan, t))}</code>",
                str(len(t.tensors)),
                str(len(t.quantized_layers)),
                str(t.float_tensors),
                human_bytes(t.file_bytes),
            ]
        )
    parts.append(f"<p>New folder {_path(plan.output)}:</p>")
    parts.append(
        _table(["Transformer", "From", "Tensors", "MXFP8 layers", "Float tensors", "Size"], rows)
    )
    how = "hard-linked (no extra space)" if linked else "copied"
    parts.append(
        _items(
            [
                f"{len(plan.components)} component file(s) {how}: "
                f"{human_bytes(plan.component_bytes)}",
                f"<b>{human_bytes(plan.bytes_to_write)}</b> written in all, first into a hidden "
                "temporary folder next to it; it gets its name only once verified",
                "each transformer's config.json is marked as an MXFP8 checkpoint",
            ]
        )
    )

    parts.append("<h3>Renamed</h3>")
    renamed = sum(t.renamed for t in plan.transformers)
    examples = [
        f"<code>{k}</code> → <code>{html.escape(to_diffusers(k))}</code>" for k in RENAME_EXAMPLES
    ]
    lines = [
        f"{renamed} tensor name(s) go from Wan-native to Diffusers names, descriptions with them"
    ]
    if len(plan.transformers) == 2:
        lines.append(
            "<code>high_noise_model/</code> → <code>transformer/</code>, "
            "<code>low_noise_model/</code> → <code>transformer_2/</code>"
        )
    lines.append("for example " + "; ".join(examples))
    parts.append(_items(lines))

    if plan.warnings:
        parts.append("<h3>Notes</h3>")
        parts.append(_items([_coloured(WARNING_COLOUR, w) for w in plan.warnings]))
    parts.append(
        "<p style='color:#555'>The export and the original are only read; nothing in them "
        "changes.</p>"
    )
    return "".join(parts)


def _component_names(plan: Any) -> list[str]:
    names = []
    for item in plan.components:
        top = item.rel.split("/", 1)[0]
        if "/" in item.rel and top not in names:
            names.append(top)
    return names


def _source_name(plan: Any, tplan: Any) -> str:
    if tplan.export_dir == plan.quant:
        return plan.quant.name + "/"
    return tplan.export_dir.name + "/"


def report_html(outcome: Any) -> str:
    """The verification report of a finished repack (``outcome``: findings.RepackOutcome)."""
    report, info = outcome.report, outcome.info
    parts = [_STYLE]
    verdict = (
        _coloured(GOOD_COLOUR, "✔ Repacked and verified")
        if not info.problems
        else _coloured(PROBLEM_COLOUR, "✖ Repacked, but the result has problems")
    )
    parts.append(
        f"<p><b>{verdict}</b> in {human_duration(report.seconds)}: {_path(report.output)}</p>"
    )
    rows = []
    for t in report.transformers:
        rows.append(
            [
                f"<code>{t.target}/</code>",
                str(t.tensors),
                str(t.quantized_layers),
                human_bytes(t.scale_bytes_scanned),
                str(t.float_tensors),
                str(len(t.skipped_attention_entries)),
                human_bytes(t.bytes),
            ]
        )
    parts.append("<h3>Verified</h3>")
    parts.append(
        _table(
            [
                "Transformer",
                "Tensors",
                "MXFP8 layers",
                "Scales checked",
                "Float tensors",
                "Skipped",
                "Size",
            ],
            rows,
        )
    )
    components = f"{report.components_copied} component file(s) copied"
    if report.components_linked:
        components += f", {report.components_linked} hard-linked"
    parts.append(
        _items(
            [
                "every tensor is present with the shape the model needs, and reads back through "
                "the safetensors library",
                "every MXFP8 scale byte was checked: no NaN scale (0xFF)",
                f"{components}; {human_bytes(report.copied_bytes)} written",
            ]
        )
    )
    parts.append("<h3>As the app sees it</h3>")
    facts = [
        f"{html.escape(family_label(info.family))}, "
        f"{html.escape(quantization_label(info.quantization, info.is_demo))}, "
        f"{info.experts} transformer(s), {human_bytes(info.size_bytes)} on disk"
    ]
    for mode, size in info.memory_estimate.items():
        label = MEMORY_MODE_LABELS.get(mode, mode)
        facts.append(f"weights in memory, {html.escape(label)}: {human_bytes(size)}")
    facts += [_coloured(PROBLEM_COLOUR, p) for p in info.problems]
    facts += [_coloured(WARNING_COLOUR, w) for w in info.warnings]
    parts.append(_items(facts))
    if report.notes:
        parts.append("<h3>Notes</h3>")
        parts.append(_items([html.escape(n) for n in report.notes]))
    return "".join(parts)
