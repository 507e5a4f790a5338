"""The command line: `rlth-run` (Hydra composes conf/, the config is checked
torch-free, then one run starts) and the entry of each DDP rank it starts."""
