"""Backend tests share the torch_npu test double fixture and a stand-in quantized layer."""

from tests.doubles.fixtures import fake_torch_npu  # noqa: F401  (pytest fixture)
