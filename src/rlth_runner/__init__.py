"""rlth-runner: iterative magnitude pruning and recursive lottery tickets."""

__version__ = "0.1.0"
