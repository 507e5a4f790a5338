"""Starting and watching DDP ranks 1..N-1 from rank 0 (__init__.py says why
rlth-run starts them rather than Lightning); each runs entry/rank.py.

Rank 0 waits for every rank to join in Python, so one that fails at start is
an error at once, not a 30-minute rendezvous timeout. It forwards stop
signals to the ranks (which live in their own session, so a Ctrl-C at the
terminal reaches them once, through rank 0) and reaps them at the end. A rank
dies with rank 0 (Linux's parent-death signal), and its output goes to a
temporary folder outside the run directory, kept only if a rank failed: the
error names the file.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from .ranks import LAUNCHED, TIMEOUT, RankError

# What each rank runs; named, not imported, so that nothing here leads back to the runner.
RANK_ENTRY = "rlth_runner.entry.rank"

GRACE_S = 60.0  # after a rank failed, how long rank 0 may go on before it stops anyway (nccl does not notice)
# Once rank 0 is done, how long the others get to end after its SIGTERM before SIGKILL: a rank may
# wait in a collective that rank 0 left, and holds nothing to save (only rank 0 writes).
STOP_S = 2.0


class Children:
    def __init__(self, cfg, job: dict, environ):
        import torch.distributed as dist
        from omegaconf import OmegaConf

        n = cfg.hardware.devices
        self.folder, self.keep, self.procs, self.previous = Path(tempfile.mkdtemp(prefix="rlth-ddp-")), False, {}, {}
        spec = self.folder / "spec.yaml"
        spec.write_text(yaml.safe_dump({"config": OmegaConf.to_container(cfg, resolve=True), "job": job}))
        self.store = dist.TCPStore("127.0.0.1", 0, n, is_master=True, wait_for_workers=False, timeout=TIMEOUT)
        environ.update({"LOCAL_RANK": "0", "NODE_RANK": "0", "WORLD_SIZE": str(n), "MASTER_ADDR": "127.0.0.1",
                        "MASTER_PORT": str(self.store.port), LAUNCHED: "0"})
        for r in range(1, n):
            with open(self.log(r), "w") as out:
                self.procs[r] = subprocess.Popen([sys.executable, "-m", RANK_ENTRY, str(spec)], stdout=out,
                                                 stderr=subprocess.STDOUT, env={**environ, "LOCAL_RANK": str(r), LAUNCHED: str(r)},
                                                 start_new_session=True)
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._forward) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)}
        self.done = threading.Event()
        threading.Thread(target=self._watch, daemon=True).start()

    def log(self, r: int) -> Path:
        return self.folder / f"rank{r}.log"

    def _forward(self, signum, frame):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signum)
        if callable(handler := self.previous.get(signum)):
            handler(signum, frame)

    def failure(self, wait_s: float = 0.0) -> RankError | None:
        """A rank that ended with an error, and the last line it wrote; waits up to `wait_s` for one."""
        deadline = time.monotonic() + wait_s
        while not any(p.poll() for p in self.procs.values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        for r, proc in self.procs.items():
            if code := proc.poll():
                self.keep = True
                last = ([line.strip() for line in self.log(r).read_text(errors="replace").splitlines() if line.strip()] or [""])[-1]
                how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"failed (exit code {code})"
                said = f": {last.removeprefix('rlth-run: ').removeprefix('error: ')}" if last.startswith("rlth-run:") else ""
                return RankError(f"rank {r} {how}{said} (its output: {self.log(r)})")
        return None

    def _watch(self) -> None:
        """Rank 0 learns of a dead rank from gloo at its next collective; nccl would wait for TIMEOUT, so stop after GRACE_S."""
        from ...run import interrupts

        while not self.done.wait(0.2):
            if any(p.poll() for p in self.procs.values()) and not self.done.wait(GRACE_S) and interrupts.received is None:
                print(f"rlth-run: error: {self.failure()}; rank 0 stopped waiting for it", file=sys.stderr, flush=True)
                os._exit(1)

    def await_joined(self) -> None:
        keys, deadline = [f"rlth/joined/{r}" for r in self.procs], time.monotonic() + TIMEOUT.total_seconds()
        while not self.store.check(keys):
            if any(p.poll() is not None for p in self.procs.values()):
                raise self.failure() or RankError("a rank ended before joining the process group")
            if time.monotonic() > deadline:
                self.keep = True
                raise RankError(f"the ranks did not all start within {TIMEOUT}; their output: {self.folder}")
            time.sleep(0.05)

    def wait(self) -> None:
        """After rank 0's run, which the others' collectives took part in to its end: they end too."""
        for proc in self.procs.values():
            proc.wait(timeout=TIMEOUT.total_seconds())
        if failed := self.failure():  # after the last collective: rank 0's results stand
            logging.getLogger("rlth_runner").warning("%s, after the run's last collective", failed)

    def stop(self) -> None:
        self.done.set()
        for s, handler in self.previous.items():
            signal.signal(s, handler)
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + STOP_S
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not self.keep:
            for path in self.folder.iterdir():
                path.unlink()
            self.folder.rmdir()
