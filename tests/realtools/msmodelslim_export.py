"""Real msmodelslim 26.1.0 exports of the demo models, written by msmodelslim's own code on CPU.

msmodelslim's Wan2.2 adapter needs the original ``wan`` package and ``mindiesd`` (not installable
here), so this helper stands in for the adapter only: it rebuilds a demo transformer as a
Wan-native module tree (``WanAttentionBlock`` / ``WanSelfAttention`` / ``WanCrossAttention``,
registered in ``wan.modules.model.WanModel``'s order, Wan-native names) and answers the three
adapter interfaces the recipe's processors call, the way ``msmodelslim/model/wan2_2/
base_model_adapter.py`` does (q_rot/k_rot Identity modules with a shared seed 1234 Hadamard
config, FA3 placeholders ``fa3_q/k/v``, blocks visited by class name). Everything else is
msmodelslim's: the processors built from the recipe YAML in the wheel
(``lab_practice/wan2_2/wan2_2_w8a8f8_mxfp_{t2v,i2v,ti2v}.yaml``: ``linear_quant`` with its
qconfig, ``online_quarot``, ``fa3_quant`` with their include/exclude patterns), its
``LayerWiseRunner`` and its ``MindIEFormatSaver`` (``part_file_size`` from the caller), exactly
as ``ModelslimV1QuantService.quant_process`` chains them.

A14B experts are quantized one at a time into ``<out>/high_noise_model`` and
``<out>/low_noise_model`` (from the demo's ``transformer`` and ``transformer_2``); TI2V-5B into
``<out>``. The saver copies the checkpoint root's ``*.json`` / ``*.py`` into each output folder,
as it does for a real Wan checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

from tests.realtools.paths import require_msmodelslim

RECIPES = {
    "t2v-a14b": "wan2_2_w8a8f8_mxfp_t2v.yaml",
    "i2v-a14b": "wan2_2_w8a8f8_mxfp_i2v.yaml",
    "ti2v-5b": "wan2_2_w8a8f8_mxfp_ti2v.yaml",
}
EXPERT_FOLDERS = (("transformer", "high_noise_model"), ("transformer_2", "low_noise_model"))


def recipe(family: str) -> dict[str, Any]:
    """The wheel's own Wan2.2 MXFP8 recipe for ``family`` (parsed YAML)."""
    import yaml

    msmodelslim = require_msmodelslim()
    path = Path(msmodelslim.__file__).parent / "lab_practice" / "wan2_2" / RECIPES[family]
    return yaml.safe_load(path.read_text("utf-8"))


def _module_classes():
    """Wan-native module classes: msmodelslim's adapter finds modules by these class names."""
    from torch import nn

    class WanModel(nn.Module):
        pass

    class WanAttentionBlock(nn.Module):
        pass

    class WanSelfAttention(nn.Module):
        pass

    class WanCrossAttention(nn.Module):
        pass

    class Head(nn.Module):
        pass

    return WanModel, WanAttentionBlock, WanSelfAttention, WanCrossAttention, Head


def build_native_model(state: dict[str, Any], num_layers: int):
    """A Wan-native nn.Module tree holding ``state`` (Wan-native names), in WanModel's order.

    Every tensor of ``state`` must find its place: a leftover is an error, not a silent drop.
    """
    from torch import nn

    WanModel, WanAttentionBlock, WanSelfAttention, WanCrossAttention, Head = _module_classes()
    left = dict(state)

    def param(name: str) -> nn.Parameter:
        return nn.Parameter(left.pop(name), requires_grad=False)

    def linear(prefix: str) -> nn.Linear:
        weight = left[f"{prefix}.weight"]
        layer = nn.Linear(weight.shape[1], weight.shape[0], device="meta")
        layer.weight = param(f"{prefix}.weight")
        layer.bias = param(f"{prefix}.bias")
        return layer

    def holder(prefix: str, names: tuple[str, ...]) -> nn.Module:
        module = nn.Module()
        for n in names:
            module.register_parameter(n, param(f"{prefix}.{n}"))
        return module

    def attention(cls: type, prefix: str) -> nn.Module:
        attn = cls()
        for proj in "qkvo":
            attn.add_module(proj, linear(f"{prefix}.{proj}"))
        attn.add_module("norm_q", holder(f"{prefix}.norm_q", ("weight",)))
        attn.add_module("norm_k", holder(f"{prefix}.norm_k", ("weight",)))
        return attn

    model = WanModel()
    model.add_module("patch_embedding", holder("patch_embedding", ("weight", "bias")))
    model.add_module(
        "text_embedding",
        nn.Sequential(linear("text_embedding.0"), nn.GELU(), linear("text_embedding.2")),
    )
    model.add_module(
        "time_embedding",
        nn.Sequential(linear("time_embedding.0"), nn.SiLU(), linear("time_embedding.2")),
    )
    model.add_module("time_projection", nn.Sequential(nn.SiLU(), linear("time_projection.1")))
    blocks = nn.ModuleList()
    for n in range(num_layers):
        b = f"blocks.{n}"
        block = WanAttentionBlock()
        block.add_module("self_attn", attention(WanSelfAttention, f"{b}.self_attn"))
        block.add_module("norm3", holder(f"{b}.norm3", ("weight", "bias")))
        block.add_module("cross_attn", attention(WanCrossAttention, f"{b}.cross_attn"))
        block.add_module(
            "ffn", nn.Sequential(linear(f"{b}.ffn.0"), nn.GELU(), linear(f"{b}.ffn.2"))
        )
        block.register_parameter("modulation", param(f"{b}.modulation"))
        blocks.append(block)
    model.add_module("blocks", blocks)
    head = Head()
    head.add_module("head", linear("head.head"))
    head.register_parameter("modulation", param("head.modulation"))
    model.add_module("head", head)
    if left:
        raise ValueError(f"tensors with no place in the Wan-native model: {sorted(left)[:5]}")
    return model


