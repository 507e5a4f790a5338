"""How many optimizer steps each round trains (`train.budget`), and what they cost. Torch-free.

    fixed       every round trains the fixed round length: train.epochs epochs,
                capped by train.max_steps
    cumulative  round k trains (k + 1) x the fixed length: as long as the oldest
                weights of a network trained on since round 0 (policy=grow or
                finetune) have trained by then, so a policy that restarts each
                round is matched to them
    flops       round k trains the dense round's training compute divided by its
                own per-step compute (Liu et al. 2019's Scratch-B), at most
                train.budget_cap x the fixed length

Round 0 trains the fixed length in every mode: policy=rewind's capture step
and policy=lr_rewind's rewind step are checked against it, and it is the
shortest round of all three modes but for a grown network under `flops`.
A round's compute is counted as in `analysis/flops.py`, by multiply-accumulates (MACs)
through its unpruned weights; the training MACs of a round
(`RoundRecord.train_macs`, once `train_flops`) are 3 x MACs per example x
examples seen: one forward pass and a backward pass of about twice its cost.
"""

from __future__ import annotations

import math

BACKWARD_AND_FORWARD = 3  # a training step costs about three forward passes


def fixed_length(train_cfg, batches_per_epoch: int) -> int:
    """Optimizer steps of a round under `budget: fixed`: epochs x batches, capped by max_steps."""
    steps = train_cfg.epochs * batches_per_epoch
    return min(steps, train_cfg.max_steps) if train_cfg.max_steps else steps


def round_steps(budget: str, round_index: int, fixed: int, dense_macs: int, round_macs: int, cap: float) -> int:
    """Optimizer steps round `round_index` trains; `dense_macs` and `round_macs`: MACs per example of
    the dense network and of this round's (pruned, perhaps grown) network."""
    if budget == "fixed":
        return fixed
    if budget == "cumulative":
        return (round_index + 1) * fixed
    if budget == "flops":
        most = math.floor(cap * fixed)  # cap >= 1 (config/checks.py)
        if round_macs <= 0:
            return most
        # Integer arithmetic: never more compute than the dense round, and the same count on every machine.
        return min(most, max(1, fixed * dense_macs // round_macs))
    raise ValueError(f"unknown train.budget {budget!r}")


def trainer_limits(steps: int, batches_per_epoch: int) -> tuple[int, int]:
    """(max_epochs, max_steps) for a Trainer that must stop after `steps` optimizer steps.
    A whole number of epochs is left to max_epochs alone (max_steps -1), as a fixed round always was."""
    epochs = -(-steps // batches_per_epoch)
    return epochs, -1 if steps == epochs * batches_per_epoch else steps


def examples_seen(steps: int, batches_per_epoch: int, examples: int, batch_size: int) -> int:
    """Training examples in the first `steps` batches: every epoch sees the training set
    (less a last batch too small to share among DDP ranks); only an epoch's last batch is short."""
    per_epoch = min(examples, batches_per_epoch * batch_size)
    epochs, rest = divmod(steps, batches_per_epoch)
    return epochs * per_epoch + rest * batch_size


def train_macs(macs_per_example: int, examples: int) -> int:
    return BACKWARD_AND_FORWARD * macs_per_example * examples
