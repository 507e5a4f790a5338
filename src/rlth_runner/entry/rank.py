"""`python -m rlth_runner.entry.rank <spec>`: one of the DDP ranks 1..N-1 that
rank 0 started (cluster/distributed/launch.py), running the same run as rank 0.

The spec holds the job's config as rank 0 resolved it, and what summary.json
records about the command: the rank needs no Hydra, and none of conf/'s
resolvers. Its output goes to a file rank 0 reads; the last line says how it
ended, in rlth-run's words.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import traceback
from pathlib import Path

import yaml

from ..cluster.distributed.ranks import LAUNCHED


def _die_with_parent() -> None:
    """Linux: SIGKILL this rank when rank 0 dies, however it dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(1)


def rank_main(argv: list[str]) -> int:
    """Rank LOCAL_RANK of a group rank 0 started; the exit status."""
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format=f"[rank {os.environ.get(LAUNCHED)}] %(levelname)s %(name)s: %(message)s")
    spec = yaml.safe_load(Path(argv[0]).read_text())
    from omegaconf import OmegaConf

    from ..run import interrupts
    from ..run.runner import run

    try:
        run(OmegaConf.create(spec["config"]), spec["job"])
    except interrupts.Interrupted as err:
        print(f"rlth-run: {err}", flush=True)
        return err.exit_code
    except BaseException as err:  # noqa: BLE001 - rank 0 reports the last line
        traceback.print_exc()
        print(f"rlth-run: error: {type(err).__name__}: {' '.join(str(err).split())}".rstrip(": "), flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(rank_main(sys.argv[1:]))
