"""The variants of a comparison and their grammar (torch-free: the CLI parses them at once).

``--variants`` is a comma-separated list; the first variant is the reference. Each item is a
kind with optional ``:``-separated options::

    bf16 | fp32 | none         unquantized, in the device's compute dtype (fp32 on the CPU)
    mxfp8-online               BF16 weights quantized at load (weight rule: the default)
    mxfp8-offline=FOLDER       an MXFP8 Diffusers folder (wan-studio quantize / repack output)
    floor | rceil | mse        shorthand for mxfp8-online:<rule>
    options: floor | rceil | mse (weight rule), backend=reference|npu, lora | nolora

e.g. ``bf16,mxfp8-online:floor,mse,mxfp8-offline=~/models/t2v-mxfp8``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.generate.request import GenerationRequest

RULES = ("floor", "rceil", "mse")
BACKENDS = ("auto", "reference", "npu")
_UNQUANTIZED = ("bf16", "fp32", "none")


class VariantError(ValueError):
    """A variant list that cannot be run; the message names the item and the valid forms."""


@dataclass(frozen=True)
class Variant:
    """One way to run the request: what differs from the request, and a label for it."""

    label: str
    quant: str = "none"  # "none" | "mxfp8-online" | "mxfp8-offline"
    weight_rule: str = "default"
    backend: str | None = None  # None: the request's
    model: str | None = None  # mxfp8-offline: the folder; None: the request's model
    loras: bool = True  # False: the request's LoRAs are left out
    spec: str = ""

    def request_for(self, base: GenerationRequest) -> GenerationRequest:
        """The request this variant runs: ``base`` with this variant's differences."""
        changes: dict[str, Any] = {"quant": self.quant, "weight_rule": self.weight_rule}
        if self.backend is not None:
            changes["backend"] = self.backend
        if self.model is not None:
            changes["model"] = self.model
        if not self.loras:
            changes["loras"] = []
        return base.replace(**changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_FORMS = (
    "bf16, fp32, mxfp8-online, mxfp8-offline=FOLDER, floor, rceil, mse; options after ':' "
    "are floor|rceil|mse, backend=reference|npu, lora|nolora"
)


def _parse_one(item: str) -> Variant:
    head, *options = [p.strip() for p in item.split(":")]
    kind, _, value = head.partition("=")
    kind = kind.lower()
    fields: dict[str, Any] = {"spec": item}
    if kind in _UNQUANTIZED:
        fields["quant"] = "none"
    elif kind == "mxfp8-online":
        fields["quant"] = "mxfp8-online"
    elif kind in RULES:
        fields.update(quant="mxfp8-online", weight_rule=kind)
    elif kind == "mxfp8-offline":
        if not value:
            raise VariantError(f"variant {item!r}: mxfp8-offline needs a folder (=FOLDER)")
        folder = Path(value).expanduser()
        if not (folder / "model_index.json").is_file():
            raise VariantError(
                f"variant {item!r}: {folder} is not a Diffusers model folder (no "
                "model_index.json); make one with `wan-studio quantize` or `wan-studio repack`"
            )
        fields.update(quant="mxfp8-offline", model=str(folder.absolute()))
    else:
        raise VariantError(f"unknown variant {item!r}; use {_FORMS}")
    if value and kind != "mxfp8-offline":
        raise VariantError(f"variant {item!r}: only mxfp8-offline takes =FOLDER")
    for option in options:
        name, _, arg = option.partition("=")
        name = name.lower()
        if name in RULES:
            if fields["quant"] != "mxfp8-online":
                raise VariantError(
                    f"variant {item!r}: a weight rule applies to mxfp8-online only (an offline "
                    "folder was quantized already; unquantized runs have no MXFP8 weights)"
                )
            fields["weight_rule"] = name
        elif name == "backend" and arg in BACKENDS:
            fields["backend"] = arg
        elif name in ("lora", "nolora"):
            fields["loras"] = name == "lora"
        else:
            raise VariantError(f"variant {item!r}: unknown option {option!r}; use {_FORMS}")
    fields["label"] = _label(kind, fields)
    return Variant(**fields)


def _label(kind: str, fields: dict[str, Any]) -> str:
    if fields["quant"] == "none":
        base = kind if kind != "none" else "unquantized"
    elif fields["quant"] == "mxfp8-offline":
        base = f"mxfp8-offline ({Path(fields['model']).name})"
    else:
        rule = fields.get("weight_rule", "default")
        base = f"mxfp8-online {rule}" if rule != "default" else "mxfp8-online"
    if fields.get("backend"):
        base += f" [{fields['backend']}]"
    if fields.get("loras") is False:
        base += " no LoRA"
    return base


def parse_variants(text: str | list[str]) -> list[Variant]:
    """``"bf16,mse"`` (or a list of items) -> variants; at least two, labels made unique."""
    items = text if isinstance(text, list) else text.split(",")
    items = [i.strip() for i in items if i.strip()]
    if len(items) < 2:
        raise VariantError(
            f"a comparison needs at least two variants (the first is the reference), got "
            f"{len(items)}; e.g. --variants bf16,mxfp8-online"
        )
    variants = [_parse_one(item) for item in items]
    seen: dict[str, int] = {}
    out = []
    for v in variants:
        n = seen.get(v.label, 0) + 1
        seen[v.label] = n
        out.append(v if n == 1 else Variant(**{**v.to_dict(), "label": f"{v.label} #{n}"}))
    return out
