"""Before round 0: load the data, build the network and the policy, and check
every value they can rule out (`preflight`), so that such a mistake is one
line before init.pt, summary.json or any training exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch import nn

from .. import seeds
from ..analysis import flops, measures
from ..cluster import distributed, hardware
from ..config import ConfigError
from ..data import DataBundle, TensorBatches, load_dataset
from ..lottery import budget, policies
from ..lottery.pruning import pruners
from ..models.build import build_model
from ..storage.rundir import RunDir
from ..training.early_stop import grid_every
from ..training.lr_schedules import check_fits
from ..training.trainer import quiet_lightning

log = logging.getLogger("rlth_runner")


class SetupError(ConfigError):
    """A value that this machine, the data or the model rule out, found by `preflight`:
    the value's one line, and exit 2 from rlth-run as for any bad value."""


@dataclass
class RunParts:
    """What a run is made of once prepared, and every round trains with: the data, the
    network (each round changes it in place), the policy and what the rounds compare against."""

    data: DataBundle
    net: nn.Module
    policy: policies.Policy
    val_loader: TensorBatches
    test_loader: TensorBatches
    init_weights: dict  # the kept weights at initialisation, for dist_from_init (analysis/measures.py)
    eval_every: int | None  # the validation grid's spacing in steps (train.eval_every_n_steps), None: off
    batches: int  # training batches per epoch (this rank's loader under DDP has as many)
    fixed_steps: int  # a round's optimizer steps under train.budget=fixed (lottery/budget.py)
    dense_macs: int  # MACs per example of the dense network, the reference of train.budget=flops


def prepare(cfg: DictConfig, run_dir: RunDir, in_sweep: bool = False) -> RunParts:
    """Load the data and build the network (`preflight`), then give the network its masks and write init.pt.
    `in_sweep`: a job of `rlth-run -m`, where `eval_every_n_steps: auto` turns the validation grid on."""
    data, net, policy, batches = preflight(cfg, run_dir)
    pruners.attach_masks(net, cfg.pruner)
    if run_dir.has_init() and (problem := run_dir.init_damage()):
        # The initialisation is a function of the seed: the network just built is it.
        log.warning("%s; moved it to %s and wrote it again from seed=%d", problem, run_dir.move_aside(run_dir.init_path), cfg.seed)
    if not run_dir.has_init():
        run_dir.save_init(net.state_dict())

    eval_batch = max(cfg.train.batch_size, 1024)
    fixed = budget.fixed_length(cfg.train, batches)
    # The grid's spacing comes from the fixed round length, so that rounds of any budget are sampled alike.
    return RunParts(data, net, policy, TensorBatches(*data.val, eval_batch), TensorBatches(*data.test, eval_batch), measures.kept_weights(net),
                    grid_every(cfg.train.eval_every_n_steps, fixed, in_sweep), batches, fixed, flops.macs_per_example(net, data.input_shape))


def preflight(cfg: DictConfig, run_dir: RunDir) -> tuple[DataBundle, nn.Module, policies.Policy, int]:
    """The data, the network, the policy and the training batches per epoch. Every check that
    needs this machine, the data or the model runs here, and a value they rule out is one
    SetupError; data that cannot be read (DataError) or a model that cannot take the data
    (ModelDataMismatch) is raised as it is."""
    try:
        hardware.check(cfg.hardware)  # a device this machine lacks: before any data is loaded
        quiet_lightning()
        threads, why = distributed.threads_per_rank(cfg.hardware)
        if threads:
            torch.set_num_threads(threads)
        log.info("Torch threads: %d (%s)", torch.get_num_threads(), why)
        pl.seed_everything(seeds.derive(cfg.seed, "init"), verbose=False)

        data = load_dataset(cfg.dataset, cfg.paths.data_dir, cfg.hardware)  # a held-out split larger than the data: DataValueError
        if cfg.analysis.instability.enabled and data.task != "classification":
            raise ConfigError(f"analysis.instability.enabled=true needs classification data: dataset={cfg.dataset.name} is {data.task}, "
                              "and the instability barrier is measured in classification error")
        net = build_model(cfg.model, data)
        context = policies.PolicyContext(run_dir, cfg.seed, cfg.pruner, lambda: build_model(cfg.model, data), cfg.model.name)
        policy = policies.build(cfg.policy, context)
        batches = len(TensorBatches(*data.train, cfg.train.batch_size, **distributed.shard()))
        policy.prepare(net, cfg.train, batches)
        check_fits(cfg.train.schedule.warmup_steps, budget.fixed_length(cfg.train, batches),
                   f"train.epochs={cfg.train.epochs} x {batches} batches, train.max_steps={cfg.train.max_steps}")
        # Patterns are checked against the network as it will be by the last round:
        # a growing one may start without the layers they name (zero blocks).
        pruners.check_layers(policy.final_form(net, cfg.rounds), cfg.pruner, cfg.model.name, cfg.rounds)
    except ConfigError as err:
        raise SetupError(str(err)) from err
    return data, net, policy, batches
