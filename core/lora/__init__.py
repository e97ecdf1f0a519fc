"""LoRA support: read LoRA files of every common Wan format, match them to a model's experts,
and apply them as side branches (or merged into online MXFP8 weights at load).

Torch-free at import: ``choice`` and ``naming`` are what requests, presets and the GUI need;
``reader``/``convert``/``apply``/``branch`` import torch when used.
"""

from core.lora.choice import LoraChoice, choice_for_file, parse_lora_spec
from core.lora.errors import LoraError

__all__ = ["LoraChoice", "LoraError", "choice_for_file", "parse_lora_spec"]
