from tests.doubles.fixtures import fake_torch_npu  # noqa: F401  (pytest fixture)
