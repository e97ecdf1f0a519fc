"""Quantized Wan transformers: MXFP8 layers, layer selection, descriptions, streaming loading.

- ``description``: msmodelslim ``quant_model_description*.json`` parsing (no torch)
- ``checkpoint`` / ``writer``: safetensors headers, tensor reading, streaming writing
- ``component``: what a transformer folder holds (config, weights, description; no torch)
- ``selection``: the default MXFP8 layer set and diffusers' fp32-keep rule (no torch)
- ``layer``: ``Mxfp8Linear``
- ``streaming``: one transformer folder -> a ready model (none / online / offline)
- ``export``: BF16 Diffusers folder -> offline MXFP8 Diffusers folder

Nothing is imported here: modules the GUI reads at start-up must not pull in torch.
"""