def _adapter_class():
    """A stand-in for msmodelslim's Wan2.2 adapter (the part its processors call)."""
    import torch
    from torch import nn

    require_msmodelslim()
    from msmodelslim.core.runner.pipeline_interface import PipelineInterface
    from msmodelslim.model.common.layer_wise_forward import (
        generated_decoder_layer_visit_func_with_keyword,
    )
    from msmodelslim.processor.quant.fa3.interface import (
        FA3QuantAdapterInterface,
        FA3QuantPlaceHolder,
    )
    from msmodelslim.processor.quarot.online_quarot.online_quarot_interface import (
        OnlineQuaRotInterface,
    )

    attention_classes = ("WanSelfAttention", "WanCrossAttention")

    class DemoWanAdapter(PipelineInterface, OnlineQuaRotInterface, FA3QuantAdapterInterface):
        def __init__(self, checkpoint: Path, head_dim: int) -> None:
            self._path = checkpoint
            self.head_dim = head_dim

        @property
        def model_type(self) -> str:
            return "Wan2_2"

        @property
        def model_path(self) -> Path:
            return self._path

        @property
        def trust_remote_code(self) -> bool:
            return False

        def create(self, *args: Any, **kwargs: Any):  # never used: the runner gets the model
            raise NotImplementedError

        def handle_dataset(self, dataset: Any, device: Any = None) -> list[Any]:
            return []  # every processor of the recipe is data-free

        def init_model(self, device: Any = None) -> nn.Module:
            raise NotImplementedError("the demo model is passed to the runner")

        def generate_model_visit(self, model: nn.Module) -> Generator[Any, Any, None]:
            # msmodelslim's Wan adapter: the same call, keyword "attentionblock".
            return generated_decoder_layer_visit_func_with_keyword(model, keyword="attentionblock")

        def generate_model_forward(self, model: nn.Module, inputs: Any):
            raise NotImplementedError("the recipe is data-free on this path")

        def enable_kv_cache(self, model: nn.Module, need_kv_cache: bool) -> None:
            pass

        def get_online_rotation_configs(self, model: nn.Module | None = None):
            # As base_model_adapter.get_online_rotation_configs: Identity q_rot/k_rot in every
            # attention module, one HADAMARD "replace" config each, shared seed 1234, bf16.
            configs = {}
            for name, module in model.named_modules():
                if type(module).__name__ not in attention_classes:
                    continue
                for rot in ("q_rot", "k_rot"):
                    if not hasattr(module, rot):
                        module.register_module(rot, nn.Identity())
                    configs[f"{name}.{rot}"] = OnlineQuaRotInterface.RotationConfig(
                        rotation_type="replace",
                        rotation_size=self.head_dim,
                        rotation_mode=OnlineQuaRotInterface.QuaRotMode.HADAMARD,
                        block_size=-1,
                        seed=1234,
                        dtype=torch.bfloat16,
                    )
            return configs

        def inject_fa3_placeholders(self, root_name: str, root_module: nn.Module, should_inject):
            # As base_model_adapter.inject_fa3_placeholders, minus the forward wrapping (the
            # per-token FA3 config is data-free: no calibration forward runs).
            for name, module in list(root_module.named_modules()):
                if type(module).__name__ not in attention_classes:
                    continue
                full_name = f"{root_name}.{name}" if root_name else name
                if not should_inject(full_name):
                    continue
                prefix = f"{name}." if name else ""
                root_module.set_submodule(f"{prefix}fa3_q", FA3QuantPlaceHolder(ratio=0.9999))
                root_module.set_submodule(f"{prefix}fa3_k", FA3QuantPlaceHolder(ratio=0.9999))
                root_module.set_submodule(f"{prefix}fa3_v", FA3QuantPlaceHolder(ratio=1.0))

    return DemoWanAdapter


