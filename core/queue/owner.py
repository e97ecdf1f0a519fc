"""Who runs a job: an owner string per process, and whether that process still lives.

A running job records its owner as ``host:pid:start``; ``start`` is the process start time from
/proc, so a pid reused after a crash or a reboot is not mistaken for the old process. On the same
host liveness is exact; for another host (a shared home folder) only the heartbeat can tell.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache


def _start_ticks(pid: int) -> str:
    """Process start time in clock ticks since boot (field 22 of /proc/PID/stat), or ''."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return ""
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname().replace(":", "_")


def current_owner() -> str:
    """This process's owner string (stable for the process's life)."""
    pid = os.getpid()
    return f"{_host()}:{pid}:{_start_ticks(pid)}"


def owner_alive(owner: str | None) -> bool | None:
    """True/False for an owner on this host; None when it is another host's (unknowable)."""
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != _host():
        return None
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return start == _start_ticks(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by another user
    except OSError:
        return False
    return not start or _start_ticks(pid) == start
