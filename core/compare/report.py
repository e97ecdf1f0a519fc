"""The report folder: each variant's MP4, a labelled side-by-side grid, report.json, plots and
a self-contained report.html (the plots embedded as PNG).

report.json is strict JSON: an infinite PSNR (identical frames) is written as the string
"inf" and ``load_report`` turns it back into a float. Plots use matplotlib's object API on the
Agg canvas (no pyplot state, safe off the GUI thread).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.atomicio import atomic_write_bytes, atomic_write_text
from core.compare.metrics import read_video
from core.compare.variants import Variant
from core.generate.request import GenerationRequest

REPORT_JSON = "report.json"
REPORT_HTML = "report.html"
GRID_VIDEO = "grid.mp4"
PLOTS_DIR = "plots"
REPORT_KIND = "wan-studio.compare"
SCHEMA_VERSION = 1
PLOTS = {
    "psnr": "PSNR per frame (dB, vs reference)",
    "ssim": "SSIM per frame (vs reference)",
    "cosine": "Latent 1 - cosine per step (vs reference)",
    "rel_error": "Latent relative error per step (vs reference)",
    "weights": "Weight relative Frobenius error per MXFP8 layer",
}


class ReportError(ValueError):
    """A folder that is not a readable compare report."""


def _finite_mean(values: list[float]) -> float:
    """Mean over the frames that differ (identical frames have PSNR inf); inf if none do."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.inf if values else math.nan
    return float(sum(finite) / len(finite))


def summarize(result: dict[str, Any]) -> dict[str, Any]:
    """One table row of a variant: means/minima and the final-step latent figures."""
    psnr = result["frames"]["psnr"]
    ssim = result["frames"]["ssim"]
    cos = result["latents"]["cosine"]
    rel = result["latents"]["rel_error"]
    weights = list(result["weights"].values())
    return {
        "psnr_min": min(psnr) if psnr else math.nan,
        "psnr_mean": _finite_mean(psnr) if psnr else math.nan,
        "ssim_min": min(ssim) if ssim else math.nan,
        "ssim_mean": float(np.mean(ssim)) if ssim else math.nan,
        "latent_cosine_final": cos[-1] if cos else math.nan,
        "latent_rel_error_final": rel[-1] if rel else math.nan,
        "weight_error_mean": float(np.mean(weights)) if weights else None,
        "weight_error_max": max(weights) if weights else None,
        "mxfp8_layers": len(weights),
    }


