"""The staged generation runner: one request in, events out, a video file at the end.

    runner = Runner()
    outcome = runner.run(request, on_event=print, cancel=token)   # Done | Failed | Cancelled

Stages run separately so each is reported and cancellable: load (skipped while the same model,
quantization, device and backend stay loaded: models are kept warm across jobs), encode the
prompt (``pipe.encode_prompt``), denoise (the diffusers Wan pipeline with precomputed
embeddings and ``output_type="latent"``, reported per expert with the switch step), decode
(our own: un-normalise, ``vae.decode``, to uint8) and write (MP4 + poster + sidecar).

Cancel: the token is checked before every transformer block and VAE decoder chunk (forward
pre-hooks) and after every step, and ``Cancelled`` is raised out of the pipeline, so a cancel
takes effect within one block and no decode is paid for. Expected failures (bad request, load
errors, out of memory, device errors, NaN latents, write errors) come back as ``Failed`` with a
hint; memory is freed and the runner stays usable. ``run`` never raises for them.

Thread-agnostic: the GUI calls ``run`` from its worker thread, the CLI from the main thread;
one job runs at a time (a lock serialises concurrent calls). ``on_event`` is called on the
calling thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.generate import events as ev
from core.generate.failures import NonFiniteLatents, describe_failure
from core.generate.loras import applied_summary, apply_request_loras, merge_signature, preflight
from core.generate.overall import OverallProgress
from core.generate.request import (
    GenerationRequest,
    ModelError,
    demo_family,
    errors,
    model_family,
    random_seed,
    resolve_model_path,
)
from core.generate.runner_support import (
    LoadTracker,
    cancel_hooks,
    decoder_calls,
    free_memory,
    split_steps,
)
from core.generate.video import DEFAULT_TEMPLATE
from core.progress import Cancelled, CancelToken

OFFLOAD_MODES = ("auto", "none", "swap")


@dataclass
class _Warm:
    """The loaded model and what it was loaded for."""

    key: tuple[str, str, str, str]  # (folder, quant, device, backend)
    loaded: Any  # core.models.loader.LoadedModel
    scheduler_config: dict[str, Any]
    image_pipe: Any = None  # WanImageToVideoPipeline sharing the components (TI2V + image)
    loras: Any = None  # core.lora.apply.LoraManager of this model (created on first use)
    # component -> LoRAs merged into its weights at load (report entries)
    merged: dict[str, list[Any]] = dataclasses.field(default_factory=dict)


class Runner:
    """Runs generation jobs; keeps the last model loaded between jobs (see module docstring).

    ``preview_fps`` caps previews per second (0 disables them); ``preview_frames`` is how many
    latent frames a preview shows side by side. ``offload`` "auto" decides from the memory
    estimate; "none" / "swap" force a placement. ``output_folder`` replaces the default videos
    folder; ``name_template`` the file name template (core.generate.video.output_path).
    """

    def __init__(
        self,
        *,
        preview_fps: float = 4.0,
        preview_frames: int = 4,
        offload: str = "auto",
        output_folder: str | Path | None = None,
        name_template: str = DEFAULT_TEMPLATE,
    ) -> None:
        if offload not in OFFLOAD_MODES:
            raise ValueError(f"offload must be one of {', '.join(OFFLOAD_MODES)}")
        self.preview_fps = preview_fps
        self.preview_frames = preview_frames
        self.offload = offload
        self.output_folder = Path(output_folder) if output_folder else None
        self.name_template = name_template
        self.loads = 0  # how many times a model was loaded (warm reuse is visible here)
        self._warm: _Warm | None = None
        self._lock = threading.Lock()
        self._measured: dict[tuple, dict[str, float]] = {}

    step_observer: Any = None  # (step, latents) -> None after every step (core.compare)

    # ---- public -----------------------------------------------------------------------------
    @property
    def loaded(self) -> Any:
        """The warm LoadedModel (pipe, family, report), or None."""
        return self._warm.loaded if self._warm else None

    def run(
        self,
        request: GenerationRequest,
        on_event: ev.EventCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ev.Outcome:
        """Run one job to its outcome (also emitted as the last event). Never raises for
        expected failures; a bug in ``on_event`` itself is reported as Failed."""
        with self._lock:
            job = _Job(self, request, on_event or (lambda _e: None), cancel or CancelToken())
            return job.execute()

    def unload(self) -> None:
        """Drop the warm model and free its memory."""
        with self._lock:
            self._drop()

    # ---- internals used by _Job -------------------------------------------------------------
    def _drop(self) -> None:
        self._warm = None
        free_memory()

    def _move(self, module: Any, device: str, onload: bool) -> None:
        """Put one component on the compute ``device`` (``onload``) or back on the host.
        The single place where weights move (a seam for tests: on a CPU-only machine both
        directions are "cpu", so tests observe the swaps by patching this)."""
        if module is not None:
            module.to(device if onload else "cpu")


class _Job:
    """One run of one request: per-job state and the stages, in order."""

    def __init__(
        self,
        runner: Runner,
        request: GenerationRequest,
        on_event: ev.EventCallback,
        cancel: CancelToken,
    ) -> None:
        self.runner = runner
        # The job records what it applied (LoRA sha256) in its own copy of the request.
        self.request = request.replace(loras=[dataclasses.replace(c) for c in request.loras])
        self.on_event = on_event
        self.cancel = cancel
        self.stage: str | None = None
        self.timings: dict[str, float] = {}
        self.progress = OverallProgress({})
        self.started = time.perf_counter()
        self.seed = 0
        self.video_written: Path | None = None

    # ---- events -----------------------------------------------------------------------------
    def emit(self, event: ev.Event, fraction: float = 0.0, stage: str | None = None) -> None:
        event.overall = self.progress.at(stage or self.stage or "", fraction)
        self.on_event(event)

    def begin(self, stage: str) -> float:
        self.cancel.raise_if_cancelled()
        self.stage = stage
        self.emit(ev.StageStarted(stage=stage, label=ev.STAGE_LABELS[stage]), 0.0)
        return time.perf_counter()

    def finish(self, stage: str, since: float) -> None:
        seconds = time.perf_counter() - since
        self.timings[stage] = seconds
        self.emit(ev.StageFinished(stage=stage, seconds=seconds), 1.0, stage)

    # ---- the job ----------------------------------------------------------------------------
    def execute(self) -> ev.Outcome:
        try:
            outcome: ev.Outcome = self._run()
        except Cancelled as exc:
            outcome = ev.Cancelled(stage=self.stage, reason=str(exc) or "cancelled by user")
            self._cleanup(failed=True)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                self._cleanup(failed=True)
                raise
            outcome = describe_failure(exc, self.stage)
            self._cleanup(failed=True, exc=exc)
        else:
            self._cleanup(failed=False)
        if not isinstance(outcome, ev.Done) and self.video_written is not None:
            self._remove_partial()
        with contextlib.suppress(Exception):
            self.emit(outcome, 1.0 if isinstance(outcome, ev.Done) else 0.0)
        return outcome

    def _run(self) -> ev.Outcome:
        import torch

        request = self.request
        problems = request.validate()
        blocking = errors(problems)
        if blocking:
            return ev.Failed(
                message="the request is not valid: " + "; ".join(str(i) for i in blocking),
                hint="Fix the fields listed; each message gives the nearest valid value.",
                details="\n".join(
                    f"{i.field}: {i.message}"
                    + (f" (use {i.suggestion})" if i.suggestion is not None else "")
                    for i in blocking
                ),
            )
        family = model_family(request.model)
        self.seed = (
            request.seed if request.seed is not None and request.seed >= 0 else random_seed()
        )
        demo = demo_family(request.model) is not None
        folder = resolve_model_path(request.model)
        from core.models.demo import is_demo_model

        demo = demo or (folder.is_dir() and is_demo_model(folder))
        self.emit(
            ev.Started(request=request.to_dict(), seed=self.seed, family=family.key, demo=demo)
        )
        for issue in problems:
            self.emit(ev.Warning(message=str(issue)))
        if request.loras:
            preflight(folder, request.loras, family.experts)

        warm, loading = self._load(folder, family)
        pipe = warm.loaded.pipe
        report = warm.loaded.report
        loras = self._apply_loras(warm, report.dtype)
        image = None
        width, height = request.width, request.height
        if request.image:
            from core.generate.conditioning import cover_and_crop, load_image, output_size

            source = load_image(request.image)
            width, height = output_size(request, source.size, family.pixel_multiple)
            image = cover_and_crop(source, width, height)
            if family.image == "optional":  # TI2V-5B: same components, image pipeline
                pipe = self._image_pipe(warm)
        scheduler = self._configure(pipe, warm, family)
        high_steps, low_steps = split_steps(
            scheduler, request.steps, request.boundary if family.experts == 2 else None
        )
        if family.experts == 2 and pipe.transformer_2 is None:
            raise ModelError("this two-expert model has no transformer_2 folder")

        from core.generate.memory import free_bytes, plan_memory

        device = report.device
        memory = plan_memory(
            pipe, device, width, height, request.frames, self.runner.offload, free_bytes(device)
        )
        wan22_vae = bool(pipe.vae.config.get("is_residual", False)) or pipe.vae.config.z_dim == 48
        shape_key = (str(folder), width, height, request.frames, request.steps, image is not None)
        self.progress = OverallProgress.estimate(
            high_steps,
            low_steps,
            family.experts == 2,
            wan22_vae,
            loading,
            self.runner._measured.get(shape_key),
        )
        self.emit(
            ev.Plan(
                width=width,
                height=height,
                frames=request.frames,
                fps=request.fps,
                steps=request.steps,
                high_steps=high_steps,
                low_steps=low_steps,
                switch_step=high_steps if family.experts == 2 else None,
                device=device,
                dtype=report.dtype,
                offload=memory.offload,
                memory=memory.as_dict(),
                quant=report.quant,
                backend=report.backend,
                quantized_layers=report.layers_quantized,
                loras=loras,
            ),
            0.0,
            ev.STAGE_ENCODE,
        )
        for warning in memory.warnings:
            self.emit(ev.Warning(message=warning), 0.0, ev.STAGE_ENCODE)

        with torch.no_grad():
            embeds = self._encode(pipe, device, memory.offload)
            latents = self._denoise(
                pipe,
                embeds,
                image,
                width,
                height,
                high_steps,
                low_steps,
                device,
                memory.offload,
                wan22_vae,
            )
            frames = self._decode(pipe, latents, memory.tile_vae, memory.offload, device)
        del latents
        outcome = self._write(frames, family.key, demo, width, height, report.to_dict())
        measured = dict(self.timings)
        measured.pop(ev.STAGE_LOAD, None)
        self.runner._measured[shape_key] = measured
        return outcome

    # ---- load -------------------------------------------------------------------------------
    def _load(self, folder: Path, family: Any) -> tuple[_Warm, bool]:
        from core.models.loader import LoadOptions, load_pipeline, resolve_device

        request = self.request
        device = resolve_device(request.device)
        key = (
            str(folder.resolve()),
            request.quant,
            device,
            request.backend,
            request.weight_rule,
            merge_signature(request) if request.lora_merge else None,
        )
        warm = self.runner._warm
        if warm is not None and warm.key == key:
            self.progress = OverallProgress({ev.STAGE_LOAD: 0.0})
            self.emit(ev.StageSkipped(stage=ev.STAGE_LOAD, reason="model already loaded"))
            return warm, False
        # Provisional weights: the expert split is unknown before loading, but the load share
        # of the whole job only depends on the total number of steps.
        self.progress = OverallProgress.estimate(
            request.steps, 0, False, family.vae_z_dim == 48, loading=True
        )
        since = self.begin(ev.STAGE_LOAD)
        if warm is not None:  # a different model/quant/device: free the old one first
            self.runner._drop()
        fam_key = demo_family(request.model)
        if fam_key is not None and not (folder / "model_index.json").is_file():
            from core.models.demo import create_demo_model

            self.emit(
                ev.StageProgress(
                    stage=ev.STAGE_LOAD, fraction=0.0, message="creating the demo model"
                )
            )
            create_demo_model(fam_key, folder)
            self.emit(
                ev.Warning(
                    message=f"the demo model was missing; created it (random weights) at {folder}"
                )
            )

        tracker = LoadTracker(folder)
        last_emit = [0.0]

        def progress(component: str, fraction: float) -> None:
            self.cancel.raise_if_cancelled()
            overall = tracker.update(component, fraction)
            now = time.perf_counter()
            if now - last_emit[0] >= 0.1 or overall >= 1.0:  # at most 10 events a second
                last_emit[0] = now
                self.emit(
                    ev.StageProgress(stage=ev.STAGE_LOAD, fraction=overall, message=component),
                    overall,
                )

        self._warn_if_too_big(folder, device)
        options = LoadOptions(
            request.quant, device, request.backend, weight_rule=request.weight_rule
        )
        manager, merged = None, {}
        if request.lora_merge and any(c.enabled for c in request.loras):
            from core.lora.apply import LoraManager
            from core.lora.merge import merge_factory

            manager = LoraManager()
            options.transform_factory = merge_factory(request.loras, manager, merged, self.cancel)
        if "cancel" in inspect.signature(load_pipeline).parameters:
            loaded = load_pipeline(folder, options, progress, cancel=self.cancel)
        else:
            loaded = load_pipeline(folder, options, progress)
        loaded.pipe.set_progress_bar_config(disable=True)
        self.runner.loads += 1
        warm = _Warm(
            key=key,
            loaded=loaded,
            scheduler_config=dict(loaded.pipe.scheduler.config),
            loras=manager,
            merged=merged,
        )
        self.runner._warm = warm
        if loaded.family.key != family.key:
            self.emit(
                ev.Warning(
                    message=f"the folder looks like {loaded.family.name}, expected {family.name}"
                )
            )
        self.finish(ev.STAGE_LOAD, since)
        return warm, True

    def _apply_loras(self, warm: _Warm, dtype_name: str) -> list[dict[str, Any]]:
        """Put the request's LoRAs on the warm experts; records each file's sha256 in the
        request so the video's metadata names exactly what was applied."""
        from core.lora.apply import LoraManager

        if warm.loras is None:
            if not self.request.loras:
                return []
            warm.loras = LoraManager()
        lora_report = apply_request_loras(
            warm.loras,
            warm.loaded.pipe,
            self.request.loras,
            dtype_name,
            self.emit,
            self.cancel,
            merged=warm.merged,
        )
        summary = applied_summary(lora_report)
        sha = {a["file"]: a["sha256"] for a in summary}
        for choice in self.request.loras:
            choice.sha256 = sha.get(str(Path(choice.path).expanduser()), choice.sha256)
            if choice.path_low:
                low = str(Path(choice.path_low).expanduser())
                choice.sha256_low = sha.get(low, choice.sha256_low)
        return summary

    def _warn_if_too_big(self, folder: Path, device: str) -> None:
        """Pre-flight before minutes of loading: refuses a job that cannot fit or be written
        (PreflightError), warns when only the all-resident placement does not fit."""
        from core.generate.preflight import preflight as job_preflight

        for warning in job_preflight(folder, self.request, device):
            self.emit(ev.Warning(message=warning))

    def _image_pipe(self, warm: _Warm) -> Any:
        """WanImageToVideoPipeline over the loaded TI2V components (expand_timesteps)."""
        if warm.image_pipe is None:
            from diffusers import WanImageToVideoPipeline

            base = warm.loaded.pipe
            parts = {
                k: v
                for k, v in base.components.items()
                if k
                in ("tokenizer", "text_encoder", "vae", "scheduler", "transformer", "transformer_2")
            }
            warm.image_pipe = WanImageToVideoPipeline(
                image_processor=None,
                image_encoder=None,
                boundary_ratio=None,
                expand_timesteps=True,
                **parts,
            )
            warm.image_pipe.set_progress_bar_config(disable=True)
        return warm.image_pipe

    def _configure(self, pipe: Any, warm: _Warm, family: Any) -> Any:
        """Per-job scheduler (solver, flow shift) and expert boundary on the warm pipeline."""
        from core.generate.schedulers import build_scheduler

        request = self.request
        scheduler = build_scheduler(warm.scheduler_config, request.solver, request.shift)
        pipe.scheduler = scheduler
        if family.experts == 2:
            pipe.register_to_config(boundary_ratio=request.boundary)
        return scheduler

    # ---- encode -----------------------------------------------------------------------------
    def _encode(self, pipe: Any, device: str, offload: str) -> tuple[Any, Any]:
        since = self.begin(ev.STAGE_ENCODE)
        if offload == "swap":
            self.runner._move(pipe.transformer, device, onload=False)
            self.runner._move(pipe.transformer_2, device, onload=False)
            self.runner._move(pipe.text_encoder, device, onload=True)
        else:
            self._all_on(pipe, device)
        request = self.request
        prompt_embeds, negative_embeds = pipe.encode_prompt(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            do_classifier_free_guidance=request.guidance_high > 1.0,
            num_videos_per_prompt=1,
            max_sequence_length=512,
            device=pipe.text_encoder.device,
        )
        if offload == "swap":
            self.runner._move(pipe.text_encoder, device, onload=False)
        self.finish(ev.STAGE_ENCODE, since)
        return prompt_embeds, negative_embeds

    def _all_on(self, pipe: Any, device: str) -> None:
        for name in ("text_encoder", "transformer", "transformer_2", "vae"):
            module = getattr(pipe, name, None)
            if module is not None and module.device.type != device.split(":")[0]:
                self.runner._move(module, device, onload=True)

    # ---- denoise ----------------------------------------------------------------------------
    def _denoise(
        self,
        pipe: Any,
        embeds: tuple[Any, Any],
        image: Any,
        width: int,
        height: int,
        high_steps: int,
        low_steps: int,
        device: str,
        offload: str,
        wan22_vae: bool,
    ) -> Any:
        import torch

        from core.generate.preview import LatentPreviewer, x0_estimate

        request = self.request
        total = high_steps + low_steps
        two = pipe.transformer_2 is not None and request.boundary is not None
        stages = (
            [
                (ev.STAGE_DENOISE_HIGH, ev.EXPERT_HIGH, high_steps),
                (ev.STAGE_DENOISE_LOW, ev.EXPERT_LOW, low_steps),
            ]
            if two
            else [(ev.STAGE_DENOISE, ev.EXPERT_SINGLE, total)]
        )
        active = [s for s in stages if s[2] > 0]
        for stage, _expert, _n in stages:
            if _n == 0:
                reason = (
                    "no step is below the boundary: the low-noise expert is not used"
                    if stage == ev.STAGE_DENOISE_LOW
                    else "no step is above the boundary: the high-noise expert is not used"
                )
                self.emit(ev.StageSkipped(stage=stage, reason=reason))
        if offload == "swap":
            first = pipe.transformer if active[0][1] != ev.EXPERT_LOW else pipe.transformer_2
            other = pipe.transformer_2 if first is pipe.transformer else pipe.transformer
            self.runner._move(other, device, onload=False)
            self.runner._move(first, device, onload=True)
        previewer = None
        if self.runner.preview_fps > 0:
            previewer = LatentPreviewer(
                channels=pipe.vae.config.z_dim,
                wan22_vae=wan22_vae,
                spatial_scale=pipe.vae_scale_factor_spatial,
                frames=self.runner.preview_frames,
                max_per_second=self.runner.preview_fps,
            )
        state = {"stage_index": 0, "stage_start": 0.0, "denoise_start": 0.0}
        stage = active[0][0]
        state["stage_start"] = self.begin(stage)
        state["denoise_start"] = state["stage_start"]
        offset = {s: sum(n for _s, _e, n in active[:i]) for i, (s, _e, _n) in enumerate(active)}

        def on_step(pipeline: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            latents = kwargs["latents"]
            stage_name, expert_name, n = active[state["stage_index"]]
            index = i + 1 - offset[stage_name]
            now = time.perf_counter()
            if not bool(torch.isfinite(latents).all()):
                bad = int((~torch.isfinite(latents)).sum())
                raise NonFiniteLatents(i + 1, total, expert_name, bad, latents.numel())
            rate = index / max(now - state["stage_start"], 1e-9)
            per_step = (now - state["denoise_start"]) / (i + 1)
            self.emit(
                ev.Step(
                    stage=stage_name,
                    expert=expert_name,
                    index=index,
                    total=n,
                    overall_index=i + 1,
                    overall_total=total,
                    it_per_s=rate,
                    eta_seconds=per_step * (total - i - 1),
                    timestep=float(t),
                ),
                index / n,
            )
            if previewer is not None and previewer.due(now):
                picture, shown = previewer.render(x0_estimate(pipeline.scheduler, latents))
                self.emit(
                    ev.Preview(image=picture, step=i + 1, total=total, frames=shown), index / n
                )
            if self.runner.step_observer is not None:  # e.g. core.compare's latent capture
                self.runner.step_observer(i + 1, latents)
            self.cancel.raise_if_cancelled()
            if index == n and state["stage_index"] + 1 < len(active):
                self.finish(stage_name, state["stage_start"])
                self.emit(ev.ExpertSwitch(step=i + 1, total=total), 1.0)
                if offload == "swap":
                    self.runner._move(pipeline.transformer, device, onload=False)
                    self.runner._move(pipeline.transformer_2, device, onload=True)
                state["stage_index"] += 1
                state["stage_start"] = self.begin(active[state["stage_index"]][0])
            return {}

        hooks = cancel_hooks(pipe, self.cancel)
        try:
            generator = torch.Generator("cpu").manual_seed(self.seed)
            prompt_embeds, negative_embeds = embeds
            kwargs: dict[str, Any] = {
                "prompt_embeds": prompt_embeds,
                "negative_prompt_embeds": negative_embeds,
                "height": height,
                "width": width,
                "num_frames": request.frames,
                "num_inference_steps": request.steps,
                "guidance_scale": request.guidance_high,
                "generator": generator,
                "output_type": "latent",
                "return_dict": False,
                "callback_on_step_end": on_step,
                "callback_on_step_end_tensor_inputs": ["latents"],
            }
            if two:
                kwargs["guidance_scale_2"] = request.guidance_low
            if image is not None:
                kwargs["image"] = image
            latents = pipe(**kwargs)[0]
        finally:
            for hook in hooks:
                hook.remove()
        self.finish(active[state["stage_index"]][0], state["stage_start"])
        if previewer is not None:
            self.timings["preview"] = previewer.seconds
        finite = torch.isfinite(latents)
        if not bool(finite.all()):
            raise NonFiniteLatents(None, total, "final", int((~finite).sum()), latents.numel())
        return latents

    # ---- decode -----------------------------------------------------------------------------
    def _decode(self, pipe: Any, latents: Any, tile: bool, offload: str, device: str) -> Any:
        """Latents -> uint8 frames [F, H, W, 3]: un-normalise, VAE decode, to uint8."""
        import torch

        since = self.begin(ev.STAGE_DECODE)
        if offload == "swap":
            self.runner._move(pipe.transformer, device, onload=False)
            self.runner._move(pipe.transformer_2, device, onload=False)
        vae = pipe.vae
        if tile:
            vae.enable_tiling()
        else:
            vae.disable_tiling()
        z = latents.to(device=vae.device, dtype=vae.dtype)
        cfg = vae.config
        mean = torch.tensor(cfg.latents_mean, device=z.device, dtype=z.dtype).view(
            1, cfg.z_dim, 1, 1, 1
        )
        std = torch.tensor(cfg.latents_std, device=z.device, dtype=z.dtype).view(
            1, cfg.z_dim, 1, 1, 1
        )
        z = z * std + mean
        calls = decoder_calls(vae, z.shape)
        count = [0]

        last_emit = [0.0]

        def chunk(_module: Any, _inputs: Any) -> None:
            self.cancel.raise_if_cancelled()
            count[0] += 1
            now = time.perf_counter()
            if now - last_emit[0] < 0.1:  # tiled decodes make hundreds of chunks
                return
            last_emit[0] = now
            fraction = min(1.0, (count[0] - 1) / calls)
            self.emit(
                ev.StageProgress(
                    stage=ev.STAGE_DECODE, fraction=fraction, message=f"chunk {count[0]}/{calls}"
                ),
                fraction,
            )

        hook = vae.decoder.register_forward_pre_hook(chunk)
        try:
            video = vae.decode(z, return_dict=False)[0]  # [B, 3, F, H, W] in [-1, 1]
        finally:
            hook.remove()
        del z
        # Same mapping as diffusers' postprocess_video ((x / 2 + 0.5).clamp(0, 1)), rounded to
        # uint8 once on the device instead of going through float numpy.
        frames = ((video[0].float() + 1.0) * 127.5).round_().clamp_(0, 255).to(torch.uint8)
        frames = frames.permute(1, 2, 3, 0).contiguous().cpu().numpy()
        self.finish(ev.STAGE_DECODE, since)
        return frames

    # ---- write ------------------------------------------------------------------------------
    def _write(
        self,
        frames: Any,
        family: str,
        demo: bool,
        width: int,
        height: int,
        load_report: dict[str, Any],
    ) -> ev.Done:
        from core.generate.video import (
            poster_path,
            record_payload,
            run_video_path,
            sidecar_path,
            write_poster,
            write_sidecar,
            write_video,
        )

        since = self.begin(ev.STAGE_WRITE)
        request = self.request
        video = run_video_path(
            request, self.seed, self.runner.output_folder, self.runner.name_template
        )
        payload = record_payload(request, self.seed, demo, family, width=width, height=height)
        note = payload.get("note")
        write_video(frames, video, request.fps, metadata=payload, description=note)
        self.video_written = video
        poster = write_poster(frames[len(frames) // 2], poster_path(video))
        self.finish(ev.STAGE_WRITE, since)
        self.timings["total"] = time.perf_counter() - self.started
        sidecar = sidecar_path(video)
        record = dict(payload)
        record.update(
            video=video.name,
            poster=poster.name,
            frames=int(frames.shape[0]),
            fps=request.fps,
            created=time.time(),
            timings=dict(self.timings),
            load_report=load_report,
        )
        write_sidecar(sidecar, record)
        self.video_written = None  # complete: keep it
        return ev.Done(
            video=str(video.absolute()),
            sidecar=str(sidecar.absolute()),
            poster=str(poster.absolute()),
            seed=self.seed,
            timings=dict(self.timings),
            load_report=load_report,
            demo=demo,
            width=width,
            height=height,
            frames=int(frames.shape[0]),
            fps=request.fps,
            request=request.to_dict(),
        )

    # ---- cleanup ----------------------------------------------------------------------------
    def _cleanup(self, failed: bool, exc: BaseException | None = None) -> None:
        from core.generate.failures import is_device_error

        if exc is not None and is_device_error(exc):
            self.runner._warm = None  # the device state is suspect: reload next time
        if failed:
            free_memory()

    def _remove_partial(self) -> None:
        from core.generate.video import poster_path

        for path in (self.video_written, poster_path(self.video_written)):
            with contextlib.suppress(OSError):
                path.unlink()


__all__ = ["LoadTracker", "Runner", "decoder_calls", "free_memory", "split_steps"]
