"""Where and how many processes run: DDP ranks, Hydra sweeps, torch threads per
process and the hardware check."""
