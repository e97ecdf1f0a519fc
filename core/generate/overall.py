"""Overall progress of a job as one fraction, weighted by how long each stage usually takes.

Users read one bar (pain point 15: "progress semantics"), so stages get weights in "step units"
(the cost of one denoising step, both CFG passes):

- load: 8 steps when the model is (re)loaded, 0 when it is warm;
- encode: 0.5; every denoising step: 1;
- decode: a share of the denoising steps: 8% with the Wan2.1 VAE (A14B: about 3 of 40 steps)
  and 70% with the Wan2.2 VAE (TI2V-5B, whose decode is 39-52% of the total in user reports,
  wan22.md pain point 12);
- write: 0.3.

When the runner has measured the same job shape before (same model, size, frames, steps),
those seconds replace the estimates, so a repeated job's bar is close to linear in time.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.generate.events import (
    STAGE_DECODE,
    STAGE_DENOISE,
    STAGE_DENOISE_HIGH,
    STAGE_DENOISE_LOW,
    STAGE_ENCODE,
    STAGE_LOAD,
    STAGE_WRITE,
)

LOAD_STEPS = 8.0
ENCODE_STEPS = 0.5
WRITE_STEPS = 0.3
DECODE_SHARE = {"wan21": 0.08, "wan22": 0.70}


@dataclass
class OverallProgress:
    """Maps (stage, fraction within the stage) to the job's overall fraction 0..1."""

    weights: dict[str, float]  # stage -> weight, any units; order = execution order

    @classmethod
    def estimate(
        cls,
        high_steps: int,
        low_steps: int,
        two_experts: bool,
        wan22_vae: bool,
        loading: bool,
        measured: dict[str, float] | None = None,
    ) -> OverallProgress:
        """Weights for a job; ``measured`` (seconds per stage of the same job shape) wins."""
        steps = high_steps + low_steps
        weights: dict[str, float] = {}
        if loading:
            weights[STAGE_LOAD] = LOAD_STEPS
        weights[STAGE_ENCODE] = ENCODE_STEPS
        if two_experts:
            weights[STAGE_DENOISE_HIGH] = float(high_steps)
            weights[STAGE_DENOISE_LOW] = float(low_steps)
        else:
            weights[STAGE_DENOISE] = float(steps)
        weights[STAGE_DECODE] = max(0.5, DECODE_SHARE["wan22" if wan22_vae else "wan21"] * steps)
        weights[STAGE_WRITE] = WRITE_STEPS
        if measured and all(
            measured.get(s, 0) > 0 for s, w in weights.items() if s != STAGE_LOAD and w > 0
        ):
            # Rescale measured seconds into step units via the measured step time, keeping the
            # load estimate (it depends on the disk cache, not on the job shape).
            denoise = sum(
                measured.get(s, 0.0) for s in (STAGE_DENOISE_HIGH, STAGE_DENOISE_LOW, STAGE_DENOISE)
            )
            per_step = denoise / steps if steps and denoise > 0 else None
            if per_step:
                for stage in weights:
                    if stage != STAGE_LOAD and weights[stage] > 0:
                        weights[stage] = measured[stage] / per_step
        return cls(weights)

    def at(self, stage: str, fraction: float = 0.0) -> float:
        """Overall fraction when ``stage`` is ``fraction`` done (stages before it complete)."""
        total = sum(self.weights.values())
        if total <= 0 or stage not in self.weights:
            return 0.0
        done = 0.0
        for name, weight in self.weights.items():
            if name == stage:
                done += weight * min(1.0, max(0.0, fraction))
                break
            done += weight
        return min(1.0, done / total)
