"""Generation engine overhead on the demo model: Runner vs a direct diffusers call, and the
cost of live previews.

1. Runner total (encode + denoise + decode + MP4/poster/sidecar, warm model) over a direct
   ``pipe(...)`` call plus diffusers' ``export_to_video`` with the same settings on the same
   loaded pipeline, medians of interleaved runs. Model loading is excluded from both. Goal <= 1.05x.
2. Preview share of a denoising step: one latent2rgb preview (4 frames) vs the median step
   time, with previews forced on every step. Goal <= 3 %. The demo model's step is tiny, so
   this is a pessimistic bound; the table also shows the preview cost at the latent size of a
   real 720p A14B run (16 x 21 x 90 x 160), which does not depend on the model.

    .venv/bin/python bench/generate.py [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import bench_lock, parser, report


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--size", default="128x128", help="WxH (default 128x128)")
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--steps", type=int, default=8)
    args = p.parse_args()
    width, height = (int(v) for v in args.size.split("x"))

    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from core.commands.quiet import quiet_libraries

    quiet_libraries()  # before torch/diffusers/tqdm are imported: they read it then
    import torch
    from diffusers.utils import export_to_video

    from core.generate.events import Done
    from core.generate.preview import LatentPreviewer
    from core.generate.request import defaults_for
    from core.generate.runner import Runner
    from core.models.demo import create_demo_model

    with tempfile.TemporaryDirectory(prefix="wan-bench-") as tmp, bench_lock():
        root = Path(tmp)
        os.environ["WAN_STUDIO_HOME"] = str(root / "home")
        folder = create_demo_model("t2v-a14b", root / "demo")
        request = defaults_for("t2v-a14b", demo=True, model=str(folder))
        request.prompt = "a red fox running through the snow, cinematic"
        request.width, request.height = width, height
        request.frames, request.steps, request.seed = args.frames, args.steps, 1
        request.output = str(root / "runner")

        runner = Runner(preview_fps=4.0)
        first = runner.run(request)  # loads the model (excluded) and warms everything up
        assert isinstance(first, Done), first
        pipe = runner.loaded.pipe

        def direct(index: int) -> None:
            generator = torch.Generator("cpu").manual_seed(1)
            video = pipe(
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                height=height,
                width=width,
                num_frames=request.frames,
                num_inference_steps=request.steps,
                guidance_scale=request.guidance_high,
                guidance_scale_2=request.guidance_low,
                generator=generator,
                output_type="np",
            ).frames[0]
            export_to_video(video, str(root / f"direct-{index}.mp4"), fps=request.fps)

        def engine() -> None:
            outcome = runner.run(request)
            assert isinstance(outcome, Done), outcome

        direct(-1)
        runner_times, direct_times = [], []
        for i in range(args.repeat):  # interleaved so machine noise hits both alike
            start = time.perf_counter()
            engine()
            runner_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            direct(i)
            direct_times.append(time.perf_counter() - start)
        runner_med, direct_med = statistics.median(runner_times), statistics.median(direct_times)

        # Previews on every step: cost per preview vs step time.
        every_step = Runner(preview_fps=1e9, preview_frames=4)
        step_times, preview_costs = [], []
        for _ in range(args.repeat):
            steps: list[float] = []
            outcome = every_step.run(
                request, lambda e, s=steps: s.append(e.timestamp) if e.kind == "step" else None
            )
            assert isinstance(outcome, Done)
            step_times += [b - a for a, b in itertools.pairwise(steps)]
            previews = request.steps
            preview_costs.append(outcome.timings["preview"] / previews)
        step_med = statistics.median(step_times)
        preview_med = statistics.median(preview_costs)

        big = torch.randn(1, 16, 21, 90, 160)
        real = LatentPreviewer(16, wan22_vae=False, spatial_scale=8, frames=4, max_per_second=0)
        real.render(big)
        real_costs = []
        for _ in range(max(3, args.repeat)):
            start = time.perf_counter()
            real.render(big)
            real_costs.append(time.perf_counter() - start)
        real_med = statistics.median(real_costs)

    rows = [
        {
            "measure": "runner total / direct pipe + export_to_video",
            "runner_s": runner_med,
            "baseline_s": direct_med,
            "ratio": runner_med / direct_med,
            "goal": "<= 1.05",
        },
        {
            "measure": "preview cost / denoising step (demo model)",
            "runner_s": preview_med,
            "baseline_s": step_med,
            "ratio": preview_med / step_med,
            "goal": "<= 0.03",
        },
        {
            "measure": "preview at 720p A14B latents (16x21x90x160), s",
            "runner_s": real_med,
            "baseline_s": None,
            "ratio": None,
            "goal": "",
        },
    ]
    report(
        f"Generation engine, demo T2V-A14B model, {width}x{height}, {args.frames} frames, "
        f"{args.steps} steps, median of {args.repeat}",
        rows,
        args.json,
        extra={"runner_times": runner_times, "direct_times": direct_times},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
