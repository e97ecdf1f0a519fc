"""`wan-studio queue`: the app's persistent job queue, headless (add, list, run, cancel, ...).

The same SQLite store as the desktop app (core/queue/store.py): jobs added here show in the
app's Queue and the other way round, and a `queue run` beside the app never runs a job the app
runs (taking a job is one atomic transaction). `queue run` keeps the model loaded between jobs
that use it; Ctrl-C cancels the running job (it is kept as cancelled, retry queues it again).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

from core.commands.models import _json_flag, format_table, silence_broken_pipe
from core.commands.request_args import (
    BadInput,
    add_batch_options,
    add_request_options,
    checked_requests,
)

NAME = "queue"
HELP = "the job queue shared with the app: add, list, run, cancel, retry, remove, clear"
ORDER = 25
POLL_S = 1.0  # `queue run --watch`: how often an empty queue is looked at again


def register(parser: argparse.ArgumentParser) -> None:
    _json_flag(parser, top=True)
    sub = parser.add_subparsers(dest="action", metavar="ACTION", title="actions")
    p = sub.add_parser("add", help="add a job (the options of `generate`; --count/--prompts)")
    add_request_options(p, prompt_required=False)
    add_batch_options(p)
    _json_flag(p)
    p = sub.add_parser("list", help="list the jobs (default)")
    p.add_argument("--state", action="append", help="only jobs in this state (repeatable)")
    _json_flag(p)
    p = sub.add_parser("run", help="run queued jobs here until the queue is empty")
    p.add_argument("--once", action="store_true", help="run one job, then stop")
    p.add_argument("--watch", action="store_true", help="keep waiting for new jobs (Ctrl-C ends)")
    _json_flag(p)
    for action, text in (
        ("cancel", "cancel jobs (a running one stops after its current step)"),
        ("retry", "queue failed, cancelled or interrupted jobs again"),
        ("remove", "remove jobs that are not running"),
        ("duplicate", "add a copy of jobs (same settings and seed)"),
    ):
        p = sub.add_parser(action, help=text)
        p.add_argument("ids", nargs="+", type=int, metavar="ID", help="job number(s)")
        _json_flag(p)
    p = sub.add_parser("move", help="put a queued job at a place in the queue (1 = next)")
    p.add_argument("id", type=int, metavar="ID")
    p.add_argument("place", type=int, metavar="PLACE")
    _json_flag(p)
    p = sub.add_parser("clear", help="remove finished jobs (done, failed, cancelled, interrupted)")
    p.add_argument("--all", action="store_true", help="also remove queued jobs")
    _json_flag(p)
    for action, text in (("pause", "stop taking new jobs"), ("resume", "take jobs again")):
        p = sub.add_parser(action, help=text)
        _json_flag(p)
    p = sub.add_parser("reset", help="set a damaged queue database aside and start a fresh one")
    p.add_argument("--yes", action="store_true", help="do it without asking")
    _json_flag(p)


def run(args: argparse.Namespace) -> int:
    from core.cli import EXIT_BAD_INPUT, EXIT_FAILED
    from core.queue.errors import QueueError, StoreUnusable

    action = args.action or "list"
    if action == "reset":
        return _reset(args)
    try:
        store = _open_store()
        if action == "add":
            return _add(store, args)
        if action == "run":
            return _run(store, args)
        return _ACTIONS[action](store, args)
    except BadInput as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreUnusable as exc:
        print(f"wan-studio queue: error: {exc}", file=sys.stderr)
        print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_FAILED
    except QueueError as exc:
        print(f"wan-studio queue: error: {exc}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError:
        return silence_broken_pipe()


def _open_store() -> Any:
    from core.queue.store import QueueStore

    return QueueStore()


def _emit(args: argparse.Namespace, data: Any, text: str) -> int:
    print(json.dumps(data, indent=2, ensure_ascii=False) if args.json else text)
    return 0


def _add(store: Any, args: argparse.Namespace) -> int:
    from core.queue.batch import to_dicts

    requests = checked_requests(args, "queue add")
    batch = f"cli-{time.time():.0f}" if len(requests) > 1 else None
    ids = store.add(to_dicts(requests), batch=batch)
    lines = [
        f"queued job {i}: seed {r.seed}, {r.prompt!r}" for i, r in zip(ids, requests, strict=True)
    ]
    if store.paused:
        lines.append("the queue is paused: `wan-studio queue resume` lets it run")
    return _emit(args, {"ids": ids, "paused": store.paused}, "\n".join(lines))


def _list(store: Any, args: argparse.Namespace) -> int:
    jobs = store.jobs(args.state if getattr(args, "state", None) else None)
    if args.json:
        return _emit(args, {"paused": store.paused, "jobs": [j.to_dict() for j in jobs]}, "")
    if not jobs:
        print("the queue is empty (add a job with `wan-studio queue add --model M --prompt P`)")
        return 0
    rows = [
        (
            job.id,
            job.state,
            f"{job.progress:.0%}" if job.state == "running" else "",
            job.seed if job.seed is not None else "",
            _model_name(job.model),
            job.label,
            job.output if job.state == "done" else (job.error or ""),
        )
        for job in jobs
    ]
    print(format_table(("ID", "STATE", "PROGRESS", "SEED", "MODEL", "PROMPT", "RESULT"), rows))
    counts = store.counts()
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    print(f"\n{summary}" + ("; the queue is paused" if store.paused else ""))
    return 0


def _model_name(model: str) -> str:
    from pathlib import Path

    return model if model.startswith("demo") else Path(model).name


def _run(store: Any, args: argparse.Namespace) -> int:
    from core.cli import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK
    from core.commands.terminal import TerminalProgress
    from core.progress import CancelToken
    from core.queue.execute import run_claimed

    display = TerminalProgress(sys.stderr)
    runner = None
    ran: list[dict[str, Any]] = []
    stop = {"now": False}
    token = CancelToken()

    def on_sigint(_signum: int, _frame: Any) -> None:
        if token.cancelled or stop["now"]:
            raise KeyboardInterrupt
        stop["now"] = True
        token.cancel("cancelled by Ctrl-C")
        display.note("cancelling the running job... (Ctrl-C again to force)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        while not stop["now"]:
            job = store.claim()
            if job is None:
                if args.watch:
                    time.sleep(POLL_S)
                    continue
                if store.paused and store.counts()["queued"]:
                    display.note("the queue is paused: `wan-studio queue resume` lets it run")
                break
            if runner is None:
                from core.generate.runner import Runner

                runner = Runner(preview_fps=0)  # one runner: models stay loaded between jobs
            display.note(f"job {job.id}: seed {job.seed}, {job.label!r}")
            outcome = run_claimed(store, job, runner, display.on_event, token)
            state = store.get(job.id).state
            ran.append({"id": job.id, "state": state, "video": getattr(outcome, "video", None)})
            if state == "failed":
                display.note(f"job {job.id} failed: {getattr(outcome, 'message', '')}")
            if args.once:
                break
            if token.cancelled and not stop["now"]:  # cancelled from elsewhere: go on
                token = CancelToken()
    finally:
        signal.signal(signal.SIGINT, previous)
        display.close()
    done = sum(1 for r in ran if r["state"] == "done")
    text = f"ran {len(ran)} job(s): {done} done" + (
        f", {len(ran) - done} not done" if len(ran) > done else ""
    )
    _emit(args, {"ran": ran}, text)
    if stop["now"]:
        return EXIT_CANCELLED
    return EXIT_OK if done == len(ran) else EXIT_FAILED


def _each(verb: str) -> Any:
    def action(store: Any, args: argparse.Namespace) -> int:
        results = []
        for job_id in args.ids:
            if verb == "cancel":
                state = store.cancel(job_id)
                text = "cancelled" if state == "cancelled" else "asked to stop after its step"
            elif verb == "retry":
                store.retry(job_id)
                text = "queued again"
            elif verb == "remove":
                store.remove([job_id])
                text = "removed"
            else:
                new = store.duplicate(job_id)
                text = f"copied as job {new}"
            results.append({"id": job_id, "result": text})
        lines = [f"job {r['id']}: {r['result']}" for r in results]
        return _emit(args, results, "\n".join(lines))

    return action


def _move(store: Any, args: argparse.Namespace) -> int:
    store.move(args.id, max(0, args.place - 1))
    return _emit(args, {"id": args.id, "place": args.place}, f"job {args.id} is now #{args.place}")


def _clear(store: Any, args: argparse.Namespace) -> int:
    from core.queue.store import FINISHED_STATES, QUEUED

    states = (*FINISHED_STATES, QUEUED) if args.all else FINISHED_STATES
    n = store.clear(states)
    return _emit(args, {"removed": n}, f"removed {n} job(s)")


def _pause(store: Any, args: argparse.Namespace) -> int:
    store.set_paused(args.action == "pause")
    state = "paused" if args.action == "pause" else "running"
    return _emit(args, {"paused": store.paused}, f"the queue is {state}")


def _reset(args: argparse.Namespace) -> int:
    from core.queue.errors import StoreUnusable
    from core.queue.store import QueueStore, default_store_path, reset_store

    path = default_store_path()
    try:
        QueueStore(path).close()
        return _emit(args, {"reset": False}, f"{path} is fine: nothing to reset")
    except StoreUnusable as exc:
        print(f"{exc}", file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            print("run `wan-studio queue reset --yes` to set it aside", file=sys.stderr)
            return 2
        answer = input("Set it aside and start a fresh, empty queue? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing changed", file=sys.stderr)
            return 2
    kept = reset_store(path)
    QueueStore(path).close()
    return _emit(args, {"reset": True, "kept": str(kept)}, f"started a fresh queue; kept {kept}")


_ACTIONS = {
    "list": _list,
    "cancel": _each("cancel"),
    "retry": _each("retry"),
    "remove": _each("remove"),
    "duplicate": _each("duplicate"),
    "move": _move,
    "clear": _clear,
    "pause": _pause,
    "resume": _pause,
}
