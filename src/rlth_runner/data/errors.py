"""The data errors a user can act on. Torch-free, so anything may import it."""


class DataError(RuntimeError):
    """A dataset cannot be read or split as configured; the message says what to do."""
