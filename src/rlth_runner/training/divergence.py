"""A fit whose training loss ends above where it started has diverged (a
learning rate far too high, say): the loss can stay finite, so the NaN guard
(callbacks.FiniteLossGuard) never fires, and the round would end at chance
accuracy with `status: completed` and nothing said.

Measured with no host sync per step: TaskModule keeps the loss of the fit's
first step as a device tensor (and in the round's checkpoint, for a resumed
fit), and the mean training loss of its last epoch, which it reads once per
epoch for TensorBoard anyway. They are compared once, after the fit: the
fit diverged when the last epoch's mean is more than MARGIN above the first
step's loss. The margin keeps the noise of one batch's loss from counting
(on small batches of regression data it is tens of percent); a diverged fit
ends orders of magnitude above its start. The data loss is compared,
without train.distance_reg's term, which is zero at the first step.

The round's record says `diverged`; the run warns in one line, or, with
`stop.on_divergence: true`, fails with `status: failed` (LossDiverged is a
NonFiniteLossError, which the runner records as such).
"""

from __future__ import annotations

import logging
import math

from .callbacks import NonFiniteLossError

log = logging.getLogger("rlth_runner")

MARGIN = 0.5  # a fit has diverged when its last epoch's mean loss is above (1 + MARGIN) x its first step's


class LossDiverged(NonFiniteLossError):
    """A round's training loss ended above its first step's, and stop.on_divergence is set."""


def losses(module) -> tuple[float, float] | None:
    """(the first step's loss, the last epoch's mean loss) of the fit `module` ran; None if either is unknown."""
    first, last = getattr(module, "first_loss", None), getattr(module, "last_loss", None)
    if first is None or last is None:
        return None
    first, last = float(first), float(last)
    return (first, last) if math.isfinite(first) and math.isfinite(last) else None


def judge(module, fail: bool, round_index: int, agree=lambda verdict: verdict) -> bool | None:
    """Whether the fit diverged (None: not measured); one warning line if it did, or LossDiverged
    with `fail` (stop.on_divergence). `agree`: every DDP rank takes rank 0's verdict (each rank's losses
    are its own share of the batches)."""
    pair = losses(module)
    verdict = agree(None if pair is None else (pair[1] > (1 + MARGIN) * pair[0], *pair))
    if verdict is None:
        return None
    diverged, first, last = verdict
    if diverged:
        what = f"the training loss rose from {first:.4g} at its first step to {last:.4g} (its last epoch's mean)"
        if fail:
            raise LossDiverged(f"round {round_index} diverged: {what}, and stop.on_divergence=true; lower train.lr. "
                               "Completed rounds are saved.")
        log.warning("Round %d diverged: %s; lower train.lr (stop.on_divergence=true makes this an error)", round_index, what)
    return bool(diverged)
