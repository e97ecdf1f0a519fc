"""The scheduler of one job: the model folder's own (``solver="default"``) or a chosen solver,
always with the job's flow shift.

``unipc`` is the official Wan2.2 sampler (flow prediction, flow sigmas); ``euler`` is diffusers'
FlowMatchEulerDiscreteScheduler, the sampler the 4-step Lightning distills were trained and
documented with (lightx2v workflows: Euler, shift 5). Both shift sigmas the same way
(``s * sigma / (1 + (s - 1) * sigma)``), so ``shift`` means the same thing in each.
"""

from __future__ import annotations

from typing import Any

SOLVERS = ("default", "unipc", "euler")  # torch-free at import: requests validate against it


def build_scheduler(folder_config: dict[str, Any], solver: str, shift: float) -> Any:
    """A fresh scheduler for one job (``folder_config``: the model folder's scheduler config)."""
    import diffusers

    config = dict(folder_config)
    name = str(config.get("_class_name", "UniPCMultistepScheduler"))
    train = int(config.get("num_train_timesteps", 1000))
    if solver == "euler" and name != "FlowMatchEulerDiscreteScheduler":
        return diffusers.FlowMatchEulerDiscreteScheduler(num_train_timesteps=train, shift=shift)
    if solver == "unipc" and name != "UniPCMultistepScheduler":
        return diffusers.UniPCMultistepScheduler(
            num_train_timesteps=train,
            prediction_type="flow_prediction",
            use_flow_sigmas=True,
            flow_shift=shift,
        )
    if "flow_shift" in config:
        config["flow_shift"] = shift
    elif "shift" in config:
        config["shift"] = shift
    return getattr(diffusers, name).from_config(config)
