"""Load the configured dataset and put it on the training device, once."""

from __future__ import annotations

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate

from ..cluster import distributed
from ..config import choices
from .bundle import DataBundle
from .errors import DataError


def device_for(accelerator: str) -> torch.device:
    """The device Lightning will train on, for a single-device run. `auto`
    chooses as Lightning does: a CUDA GPU, else Apple's MPS, else the CPU."""
    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    if accelerator in ("mps", "auto") and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def load_dataset(dataset_cfg, data_dir: str, hardware_cfg=None) -> DataBundle:
    """Instantiate `dataset_cfg`; raise DataError (not Hydra's wrapper) on a data problem.

    The tensors move to the training device now, so batches are drawn on the
    device and never copied from the host during training; under DDP, to
    this rank's own GPU (or stay on the CPU).
    """
    try:
        data = instantiate(dataset_cfg, data_dir=data_dir)
    except InstantiationException as err:
        if isinstance(err.__cause__, DataError):
            raise err.__cause__ from None
        raise
    if data.task not in choices.TASKS:
        raise DataError(f"dataset {data.name} has task {data.task!r}; expected one of {', '.join(choices.TASKS)}")
    if hardware_cfg is not None and distributed.wanted(hardware_cfg):
        data = data.to(distributed.cuda_device(hardware_cfg) or torch.device("cpu"))
    elif hardware_cfg is not None and hardware_cfg.devices == 1:
        data = data.to(device_for(hardware_cfg.accelerator))
    return data
