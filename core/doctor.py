"""`wan-studio doctor`: what is installed, which MXFP8 backends can run here, and whether they
compute the right numbers on this device.

Every available backend is self-tested on the chosen device against the reference numerics
(core.mx on the CPU): its activation quantizer must reproduce the documented vectors
(mxfp8.md §6) and random data bit for bit, and its linear must stay within Ascend's own test
tolerance (mxfp8.md §7.4) of an fp64 golden computed from the same quantized operands.
"Unavailable" is a state, not a failure; a FAIL makes the command exit non-zero.
"""

from __future__ import annotations

import glob
import importlib.metadata
import os
import platform
import re
import sys
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import __version__

if TYPE_CHECKING:
    import torch

    from core.backends.base import MxLinearBackend

PASS, FAIL, UNAVAILABLE = "PASS", "FAIL", "UNAVAILABLE"
PACKAGES = ("torch", "torch_npu", "diffusers", "transformers", "safetensors", "accelerate")
# (tokens M, K, N) of the linear self-test: K < 2048 and K >= 2048 use different tolerances.
LINEAR_SHAPES = ((33, 256, 96), (16, 5120, 64))


@dataclass
class Check:
    name: str
    status: str  # PASS or FAIL
    detail: str


@dataclass
class BackendReport:
    name: str
    available: bool
    reason: str
    description: str = ""
    checks: list[Check] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.available:
            return UNAVAILABLE
        return FAIL if any(c.status == FAIL for c in self.checks) else PASS


@dataclass
class DoctorReport:
    environment: dict[str, Any]
    devices: dict[str, Any]
    device: str
    backends: list[BackendReport]
    selection: dict[str, Any]

    @property
    def ok(self) -> bool:
        return all(b.status != FAIL for b in self.backends)

    def to_dict(self) -> dict[str, Any]:
        backends = []
        for b in self.backends:
            entry = asdict(b)
            entry["status"] = b.status
            backends.append(entry)
        return {
            "ok": self.ok,
            "wan_studio": __version__,
            "environment": self.environment,
            "devices": self.devices,
            "device": self.device,
            "backends": backends,
            "selection": self.selection,
        }


# ----------------------------------------------------------------------------- environment


def _version(dist: str) -> str | None:
    for name in (dist, dist.replace("_", "-")):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def cann_info() -> dict[str, Any]:
    """CANN toolkit location and version from the environment and its version files."""
    home = os.environ.get("ASCEND_TOOLKIT_HOME") or os.environ.get("ASCEND_HOME_PATH")
    source = "ASCEND_TOOLKIT_HOME" if os.environ.get("ASCEND_TOOLKIT_HOME") else "ASCEND_HOME_PATH"
    if not home:
        default = Path("/usr/local/Ascend/ascend-toolkit/latest")
        if not default.exists():
            return {"home": None, "version": None, "note": "ASCEND_TOOLKIT_HOME is not set"}
        home, source = str(default), "default location"
    info: dict[str, Any] = {"home": home, "found_via": source, "version": None}
    candidates = [
        os.path.join(home, "version.cfg"),
        os.path.join(home, "ascend_toolkit_install.info"),
        *sorted(glob.glob(os.path.join(home, "*", "ascend_toolkit_install.info"))),
        os.path.join(home, "compiler", "version.info"),
    ]
    pattern = re.compile(r"^\s*(?:toolkit_installed_version|version)\s*=\s*\[?([^\]\s:]+)", re.I)
    for path in candidates:
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            continue
        for line in text.splitlines():
            match = pattern.match(line)
            if match:
                info.update(version=match.group(1), version_file=path)
                return info
    if not Path(home).exists():
        info["note"] = f"{home} does not exist"
    else:
        info["note"] = "no version file found"
    return info


def collect_environment() -> dict[str, Any]:
    import torch

    packages = {name: _version(name) for name in PACKAGES}
    packages["torch"] = torch.__version__
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "packages": packages,
        "cann": cann_info(),
    }


