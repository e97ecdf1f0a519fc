"""The config-derived state dict equals diffusers' own WanTransformer3DModel, key for key.

core.repack.skeleton derives names and shapes from config.json without importing diffusers
(planning a repack must not pay that import); diffusers' meta-device model is the authority
it is checked against here, for each Wan2.2 family's config and each optional part.
"""

from __future__ import annotations

import sys

import pytest

from core.repack.errors import RepackInputError
from core.repack.fixtures import TI2V_5B_CONFIG
from core.repack.skeleton import expected_shapes

SMALL = {
    "_class_name": "WanTransformer3DModel",
    "patch_size": [1, 2, 2],
    "num_attention_heads": 2,
    "attention_head_dim": 32,
    "in_channels": 16,
    "out_channels": 16,
    "text_dim": 32,
    "freq_dim": 32,
    "ffn_dim": 128,
    "num_layers": 2,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 32,
}
CONFIGS = {
    "ti2v-5b (real size)": TI2V_5B_CONFIG,
    "a14b-like": {**SMALL, "in_channels": 36, "num_layers": 3},
    "image embedder + added kv": {
        **SMALL,
        "image_dim": 24,
        "added_kv_proj_dim": 64,
        "pos_embed_seq_len": 514,
    },
    "image embedder without pos_embed": {**SMALL, "image_dim": 24},
    "no cross-attention norm, out_channels null": {
        **SMALL,
        "cross_attn_norm": False,
        "out_channels": None,
    },
    "defaults only": {"_class_name": "WanTransformer3DModel", "num_layers": 1},
    "patch 2x2x2": {**SMALL, "patch_size": [2, 2, 2]},
}


def _diffusers_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel

    with init_empty_weights():
        model = WanTransformer3DModel.from_config(dict(config))
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_derived_shapes_equal_diffusers_model(name: str) -> None:
    config = CONFIGS[name]
    derived = expected_shapes(config)
    real = _diffusers_shapes(config)
    assert list(derived) == list(real)  # same keys, same order
    assert derived == real


def test_deriving_shapes_imports_neither_torch_nor_diffusers() -> None:
    import subprocess

    code = (
        "import sys; from core.repack.skeleton import expected_shapes; "
        "from core.repack.fixtures import TI2V_5B_CONFIG; "
        "n = len(expected_shapes(TI2V_5B_CONFIG)); "
        "print(n, 'torch' in sys.modules, 'diffusers' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(len(expected_shapes(TI2V_5B_CONFIG))), "False", "False"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_layers": "thirty"}, "num_layers must be a positive whole number"),
        ({"patch_size": [1, 2]}, "patch_size must be three positive whole numbers"),
        ({"image_dim": -1}, "image_dim must be a positive whole number or null"),
        ({"cross_attn_norm": "yes"}, "cross_attn_norm must be true or false"),
        ({"_class_name": "WanVACETransformer3DModel"}, "not a WanTransformer3DModel"),
    ],
)
def test_a_config_diffusers_could_not_build_is_refused(change: dict, message: str) -> None:
    with pytest.raises(RepackInputError, match=message):
        expected_shapes({**SMALL, **change}, "x/config.json")
