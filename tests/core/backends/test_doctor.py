"""`wan-studio doctor`: report shape, self-tests that can fail, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

from core import doctor
from core.backends import ReferenceBackend, register_backend, unregister_backend
from core.cli import main

ROOT = Path(__file__).resolve().parents[3]
NO_NPU = "torch_npu is not installed (pip install 'wan-studio[npu]' on an Ascend 950 with CANN)"


@pytest.fixture
def no_torch_npu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch_npu", raising=False)


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["doctor", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_cli_as_a_user_runs_it() -> None:
    """The real command in a fresh process: npu unavailable with its reason, reference passes."""
    done = subprocess.run(
        [sys.executable, "-m", "core.cli", "doctor", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {
        "ok", "wan_studio", "environment", "devices", "device", "backends", "selection",
    }  # fmt: skip
    assert report["ok"] is True and report["device"] == "cpu"
    env = report["environment"]
    assert env["packages"]["torch"] == torch.__version__ and env["packages"]["torch_npu"] is None
    assert set(env["cann"]) >= {"home", "version"}
    assert report["devices"]["cpu"]["threads"] >= 1
    backends = {b["name"]: b for b in report["backends"]}
    assert backends["npu"] == {
        "name": "npu",
        "available": False,
        "reason": NO_NPU,
        "description": "npu (rule floor)",
        "checks": [],
        "status": "UNAVAILABLE",
    }
    ref = backends["reference"]
    assert ref["status"] == "PASS" and ref["available"] is True
    assert [c["status"] for c in ref["checks"]] == ["PASS"] * 4
    assert ref["checks"][0] == {
        "name": "quantizer: documented vectors",
        "status": "PASS",
        "detail": "33/33 bit-exact",
    }
    assert report["selection"] == {"backend": "reference", "rejected": [f"npu: {NO_NPU}"]}


def test_human_report(capsys: pytest.CaptureFixture[str], no_torch_npu: None) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("Wan Studio") and "doctor" in lines[0]
    npu_line = next(
        line for line in lines if line.strip().startswith("npu ") and "UNAVAILABLE" in line
    )
    assert NO_NPU in npu_line
    assert any(line.strip().startswith("reference") and " PASS " in line for line in lines)
    assert "linear bf16 M=16 K=5120 N=64" in out
    assert lines[-1] == "Result: PASS (every available backend passed its self-test on cpu)"


class WrongNumbers(ReferenceBackend):
    """A plausible-looking backend that is slightly wrong: off-by-one scale bytes on large
    blocks and a 5 % gain error in the linear."""

    name = "broken"

    def quantize(self, x):
        data, scale = super().quantize(x)
        return data, torch.where(scale > 125, scale + 1, scale)

    def linear(self, x, layer):
        return super().linear(x, layer) * 1.05


class Crashes(ReferenceBackend):
    name = "crashes"

    def linear(self, x, layer):
        raise RuntimeError("aclnnQuantMatmulV5 failed: 561103")


@pytest.fixture
def injected(no_torch_npu: None):
    register_backend("broken", WrongNumbers)
    register_backend("crashes", Crashes)
    yield
    unregister_backend("broken")
    unregister_backend("crashes")


def test_a_wrong_backend_fails_the_doctor(
    capsys: pytest.CaptureFixture[str], injected: None
) -> None:
    code, report = run_json(capsys)
    assert code == 1 and report["ok"] is False
    backends = {b["name"]: b for b in report["backends"]}
    assert backends["reference"]["status"] == "PASS"
    broken = backends["broken"]
    assert broken["status"] == "FAIL"
    status = {c["name"]: c["status"] for c in broken["checks"]}
    assert status["quantizer: documented vectors"] == "FAIL"
    assert status["quantizer: random data vs core.mx"] == "FAIL"
    assert status["linear bf16 M=33 K=256 N=96"] == "FAIL"
    crashes = {c["name"]: c for c in backends["crashes"]["checks"]}
    linear = crashes["linear bf16 M=16 K=5120 N=64"]
    assert linear["status"] == "FAIL"
    assert linear["detail"].startswith("RuntimeError: aclnnQuantMatmulV5 failed: 561103")
    assert crashes["quantizer: documented vectors"]["status"] == "PASS"


def test_human_report_names_the_failures(
    capsys: pytest.CaptureFixture[str], injected: None
) -> None:
    assert main(["doctor"]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("Result: FAIL (")
    assert "crashes: linear bf16 M=33 K=256 N=96" in last


def test_npu_backend_self_test_through_the_double(
    capsys: pytest.CaptureFixture[str], fake_torch_npu: ModuleType
) -> None:
    code, report = run_json(capsys, "--device", "cpu")
    assert code == 0
    npu = next(b for b in report["backends"] if b["name"] == "npu")
    assert npu["status"] == "PASS" and "TEST DOUBLE" in npu["reason"]
    assert [c["status"] for c in npu["checks"]] == ["PASS"] * 4
    assert report["devices"]["npu"]["test_double"] is True
    names = {name for name, _ in fake_torch_npu.calls}
    assert names == {"npu_dynamic_mx_quant", "npu_quant_matmul"}


def test_a_kernel_with_the_wrong_rule_is_caught(
    capsys: pytest.CaptureFixture[str], fake_torch_npu: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = fake_torch_npu.npu_dynamic_mx_quant

    def always_rceil(input, **kwargs):
        return real(input, **{**kwargs, "scale_alg": 1})

    monkeypatch.setattr(fake_torch_npu, "npu_dynamic_mx_quant", always_rceil)
    code, report = run_json(capsys, "--device", "cpu")
    assert code == 1
    npu = next(b for b in report["backends"] if b["name"] == "npu")
    vectors = npu["checks"][0]
    assert (
        vectors["status"] == "FAIL"
        and "V2 amax 7.5 (floor): scale [122] != [121]" in vectors["detail"]
    )


def test_no_backend_on_the_device_is_not_a_failure(
    capsys: pytest.CaptureFixture[str], no_torch_npu: None
) -> None:
    code, report = run_json(capsys, "--device", "npu")
    assert code == 0 and report["ok"] is True
    assert {b["status"] for b in report["backends"]} == {"UNAVAILABLE"}
    assert report["selection"]["backend"] is None
    assert main(["doctor", "--device", "npu"]) == 0
    assert "No MXFP8 backend can run on npu" in capsys.readouterr().out


@pytest.mark.parametrize("device", ["banana", "cuda:x", "tpu:0"])
def test_bad_device_is_bad_input(capsys: pytest.CaptureFixture[str], device: str) -> None:
    assert main(["doctor", "--device", device]) == 2
    err = capsys.readouterr().err
    assert f"unknown device {device!r}" in err and "use cpu, cuda, cuda:N, npu or npu:N" in err


def test_cann_version_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    arch = tmp_path / "x86_64-linux"
    arch.mkdir()
    (arch / "ascend_toolkit_install.info").write_text(
        "package_name=Ascend-cann-toolkit\nversion=8.2.RC1\narch=x86_64\n"
    )
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(tmp_path))
    info = doctor.cann_info()
    assert info["version"] == "8.2.RC1" and info["home"] == str(tmp_path)
    assert info["found_via"] == "ASCEND_TOOLKIT_HOME"
    monkeypatch.setenv("ASCEND_TOOLKIT_HOME", str(tmp_path / "missing"))
    assert doctor.cann_info()["note"].endswith("does not exist")
    monkeypatch.delenv("ASCEND_TOOLKIT_HOME")
    monkeypatch.delenv("ASCEND_HOME_PATH", raising=False)
    if not Path("/usr/local/Ascend/ascend-toolkit/latest").exists():
        assert doctor.cann_info() == {
            "home": None,
            "version": None,
            "note": "ASCEND_TOOLKIT_HOME is not set",
        }


def test_ascend_tolerance() -> None:
    assert doctor.ascend_tolerance(2047) == 2**-7 and doctor.ascend_tolerance(2048) == 2**-6