def collect_devices() -> dict[str, Any]:
    import torch

    from core.backends.npu import import_torch_npu

    devices: dict[str, Any] = {
        "cpu": {"threads": torch.get_num_threads(), "cores": os.cpu_count()},
    }
    cuda: dict[str, Any] = {"available": bool(torch.cuda.is_available())}
    if cuda["available"]:
        cuda["devices"] = [
            {
                "index": i,
                "name": torch.cuda.get_device_name(i),
                "capability": ".".join(map(str, torch.cuda.get_device_capability(i))),
            }
            for i in range(torch.cuda.device_count())
        ]
    devices["cuda"] = cuda
    module, why = import_torch_npu()
    npu: dict[str, Any] = {"available": False}
    if module is None:
        npu["reason"] = why
    else:
        try:
            count = int(module.npu.device_count()) if module.npu.is_available() else 0
            npu["available"] = count > 0
            npu["devices"] = [
                {"index": i, "name": str(module.npu.get_device_name(i))} for i in range(count)
            ]
            if getattr(module, "IS_TEST_DOUBLE", False):
                npu["test_double"] = True
            if not count:
                npu["reason"] = "torch_npu sees no NPU"
        except Exception as exc:
            npu["reason"] = f"torch_npu could not list devices: {type(exc).__name__}: {exc}"
    devices["npu"] = npu
    return devices


def default_device(devices: dict[str, Any]) -> str:
    if devices["npu"].get("available"):
        return "npu"
    if devices["cuda"].get("available"):
        return "cuda"
    return "cpu"


# ----------------------------------------------------------------------------- self-tests


def _bf16_from_bits(bits: tuple[int, ...], shape: tuple[int, int]) -> torch.Tensor:
    import torch

    signed = [b - 0x10000 if b >= 0x8000 else b for b in bits]
    return torch.tensor(signed, dtype=torch.int16).view(torch.bfloat16).reshape(shape)


def _first_difference(got: list[int], want: list[int]) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if g != w:
            return f"index {i}: got 0x{g:02X}, expected 0x{w:02X}"
    return "lengths differ"


def _with_rule(backend: MxLinearBackend, rule: Any) -> MxLinearBackend | None:
    """The same backend with another scale rule, when its constructor takes one."""
    from core.backends import get_backend

    if backend.rule == rule:
        return backend
    try:
        return get_backend(backend.name, rule=rule)
    except (TypeError, ValueError):
        return None


def check_vectors(backend: MxLinearBackend, device: str) -> Check:
    """The documented vectors through the backend's quantizer, bit for bit."""
    from core.mx.vectors import quant_vectors

    vectors = quant_vectors()
    passed, skipped, failures = 0, set(), []
    for vec in vectors:
        quantizer = _with_rule(backend, vec.rule)
        if quantizer is None:
            skipped.add(vec.rule.value)
            continue
        x = _bf16_from_bits(vec.bf16_bits, vec.shape).to(device)
        data, scale = quantizer.quantize(x)
        got_scale = scale.cpu().flatten().tolist()
        got_codes = data.cpu().view(_uint8()).flatten().tolist()
        if got_scale != list(vec.scale):
            failures.append(
                f"{vec.name} ({vec.rule.value}): scale {got_scale} != {list(vec.scale)}"
            )
        elif vec.codes is not None and got_codes != list(vec.codes):
            diff = _first_difference(got_codes, list(vec.codes))
            failures.append(f"{vec.name} ({vec.rule.value}): codes differ at {diff}")
        else:
            passed += 1
    total = len(vectors) - sum(1 for v in vectors if v.rule.value in skipped)
    note = f" (rule {', '.join(sorted(skipped))} not supported: skipped)" if skipped else ""
    if failures:
        shown = "; ".join(failures[:3]) + (
            f"; +{len(failures) - 3} more" if len(failures) > 3 else ""
        )
        return Check(
            "quantizer: documented vectors", FAIL, f"{len(failures)}/{total} wrong: {shown}"
        )
    return Check("quantizer: documented vectors", PASS, f"{passed}/{total} bit-exact{note}")


def _uint8() -> torch.dtype:
    import torch

    return torch.uint8


def _random_inputs() -> list[tuple[str, torch.Tensor]]:
    """Gaussian rows spanning many binades, with zeros, exact ties, Inf, NaN and a byte-0 block,
    in bf16 (the activations the backends quantize) and fp16 (within its range)."""
    import torch

    gen = torch.Generator().manual_seed(20250)
    out = []
    for label, dtype, lo, hi in (
        ("bf16", torch.bfloat16, -30, 20),
        ("fp16", torch.float16, -14, 10),
    ):
        mags = 2.0 ** torch.randint(lo, hi, (64, 1), generator=gen).float()
        x = torch.randn(64, 320, generator=gen) * mags
        x[3] = 0.0
        x[5, :32] = torch.arange(32).float() * 0.25  # exact ties after scaling
        x[7, 40] = float("inf")
        x[9, 100] = float("nan")
        if dtype == torch.bfloat16:
            x[11, :32] = 2.0**-121  # byte-0 block: zero codes on the NPU
        out.append((label, x.to(dtype)))
    return out


