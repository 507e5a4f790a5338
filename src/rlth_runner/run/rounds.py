"""The round loop: for each round a source of rounds (sources.py) names, set
the round's network, fit, measure, save and log it, until the source's rounds
run out or it says to stop. A lottery run and a branch are two such sources.

A round already on disk is skipped and its record read back, so resuming a
run is re-running its command in the same directory; the source's stopping
verdict sees skipped rounds too, so a resumed run stops where the first one did.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from omegaconf import DictConfig
from torch import nn

from ..cluster import distributed
from ..record import RoundRecord
from ..storage.ledger import DamagedArtifact
from ..storage.rundir import RunDir
from . import interrupts
from .fitting import finish_round, train_round
from .prepare import RunParts
from .summary import Summary, format_table

log = logging.getLogger("rlth_runner")


class RoundSource(ABC):
    """What the loop trains next: which rounds, how round k's network starts, its batch order,
    its callbacks, the dense record it is compared with, and whether to stop after a round."""

    indices: list[int]  # the rounds, in the order they train
    ran_out: tuple[str, str]  # (stopped_by, reason) once every round has run

    @abstractmethod
    def start(self, net: nn.Module, k: int) -> int:
        """Set the masks and starting weights round k trains from; the weights pruned to get there."""

    @abstractmethod
    def batch_seed(self, k: int) -> int: ...

    @abstractmethod
    def dense(self, summary: Summary, k: int) -> RoundRecord | None:
        """Round 0's record, that round k's compression is measured against (None: round k is it)."""

    def continue_from(self, net: nn.Module, k: int) -> None:
        """On resume, before the first round trained: make `net` the network finished round k ended with."""

    def callbacks(self, k: int) -> list:
        return []

    def stop(self, summary: Summary, record: RoundRecord) -> tuple[str, str] | None:
        """(stopped_by, reason) to stop after `record`'s round, else None."""
        return None


def run_rounds(cfg: DictConfig, source: RoundSource, run_dir: RunDir, summary: Summary, parts: RunParts) -> tuple[float | None, str, str]:
    """Train the source's rounds; the objective (cfg.optimized_metric of the last round) and how the rounds ended."""
    writer = run_dir.summary_writer()
    objective, last_done = None, None
    for k in source.indices:
        interrupts.check(f" before round {k}")
        done, resume = find_round(run_dir, k)
        if done:
            record, last_done = run_dir.load_record(k), k
            summary.add_round(record)
            log.info("Round %d already done, skipping (%s)", k, run_dir.round_dir(k))
        else:
            if last_done is not None:
                source.continue_from(parts.net, last_done)
                last_done = None
            pruned = source.start(parts.net, k)
            record, path = train_round(cfg, run_dir, parts, k, source.batch_seed(k), source.callbacks(k), resume, source.dense(summary, k))
            record.pruned = pruned
            finish_round(cfg, run_dir, parts, record, path, summary)
        log_round(writer, record)
        objective = record.objective(cfg.get("optimized_metric"))

        verdict = distributed.from_rank_zero(source.stop(summary, record))  # every rank stops together
        if verdict is not None:
            stopped_by, reason = verdict
            log.info("Stopping %s", reason)
            break
    else:
        stopped_by, reason = source.ran_out
    # The printed table, as text in the summary run (a code block keeps its columns).
    writer.add_text("rounds/table", "```\n" + format_table(summary.rounds) + "\n```", summary.rounds[-1].round)
    writer.close()
    return objective, stopped_by, reason


def find_round(run_dir: RunDir, k: int) -> tuple[bool, tuple | None]:
    """Whether round k is done (a damaged one is moved aside, so it is not), else the
    checkpoint an interrupted attempt left to resume it from."""
    with distributed.rank_zero_first():
        if run_dir.is_done(k) and (problem := run_dir.round_damage(k)):
            # Rounds are deterministic: training it again from round k-1 restores it exactly.
            log.warning("Round %d: %s; moved the round to %s and training it again", k, problem, run_dir.move_aside(run_dir.round_dir(k)))
        done = run_dir.is_done(k)
        return done, None if done else resumable(run_dir, k)


def resumable(run_dir: RunDir, k: int) -> tuple | None:
    """(path, step) of round k's checkpoint from an interrupted attempt, if intact."""
    try:
        found = run_dir.checkpoint(k)
    except DamagedArtifact as err:
        log.warning("Round %d: %s; moved it aside, training the round from its start", k, err)
        return None
    if found is not None:
        log.info("Round %d: resuming from its checkpoint at step %d (%s)", k, found[1], found[0])
    return found


def log_round(writer, record: RoundRecord) -> None:
    for key, value in record.scalars().items():
        writer.add_scalar(f"rounds/{key}", value, record.round)
    writer.flush()
