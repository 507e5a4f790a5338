"""`python -m rlth_runner.distributed <spec>`: one of the DDP ranks that rank 0 started (launch.py)."""

import sys

from rlth_runner.cluster.distributed.launch import rank_main

sys.exit(rank_main(sys.argv[1:]))
