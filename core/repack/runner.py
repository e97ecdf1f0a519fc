"""run(plan): write the repacked folder into a hidden sibling, verify it, rename it into place.

Bounded memory whatever the model size: tensor bytes move as raw ranges inside the kernel
(core.repack.safetensors_io.copy_range); only headers, configs and descriptions pass through
Python. Any failure, a cancel or Ctrl-C removes the staging folder; a kill -9 leaves at most
that hidden folder, which the next plan/run of the same target recognises and removes.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core import staging
from core.progress import CancelToken, Progress, ProgressCallback, RateMeter
from core.repack.errors import RepackFailed, RepackInputError
from core.repack.planner import (
    ATTENTION_NOTE,
    OUTPUT_DESCRIPTION,
    OUTPUT_WEIGHTS,
    QUANTIZATION_CONFIG,
    RepackPlan,
    TransformerPlan,
    coalesce,
)
from core.repack.safetensors_io import copy_range
from core.repack.sources import file_fingerprint
from core.repack.verify import verify_transformer

STAGE_COMPONENTS = "copy components"
STAGE_TRANSFORMER = "write {target}"
STAGE_VERIFY = "verify"
STAGE_FINALIZE = "finalize"
_EMIT_INTERVAL = 0.1  # seconds between progress reports within a stage


@dataclass
class TransformerReport:
    target: str
    source: str
    weight_files: list[str]
    tensors: int
    renamed: int
    quantized_layers: int
    float_tensors: int
    filled_from_original: list[str]
    skipped_attention_entries: list[str]
    bytes: int
    scale_bytes_scanned: int


@dataclass
class RepackReport:
    output: str
    family: str
    model_type: str
    transformers: list[TransformerReport] = field(default_factory=list)
    components_copied: int = 0
    components_linked: int = 0
    component_bytes: int = 0
    copied_bytes: int = 0  # bytes actually written (hard links excluded)
    copy_method: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def quantized_layers(self) -> int:
        return sum(t.quantized_layers for t in self.transformers)

    @property
    def float_tensors(self) -> int:
        return sum(t.float_tensors for t in self.transformers)

    @property
    def skipped_attention_entries(self) -> int:
        return sum(len(t.skipped_attention_entries) for t in self.transformers)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["quantized_layers"] = self.quantized_layers
        data["float_tensors"] = self.float_tensors
        data["skipped_attention_entries"] = self.skipped_attention_entries
        return data


class _Reporter:
    """Turns byte counts into throttled Progress events and polls the cancel token."""

    def __init__(
        self, total: int, progress: ProgressCallback | None, cancel: CancelToken | None
    ) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stage = ""
        self.message = ""
        self.callback = progress
        self.cancel = cancel
        self.meter = RateMeter(self.total)
        self._last = 0.0

    def check(self) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()

    def start(self, stage: str, message: str = "") -> None:
        self.stage, self.message = stage, message
        self._emit(force=True)

    def advance(self, nbytes: int) -> None:
        self.done += nbytes
        self._emit()

    def _emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.callback is not None and (force or now - self._last >= _EMIT_INTERVAL):
            self._last = now
            self.callback(
                Progress(
                    self.stage,
                    min(self.done, self.total),
                    self.total,
                    self.message,
                    self.meter.eta(self.done),
                )
            )
        self.check()


def run(
    plan: RepackPlan,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    durable: bool = True,
) -> RepackReport:
    """Execute a plan. Raises RepackInputError (bad input, nothing written), RepackFailed (the
    work failed, nothing left behind) or core.progress.Cancelled (nothing left behind).

    ``durable`` fsyncs the written files before the rename, so a power loss cannot leave a
    renamed-but-empty output; it costs the time to flush the output to disk.
    """
    started = time.perf_counter()
    plan.raise_if_problems()
    _recheck_inputs(plan)
    report = RepackReport(
        output=str(plan.output), family=plan.family or "", model_type=plan.family_name or ""
    )
    for removed in staging.remove_stale(plan.output):
        report.notes.append(f"removed {removed}, left over from an interrupted repack")

    reporter = _Reporter(plan.bytes_to_read, progress, cancel)
    reporter.check()
    try:
        stage = staging.Staging(plan.output)
    except OSError as exc:
        raise RepackFailed(
            f"cannot create a temporary folder next to {plan.output}: {exc}"
        ) from exc
    try:
        _copy_components(plan, stage.path, reporter, report, durable)
        for tplan in plan.transformers:
            _write_transformer(tplan, stage.path / tplan.target, reporter, report, durable)
        reporter.start(STAGE_VERIFY, "checking tensors, shapes and scales")
        for tplan in plan.transformers:
            check = verify_transformer(stage.path / tplan.target, tplan.expected)
            _add_transformer_report(report, tplan, check.scale_bytes_scanned, check.file_bytes)
            if check.file_bytes != tplan.file_bytes:
                raise RepackFailed(
                    f"{tplan.target}: wrote {check.file_bytes} bytes, planned {tplan.file_bytes}"
                )
            reporter.check()
        reporter.start(STAGE_FINALIZE, f"renaming into {plan.output.name}")
        _recheck_output(plan)
        stage.commit(durable=durable)
    except BaseException as exc:
        stage.discard()
        if isinstance(exc, OSError):
            raise RepackFailed(_describe_os_error(exc, plan.output)) from exc
        raise
    if any(t.skipped_attention_entries for t in report.transformers):
        report.notes.append(ATTENTION_NOTE)
    for t in report.transformers:
        if t.filled_from_original:
            report.notes.append(
                f"{t.target}: {len(t.filled_from_original)} tensor(s) the export omits were "
                f"taken from the original BF16 weights"
            )
    report.seconds = time.perf_counter() - started
    if progress is not None:
        progress(Progress("done", reporter.total, reporter.total, str(plan.output), 0.0))
    return report


def _recheck_inputs(plan: RepackPlan) -> None:
    for path, fingerprint in plan.fingerprints.items():
        try:
            now = file_fingerprint(path)
        except OSError:
            now = None
        if now != fingerprint:
            raise RepackInputError(
                f"{path} changed (or disappeared) since the repack was planned; plan it again"
            )
    _recheck_output(plan)


def _recheck_output(plan: RepackPlan) -> None:
    out = plan.output
    if out.is_symlink() or (out.exists() and not (out.is_dir() and not any(out.iterdir()))):
        raise RepackInputError(
            f"the output {out} appeared while the repack was running; nothing was overwritten"
        )


def _describe_os_error(exc: OSError, output: Path) -> str:
    reason = exc.strerror or str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free some space (or use --link) and run the repack again"
    elif exc.errno == errno.EFBIG:
        hint = "the file size limit (ulimit -f) or the filesystem's maximum file size was hit"
    else:
        hint = "check the disk and run the repack again"
    return f"writing {output.name} failed: {reason}{where}; nothing was left behind, {hint}"


def _copy_components(
    plan: RepackPlan, root: Path, reporter: _Reporter, report: RepackReport, durable: bool
) -> None:
    reporter.start(STAGE_COMPONENTS, f"{len(plan.components)} files")
    for rel in plan.component_dirs:
        (root / rel).mkdir(parents=True, exist_ok=True)
    try_link = plan.link and plan.linkable
    for item in plan.components:
        dst = root / item.rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if try_link:
            try:
                os.link(item.source, dst)
                report.components_linked += 1
                report.component_bytes += item.size
                reporter.advance(item.size)
                continue
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                    raise
                try_link = False
                report.notes.append(f"hard links are not possible here ({exc.strerror}); copied")
        with open(item.source, "rb") as fin:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                if item.size:
                    report.copy_method = copy_range(
                        fin.fileno(), 0, fd, 0, item.size, reporter.advance
                    )
                if os.fstat(fd).st_size != item.size:
                    raise RepackFailed(f"{item.source} changed size while it was copied")
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
        report.components_copied += 1
        report.component_bytes += item.size
        report.copied_bytes += item.size
        reporter.check()


def _write_json(path: Path, obj: Any, indent: int) -> None:
    with open(path, "x", encoding="utf-8") as handle:
        json.dump(obj, handle, indent=indent, ensure_ascii=False)
        handle.write("\n")


def _write_transformer(
    tplan: TransformerPlan,
    folder: Path,
    reporter: _Reporter,
    report: RepackReport,
    durable: bool,
) -> None:
    reporter.start(
        STAGE_TRANSFORMER.format(target=tplan.target),
        f"{len(tplan.tensors)} tensors from {tplan.export_dir.name}",
    )
    folder.mkdir()
    config = dict(tplan.config)
    config["quantization_config"] = dict(QUANTIZATION_CONFIG)
    _write_json(folder / "config.json", config, indent=2)
    _write_json(folder / OUTPUT_DESCRIPTION, tplan.description, indent=2)

    fd = os.open(folder / OUTPUT_WEIGHTS, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        _write_all(fd, tplan.header, 0)
        reporter.advance(len(tplan.header))
        base = len(tplan.header)
        handles: dict[Path, int] = {}
        try:
            for path, offset, length, at in coalesce(tplan.tensors):
                if path not in handles:
                    handles[path] = os.open(path, os.O_RDONLY)
                    with contextlib.suppress(OSError, AttributeError):
                        os.posix_fadvise(handles[path], 0, 0, os.POSIX_FADV_SEQUENTIAL)
                report.copy_method = copy_range(
                    handles[path], offset, fd, base + at, length, reporter.advance
                )
        finally:
            for handle in handles.values():
                os.close(handle)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    report.copied_bytes += tplan.file_bytes


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _add_transformer_report(
    report: RepackReport, tplan: TransformerPlan, scanned: int, file_bytes: int
) -> None:
    report.transformers.append(
        TransformerReport(
            target=tplan.target,
            source=str(tplan.export_dir),
            weight_files=[p.name for p in tplan.weight_files],
            tensors=len(tplan.tensors),
            renamed=tplan.renamed,
            quantized_layers=len(tplan.quantized_layers),
            float_tensors=tplan.float_tensors,
            filled_from_original=list(tplan.filled),
            skipped_attention_entries=list(tplan.skipped_attention),
            bytes=file_bytes,
            scale_bytes_scanned=scanned,
        )
    )
