"""`policy=grow`: the RLTH cycle of train, prune, insert a layer (Algorithm 2).

After round k's pruning the trained survivors keep their values (no reset)
and, every `every` rounds up to `max_depth`, the network gains one hidden
layer (MLP) or BasicBlock (RLTH ResNet) at `where`, initialised by `init`.
The runner then gives the new layer a dense mask, so the next round prunes it
too, and trains the deeper network with a fresh optimizer over all its
parameters. The mechanics of insertion are in lottery/growth.py.
"""

from __future__ import annotations

import copy

from ... import seeds
from ...config.values import ConfigError, integer
from .base import Policy

WHERE = ("last", "first")


class Grow(Policy):
    @classmethod
    def check(cls, cfg) -> None:
        where = cfg.where
        if where not in WHERE and (isinstance(where, bool) or not isinstance(where, int) or where < 0):
            raise ConfigError(f"policy.where={where!r} must be last, first or a hidden-layer index >= 0")
        integer(cfg, "every", 1)
        integer(cfg, "max_depth", 0, allow_none=True)
        if not isinstance(cfg.init, str):
            raise ConfigError(f"policy.init={cfg.init!r} must be the name of a new layer's initialisation, e.g. identity")

    def prepare(self, net, train_cfg, batches_per_epoch: int) -> None:
        from .. import growth

        if not growth.is_growable(net):
            raise ConfigError(f"policy=grow needs a growable model (one with hidden layers to insert into, e.g. mlp, rlth_mlp, "
                              f"rlth_resnet), not model={self.ctx.model_name}")
        if self.cfg.init not in net.grow_inits:
            raise ConfigError(f"policy.init={self.cfg.init!r} is not one of: {', '.join(net.grow_inits)} (for model={self.ctx.model_name})")

    def apply(self, net, round_index: int) -> str | None:
        from ..pruning import masks

        masks.apply(net)  # the trained survivors stay
        return self._grow(net, round_index)

    def final_form(self, net, rounds: int):
        probe = copy.deepcopy(net)
        for k in range(1, rounds):
            self._grow(probe, k)
        return probe

    def _grow(self, net, round_index: int) -> str | None:
        from .. import growth

        if round_index % self.cfg.every:
            return None
        if self.cfg.max_depth is not None and growth.depth(net) >= self.cfg.max_depth:
            return None
        name = growth.insert(net, self.cfg.where, self.cfg.init, seed=seeds.derive(self.ctx.seed, "new_layer", round_index))
        return f"inserted {name}"
