"""What the ranks agree on: rank 0 checks and repairs the run directory before
the others read it (`rank_zero_first`), rank 0's decisions are every rank's
(`from_rank_zero`), and after each round's pruning and policy every rank holds
the same network (`check_agreement`, also recorded in summary.json).

Only digests travel: a few bytes per rank, whatever the network's size.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

from . import group
from .ranks import RankError


@contextmanager
def rank_zero_first():
    """Rank 0 runs the block (it checks, repairs and writes the run directory), then the other ranks do."""
    if (g := group.current()) is not None and g.rank != 0:
        from_rank_zero(None)
    yield
    if (g := group.current()) is not None and g.rank == 0:
        from_rank_zero(None)


def from_rank_zero(value):
    """Rank 0's `value`, on every rank."""
    if group.current() is None:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


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
    g = group.current()
    if g is None:
        return
    import torch.distributed as dist

    every: list = [None] * g.size
    dist.all_gather_object(every, digests(net))
    g.agreement[str(round_index)] = {what: [d[what] for d in every] for what in every[0]}
    compare(round_index, every)
