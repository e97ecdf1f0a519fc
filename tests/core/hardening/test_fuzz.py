"""Property-based fuzzing of every parser a user's files reach: any input gives a result or one
of the project's own error types, never another exception (a KeyError, TypeError, MemoryError
or a hang would be a bug). Example counts are bounded so ``make test`` stays fast; they are
listed in docs/bad-inputs.md."""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# WAN_FUZZ_EXAMPLES=5000 for a long local run; the suite keeps 150 per parser.
EXAMPLES = int(os.environ.get("WAN_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# JSON values, biased towards the shapes the parsers look for.
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
)
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
DTYPES = ["F32", "F16", "BF16", "F8_E4M3", "U8", "I64", "BOOL", "F8_E8M0", "X9", 3]


# One scratch folder for every example, removed when the test process exits.
_SCRATCH = tempfile.TemporaryDirectory(prefix="wan-fuzz-")


def _tmp_folder() -> Path:
    return Path(tempfile.mkdtemp(dir=_SCRATCH.name))


def _tmp_file(data: bytes, name: str = "f") -> Path:
    folder = _tmp_folder()
    path = folder / name
    path.write_bytes(data)
    return path


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


# ---- safetensors headers -------------------------------------------------------------------
entries = st.fixed_dictionaries(
    {},
    optional={
        "dtype": st.sampled_from(DTYPES),
        "shape": st.lists(st.integers(min_value=-2, max_value=2**40), max_size=4) | json_values,
        "data_offsets": st.lists(st.integers(min_value=-4, max_value=2**62), max_size=3)
        | json_values,
    },
)
headers = st.dictionaries(st.text(max_size=10), entries | json_values, max_size=4)


@st.composite
def safetensors_files(draw) -> bytes:
    header = _json_bytes(draw(headers))
    claimed = draw(st.sampled_from([len(header), 0, 7, 2**60, len(header) + 1, len(header) - 1]))
    body = draw(st.binary(max_size=64))
    return struct.pack("<Q", max(claimed, 0)) + header + body


@FUZZ
@given(data=safetensors_files() | st.binary(max_size=80))
def test_safetensors_header_check(data: bytes) -> None:
    from core.quant.checkpoint import CheckpointError, read_header

    path = _tmp_file(data, "m.safetensors")
    try:
        header = read_header(path)
    except CheckpointError:
        return
    assert all(e.end <= header.file_size for e in header.entries.values())


# ---- msmodelslim description ---------------------------------------------------------------
descriptions = st.dictionaries(
    st.sampled_from(
        ["blocks.0.attn1.to_q.weight", "blocks.0.attn1.to_q.weight_scale", "model_quant_type",
         "blocks.1.self_attn.q.weight", "blocks.0.fa_q.scale", "head.weight", ""]
    )
    | st.text(max_size=20),
    st.sampled_from(["W8A8_MXFP8", "FLOAT", "W8A8", "FAQuant", " FLOAT "]) | json_values,
    max_size=6,
)  # fmt: skip


@FUZZ
@given(doc=descriptions | json_values)
def test_description_parser(doc: Any) -> None:
    from core.quant.description import DescriptionError, parse_description

    with contextlib.suppress(DescriptionError):
        parse_description(doc, "fuzz.json")


@FUZZ
@given(data=st.binary(max_size=60) | descriptions.map(_json_bytes))
def test_description_file(data: bytes) -> None:
    from core.quant.description import DescriptionError, load_description

    with contextlib.suppress(DescriptionError):
        load_description(_tmp_file(data, "quant_model_description.json"))


# ---- shard index files ---------------------------------------------------------------------
indexes = st.fixed_dictionaries(
    {},
    optional={
        "weight_map": st.dictionaries(
            st.text(max_size=8),
            st.sampled_from(["a.safetensors", "../x.safetensors", "/etc/passwd", "", "b"])
            | json_values,
            max_size=3,
        )
        | json_values,
        "metadata": json_values,
    },
)


@FUZZ
@given(doc=indexes | json_values)
def test_index_files(doc: Any) -> None:
    from core.quant.checkpoint import CheckpointError, find_weight_files

    index = _tmp_file(_json_bytes(doc), "diffusion_pytorch_model.safetensors.index.json")
    try:
        files, _ = find_weight_files(index.parent)
    except CheckpointError:
        return
    assert all(f.parent == index.parent for f in files)  # never outside the folder


# ---- model_index.json and config.json --------------------------------------------------------
configs = st.fixed_dictionaries(
    {},
    optional={
        key: st.integers(min_value=-5, max_value=10**12) | json_values
        for key in ("num_layers", "num_attention_heads", "attention_head_dim", "ffn_dim",
                    "in_channels", "out_channels", "rope_max_seq_len")
    }
    | {"patch_size": st.lists(st.integers(-1, 40), max_size=4) | json_values},
)  # fmt: skip


@FUZZ
@given(cfg=configs, blocks=st.integers(0, 3), width=st.integers(0, 4096))
def test_config_validator(cfg: dict[str, Any], blocks: int, width: int) -> None:
    from core.configcheck import ConfigError, check_transformer

    shapes = {f"blocks.{i}.ffn.net.0.proj.weight": (4, 4) for i in range(blocks)}
    shapes["patch_embedding.weight"] = (width, 16, 1, 2, 2)
    try:
        check_transformer("fuzz", cfg, shapes)
    except ConfigError:
        return
    heads, head_dim = cfg.get("num_attention_heads", 40), cfg.get("attention_head_dim", 128)
    assert heads * head_dim <= 1 << 16  # what passes can be built


@FUZZ
@given(
    index=json_values | st.fixed_dictionaries({"_class_name": json_values}),
    raw=st.binary(max_size=40),
)
def test_model_index_and_config_readers(index: Any, raw: bytes) -> None:
    from core.configcheck import ConfigError, model_index_problems, read_json_config

    for data in (_json_bytes(index), raw):
        try:
            doc = read_json_config(_tmp_file(data, "model_index.json"))
        except ConfigError:
            continue
        assert isinstance(model_index_problems(doc), list)


@settings(max_examples=max(40, EXAMPLES // 4), deadline=None)
@given(cfg=configs, index=st.fixed_dictionaries({"_class_name": json_values}))
def test_inspect_never_raises_on_a_bad_folder(cfg: dict[str, Any], index: dict[str, Any]) -> None:
    from core.models.inspect import inspect_folder

    folder = _tmp_folder()
    (folder / "transformer").mkdir()
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "transformer" / "config.json").write_text(json.dumps(cfg))
    info = inspect_folder(folder)
    assert info.problems  # no weights at all: always a problem, never an exception


# ---- presets and the library -----------------------------------------------------------------
values = st.dictionaries(
    st.sampled_from(["steps", "width", "frames", "shift", "guidance_low", "seed", "loras",
                     "prompt", "lora_merge", "boundary"]) | st.text(max_size=6),
    json_values,
    max_size=5,
)  # fmt: skip
presets = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.sampled_from(["wan-studio-preset"]) | json_values,
        "version": st.sampled_from([1, 2, 3]) | json_values,
        "name": st.text(max_size=90) | json_values,
        "family": st.sampled_from(["t2v-a14b", "ti2v-5b", "x"]) | json_values,
        "values": values | json_values,
        "description": json_values,
        "size": json_values,
    },
)


