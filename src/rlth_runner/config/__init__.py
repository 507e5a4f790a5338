"""The config home: every allowed value (choices.py) and every value check
(checks.py, values.py), torch-free so that `--help` and a bad value answer
before torch is imported."""

from .checks import policy_class, run_info, validate
from .values import ConfigError

__all__ = ["ConfigError", "policy_class", "run_info", "validate"]
