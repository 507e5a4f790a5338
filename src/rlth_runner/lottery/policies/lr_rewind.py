"""`policy=lr_rewind` (Renda et al. 2020, "Comparing rewinding and fine-tuning
in neural network pruning"): after pruning, the survivors keep their trained
values (as `finetune`), and the round replays the learning-rate schedule
(`train.schedule`) from optimizer step `step` (or `epoch` epochs in) to its
end, so it trains the round's length minus `step` steps.

Round 0 trains the whole schedule. `step: 0` replays all of it, which is
`finetune` here (every round restarts the schedule with a fresh optimizer).
The schedule is a function of the step alone, so there is nothing to capture
or save: a resumed run replays the same learning rates.
"""

from __future__ import annotations

import logging

from ...config.values import ConfigError
from ..budget import fixed_length
from .base import Policy
from .rewind import check_point, step_of


class LrRewind(Policy):
    step: int  # set by prepare

    @classmethod
    def check(cls, cfg) -> None:
        check_point(cfg, "lr_rewind", "an optimizer step of the learning-rate schedule")

    def prepare(self, net, train_cfg, batches_per_epoch: int) -> None:
        self.step = step_of(self.cfg, batches_per_epoch)
        # Round 0's length is every round's shortest (lottery/budget.py), and a round must train at least one step.
        length = fixed_length(train_cfg, batches_per_epoch)
        if self.step >= length:
            key = "epoch" if self.cfg.get("epoch") is not None else "step"
            raise ConfigError(
                f"policy.{key}={self.cfg[key]} (step {self.step}) leaves nothing to train in a round of {length} steps "
                f"(train.epochs={train_cfg.epochs} x {batches_per_epoch} batches, train.max_steps={train_cfg.max_steps}); "
                f"allowed: policy.step in 0..{length - 1}"
            )
        schedule = train_cfg.schedule
        if schedule.name == "constant" and not schedule.warmup_steps:
            logging.getLogger("rlth_runner").warning(
                "policy=lr_rewind with a constant learning rate (train.schedule.name=constant) is finetune with %d fewer steps per "
                "round; set train.schedule to replay a schedule", self.step)

    def schedule_start(self, round_index: int) -> int:
        return self.step if round_index > 0 else 0

    def apply(self, net, round_index: int) -> None:
        from ..pruning import masks

        masks.apply(net)  # the trained survivors stay
