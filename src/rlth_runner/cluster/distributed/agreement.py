"""Whether the ranks hold the same network: after each round's pruning and
policy (the runner's `check_agreement`), and in summary.json for the record.

Only digests travel: a few bytes per rank, whatever the network's size.
"""

from __future__ import annotations

import hashlib

from .. import distributed
from . import RankError


def digests(net) -> dict[str, str]:
    """Short digests of the masks, the architecture (parameter names and shapes) and, for
    the record, the weights (each Trainer's DDP wrapper broadcasts rank 0's anyway)."""
    from ...lottery.pruning import masks

    arch, mask, weights = hashlib.sha256(), hashlib.sha256(), hashlib.sha256()
    for name, p in net.named_parameters():
        arch.update(f"{name}:{tuple(p.shape)};".encode())
        weights.update(p.detach().cpu().numpy().tobytes())
    for name, m in sorted(masks.get(net).items()):
        mask.update(name.encode() + m.numpy().tobytes())
    return {"masks": mask.hexdigest()[:16], "arch": arch.hexdigest()[:16], "weights": weights.hexdigest()[:16]}


def compare(round_index: int, every: list[dict[str, str]]) -> None:
    """RankError naming the round and the ranks whose digests differ from rank 0's."""
    for what, name in (("arch", "architecture"), ("masks", "masks")):
        if differ := [str(r) for r, d in enumerate(every) if d[what] != every[0][what]]:
            raise RankError(f"round {round_index}: rank {', '.join(differ)} disagree{'s' * (len(differ) == 1)} with rank 0 on the "
                            f"{name} after pruning and the policy")


def check_agreement(round_index: int, net) -> None:
    """Every rank must hold the same masks and architecture once round k's pruning and policy are done."""
    group = distributed._group
    if group is None:
        return
    import torch.distributed as dist

    every: list = [None] * group.size
    dist.all_gather_object(every, digests(net))
    group.agreement[str(round_index)] = {what: [d[what] for d in every] for what in every[0]}
    compare(round_index, every)
