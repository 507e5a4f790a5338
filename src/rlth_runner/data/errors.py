"""The data errors a user can act on. Torch-free, so anything may import it."""

from ..config.values import ConfigError


class DataError(RuntimeError):
    """A dataset cannot be read or split as configured; the message says what to do."""


class DataValueError(DataError, ConfigError):
    """A `dataset.*` value the data rules out (a held-out split as large as the
    data): a DataError to the loaders' callers, and a ConfigError, so that run/prepare.py's
    preflight reports it as a bad value (SetupError, exit 2), not as data it cannot read (exit 1)."""
