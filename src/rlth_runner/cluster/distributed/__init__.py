"""DDP (`hardware=ddp`): which rank a process is (ranks.py), the run's process
group (group.py), starting the ranks (launch.py) and what they agree on
(agreement.py). The runner, the data loader and the trainer use the names
below.

Lightning's own DDP launcher re-runs `sys.argv` once per extra device
(Lightning #11300, hydra #2070): under `rlth-run -m` every extra rank would
re-run the whole sweep, and even one run would get a second `${now:}` run
directory. So the Hydra job process is rank 0 (the objective it returns stays
in-process) and starts ranks 1..N-1 as `python -m rlth_runner.entry.rank
<spec>` (launch.py), with the config the job resolved, so they need no
Hydra. Their environment (LOCAL_RANK, ...) is what Lightning's
LightningEnvironment reads as processes created externally: Lightning starts
none. Under SLURM with one task per device, or torchrun, the processes exist
already and none is started.
"""

from .agreement import check_agreement, compare, digests, from_rank_zero, rank_zero_first
from .group import cluster_environment, cuda_device, describe, explain, plugins, ranks, shard
from .ranks import LAUNCHED, RANK_ENV, RankError, rank_of, threads_per_rank, wanted

__all__ = ["LAUNCHED", "RANK_ENV", "RankError", "check_agreement", "cluster_environment", "compare", "cuda_device", "describe", "digests",
           "explain", "from_rank_zero", "plugins", "rank_of", "rank_zero_first", "ranks", "shard", "threads_per_rank", "wanted"]