def encode_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else ("-inf" if value < 0 else "nan")
    if isinstance(value, dict):
        return {k: encode_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_json(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if value in ("inf", "-inf", "nan"):
        return float(value)
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def load_report(folder: str | Path) -> dict[str, Any]:
    """The report of a compare folder (infinities restored); ReportError says what is wrong."""
    path = Path(folder) / REPORT_JSON
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{folder} has no {REPORT_JSON}: not a compare report folder") from None
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path} cannot be read as JSON ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
        raise ReportError(f"{path} is not a Wan Studio compare report")
    report = _decode(data)
    report["folder"] = str(Path(folder).absolute())
    return report


# ---- grid -----------------------------------------------------------------------------------
def grid_frames(videos: list[np.ndarray], labels: list[str]) -> np.ndarray:
    """Side-by-side uint8 frames with a label bar above each tile (tiles scaled up to at least
    160 px wide by whole factors, so tiny demo videos stay readable and nothing is resampled)."""
    from PIL import Image, ImageDraw, ImageFont

    count = min(len(v) for v in videos)
    h, w = videos[0].shape[1:3]
    scale = max(1, math.ceil(160 / w))
    tile_w, tile_h = w * scale, h * scale
    bar = 32
    font = ImageFont.load_default(size=14)
    header = Image.new("RGB", (tile_w * len(videos), bar), (24, 24, 24))
    draw = ImageDraw.Draw(header)
    for i, label in enumerate(labels):
        text = label if len(label) <= tile_w // 8 else label[: max(1, tile_w // 8 - 1)] + "…"
        draw.text((i * tile_w + 6, 8), text, fill=(235, 235, 235), font=font)
    head = np.asarray(header)
    out = np.empty((count, bar + tile_h, tile_w * len(videos), 3), dtype=np.uint8)
    out[:, :bar] = head
    for i, video in enumerate(videos):
        tiles = video[:count].repeat(scale, axis=1).repeat(scale, axis=2)
        out[:, bar:, i * tile_w : (i + 1) * tile_w] = tiles
    return out


# ---- plots ----------------------------------------------------------------------------------
def render_plots(report: dict[str, Any]) -> dict[str, bytes]:
    """PNG bytes of each plot in PLOTS (the weights plot only when MXFP8 layers exist)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    variants = report["variants"]
    others = variants[1:]
    out: dict[str, bytes] = {}

    def png(fig: Figure) -> bytes:
        FigureCanvasAgg(fig)
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=96)
        return buffer.getvalue()

    for key in PLOTS:
        fig = Figure(figsize=(6.4, 3.2), layout="constrained")
        ax = fig.add_subplot()
        ax.set_title(PLOTS[key], fontsize=10)
        drawn = False
        for v in others if key != "weights" else variants:
            if key in ("psnr", "ssim"):
                ys = v["frames"][key]
                xs = list(range(1, len(ys) + 1))
                finite = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y)]
                label = v["label"] if finite else f"{v['label']} (identical)"
                if finite:
                    ax.plot(*zip(*finite, strict=True), marker=".", label=label)
                else:
                    ax.plot([], [], label=label)
                ax.set_xlabel("frame")
            elif key in ("cosine", "rel_error"):
                ys = v["latents"]["cosine" if key == "cosine" else "rel_error"]
                if key == "cosine":
                    ys = [1.0 - c for c in ys]
                xs = list(range(1, len(ys) + 1))
                positive = [(x, y) for x, y in zip(xs, ys, strict=True) if y > 0]
                if positive:
                    ax.plot(*zip(*positive, strict=True), marker=".", label=v["label"])
                    ax.set_yscale("log")
                else:
                    ax.plot([], [], label=f"{v['label']} (identical)")
                ax.set_xlabel("denoising step")
            else:
                ys = list(v["weights"].values())
                if not ys:
                    continue
                ax.plot(range(1, len(ys) + 1), ys, marker=".", linewidth=0.8, label=v["label"])
                ax.set_xlabel("MXFP8 layer (model order)")
            drawn = True
        if key == "weights" and not drawn:
            continue
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        out[key] = png(fig)
    return out


# ---- html -----------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        if math.isnan(value):
            return "—"
        return f"{value:.{digits}g}"
    return str(value)


def table_rows(report: dict[str, Any]) -> list[list[str]]:
    """The metrics table (header first), shared by report.html and the GUI view."""
    rows = [
        [
            "variant",
            "quant",
            "dtype",
            "PSNR mean dB",
            "PSNR min dB",
            "SSIM mean",
            "SSIM min",
            "latent cos (final)",
            "latent rel err (final)",
            "weight err mean",
            "time s",
            "denoise s",
            "peak memory",
        ]
    ]
    from core.humanize import human_bytes

    for v in report["variants"]:
        s = v["summary"]
        rows.append(
            [
                v["label"],
                str(v.get("quant")),
                str(v.get("dtype")),
                _fmt(s["psnr_mean"]),
                _fmt(s["psnr_min"]),
                _fmt(s["ssim_mean"], 6),
                _fmt(s["ssim_min"], 6),
                _fmt(s["latent_cosine_final"], 8),
                _fmt(s["latent_rel_error_final"]),
                _fmt(s["weight_error_mean"]),
                f"{v['seconds']:.2f}",
                f"{sum(s for k, s in v['timings'].items() if k.startswith('denoise')):.2f}",
                human_bytes(v["peak_memory_bytes"]) if v["peak_memory_bytes"] else "—",
            ]
        )
    return rows


def _html(report: dict[str, Any], plots: dict[str, bytes]) -> str:
    esc = html.escape
    rows = table_rows(report)
    head = "".join(f"<th>{esc(c)}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows[1:]
    )
    req = report["request"]
    images = "".join(
        f'<figure><img alt="{esc(PLOTS[k])}" src="data:image/png;base64,'
        f'{base64.b64encode(data).decode("ascii")}"></figure>'
        for k, data in plots.items()
    )
    notes = "".join(
        f"<li>{esc(v['label'])}: {esc(v['weights_note'])}</li>"
        for v in report["variants"]
        if v.get("weights_note")
    )
    videos = ", ".join(esc(v["video"]) for v in report["variants"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Wan Studio compare</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
figure {{ display: inline-block; margin: 0.5em; }}
code {{ background: #f3f3f3; padding: 0 3px; }}
</style></head><body>
<h1>Wan Studio compare</h1>
<p>Model <code>{esc(str(req.get("model")))}</code>, prompt <q>{esc(str(req.get("prompt")))}</q>,
{req.get("width")}x{req.get("height")}, {req.get("frames")} frames, {req.get("steps")} steps,
seed {report["seed"]}. Reference: <b>{esc(report["reference"])}</b>. Created {esc(report["created"])}.</p>
<p>Every variant ran the identical request and seed, one model resident at a time. PSNR/SSIM
(scikit-image) are per frame of the decoded videos against the reference; latent figures after
every denoising step; weight error is ||dequant(W<sub>MXFP8</sub>) − W||<sub>F</sub> / ||W||<sub>F</sub>
per MXFP8 layer against the reference folder's weights. "time s" is the whole run (load
included, and for the first variant the one-time imports); "denoise s" the denoising steps
only; peak memory is {esc(report["variants"][0].get("memory_scope") or "unknown")}.</p>
<table><tr>{head}</tr>{body}</table>
{f"<ul>{notes}</ul>" if notes else ""}
<p>Videos: {videos}; side by side: {GRID_VIDEO}.</p>
{images}
</body></html>
"""


def write_report_folder(
    folder: Path,
    base: GenerationRequest,
    variants: list[Variant],
    results: list[dict[str, Any]],
) -> None:
    """Write the grid, plots, report.json and report.html into ``folder`` (the runs' MP4s are
    already there)."""
    from core.generate.video import write_video

    for result in results:
        result["summary"] = summarize(result)
    report = {
        "kind": REPORT_KIND,
        "schema": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "request": base.to_dict(),
        "seed": base.seed,
        "reference": results[0]["label"],
        "grid": GRID_VIDEO,
        "variants": results,
    }
    videos = [read_video(folder / r["video"]) for r in results]
    write_video(grid_frames(videos, [r["label"] for r in results]), folder / GRID_VIDEO, base.fps)
    plots = render_plots(report)
    (folder / PLOTS_DIR).mkdir()
    for key, data in plots.items():
        atomic_write_bytes(folder / PLOTS_DIR / f"{key}.png", data)
    report["plots"] = {key: f"{PLOTS_DIR}/{key}.png" for key in plots}
    atomic_write_text(folder / REPORT_JSON, json.dumps(encode_json(report), indent=2) + "\n")
    atomic_write_text(folder / REPORT_HTML, _html(report, plots))