def _quantize_expert(model, adapter, family: str, save_dir: Path, part_file_size: int) -> None:
    """ModelslimV1QuantService.quant_process, CPU, no dataset: recipe processors + saver."""
    require_msmodelslim()
    import logging
    from types import SimpleNamespace

    from msmodelslim.core.const import DeviceType
    from msmodelslim.core.quant_service.modelslim_v1.save.mindie_format import (
        MindIEFormatConfig,
    )
    from msmodelslim.core.runner import generated_runner
    from msmodelslim.core.runner.layer_wise_runner import LayerWiseRunner
    from msmodelslim.processor.base import AutoProcessorConfig
    from msmodelslim.processor.memory import load
    from msmodelslim.utils.seed import seed_all

    spec = recipe(family)["spec"]
    (save,) = spec["save"]
    if save["type"] != "mindie_format_saver":
        raise ValueError(f"unexpected saver in the {family} recipe: {save}")
    seed_all(seed=42, mode=True)
    runner = LayerWiseRunner(adapter=adapter)
    for process in spec["process"]:
        runner.add_processor(processor_cfg=AutoProcessorConfig.model_validate(process))
    saver = MindIEFormatConfig.model_validate({**save, "part_file_size": part_file_size})
    saver.set_save_directory(str(save_dir))
    runner.add_processor(processor_cfg=saver)
    # The runner and its load/offload steps call gc.collect() after every step (~0.3-0.5 s each
    # in a test process holding diffusers): memory housekeeping only, skipped to keep it fast.
    quiet = logging.getLogger("msmodelslim")
    level, gc_module = quiet.level, generated_runner.gc
    quiet.setLevel(logging.ERROR)  # not "torch_npu module not available" once per block
    generated_runner.gc = load.gc = SimpleNamespace(collect=lambda: 0)
    try:
        runner.run(model=model, calib_data=None, device=DeviceType.CPU)
    finally:
        generated_runner.gc = load.gc = gc_module
        quiet.setLevel(level)


def make_real_export(
    demo_folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    family: str,
    dtype: str = "bf16",
    part_file_size: int = 0,
) -> Path:
    """Quantize a demo model with msmodelslim's own code and write its MindIE-format export.

    ``dtype`` is the source weights' dtype ("bf16", as Wan2.2 ships, or "fp32"); float tensors
    are written in it. ``part_file_size`` > 0 makes the saver shard (GB per part: the demo fits
    in one part, which is what msmodelslim writes then). Returns ``out``.
    """
    import torch
    from safetensors.torch import load_file

    from core.repack.rename import to_native

    torch_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    source, target = Path(demo_folder), Path(out)
    if target.exists() and any(target.iterdir()):
        raise FileExistsError(f"{target} exists and is not empty")
    experts = EXPERT_FOLDERS if family in ("t2v-a14b", "i2v-a14b") else (("transformer", "."),)
    adapter_cls = _adapter_class()
    with tempfile.TemporaryDirectory(prefix="wan-native-") as tmp:
        checkpoint = Path(tmp)  # the Wan checkpoint root msmodelslim copies JSON files from
        (checkpoint / "configuration.json").write_text(
            json.dumps({"framework": "Pytorch"}), "utf-8"
        )
        if family == "ti2v-5b":
            from core.repack.fixtures import native_config

            config = json.loads((source / "transformer" / "config.json").read_text("utf-8"))
            (checkpoint / "config.json").write_text(
                json.dumps(native_config(config, "ti2v"), indent=4), "utf-8"
            )
        try:
            for component, sub in experts:
                config = json.loads((source / component / "config.json").read_text("utf-8"))
                diffusers_state = load_file(
                    str(source / component / "diffusion_pytorch_model.safetensors")
                )
                state = {to_native(k): v.to(torch_dtype) for k, v in diffusers_state.items()}
                model = build_native_model(state, config["num_layers"])
                adapter = adapter_cls(checkpoint, config["attention_head_dim"])
                save_dir = (target / sub).resolve()
                save_dir.mkdir(parents=True, exist_ok=True)
                _quantize_expert(model, adapter, family, save_dir, part_file_size)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    return target
