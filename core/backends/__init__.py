"""MXFP8 linear kernels behind one small interface, and a registry that picks one per device.

- ``reference``: pure torch on any device (W8A8 emulation, or weight-only), the oracle.
- ``npu``: torch_npu on Ascend 950 (imported lazily; unavailable with the reason otherwise).

Use: ``backend, rejected = select_backend(device)``, then ``backend.prepare(layer)`` once after
the layer's weights are on their device and ``backend.linear(x, layer)`` in forward.
"""

from core.backends.base import (
    BackendError,
    BackendUnavailable,
    MxLinearBackend,
    MxLinearLayer,
    check_layer,
)
from core.backends.npu import NpuBackend
from core.backends.reference import ReferenceBackend, mx_matmul
from core.backends.registry import (
    get_backend,
    list_backends,
    register_backend,
    select_backend,
    unregister_backend,
)

__all__ = [
    "BackendError",
    "BackendUnavailable",
    "MxLinearBackend",
    "MxLinearLayer",
    "NpuBackend",
    "ReferenceBackend",
    "check_layer",
    "get_backend",
    "list_backends",
    "mx_matmul",
    "register_backend",
    "select_backend",
    "unregister_backend",
]
