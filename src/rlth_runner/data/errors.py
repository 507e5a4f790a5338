"""The data errors a user can act on. Torch-free, so anything may import it."""

from ..config.values import ConfigError


class DataError(RuntimeError):
    """A dataset cannot be read or split as configured; the message says what to do."""


class DataValueError(DataError, ConfigError):
    """A `dataset.*` value the data rules out (a held-out split as large as the
    data): a DataError to the loaders' callers, and a bad input (exit 2) to `rlth-run`."""