@FUZZ
@given(doc=presets | json_values)
def test_preset_reader(doc: Any) -> None:
    from core.presets import PresetError, parse_document

    for strict in (False, True):
        try:
            preset, notes = parse_document(doc, "fuzz.json", strict=strict)
        except PresetError:
            continue
        assert isinstance(notes, list) and preset.name


@FUZZ
@given(data=st.binary(max_size=60) | presets.map(_json_bytes))
def test_preset_import(data: bytes) -> None:
    from core.presets import PresetError, PresetStore

    store = PresetStore(_tmp_folder())
    with contextlib.suppress(PresetError):
        store.import_file(_tmp_file(data, "p.json"))


library_docs = st.fixed_dictionaries(
    {},
    optional={
        "schema": st.sampled_from(["wan-studio-library"]) | json_values,
        "version": st.sampled_from([1, 2]) | json_values,
        "models": st.lists(
            st.fixed_dictionaries(
                {},
                optional={k: st.sampled_from(["/m", "a", ""]) | json_values
                          for k in ("id", "path", "name", "added", "family", "notes")},
            )
            | json_values,
            max_size=3,
        )
        | json_values,
    },
)  # fmt: skip


@FUZZ
@given(data=st.binary(max_size=60) | library_docs.map(_json_bytes))
def test_library_reader(data: bytes) -> None:
    from core.models.library import Library

    library = Library(_tmp_file(data, "library.json"))  # never raises: warnings and .corrupt
    assert isinstance(library.list(), list)


# ---- request validation ----------------------------------------------------------------------
requests = st.dictionaries(
    st.sampled_from(["width", "height", "frames", "fps", "steps", "guidance_high",
                     "guidance_low", "boundary", "shift", "seed", "solver", "quant", "device",
                     "image", "output", "loras", "lora_merge", "prompt", "model", "schema"]),
    json_values | st.integers(min_value=-(2**64), max_value=2**64),
    max_size=8,
)  # fmt: skip


@FUZZ
@given(data=requests)
def test_request_validation(data: dict[str, Any]) -> None:
    from core.generate.request import GenerationRequest

    data.setdefault("model", "demo")
    request = GenerationRequest.from_dict(data, warnings=[])
    issues = request.validate()
    assert all(i.field and i.message for i in issues)
