"""A fresh Lightning Trainer for each round, set up for throughput.

Under DDP (`hardware=ddp`) the processes and the process group already
exist (rlth_runner/cluster/distributed/): the Trainer gets the cluster environment
that names the ranks, so Lightning neither starts processes nor makes a
group, and wraps this round's network (grown or not) in a new
DistributedDataParallel.
"""

from __future__ import annotations

import logging
import os
import warnings

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Checkpoint
from pytorch_lightning.loggers import TensorBoardLogger

from ..cluster import distributed
from ..storage.layout import LoggerLocation
from .callbacks import BestValidation, EnforceMasks, FiniteLossGuard, StopAtStep
from .progress import RoundProgressBar
from .lightning_internals import leave_signals_to_rlth
from .spec import TrainerSettings


def quiet_lightning() -> None:
    """Lightning announces its hardware at every Trainer; once per run is plenty."""
    for name in ("pytorch_lightning.utilities.rank_zero", "pytorch_lightning.accelerators.cuda", "lightning_fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Lightning's own deprecation noise about torch internals; nothing a user can act on.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")
    # TaskModule.training_step takes `dataloader_iter` on purpose (see step_chunks.py).
    warnings.filterwarnings("ignore", message=r".*`dataloader_iter` argument in the `training_step`.*")
    warnings.filterwarnings("ignore", message=r".*using the `dataloader_iter` step flavor.*")
    # Under DDP every rank validates and tests on the whole split, so the epoch means need no reduction.
    warnings.filterwarnings("ignore", message=r".*when logging on epoch level in distributed setting.*")


def keep_cuda_checks_cheap() -> None:
    """Undo the `PYTORCH_NVML_BASED_CUDA_CHECK=1` that importing Lightning sets (lightning_fabric/__init__.py).

    With it, every `torch.cuda.is_available()` loads NVML through ctypes, and Adam and
    AdamW ask that on every step (`_accelerator_graph_capture_health_check`): about
    0.2 ms a step on this project's 2-core CPU, a tenth of a LeNet-300-100 step
    (docs/performance.md). The variable only guards a process that checks CUDA
    and then forks; rlth-runner never forks after training starts (DDP ranks are new
    processes, and sweep workers are started by exec), so it goes.
    """
    os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)


def build_trainer(settings: TrainerSettings, log_to: LoggerLocation, limits: tuple[int, int], extra_callbacks=(),
                  resume_step: int | None = None, logger=None) -> tuple[pl.Trainer, BestValidation]:
    """A Trainer for one fit, logging to `log_to` (one TensorBoard run per round).

    `limits`: (max_epochs, max_steps) of this fit (budget.trainer_limits; max_steps -1: none).
    With `resume_step` (the step of the checkpoint the fit resumes from), the
    logger purges the points an interrupted attempt wrote after that step."""
    max_epochs, max_steps = limits
    keep_cuda_checks_cheap()
    best = BestValidation()
    callbacks = [
        *([StopAtStep(max_steps)] if max_steps >= 0 else []),  # first: the progress bar reads the limit at the start
        EnforceMasks(),
        FiniteLossGuard(settings.round),
        best,
        RoundProgressBar(settings.label, settings.log_every_n_steps),
        *extra_callbacks,
    ]
    purge = {} if resume_step is None else {"purge_step": resume_step + 1}
    if logger is None:  # a batched fit (run/batched.py) brings its own, one TensorBoard run per seed
        logger = TensorBoardLogger(save_dir=log_to.save_dir, name=log_to.name, version=log_to.version, default_hp_metric=False, **purge)
    ranks = distributed.plugins()  # under DDP: the cluster environment naming the ranks
    trainer = pl.Trainer(
        accelerator=settings.accelerator,
        devices=settings.devices,
        strategy=settings.strategy,
        plugins=ranks or None,
        precision=settings.precision,
        deterministic=settings.deterministic,
        max_epochs=max_epochs,
        max_steps=-1,  # set by StopAtStep
        check_val_every_n_epoch=settings.val_every_n_epochs,
        log_every_n_steps=settings.log_every_n_steps,
        logger=logger,
        callbacks=callbacks,
        # Rounds are saved by the runner; inside a round only by RoundCheckpoint, when given.
        enable_checkpointing=any(isinstance(c, Checkpoint) for c in callbacks),
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=log_to.save_dir,
    )
    if ranks:
        leave_signals_to_rlth(trainer)
    return trainer, best

