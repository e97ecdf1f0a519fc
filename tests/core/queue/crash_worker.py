"""Child process of test_crash: runs the queue with a stand-in runner until it is SIGKILLed.

Run as ``python tests/core/queue/crash_worker.py STORE SEED``. The queue loop, the store and the
executor are the real ones (core.queue); only the model is stood in for: the runner writes its
files in the real runner's order (a hidden ``.part.mp4`` temp file, linked to its name, then the
poster, then the sidecar last), with short sleeps between, so a kill lands in every phase. It
prints "ready" once the store is open, then exits when the queue is empty.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from core.generate import events as ev  # noqa: E402
from core.generate.video import poster_path, sidecar_path, write_sidecar  # noqa: E402
from core.progress import CancelToken  # noqa: E402
from core.queue.execute import run_claimed  # noqa: E402
from core.queue.store import QueueStore  # noqa: E402


class StandInRunner:
    output_folder = None
    name_template = "{seed}"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pause(self) -> None:
        time.sleep(self.rng.uniform(0.0, 0.03))

    def run(self, request, emit, cancel):
        video = Path(request.output)
        for step in range(3):
            self.pause()
            emit(ev.StageStarted(stage="denoise", label="Denoising", overall=step / 4))
        tmp = video.parent / f".{video.stem}.{os.getpid()}.part.mp4"
        with open(tmp, "wb") as handle:
            handle.write(os.urandom(20000))
            handle.flush()
            os.fsync(handle.fileno())
        self.pause()
        os.link(tmp, video)
        os.unlink(tmp)
        self.pause()
        poster_path(video).write_bytes(b"png")
        self.pause()
        write_sidecar(sidecar_path(video), {"kind": "test", "seed": request.seed})
        return ev.Done(
            video=str(video),
            sidecar=str(sidecar_path(video)),
            poster=None,
            seed=request.seed,
            timings={},
            load_report={},
            demo=True,
            width=request.width,
            height=request.height,
            frames=request.frames,
            fps=request.fps,
            request=request.to_dict(),
        )


def main() -> None:
    store = QueueStore(sys.argv[1])
    runner = StandInRunner(random.Random(int(sys.argv[2])))
    print("ready", flush=True)
    while (job := store.claim()) is not None:
        run_claimed(store, job, runner, lambda _event: None, CancelToken())


if __name__ == "__main__":
    main()
