"""Test doubles for dependencies that cannot run here (torch_npu needs an Ascend NPU + CANN)."""
