"""`policy=rewind` (Frankle et al., 2019): after pruning, the survivors go back
to their values at optimizer step `step` (or `epoch` epochs in) of round 0.

Round 0 captures the network at that step into the run directory's
rewind.pt (training/rewind.py), so a resumed run, or one stopped after round
0, still has it. `step: 0` is `reset`.
"""

from __future__ import annotations

from ...config.values import ConfigError, integer
from ..budget import fixed_length as round_length  # round 0 trains the fixed length under every train.budget
from .base import Policy, load_weights


def check_point(cfg, policy: str, what: str) -> None:
    """`step` or `epoch`, one of them set: the point a rewinding policy goes back to."""
    integer(cfg, "step", 0, allow_none=True)
    integer(cfg, "epoch", 0, allow_none=True)
    if cfg.get("step") is None and cfg.get("epoch") is None:
        raise ConfigError(f"policy.step=None: policy={policy} needs policy.step ({what}) or policy.epoch")


def step_of(cfg, batches_per_epoch: int) -> int:
    """The optimizer step to capture: `epoch` (if set) epochs in, else `step`."""
    if cfg.get("epoch") is not None:
        return cfg.epoch * batches_per_epoch
    return cfg.step


class Rewind(Policy):
    starts_from = "rewind"
    step: int  # set by prepare

    @classmethod
    def check(cls, cfg) -> None:
        check_point(cfg, "rewind", "an optimizer step of round 0")

    def prepare(self, net, train_cfg, batches_per_epoch: int) -> None:
        self.step = step_of(self.cfg, batches_per_epoch)
        length = round_length(train_cfg, batches_per_epoch)
        if self.step > length:
            key = "epoch" if self.cfg.get("epoch") is not None else "step"
            raise ConfigError(
                f"policy.{key}={self.cfg[key]} (step {self.step}) is beyond round 0's length of {length} steps "
                f"(train.epochs={train_cfg.epochs} x {batches_per_epoch} batches, train.max_steps={train_cfg.max_steps}); "
                f"allowed: policy.step in 0..{length}"
            )
        run_dir = self.ctx.run_dir
        if run_dir.is_done(0):
            from ...storage.ledger import DamagedArtifact

            try:
                captured = run_dir.rewind_step()
            except DamagedArtifact as err:  # moved aside; round 0 trains again and captures it anew
                import logging

                logging.getLogger("rlth_runner").warning("%s; training round 0 again to capture it", err)
                run_dir.move_aside(run_dir.round_dir(0))
                return
            if captured != self.step:
                what = "no rewind.pt" if captured is None else f"rewind.pt from step {captured}"
                raise ConfigError(f"policy.step={self.step}: round 0 of {run_dir.root} is done with {what}; rewinding needs a new run directory")

    def callbacks(self, round_index: int) -> list:
        if round_index != 0:
            return []
        from ...training.rewind import RewindCapture

        return [RewindCapture(self.ctx.run_dir.save_rewind, self.step)]

    def apply(self, net, round_index: int) -> None:
        from ..pruning import masks

        load_weights(net, self.ctx.run_dir.load_rewind())
        masks.apply(net)
