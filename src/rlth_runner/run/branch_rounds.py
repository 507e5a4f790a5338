"""A branch's rounds: for each of the parent's rounds it branches from, set the
kind's mask and starting values, then train and save the round as any run
does (fitting.train_round). A round on disk is skipped, so a branch resumes."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ..lottery.branches import kinds, rounds
from ..lottery.pruning import masks
from ..models.build import build_model
from ..storage.rundir import RunDir
from . import interrupts
from .fitting import find_round, finish_round, log_round, train_round
from .prepare import RunParts
from .summary import Summary, format_table

log = logging.getLogger("rlth_runner")


def run_branch(cfg: DictConfig, run_dir: RunDir, summary: Summary, parts: RunParts) -> tuple[float | None, str, str]:
    parent = RunDir(Path(cfg.branch["from"]), writer=False)
    kind = kinds.build(cfg.branch, parent, parts.policy.starts_from, cfg.seed, lambda: build_model(cfg.model, parts.data), cfg.pruner)
    dense = parent.load_record(0)
    chosen = rounds(cfg.branch, parent)
    writer = run_dir.summary_writer()
    objective = None
    for k in chosen:
        interrupts.check(f" before round {k}")
        done, resume = find_round(run_dir, k)
        if done:
            record = run_dir.load_record(k)
            summary.add_round(record)
            log.info("Round %d already done, skipping (%s)", k, run_dir.round_dir(k))
        else:
            kind.start(parts.net, k)
            log.info("Branch %s, round %d: %.2f%% of prunable weights remain", cfg.branch.kind, k, 100 * masks.density(parts.net))
            record, path = train_round(cfg, run_dir, parts, k, kind.batch_seed(k), (), resume, dense)
            finish_round(cfg, run_dir, parts, record, path, summary)
        log_round(writer, record)
        objective = record.objective(cfg.get("optimized_metric"))
    writer.add_text("rounds/table", "```\n" + format_table(summary.rounds) + "\n```", summary.rounds[-1].round)
    writer.close()
    return objective, "branch", f"after the parent's rounds {', '.join(map(str, chosen))} ({parent.root})"