def check_random(backend: MxLinearBackend, device: str) -> Check:
    """Random data through the backend's quantizer vs core.mx on the CPU, bit for bit."""
    import torch

    from core.mx import ScaleRule, quantize_mx

    compared, failures = 0, []
    for rule in (ScaleRule.FLOOR, ScaleRule.RCEIL):
        quantizer = _with_rule(backend, rule)
        if quantizer is None:
            continue
        for label, x in _random_inputs():
            if label == "fp16" and rule is ScaleRule.RCEIL:
                continue  # Ascend does not document fp16 rounding under scale_alg=1
            data, scale = quantizer.quantize(x.to(device))
            want_data, want_scale = quantize_mx(x, rule)
            compared += x.numel()
            if not torch.equal(scale.cpu(), want_scale):
                bad = int((scale.cpu() != want_scale).sum())
                failures.append(f"{label} {rule.value}: {bad} scale bytes differ")
            elif not torch.equal(data.cpu().view(torch.uint8), want_data.view(torch.uint8)):
                bad = int((data.cpu().view(torch.uint8) != want_data.view(torch.uint8)).sum())
                failures.append(f"{label} {rule.value}: {bad} codes differ")
    if failures:
        return Check("quantizer: random data vs core.mx", FAIL, "; ".join(failures))
    return Check("quantizer: random data vs core.mx", PASS, f"{compared} elements bit-exact")


class _Layer:
    """A throwaway layer with the MxLinearLayer attributes."""

    def __init__(self, weight: Any, scale: Any, bias: Any) -> None:
        self.weight, self.weight_scale, self.bias = weight, scale, bias
        self.out_features, self.in_features = weight.shape
        self.backend_state: Any = None


def ascend_tolerance(k: int) -> float:
    """bf16-output bound of Ascend's golden_compare (mxfp8.md §7.4)."""
    return 2.0**-7 if k < 2048 else 2.0**-6


def check_linear(backend: MxLinearBackend, device: str, m: int, k: int, n: int) -> Check:
    """backend.linear on the device vs an fp64 golden from the same quantized operands."""
    import torch

    from core.mx import dequantize_mx, quantize_mx

    name = f"linear bf16 M={m} K={k} N={n}"
    gen = torch.Generator().manual_seed(k + n)
    w = (torch.randn(n, k, generator=gen) * 0.02).to(torch.bfloat16)
    bias = (torch.randn(n, generator=gen) * 0.1).to(torch.bfloat16)
    x = torch.randn(m, k, generator=gen).to(torch.bfloat16)
    w_data, w_scale = quantize_mx(w, backend.rule)
    x_data, x_scale = quantize_mx(x, backend.rule)
    golden = (
        dequantize_mx(x_data, x_scale, torch.float64)
        @ dequantize_mx(w_data, w_scale, torch.float64).T
        + bias.double()
    )
    layer = _Layer(w_data.to(device), w_scale.to(device), bias.to(device))
    backend.prepare(layer)  # type: ignore[arg-type]
    out = backend.linear(x.to(device).reshape(1, m, k), layer)  # type: ignore[arg-type]
    if out.dtype != torch.bfloat16 or tuple(out.shape) != (1, m, n):
        return Check(
            name, FAIL, f"returned {out.dtype} {list(out.shape)}, expected bf16 [1, {m}, {n}]"
        )
    out = out.reshape(m, n).cpu().double()
    if not torch.isfinite(out).all():
        return Check(name, FAIL, "output has Inf/NaN")
    tol = ascend_tolerance(k)
    ratio = ((out - golden).abs() / (tol * golden.abs().clamp(min=1.0))).max().item()
    bias_rel = ((out - golden).sum().abs() / golden.abs().sum()).item()
    exponent = -7 if k < 2048 else -6
    detail = (
        f"max |err| {ratio:.2f} x limit (2^{exponent}·max(|golden|, 1)), "
        f"mean bias {bias_rel:.1e} (limit 2^-7)"
    )
    ok = ratio <= 1.0 and bias_rel <= 2.0**-7
    return Check(name, PASS if ok else FAIL, detail)


