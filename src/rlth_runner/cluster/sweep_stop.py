"""A sweep stopped as a whole by a signal to its own process (`kill -TERM`
of the sweep, SLURM's warning to the sweep's own job). Torch-free.

The sweep's process (`install`, at the sweep's start) takes SIGTERM, SIGUSR1
and SIGUSR2: it marks the sweep stopped in the sweep directory, then sends
the signal on to every job of the sweep that is running on this machine
(each job notes its process in the sweep's ledger, storage/scan.py). A
running job stops as any run does (run/interrupts.py): it saves a checkpoint
at its step and records `interrupted`. A job that starts after the mark
(a launcher hands out the jobs left) does not run: it is noted as not
started, and the tally lists it so. Once the launcher returns, `reap` ends
what is left of the sweep's processes (a joblib sweep's idle workers), and
the sweep exits 128 + the signal's number.

Under the basic launcher the jobs run in the sweep's own process, where
the running job's own handler takes the signal; `stop_here` then marks the
sweep stopped from that job.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)

received: int | None = None  # the signal that stopped the sweep run by this process
_sweep: tuple[Path, str] | None = None  # (sweep directory, sweep id) of the sweep this process runs


def install(sweep_dir: Path | str, sweep_id: str) -> None:
    """In the sweep's own process: a signal from SIGNALS stops the sweep as a whole."""
    global _sweep, received
    _sweep, received = (Path(sweep_dir), sweep_id), None
    for signum in SIGNALS:
        signal.signal(signum, _stop)


def runs_here() -> bool:
    """Whether this process runs a sweep (its jobs may run here too: the basic launcher)."""
    return _sweep is not None


def _stop(signum, frame) -> None:
    if _sweep is None or received is not None:
        return
    sent = stop_here(signum)
    print(f"\nrlth-run: {signal.Signals(signum).name}: stopping the sweep; {sent} running job{'s' if sent != 1 else ''} "
          "save and stop, the jobs not started yet will not start", file=sys.stderr, flush=True)


def stop_here(signum: int) -> int:
    """Mark the sweep this process runs as stopped by `signum` and pass the signal on to its running jobs
    (how many). A no-op in a process that does not run a sweep (a job in a worker)."""
    global received
    if _sweep is None:
        return 0
    from ..storage.scan import ledger, mark_stopped

    received = received or signum
    sweep_dir, sweep_id = _sweep
    mark_stopped(sweep_dir, sweep_id, f"the sweep was stopped by {signal.Signals(signum).name}")
    sent, host = 0, socket.gethostname()
    for entry in (ledger(sweep_dir, sweep_id) or {}).values():
        pid = entry.get("pid")
        if pid and pid != os.getpid() and entry.get("host") == host and not entry.get("refused") and not entry.get("not_started"):
            try:
                os.kill(pid, signum)
                sent += 1
            except ProcessLookupError:
                pass  # finished meanwhile
    return sent


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Linux /proc; elsewhere none)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def reap(grace_s: float = 2.0) -> None:
    """End the processes the sweep leaves behind once its jobs are over (a joblib sweep's idle
    workers, which otherwise wait minutes for more work): SIGTERM, then SIGKILL after `grace_s`.
    Resource trackers are left to end with this process (they stop when its end of their pipe
    closes); ended before it, they are started again at its exit."""
    left = [pid for pid in descendants(os.getpid()) if b"resource_tracker" not in _cmdline(pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace_s
        while left and time.monotonic() < deadline:
            left = [pid for pid in left if _alive(pid)]
            time.sleep(0.05)
        if not left:
            return


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)  # a child of ours: collect it, so it is not left a zombie
    except ChildProcessError:
        pass
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"
