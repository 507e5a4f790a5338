"""Stopping cleanly on a signal: SIGTERM, SIGUSR1 and SIGUSR2 (what SLURM
sends before a kill or a requeue) and SIGINT (Ctrl-C).

The handler only notes the signal. Training ends its chunk of steps at the
next optimizer step, where the round's checkpoint is written
(training/round_checkpoint.py) and the fit stops; the round loop stops
between rounds. The runner records `status: interrupted` with the signal's name, and `rlth-run`
exits with 128 + the signal's number (143 for SIGTERM, 138 for SIGUSR1, 130
for SIGINT). A second Ctrl-C exits at once with one line (130, no clean-up:
summary.json may still say `running`). Re-running the command continues
the run from that checkpoint, at the step the signal stopped it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from contextlib import contextmanager

SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2, signal.SIGINT)

received: int | None = None  # the first signal noted, read on every optimizer step
_outer: dict = {}  # the handlers found before rlth-run's, which a stopped run hands its signal on to


class Interrupted(Exception):
    def __init__(self, signum: int, where: str = ""):
        self.signum, self.name = signum, signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"interrupted by {self.name}{where}; re-run the same command to continue")


def _note(signum, frame) -> None:
    global received
    if signum == signal.SIGINT and received == signal.SIGINT:  # a second Ctrl-C: exit now, one line, no traceback
        print("\nrlth-run: stopped at once by a second Ctrl-C; finished rounds are saved, re-running continues", file=sys.stderr, flush=True)
        os._exit(128 + signum)
    if received is None:
        received = signum
        if signum == signal.SIGINT:
            print("\nStopping at the next step (Ctrl-C again to stop at once)", file=sys.stderr, flush=True)


def check(where: str = "") -> None:
    if received is not None:
        raise Interrupted(received, where)


def listen() -> None:
    """Note SIGNALS from now on (a sweep's job in a worker process, before its run begins): a
    signal that comes before the run then stops it before round 0, rather than ending the worker."""
    global received
    if threading.current_thread() is threading.main_thread():
        received = None
        for s in SIGNALS:
            previous = signal.signal(s, _note)
            if previous is not _note:
                _outer[s] = previous


@contextmanager
def noted():
    """Note SIGNALS while the block runs (from the main thread only; elsewhere a no-op)."""
    global received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if signal.getsignal(signal.SIGTERM) is not _note:  # else listened for since the job began: keep what came
        received = None
    previous = {s: signal.signal(s, _note) for s in SIGNALS}
    _outer.update({s: h for s, h in previous.items() if h is not _note})
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        stopped_by, received = received, None
        hand_on(stopped_by)


def hand_on(signum: int | None) -> None:
    """Once the run has stopped and saved, pass its signal to the handler that was there before
    rlth-run's, if that is a Python function: submitit's USR2 handler requeues the job (SLURM
    preemption or time limit), which then continues from the checkpoint. Ctrl-C is not handed on."""
    handler = _outer.get(signum)
    if signum is not None and signum != signal.SIGINT and callable(handler) and handler is not _note:
        handler(signum, None)
