"""Policies: what happens to the network after each round's pruning.

    reset        surviving weights back to their initial values (Frankle & Carbin)
    rewind       back to their values at step k (or epoch e) of round 0
    finetune     keep the trained values (classical pruning)
    lr_rewind    keep the trained values, replay the learning-rate schedule from step k (Renda et al.)
    reinit       a fresh random initialisation, same mask (control)
    random_mask  initial values, but a random mask with each layer's density (control)
    grow         keep the trained values and insert a new hidden layer (RLTH)

One module per policy, each a `Policy` (base.py), listed in
config/choices.py. A policy module is imported by config validation, before
torch: it imports torch-backed modules inside its methods only.
"""

from __future__ import annotations

from ...config import choices
from .base import Policy, PolicyContext


def build(policy_cfg, ctx: PolicyContext) -> Policy:
    return choices.resolve(choices.POLICIES, policy_cfg.name, "policy")(policy_cfg, ctx)


__all__ = ["Policy", "PolicyContext", "build"]
