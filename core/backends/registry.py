"""Backend registry: build a backend by name and pick one for a device, explaining every rejection."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from core.backends.base import BackendUnavailable, MxLinearBackend, device_type
from core.backends.npu import NpuBackend
from core.backends.reference import ReferenceBackend

if TYPE_CHECKING:
    import torch

BackendFactory = Callable[..., MxLinearBackend]

# Priority order: auto selection tries them in this order.
_REGISTRY: dict[str, BackendFactory] = {
    NpuBackend.name: NpuBackend,
    ReferenceBackend.name: ReferenceBackend,
}

AUTO = "auto"


def register_backend(name: str, factory: BackendFactory) -> None:
    """Add (or replace) a backend; used for future kernels and by tests to inject fakes."""
    _REGISTRY[name] = factory


def unregister_backend(name: str) -> None:
    _REGISTRY.pop(name, None)


def list_backends() -> list[str]:
    """Registered backend names, in auto-selection priority order."""
    return list(_REGISTRY)


def get_backend(name: str, **options: Any) -> MxLinearBackend:
    """A new backend instance; ``options`` go to its constructor (e.g. ``rule="rceil"``,
    ``activations="unquantized"`` for the reference backend)."""
    key = str(name).strip().lower()
    if key not in _REGISTRY:
        raise ValueError(
            f"unknown MXFP8 backend {name!r}; available names: {', '.join(list_backends())}"
        )
    try:
        return _REGISTRY[key](**options)
    except TypeError as exc:
        raise ValueError(
            f"backend {key!r} does not accept options {sorted(options)}: {exc}"
        ) from exc


def _auto_fits(name: str, device: Any) -> str:
    """Why auto selection skips ``name`` on this device ("" if it may be used)."""
    if name == NpuBackend.name and device_type(device) != "npu":
        return f"auto uses it only on an npu device, not {device}"
    return ""


def select_backend(
    device: torch.device | str,
    preference: str = AUTO,
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[MxLinearBackend, list[str]]:
    """Choose the backend for ``device``.

    ``preference`` is "auto" (npu on an npu device when available, else reference) or a backend
    name. ``options`` maps backend names to constructor options. Returns the backend and one
    "name: reason" line for every other backend; raises BackendUnavailable with all the reasons
    when nothing fits.
    """
    options = options or {}
    wanted = str(preference).strip().lower()
    if wanted != AUTO and wanted not in _REGISTRY:
        raise ValueError(
            f"unknown MXFP8 backend preference {preference!r}; use 'auto' or one of "
            f"{', '.join(list_backends())}"
        )
    reasons: list[str] = []
    chosen: MxLinearBackend | None = None
    for name in list_backends():
        if chosen is not None:
            reasons.append(f"{name}: not needed ({chosen.name} was chosen first)")
            continue
        if wanted not in (AUTO, name):
            reasons.append(f"{name}: not requested (preference {wanted!r})")
            continue
        backend = get_backend(name, **dict(options.get(name, {})))
        ok, why = backend.available(device)
        if not ok:
            reasons.append(f"{name}: {why}")
            continue
        skip = _auto_fits(name, device) if wanted == AUTO else ""
        if skip:
            reasons.append(f"{name}: {skip}")
            continue
        chosen = backend
    if chosen is None:
        what = "no MXFP8 backend" if wanted == AUTO else f"MXFP8 backend {wanted!r} is not"
        raise BackendUnavailable(f"{what} available on {device}", reasons)
    return chosen, reasons
