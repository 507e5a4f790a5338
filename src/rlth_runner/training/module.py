"""The LightningModule: one network, its loss, its metrics, its optimizer."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


class Classifier(pl.LightningModule):
    def __init__(self, net: nn.Module, optimizer: str = "adam", lr: float = 1e-3, momentum: float = 0.9, weight_decay: float = 0.0):
        super().__init__()
        self.net = net
        self.optimizer_name, self.lr, self.momentum, self.weight_decay = optimizer, lr, momentum, weight_decay

    def forward(self, x):
        return self.net(x)

    def _step(self, batch, stage: str, on_step: bool):
        x, y = batch
        logits = self.net(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(dim=-1) == y).float().mean()
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=stage != "test")
        self.log(f"{stage}/acc", acc, on_step=on_step, on_epoch=True, prog_bar=stage == "val")
        return loss

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train", on_step=True)

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val", on_step=False)

    def test_step(self, batch, batch_idx):
        self._step(batch, "test", on_step=False)

    def configure_optimizers(self):
        kwargs = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.optimizer_name == "sgd":
            kwargs["momentum"] = self.momentum
        return OPTIMIZERS[self.optimizer_name](self.net.parameters(), **kwargs)
