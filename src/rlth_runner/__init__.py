"""rlth-runner: iterative magnitude pruning and recursive lottery tickets."""

from .version import __version__

__all__ = ["__version__", "load_ticket"]


def load_ticket(path):
    """The network of an exported ticket (`rlth-export`; a folder, its ticket.json or
    ticket.safetensors), masks included, in eval mode. Imports torch when called."""
    from .export.ticket import load_ticket as load

    return load(path)
