"""The student network of Zhang et al. ("Why Lottery Ticket Wins?", section 2): one
layer of ReLU neurons whose output is their plain mean, with no output weights
and no biases, the same form as the `teacher` data's generator
(data/teacher.py). Its one prunable layer, `hidden`, holds every weight.

An MLP with a trained output layer (model=mlp) is harder to train here:
from the default initialisation it settles in poor local minima, so that
even a mask with the teacher's exact support ended at a test MSE of
0.016-0.07 (targets' variance 0.13; d=100, K=5, r=20, N=1000, 4 seeds), where
this student, under the same mask, recovers the teacher to an MSE below 1e-6.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn

from .common import ModelInputError


class Student(nn.Module):
    def __init__(self, input_shape, num_classes: int, width: int = 5, **_):
        super().__init__()
        if num_classes != 1:
            raise ModelInputError(f"predicts one number, the mean of its neurons, so it needs regression data such as "
                                  f"dataset=teacher, not {num_classes} classes")
        self.hidden = nn.Linear(math.prod(input_shape), width, bias=False)

    def forward(self, x):
        return F.relu(self.hidden(x.flatten(1))).mean(dim=1, keepdim=True)
