"""The two sources of rounds the round loop (rounds.py) trains.

    LotteryRounds  rounds 0 .. rounds-1 of iterative pruning: round k > 0 prunes the
                   network round k-1 trained and lets the policy set its weights
    BranchRounds   the parent's rounds a branch trains (lottery/branches/): round k
                   starts from the kind's mask and values, in <parent>/branches/<kind>
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from .. import seeds
from ..lottery import branches, growth, stopping
from ..lottery.branches import kinds
from ..lottery.pruning import at_init, masks, pruners
from ..models.build import build_model
from ..storage.rundir import RunDir
from ..training import gradual
from . import checkpoints
from .prepare import RunParts
from .rounds import RoundSource

log = logging.getLogger("rlth_runner")


def for_run(cfg: DictConfig, run_dir: RunDir, parts: RunParts) -> RoundSource:
    return BranchRounds(cfg, parts) if branches.is_branch(cfg) else LotteryRounds(cfg, run_dir, parts)


class LotteryRounds(RoundSource):
    def __init__(self, cfg: DictConfig, run_dir: RunDir, parts: RunParts):
        self.run_dir, self.policy, self.pruner, self.stop_cfg = run_dir, parts.policy, cfg.pruner, cfg.stop
        self.seed, self.rounds = cfg.seed, cfg.rounds
        self.data, self.batch_size = parts.data, cfg.train.batch_size  # pruning at initialisation scores on training batches
        self.pruner_seed = cfg.pruner.seed if cfg.pruner.get("seed") is not None else cfg.seed
        self.indices = list(range(cfg.rounds))
        self.ran_out = ("max_rounds", f"after round {cfg.rounds - 1}: rounds={cfg.rounds} done")

    def continue_from(self, net, k: int) -> None:
        # The last finished round's network, regrown first when the policy grew it.
        checkpoints.restore(net, self.run_dir.load_weights(k), self.run_dir.load_arch(k))

    def start(self, net, k: int) -> int:
        removed = 0
        if k == 0:  # pruner.at_init: to the target density before round 0 trains (lottery/pruning/at_init.py)
            removed = sum(at_init.prune_at_init(net, self.pruner, self.data, self.batch_size, self.seed, self.pruner_seed).values())
        if k > 0:
            removed = sum(pruners.prune(net, self.pruner, k, self.rounds, self.pruner_seed).values())
            if change := self.policy.apply(net, k):
                log.info("Round %d: %s, now %d hidden layers", k, change, growth.depth(net))
            pruners.attach_masks(net, self.pruner)  # layers a policy added
        log.info("Round %d/%d: pruned %s weights, %.2f%% of prunable weights remain", k, self.rounds - 1, f"{removed:,}", 100 * masks.density(net))
        return removed

    def batch_seed(self, k: int) -> int:
        return seeds.derive(self.seed, "train", k)

    def callbacks(self, k: int) -> list:
        return [*self.policy.callbacks(k), *gradual.fit_callbacks(self.pruner, self.pruner_seed, k)]

    def dense(self, summary, k: int):
        return summary.rounds[0] if k else None

    def stop(self, summary, record):
        return stopping.check(self.stop_cfg, summary.rounds[0], record)


class BranchRounds(RoundSource):
    """Every round starts from the parent's files, so a resumed branch needs nothing restored."""

    def __init__(self, cfg: DictConfig, parts: RunParts):
        parent = RunDir(Path(cfg.branch["from"]), writer=False)
        self.kind = kinds.build(cfg.branch, parent, parts.policy.starts_from, cfg.seed, lambda: build_model(cfg.model, parts.data), cfg.pruner,
                                parts.data, cfg.train.batch_size)
        self.name, self.parent_dense = cfg.branch.kind, parent.load_record(0)
        self.indices = branches.rounds(cfg.branch, parent)
        self.ran_out = ("branch", f"after the parent's rounds {', '.join(map(str, self.indices))} ({parent.root})")

    def start(self, net, k: int) -> int:
        self.kind.start(net, k)
        log.info("Branch %s, round %d: %.2f%% of prunable weights remain", self.name, k, 100 * masks.density(net))
        return 0

    def batch_seed(self, k: int) -> int:
        return self.kind.batch_seed(k)

    def dense(self, summary, k: int):
        return self.parent_dense
