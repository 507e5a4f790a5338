"""The run's process group: made before the first Trainer, kept for the run,
and what the runner and each Trainer ask of it.

Lightning reuses an initialised group and never destroys it at teardown, so
each round's fresh Trainer wraps the (possibly grown) network anew in the
same group. Rank 0 starts ranks 1..N-1 itself (launch.py) unless SLURM or
torchrun started them already.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager

from .ranks import LAUNCHED, RANK_ENV, TIMEOUT, rank_of, slurm_tasks, wanted

log = logging.getLogger("rlth_runner")


class _Group:
    def __init__(self, environment, children):
        self.environment, self.children, self.backend = environment, children, "gloo"
        self.rank, self.size = environment.global_rank(), environment.world_size()
        self.agreement: dict[str, dict[str, list[str]]] = {}


_group: _Group | None = None


def current() -> _Group | None:
    """The group this process is a rank of; None in a single-process run."""
    return _group


def cluster_environment(hw):
    """The Lightning cluster environment that gives the ranks (every Trainer gets it too)."""
    from lightning_fabric.plugins.environments import LightningEnvironment, SLURMEnvironment, TorchElasticEnvironment

    if LAUNCHED not in os.environ and TorchElasticEnvironment.detect():
        return TorchElasticEnvironment()
    if LAUNCHED not in os.environ and slurm_tasks() > 1:
        per_node, nodes = os.environ.get("SLURM_NTASKS_PER_NODE"), os.environ.get("SLURM_NNODES", "1")
        if nodes != "1" or (per_node is not None and int(per_node) != hw.devices):
            from ...config import ConfigError

            raise ConfigError(f"hardware.devices={hw.devices}: this SLURM job has {os.environ['SLURM_NTASKS']} tasks on {nodes} node(s); "
                              f"DDP needs one node with tasks_per_node={hw.devices}, or a single task (rlth-run then starts the ranks)")
        return SLURMEnvironment()
    env = LightningEnvironment()  # also for a single SLURM task: the ranks are rlth-run's, not SLURM's
    env.set_world_size(hw.devices)
    env.set_global_rank(rank_of(hw))
    return env


def cuda_device(hw):
    """The GPU this process trains on; None for the CPU."""
    import torch

    if not (hw.accelerator in ("gpu", "cuda") or (hw.accelerator == "auto" and torch.cuda.is_available())):
        return None
    return torch.device("cuda", _group.environment.local_rank() if _group is not None else torch.cuda.current_device())


@contextmanager
def ranks(cfg, job: dict):
    """Run the block as one of `hardware.devices` ranks; a no-op in a single-process run."""
    global _group
    if not wanted(cfg.hardware):
        yield
        return
    import torch
    import torch.distributed as dist

    from .. import hardware
    from .launch import Children

    saved, children = {key: os.environ.get(key) for key in RANK_ENV}, None
    try:
        if not (LAUNCHED in os.environ or "LOCAL_RANK" in os.environ or slurm_tasks() > 1):
            hardware.check(cfg.hardware)  # GPUs this machine lacks: one line, before any rank starts
            children = Children(cfg, job, os.environ)
        _group = _Group(cluster_environment(cfg.hardware), children)
        if (gpu := cuda_device(cfg.hardware)) is not None:
            torch.cuda.set_device(gpu)
            _group.backend = "cpu:gloo,cuda:nccl"  # gradients over nccl, the runner's small objects over gloo
        _join(_group)
        yield
        if children is not None:
            children.wait()
    except BaseException as err:
        if (cause := explain(err)) is err:
            raise
        raise cause from err
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        if children is not None:
            children.stop()
        _group = None
        for key, value in saved.items():  # a sweep's next job in this process starts afresh
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _join(group: _Group) -> None:
    import torch.distributed as dist

    if LAUNCHED in os.environ:  # rlth-run's own store, so that rank 0 sees whether every rank joined
        store = group.children.store if group.children is not None else dist.TCPStore(
            os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), group.size, is_master=False, timeout=TIMEOUT)
        store.set(f"rlth/joined/{group.rank}", "1")
        if group.children is not None:
            group.children.await_joined()
        dist.init_process_group(group.backend, store=store, rank=group.rank, world_size=group.size, timeout=TIMEOUT)
    else:
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = group.environment.main_address, str(group.environment.main_port)
        dist.init_process_group(group.backend, rank=group.rank, world_size=group.size, timeout=TIMEOUT)
    log.info("DDP: rank %d of %d (%s)", group.rank, group.size, group.backend)


def explain(err: BaseException) -> BaseException:
    """What to report for `err` on rank 0: a collective broken by a rank that failed is that rank's
    error. rlth-run's own errors (a NaN loss, which every rank meets at once; a bad value) stand."""
    from ...run import interrupts

    own = type(err).__module__.startswith("rlth_runner") or isinstance(err, KeyboardInterrupt)
    if _group is None or _group.children is None or interrupts.received is not None or own:
        return err
    return _group.children.failure(wait_s=2.0) or err


def plugins() -> list:
    """What each Trainer needs to use this group's ranks; nothing in a single-process run."""
    if _group is None:
        return []
    import torch

    os.environ["OMP_NUM_THREADS"] = str(torch.get_num_threads())  # else Lightning's launcher resets the threads at each fit
    return [_group.environment]


def shard() -> dict:
    """This rank's share of every training batch (TensorBatches' rank and world_size)."""
    return {"rank": _group.rank, "world_size": _group.size} if _group is not None else {}


def describe() -> dict:
    """summary.json's `distributed` block, filled in as rounds go; nothing in a single-process run."""
    if _group is None:
        return {}
    return {"distributed": {"world_size": _group.size, "backend": _group.backend, "agreement": _group.agreement}}
