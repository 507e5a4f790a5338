"""Every random stream of a run, derived from one number in one place.

    stream        what it seeds                                  value
    init          model initialisation (before round 0)          seed
    train         round k: torch's global RNG and batch order     seed * 1000 + k
    new_layer     round k: a layer that `policy=grow` inserts    seed * 1000 + k
    verify        the verification retraining (`verify.seed`)     seed * 1000 + 999
    prune         round k: `random` pruner draws, ties            mixed(pruner.seed or seed, k, "prune")
                  (k = 0: pruning at initialisation, `pruner.at_init`)
    prune_batches the training batches snip/grasp score on        mixed(seed, 0, "prune_batches")
    reinit        round k: `policy=reinit`'s fresh values         mixed(seed, k, "reinit")
    random_mask   round k: `policy=random_mask`'s permutation     mixed(seed, k, "random_mask")
    instability   round k: the second copy's batch order          mixed(seed, k, "instability")
    scores        round k: train.mode=edge_popup's initial scores mixed(seed, k, "scores")

`mixed` is `(base * 1000 + k) * 2**20 + crc32(stream) % 2**20`: stable across
processes (unlike hash()) and distinct between streams. Within a round, the
batch order of epoch e is seeded by the round's train seed and e
(data/batches.py), so it is a pure function of (seed, k, e) and a resumed
round sees the same batches. The train/val/test split has its own seed,
`dataset.split_seed`, so runs with different seeds share held-out data.

The first four keep the values of rlth-runner 0.1, so old runs reproduce.
"""

from __future__ import annotations

import zlib

VERIFY_ROUND = 999  # the round index the verification stream pretends to be


def derive(seed: int, stream: str, round_index: int = 0) -> int:
    """The seed of one random stream of one round."""
    if stream == "init":
        return seed
    if stream in ("train", "new_layer"):
        return seed * 1000 + round_index
    if stream == "verify":
        return seed * 1000 + VERIFY_ROUND
    return (seed * 1000 + round_index) * 2**20 + zlib.crc32(stream.encode()) % 2**20
