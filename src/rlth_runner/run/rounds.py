"""The round loop: prune, apply the policy, fit, measure, save, log, until
`rounds` or the first stopping rule met (lottery/stopping.py).

A round already on disk is skipped and its record read back, so resuming a
run is re-running its command in the same directory; the stopping rules see
skipped rounds too, so a resumed run stops where the first one did.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from .. import seeds
from ..cluster import distributed
from ..lottery import growth, stopping
from ..lottery.pruning import at_init, masks, pruners
from ..storage.rundir import RunDir
from ..training import gradual
from . import checkpoints, interrupts
from .fitting import find_round, finish_round, log_round, train_round
from .prepare import RunParts
from .summary import Summary, format_table

log = logging.getLogger("rlth_runner")


def run_rounds(cfg: DictConfig, run_dir: RunDir, summary: Summary, parts: RunParts) -> tuple[float | None, str, str]:
    net, policy, p = parts.net, parts.policy, cfg.pruner
    pruner_seed = p.seed if p.get("seed") is not None else cfg.seed
    round_writer = run_dir.summary_writer()

    objective, resume_from = None, None
    stopped_by, reason = "max_rounds", f"after round {cfg.rounds - 1}: rounds={cfg.rounds} done"
    for k in range(cfg.rounds):
        interrupts.check(f" before round {k}")
        done, resume = find_round(run_dir, k)
        if done:
            record, resume_from = run_dir.load_record(k), k
            summary.add_round(record)
            log.info("Round %d already done, skipping (%s)", k, run_dir.round_dir(k))
        else:
            if resume_from is not None:  # the last finished round's network, regrown first
                checkpoints.restore(net, run_dir.load_weights(resume_from), run_dir.load_arch(resume_from))
                resume_from = None

            removed = 0
            if k == 0:  # pruner.at_init: to the target density before round 0 trains (lottery/pruning/at_init.py)
                removed = sum(at_init.prune_at_init(net, p, parts.data, cfg.train.batch_size, cfg.seed, pruner_seed).values())
            if k > 0:
                removed = sum(pruners.prune(net, p, k, cfg.rounds, pruner_seed).values())
                if change := policy.apply(net, k):
                    log.info("Round %d: %s, now %d hidden layers", k, change, growth.depth(net))
                pruners.attach_masks(net, p)  # layers a policy added
            log.info("Round %d/%d: pruned %s weights, %.2f%% of prunable weights remain", k, cfg.rounds - 1, f"{removed:,}", 100 * masks.density(net))
            record, path = train_round(cfg, run_dir, parts, k, seeds.derive(cfg.seed, "train", k), [*policy.callbacks(k), *gradual.fit_callbacks(p, pruner_seed, k)], resume,
                                       dense=summary.rounds[0] if k else None)
            record.pruned = removed
            finish_round(cfg, run_dir, parts, record, path, summary)
        log_round(round_writer, record)
        objective = record.objective(cfg.get("optimized_metric"))

        verdict = distributed.from_rank_zero(stopping.check(cfg.stop, summary.rounds[0], record))  # every rank stops together
        if verdict is not None:
            stopped_by, reason = verdict
            log.info("Stopping %s", reason)
            break
    # The printed table, as text in the summary run (a code block keeps its columns).
    round_writer.add_text("rounds/table", "```\n" + format_table(summary.rounds) + "\n```", summary.rounds[-1].round)
    round_writer.close()
    return objective, stopped_by, reason
