"""A/B comparison of one request under several variants (precision, MXFP8 mode, scale rule,
backend, LoRA on/off): the same request and seed through the one Runner, one model resident at
a time, measured against the first variant and written as one report folder.

- ``variants``: the variant grammar (``bf16``, ``mxfp8-online:floor``, ``mxfp8-offline=DIR``...)
- ``metrics``: PSNR/SSIM per frame (scikit-image), latent cosine / relative error per step,
  per-layer weight error of the MXFP8 layers, peak memory
- ``run``: runs the variants and collects the measurements
- ``report``: the folder (videos, labelled grid, report.json, self-contained report.html)

Qt-free; the GUI's compare view only plays and shows what a report folder holds.
"""

from core.compare.report import REPORT_JSON, load_report
from core.compare.run import CompareError, run_compare
from core.compare.variants import Variant, VariantError, parse_variants

__all__ = [
    "REPORT_JSON",
    "CompareError",
    "Variant",
    "VariantError",
    "load_report",
    "parse_variants",
    "run_compare",
]
