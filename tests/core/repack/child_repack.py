"""Child process for the repack crash tests (run with the project's Python).

child_repack.py fsize LIMIT ARGS...   run `wan-studio ARGS` with RLIMIT_FSIZE=LIMIT bytes
                                      (SIGXFSZ ignored so writes fail with EFBIG)
child_repack.py hang ORIGINAL QUANT OUTPUT
                                      plan + run; once the first transformer is being
                                      written, print "ready" and sleep (parent kills -9)
child_repack.py sigint ARGS...        run `wan-studio ARGS`; once the first transformer is
                                      being written, print "ready" and pause 1.5 s so the
                                      parent's SIGINT lands mid-way
"""

from __future__ import annotations

import resource
import signal
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _ready_once(pause: float):
    state = {"sent": False}

    def on_progress(p) -> None:
        if not state["sent"] and p.stage.startswith("write transformer") and p.done > 0:
            state["sent"] = True
            print("ready", flush=True)
            time.sleep(pause)

    return on_progress


def main() -> int:
    mode, args = sys.argv[1], sys.argv[2:]
    from core.cli import main as cli_main

    if mode == "fsize":
        limit = int(args[0])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return cli_main(args[1:])
    if mode == "hang":
        from core.repack import plan, run

        run(plan(*args), progress=_ready_once(600.0))
        return 0
    if mode == "sigint":
        import core.commands.repack as command

        original_call = command.TerminalProgress.__call__
        hook = _ready_once(1.5)

        def call(self, p) -> None:
            original_call(self, p)
            hook(p)

        command.TerminalProgress.__call__ = call  # type: ignore[method-assign]
        return cli_main(args)
    raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    sys.exit(main())
