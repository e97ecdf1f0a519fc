"""msmodelslim MXFP8 export + original BF16 Diffusers folder -> a loadable Diffusers folder.

    from core.repack import plan, run
    p = plan(original, quant, output, model_type=None, link=False)   # headers only, no writes
    if p.ok:
        report = run(p, progress=callback, cancel=token)               # streaming, atomic

``plan`` collects every input problem (``plan.problems``) and what will be read, written and
renamed; ``run`` writes into a hidden sibling folder, verifies it and renames it into place.
Errors: RepackInputError (bad input; exit code 2), RepackFailed (the work failed; exit code 1),
core.progress.Cancelled. Facts: shared/reference/msmodelslim.md. Test fixtures that produce
msmodelslim-style exports from demo models: core.repack.fixtures.
"""

from core.repack.errors import RepackFailed, RepackInputError
from core.repack.planner import (
    ATTENTION_NOTE,
    OUTPUT_DESCRIPTION,
    OUTPUT_WEIGHTS,
    QUANTIZATION_CONFIG,
    RepackPlan,
    TransformerPlan,
    plan,
)
from core.repack.runner import RepackReport, TransformerReport, run
from core.repack.verify import (
    NanScaleError,
    TransformerCheck,
    VerificationError,
    verify_output,
    verify_transformer,
)

__all__ = [
    "ATTENTION_NOTE",
    "OUTPUT_DESCRIPTION",
    "OUTPUT_WEIGHTS",
    "QUANTIZATION_CONFIG",
    "NanScaleError",
    "RepackFailed",
    "RepackInputError",
    "RepackPlan",
    "RepackReport",
    "TransformerCheck",
    "TransformerPlan",
    "TransformerReport",
    "VerificationError",
    "plan",
    "run",
    "verify_output",
    "verify_transformer",
]
