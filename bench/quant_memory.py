"""Weight memory of real-size Wan2.2 transformers: MXFP8 (default layer selection) vs BF16.

The real TI2V-5B and A14B transformer configs (wan22.md §1, diffusers' converter) are built on
the meta device, so no memory is used; the ten block linears of every block are swapped for
Mxfp8Linear exactly as the loader does, and bytes are counted the loader's way (BF16 compute,
diffusers' fp32-kept modules in fp32, fp8 codes + E8M0 scales as stored).
Goal (issue #4): MXFP8 bytes / BF16 bytes <= 0.53.
"""

from __future__ import annotations

import time

import _common

GOAL = 0.53
COMMON = {
    "patch_size": [1, 2, 2],
    "attention_head_dim": 128,
    "text_dim": 4096,
    "freq_dim": 256,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "image_dim": None,
    "added_kv_proj_dim": None,
    "rope_max_seq_len": 1024,
}
CONFIGS = {
    "TI2V-5B": {**COMMON, "num_attention_heads": 24, "in_channels": 48, "out_channels": 48,
                "ffn_dim": 14336, "num_layers": 30},
    "T2V-A14B (one expert)": {**COMMON, "num_attention_heads": 40, "in_channels": 16,
                              "out_channels": 16, "ffn_dim": 13824, "num_layers": 40},
    "I2V-A14B (one expert)": {**COMMON, "num_attention_heads": 40, "in_channels": 36,
                              "out_channels": 16, "ffn_dim": 13824, "num_layers": 40},
}  # fmt: skip


def measure(name: str, config: dict) -> dict:
    import torch

    from core.quant.selection import plan_default
    from core.quant.streaming import build_skeleton, linear_layers, swap_in_mxfp8, weight_bytes

    started = time.perf_counter()
    model = build_skeleton({"_class_name": "WanTransformer3DModel", **config})
    params = sum(p.numel() for p in model.parameters())
    plan = plan_default((n, m.in_features) for n, m in linear_layers(model).items())
    swap_in_mxfp8(model, plan.quantize)
    bf16 = weight_bytes(model, torch.bfloat16, unquantized=True)
    mxfp8 = weight_bytes(model, torch.bfloat16)
    return {
        "model": name,
        "params (B)": params / 1e9,
        "MXFP8 linears": len(plan.quantize),
        "kept linears": len(plan.kept),
        "BF16 GB": bf16 / 1e9,
        "MXFP8 GB": mxfp8 / 1e9,
        "ratio": mxfp8 / bf16,
        "goal": f"<= {GOAL}",
        "met": "yes" if mxfp8 / bf16 <= GOAL else "NO",
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    args = _common.parser(__doc__.splitlines()[0]).parse_args()
    rows = [measure(name, cfg) for name, cfg in CONFIGS.items()]
    _common.report("MXFP8 weight memory vs BF16 (meta device, loader accounting)", rows, args.json)


if __name__ == "__main__":
    main()
