"""The tensors a Diffusers WanTransformer3DModel expects, from its config, without weights.

Why: a repack must prove its output is complete before it is renamed into place. The only
authority on which tensors (and shapes) the model has is diffusers itself, so we instantiate the
model on the meta device (no memory) from the ORIGINAL config and read its state dict keys.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from core.repack.errors import RepackInputError

TRANSFORMER_CLASS = "WanTransformer3DModel"

# Linears msmodelslim quantizes in every block (Diffusers names, msmodelslim.md §5).
BLOCK_LINEARS = (
    "attn1.to_q",
    "attn1.to_k",
    "attn1.to_v",
    "attn1.to_out.0",
    "attn2.to_q",
    "attn2.to_k",
    "attn2.to_v",
    "attn2.to_out.0",
    "ffn.net.0.proj",
    "ffn.net.2",
)


def expected_shapes(
    config: dict[str, Any], source: str = "config.json"
) -> dict[str, tuple[int, ...]]:
    """Diffusers state-dict key -> shape for a transformer config (meta device, no weights)."""
    cls = config.get("_class_name", TRANSFORMER_CLASS)
    if cls != TRANSFORMER_CLASS:
        raise RepackInputError(
            f"{source}: the transformer is a {cls}, not a {TRANSFORMER_CLASS}; pick the original "
            "Diffusers folder of a Wan2.2 model"
        )
    return dict(_shapes_for(json.dumps(config, sort_keys=True), source))


@functools.lru_cache(maxsize=8)
def _shapes_for(config_json: str, source: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    import logging

    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel

    config = json.loads(config_json)
    config.pop("quantization_config", None)
    quiet = logging.getLogger("diffusers")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # unknown keys in hand-edited configs are not our concern
    try:
        with init_empty_weights():
            model = WanTransformer3DModel.from_config(config)
    except Exception as exc:  # diffusers raises TypeError/ValueError for a bad config
        raise RepackInputError(
            f"{source}: diffusers cannot build {TRANSFORMER_CLASS} from this config ({exc}); "
            "pick the original Diffusers folder of a Wan2.2 model"
        ) from exc
    finally:
        quiet.setLevel(level)
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())