def self_test(backend: MxLinearBackend, device: str) -> list[Check]:
    """All checks for one available backend; an exception becomes a FAIL with its message."""
    steps = [
        ("quantizer: documented vectors", lambda: check_vectors(backend, device)),
        ("quantizer: random data vs core.mx", lambda: check_random(backend, device)),
    ] + [
        (
            f"linear bf16 M={m} K={k} N={n}",
            lambda m=m, k=k, n=n: check_linear(backend, device, m, k, n),
        )
        for m, k, n in LINEAR_SHAPES
    ]
    checks = []
    for name, step in steps:
        try:
            checks.append(step())
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            checks.append(
                Check(
                    name,
                    FAIL,
                    f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})",
                )
            )
    return checks


# ----------------------------------------------------------------------------- the whole run


def run_doctor(device: str | None = None) -> DoctorReport:
    """Collect everything and self-test every backend available on ``device`` (default: the
    best device present: npu, then cuda, then cpu)."""
    from core.backends import BackendUnavailable, get_backend, list_backends, select_backend

    environment = collect_environment()
    devices = collect_devices()
    target = device or default_device(devices)
    reports = []
    for name in list_backends():
        backend = get_backend(name)
        try:
            ok, reason = backend.available(target)
        except Exception as exc:
            ok, reason = False, f"availability check failed: {type(exc).__name__}: {exc}"
        report = BackendReport(name, ok, reason, backend.describe())
        if ok:
            report.checks = self_test(backend, target)
        reports.append(report)
    try:
        chosen, rejected = select_backend(target)
        selection = {"backend": chosen.name, "rejected": rejected}
    except BackendUnavailable as exc:
        selection = {"backend": None, "rejected": exc.reasons}
    return DoctorReport(environment, devices, target, reports, selection)


# ----------------------------------------------------------------------------- human output


def _row(label: str, value: str, width: int = 14) -> str:
    return f"  {label.ljust(width)}{value}"


def format_report(report: DoctorReport) -> str:
    env, dev = report.environment, report.devices
    pk = env["packages"]
    cann = env["cann"]
    if cann.get("version"):
        cann_text = f"{cann['version']} ({cann['home']})"
    elif cann.get("home"):
        cann_text = f"version unknown ({cann['home']}: {cann.get('note', '')})"
    else:
        cann_text = f"not found ({cann.get('note', '')})"
    lines = [
        f"Wan Studio {__version__} doctor",
        "",
        "Environment",
        _row("platform", env["platform"]),
        _row("python", f"{env['python']} ({env['python_executable']})"),
    ]
    for name in PACKAGES:
        lines.append(_row(name, pk.get(name) or "not installed"))
    lines.append(_row("CANN", cann_text))
    lines += [
        "",
        "Devices",
        _row("cpu", f"{dev['cpu']['threads']} torch threads, {dev['cpu']['cores']} cores"),
    ]
    cuda = dev["cuda"]
    lines.append(
        _row(
            "cuda",
            ", ".join(f"{d['index']}: {d['name']} (sm {d['capability']})" for d in cuda["devices"])
            if cuda["available"]
            else "not available",
        )
    )
    npu = dev["npu"]
    if npu.get("devices"):
        npu_text = ", ".join(f"{d['index']}: {d['name']}" for d in npu["devices"])
    else:
        npu_text = f"not available: {npu.get('reason', '')}"
    lines.append(_row("npu", npu_text))
    lines += ["", f"MXFP8 backends on {report.device}"]
    width = max(len(b.name) for b in report.backends) + 2
    for b in report.backends:
        lines.append(f"  {b.name.ljust(width)}{b.status.ljust(13)}{b.reason}")
        check_width = max((len(c.name) for c in b.checks), default=0) + 2
        for c in b.checks:
            lines.append(
                f"  {' ' * width}  {c.name.ljust(check_width)}{c.status.ljust(6)}{c.detail}"
            )
    sel = report.selection
    lines.append("")
    if sel["backend"]:
        lines.append(f"Selected for {report.device}: {sel['backend']}")
    else:
        lines.append(f"No MXFP8 backend can run on {report.device}")
    lines += [f"  {r}" for r in sel["rejected"]]
    failed = [f"{b.name}: {c.name}" for b in report.backends for c in b.checks if c.status == FAIL]
    tested = sum(1 for b in report.backends if b.available)
    lines.append("")
    if failed:
        lines.append(f"Result: FAIL ({len(failed)} check(s) failed: {'; '.join(failed)})")
    elif tested:
        lines.append(
            f"Result: PASS (every available backend passed its self-test on {report.device})"
        )
    else:
        lines.append(f"Result: nothing to test: no backend is available on {report.device}")
    return "\n".join(lines)
