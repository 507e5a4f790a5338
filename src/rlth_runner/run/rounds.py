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
from dataclasses import dataclass

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


@dataclass
class Lane:
    """One run the loop trains: its source of rounds, directory, summary and network. A job of
    several seeds (`replicas`, replicas.py) has a lane per seed; a single run has one."""

    cfg: DictConfig
    source: RoundSource
    run_dir: RunDir
    summary: Summary
    parts: RunParts
    objective: float | None = None
    ended: tuple[str, str] | None = None  # (stopped_by, reason) once the lane's rounds are over
    last_done: int | None = None  # the last round found done since a round last trained


def run_rounds(cfg: DictConfig, source: RoundSource, run_dir: RunDir, summary: Summary, parts: RunParts) -> tuple[float | None, str, str]:
    """Train the source's rounds; the objective (cfg.optimized_metric of the last round) and how the rounds ended."""
    lane = Lane(cfg, source, run_dir, summary, parts)
    run_lanes([lane], train_each)
    return lane.objective, *lane.ended


def train_each(k: int, started: list[tuple[Lane, tuple | None]]) -> list[tuple[RoundRecord, dict | None]]:
    """Round k of each lane, one fit each (the batched job's counterpart is batched.train_together)."""
    return [train_round(lane.cfg, lane.run_dir, lane.parts, k, lane.source.batch_seed(k), lane.source.callbacks(k), resume,
                        lane.source.dense(lane.summary, k)) for lane, resume in started]


def run_lanes(lanes: list[Lane], train) -> None:
    """Train the lanes' rounds in step: round k of every lane still going, then round k + 1. `train(k,
    [(lane, resume), ...])` fits round k of the lanes that have not done it, as set up by their sources.
    Every lane's source has the same rounds; a lane whose source says stop trains no further round."""
    writers = {id(lane): lane.run_dir.summary_writer() for lane in lanes}
    for k in lanes[0].source.indices:
        going = [lane for lane in lanes if lane.ended is None]
        if not going:
            break
        interrupts.check(f" before round {k}")
        records, started = {}, []
        for lane in going:
            done, resume = find_round(lane.run_dir, k)
            if done:
                record, lane.last_done = lane.run_dir.load_record(k), k
                lane.summary.add_round(record)
                records[id(lane)] = record
                log.info("Round %d already done, skipping (%s)", k, lane.run_dir.round_dir(k))
            else:
                if lane.last_done is not None:
                    lane.source.continue_from(lane.parts.net, lane.last_done)
                    lane.last_done = None
                started.append((lane, resume, lane.source.start(lane.parts.net, k)))
        trained = train(k, [(lane, resume) for lane, resume, _ in started]) if started else []
        for (lane, _, pruned), (record, path) in zip(started, trained):
            record.pruned = pruned
            finish_round(lane.cfg, lane.run_dir, lane.parts, record, path, lane.summary)
            records[id(lane)] = record
        for lane in going:
            end_round(lane, records[id(lane)], writers[id(lane)])
    for lane in lanes:
        lane.ended = lane.ended or lane.source.ran_out
        writer = writers[id(lane)]
        # The printed table, as text in the summary run (a code block keeps its columns).
        writer.add_text("rounds/table", "```\n" + format_table(lane.summary.rounds) + "\n```", lane.summary.rounds[-1].round)
        writer.close()


def end_round(lane: Lane, record: RoundRecord, writer) -> None:
    log_round(writer, record)
    lane.objective = record.objective(lane.cfg.get("optimized_metric"))
    verdict = distributed.from_rank_zero(lane.source.stop(lane.summary, record))  # every rank stops together
    if verdict is not None:
        log.info("Stopping %s", verdict[1])
        lane.ended = verdict


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
