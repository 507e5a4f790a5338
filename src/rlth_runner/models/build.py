"""Build the configured model for a dataset, or say clearly why it does not fit.

Models check their input in the constructor (ModelInputError); as a backstop
for any model, one forward pass on two validation examples must give one
output per class. Both happen before the first training step.
"""

from __future__ import annotations

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from torch import nn

from .common import ModelInputError


class ModelDataMismatch(RuntimeError):
    """The model and the dataset do not fit together; the message says how."""


def build_model(model_cfg, data) -> nn.Module:
    where = f"model={model_cfg.name} does not fit dataset={data.name} (input shape {tuple(data.input_shape)}, {data.num_classes} outputs)"
    try:
        net = instantiate(model_cfg, input_shape=tuple(data.input_shape), num_classes=data.num_classes)
    except InstantiationException as err:
        if isinstance(err.__cause__, ModelInputError):
            raise ModelDataMismatch(f"{where}: the model {err.__cause__}") from None
        raise
    x = data.val[0][:2].cpu()
    was_training = net.training
    net.eval()  # batch norm must not count the probe in its running statistics
    try:
        with torch.no_grad():
            out = net(x)
    except RuntimeError as err:
        raise ModelDataMismatch(f"{where}: a forward pass fails with {str(err).splitlines()[0]}") from None
    finally:
        net.train(was_training)
    if tuple(out.shape) != (len(x), data.num_classes):
        raise ModelDataMismatch(f"{where}: it outputs shape {tuple(out.shape[1:])} per example, not ({data.num_classes},)")
    return net
